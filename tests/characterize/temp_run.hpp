#pragma once
// A RunSpec for tests: a fresh results folder under the temp directory (named by the test file's
// tag, the run and the process), two workers, no progress lines, never reusing earlier results.
#include "sweep/sweep.hpp"

#include <unistd.h>

#include <filesystem>
#include <string>

inline imc::sweep::RunSpec tempRun(const std::string& tag, const std::string& name) {
    imc::sweep::RunSpec r;
    r.name = name;
    r.outDir = std::filesystem::temp_directory_path() / ("imc-test-" + tag + "-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(r.outDir);
    r.workers = 2;
    r.progress = false;
    r.force = true;
    return r;
}
