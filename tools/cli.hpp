#pragma once
// The imc command is a set of subcommands, each defined in its own cmd_*.cpp and registered
// through a static CommandRegistration, so that adding a command never edits main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace imc::cli {

// setup(app) adds options to `app` and sets its callback.
using CommandSetup = std::function<void(CLI::App& app)>;

struct CommandRegistration {
    // path: space-separated subcommand path, e.g. "bench spice".
    CommandRegistration(std::string path, std::string description, CommandSetup setup);
};

// Builds the CLI11 tree from every registration; parents are created as needed.
void buildCommandTree(CLI::App& root);

// The command line imc was started with (set by main), words quoted for a POSIX shell where
// needed: the "command" of a report.html.
void setCommandLine(int argc, char** argv);
const std::string& commandLine();

// Error type for command-line level problems that should print a message and exit 1.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace imc::cli
