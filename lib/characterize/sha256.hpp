#pragma once
// SHA-256 of a byte string, as lowercase hex: the netlist hash recorded in results and fits.
#include <string>
#include <string_view>

namespace imc::characterize {
std::string sha256Hex(std::string_view data);
}
