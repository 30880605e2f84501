#pragma once
// Runs the built imc executable with arguments; captures stdout, stderr and the exit code.
#include <string>
#include <vector>

struct ImcRun {
    int exitCode = -1;
    std::string out, err;
};

ImcRun runImc(const std::vector<std::string>& args, const std::string& workingDir = "");

// A path in the source tree, e.g. sourcePath("netlists/examples/divider.cir").
std::string sourcePath(const std::string& relative);
