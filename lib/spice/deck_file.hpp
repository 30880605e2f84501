#pragma once
// Reading a deck from a file as `ngspice -b` would: relative `.include` and `.lib` paths are
// resolved against the folder of the file that names them, so a deck runs the same from any
// working directory.
#include <filesystem>
#include <string>

namespace imc::spice {

// The deck text with relative include paths made absolute. Throws naming the file when it
// cannot be read.
std::string readDeckFile(const std::filesystem::path& path);

}  // namespace imc::spice
