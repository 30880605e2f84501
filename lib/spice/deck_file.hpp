#pragma once
// Reading a deck from a file as `ngspice -b` would: relative `.include` and `.lib` paths are
// resolved against the folder of the file that names them, so a deck runs the same from any
// working directory. And finding what in a deck makes ngspice do more than simulate.
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::spice {

// Bad deck files: the message names the file (and line).
struct DeckError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The deck text with relative include paths made absolute. Throws DeckError naming the file when
// it cannot be read or is not text (a NUL byte: ngspice would read it as an empty circuit).
std::string readDeckFile(const std::filesystem::path& path);

// A card that makes ngspice's interpreter run: a `.control` block (ngspice runs its commands when
// the deck loads) or a `*#` line (an old-style control line). `runsProgram` marks commands that
// reach the machine beyond the simulation: `shell`, `exec`, `source` (runs a script file),
// `codemodel` (loads a shared library), also as `pre_<command>`.
struct DeckHazard {
    std::filesystem::path file;
    int line = 0;        // 1-based
    std::string card;    // the card as written, trimmed
    std::string what;    // ".control block", "shell command", ...
    bool runsProgram = false;
};

struct DeckScan {
    std::vector<DeckHazard> hazards;
    std::vector<std::filesystem::path> includes;  // .include/.inc/.lib targets, made absolute against `file`'s folder
};

// Pure: the hazards of one file's text and the files it includes.
DeckScan scanDeckText(const std::string& text, const std::filesystem::path& file);

// The hazards of the files and everything they include, each file read once. An include that does
// not exist is left to ngspice (it fails the load); one that exists but cannot be read throws.
std::vector<DeckHazard> findDeckHazards(const std::vector<std::filesystem::path>& files);

// "FILE:LINE: <what>: <card>".
std::string describe(const DeckHazard& hazard);

// Throws DeckError listing the hazards of `files` (and their includes), the first one leading
// ("FILE:LINE: ..."), followed by `advice`; returns when there are none.
void refuseDeckHazards(const std::vector<std::filesystem::path>& files, const std::string& advice);

}  // namespace imc::spice
