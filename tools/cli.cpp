#include "cli.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace imc::cli {
namespace {

struct Entry {
    std::vector<std::string> path;
    std::string description;
    CommandSetup setup;
};

std::vector<Entry>& registry() {
    static std::vector<Entry> entries;
    return entries;
}

std::vector<std::string> splitPath(const std::string& path) {
    std::istringstream in(path);
    std::vector<std::string> parts;
    for (std::string part; in >> part;) parts.push_back(part);
    return parts;
}

std::string& storedCommandLine() {
    static std::string line;
    return line;
}

}  // namespace

void setCommandLine(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        std::string word = i == 0 ? std::string("imc") : std::string(argv[i]);
        const bool plain = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                   "0123456789-_=+.,/:@%") == std::string::npos;
        if (!plain) {
            std::string quoted = "'";
            for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
            word = quoted + "'";
        }
        line += (i ? " " : "") + word;
    }
    storedCommandLine() = line;
}

const std::string& commandLine() { return storedCommandLine(); }

CommandRegistration::CommandRegistration(std::string path, std::string description, CommandSetup setup) {
    registry().push_back({splitPath(path), std::move(description), std::move(setup)});
}

void buildCommandTree(CLI::App& root) {
    auto entries = registry();
    // Parents first, then alphabetical, so help output is stable.
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.path.size() != b.path.size()) return a.path.size() < b.path.size();
        return a.path < b.path;
    });
    for (const auto& entry : entries) {
        CLI::App* app = &root;
        for (std::size_t i = 0; i < entry.path.size(); ++i) {
            CLI::App* child = nullptr;
            try {
                child = app->get_subcommand(entry.path[i]);
            } catch (const CLI::OptionNotFound&) {
                // Parents that exist only through their children still say what they group.
                static const std::map<std::string, std::string> groups = {
                    {"bench", "Benchmarks, each printing ratios against its reference measured in the same run"},
                    {"fit", "Fit models to CSV data (gain-cell polynomial, distributions, retention, HardSigmoid)"},
                    {"lsh", "LSH attention workloads: letter shift, collision statistics"}};
                const auto group = groups.find(entry.path[i]);
                child = app->add_subcommand(entry.path[i], i + 1 == entry.path.size() ? entry.description
                                                           : group != groups.end() ? group->second : "");
                if (i + 1 < entry.path.size()) child->require_subcommand(1);
            }
            app = child;
        }
        app->description(entry.description);
        entry.setup(*app);
    }
}

}  // namespace imc::cli
