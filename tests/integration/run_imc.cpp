#include "run_imc.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

std::string sourcePath(const std::string& relative) { return std::string(IMC_SOURCE_DIR) + "/" + relative; }

ImcRun runImc(const std::vector<std::string>& args, const std::string& workingDir) {
    namespace fs = std::filesystem;
    const fs::path tmp = fs::temp_directory_path() / ("imc-run-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    const fs::path outFile = tmp / "out", errFile = tmp / "err";
    ImcRun r;
    pid_t pid = fork();
    if (pid == 0) {
        if (!workingDir.empty() && chdir(workingDir.c_str()) != 0) _exit(127);
        if (!freopen(outFile.c_str(), "w", stdout) || !freopen(errFile.c_str(), "w", stderr)) _exit(127);
        std::vector<char*> argv;
        std::string exe = IMC_EXE;
        argv.push_back(exe.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    auto slurp = [](const fs::path& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    r.out = slurp(outFile), r.err = slurp(errFile);
    fs::remove_all(tmp);
    return r;
}
