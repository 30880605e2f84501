#pragma once
// A fresh folder under the temp directory for one test, named by its tag and the process (parallel
// CTest runs must not share it), removed again when the test ends.
#include <unistd.h>

#include <filesystem>
#include <string>

struct TempDir {
    std::filesystem::path dir;
    explicit TempDir(const std::string& tag)
        : dir(std::filesystem::temp_directory_path() / ("imc-" + tag + "-" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    ~TempDir() { std::filesystem::remove_all(dir); }
};
