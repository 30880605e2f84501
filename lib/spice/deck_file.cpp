#include "spice/deck_file.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace imc::spice {
namespace fs = std::filesystem;

namespace {

// .include file / .include "file" / .lib file section
const std::regex& includeCard() {
    static const std::regex re(R"(^(\s*\.(?:include|inc|lib)\s+)(["']?)([^"'\s]+)(["']?)(.*)$)", std::regex::icase);
    return re;
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DeckError("cannot read netlist " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw DeckError("cannot read netlist " + path.string());
    return ss.str();
}

std::string lowerTrimmed(const std::string& line) {
    const auto a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos) return "";
    const auto b = line.find_last_not_of(" \t\r");
    std::string s = line.substr(a, b - a + 1);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// The interpreter commands that reach the machine beyond the simulation.
bool runsProgram(const std::string& lowerCommand, std::string& name) {
    std::string word = lowerCommand.substr(0, lowerCommand.find_first_of(" \t("));
    if (word.rfind("pre_", 0) == 0) word.erase(0, 4);
    static const std::set<std::string> programs{"shell", "exec", "source", "codemodel"};
    name = word;
    return programs.count(word) > 0;
}

}  // namespace

std::string readDeckFile(const fs::path& path) {
    const std::string text = slurp(path);
    if (const auto nul = text.find('\0'); nul != std::string::npos)
        throw DeckError(path.string() + ": not a text netlist (a NUL byte at offset " + std::to_string(nul) + ")");
    const auto folder = fs::absolute(path).parent_path();
    std::istringstream in(text);
    std::ostringstream out;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, includeCard())) {
            fs::path target(m[3].str());
            if (target.is_relative()) target = folder / target;
            line = m[1].str() + m[2].str() + target.lexically_normal().string() + m[4].str() + m[5].str();
        }
        out << line << '\n';
    }
    return out.str();
}

DeckScan scanDeckText(const std::string& text, const fs::path& file) {
    DeckScan scan;
    const auto folder = fs::absolute(file).parent_path();
    std::istringstream in(text);
    bool inControl = false;
    int lineNo = 0;
    auto add = [&](const std::string& line, std::string what, bool program) {
        std::string card = line;
        card.erase(0, card.find_first_not_of(" \t"));
        while (!card.empty() && std::isspace(static_cast<unsigned char>(card.back()))) card.pop_back();
        scan.hazards.push_back({file, lineNo, card, std::move(what), program});
    };
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        const std::string low = lowerTrimmed(line);
        // As ngspice matches them: by prefix, after leading blanks.
        if (low.rfind(".control", 0) == 0) {
            add(line, ".control block (ngspice runs its commands)", false);
            inControl = true;
            continue;
        }
        if (low.rfind(".endc", 0) == 0) {
            inControl = false;
            continue;
        }
        std::string command;
        if (inControl) command = low;
        else if (low.rfind("*#", 0) == 0) {
            command = lowerTrimmed(low.substr(2));
            add(line, "*# control line (ngspice runs it as a command)", false);
        }
        if (!command.empty() && command[0] != '*') {
            std::string name;
            if (runsProgram(command, name)) add(line, name + " command", true);
            continue;
        }
        std::smatch m;
        if (!inControl && std::regex_match(line, m, includeCard())) {
            fs::path target(m[3].str());
            if (target.is_relative()) target = folder / target;
            scan.includes.push_back(target.lexically_normal());
        }
    }
    return scan;
}

std::vector<DeckHazard> findDeckHazards(const std::vector<fs::path>& files) {
    std::vector<DeckHazard> hazards;
    std::set<fs::path> seen;
    std::vector<fs::path> todo(files.rbegin(), files.rend());
    while (!todo.empty()) {
        const fs::path file = fs::absolute(todo.back()).lexically_normal();
        todo.pop_back();
        if (!seen.insert(file).second) continue;
        std::error_code ec;
        if (!fs::exists(file, ec)) continue;  // ngspice reports a missing include itself
        // A device or a pipe (/dev/zero) would be read forever.
        if (!fs::is_regular_file(file, ec)) throw DeckError(file.string() + ": not a regular file");
        DeckScan scan = scanDeckText(slurp(file), file);
        hazards.insert(hazards.end(), scan.hazards.begin(), scan.hazards.end());
        for (auto it = scan.includes.rbegin(); it != scan.includes.rend(); ++it) todo.push_back(*it);
    }
    return hazards;
}

std::string describe(const DeckHazard& h) {
    return h.file.string() + ":" + std::to_string(h.line) + ": " + h.what + ": " + h.card;
}

void refuseDeckHazards(const std::vector<fs::path>& files, const std::string& advice) {
    const auto hazards = findDeckHazards(files);
    if (hazards.empty()) return;
    std::string message = describe(hazards.front());
    constexpr std::size_t shown = 6;
    for (std::size_t i = 1; i < hazards.size() && i < shown; ++i) message += "\n  " + describe(hazards[i]);
    if (hazards.size() > shown) message += "\n  (" + std::to_string(hazards.size() - shown) + " more)";
    throw DeckError(message + "\n" + advice);
}

}  // namespace imc::spice
