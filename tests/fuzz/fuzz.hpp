#pragma once
// Shared by the fuzz harnesses: each defines LLVMFuzzerTestOneInput (libFuzzer's entry point);
// the same file linked with replay_main.cpp replays a corpus in the normal test suite.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace imc::fuzz {

// A folder of this process for the harnesses that read files.
inline const std::filesystem::path& scratch() {
    struct Scratch {
        std::filesystem::path dir = std::filesystem::temp_directory_path() / ("imc-fuzz-" + std::to_string(::getpid()));
        Scratch() { std::filesystem::create_directories(dir); }
        ~Scratch() {
            std::error_code ignored;
            std::filesystem::remove_all(dir, ignored);
        }
    };
    static const Scratch s;
    return s.dir;
}

inline std::filesystem::path writeScratch(const std::string& name, std::string_view bytes) {
    const auto p = scratch() / name;
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
    return p;
}

// Bad input must be an error that names its file: anything else is a finding.
inline void requireNamed(const std::string& message, const std::string& name) {
    if (message.find(name) == std::string::npos) {
        std::fprintf(stderr, "error message does not name %s: %s\n", name.c_str(), message.c_str());
        std::abort();
    }
}

// Splits the input at its first NUL byte (two files in one input); no NUL: all in the first.
inline std::pair<std::string_view, std::string_view> splitAtNul(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    const auto nul = all.find('\0');
    if (nul == std::string_view::npos) return {all, {}};
    return {all.substr(0, nul), all.substr(nul + 1)};
}

}  // namespace imc::fuzz
