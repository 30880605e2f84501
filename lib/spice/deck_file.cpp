#include "spice/deck_file.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace imc::spice {

std::string readDeckFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read netlist " + path.string());
    const auto folder = std::filesystem::absolute(path).parent_path();
    // .include file / .include "file" / .lib file section
    static const std::regex includeCard(R"(^(\s*\.(?:include|inc|lib)\s+)(["']?)([^"'\s]+)(["']?)(.*)$)", std::regex::icase);
    std::ostringstream out;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, includeCard)) {
            std::filesystem::path target(m[3].str());
            if (target.is_relative()) target = folder / target;
            line = m[1].str() + m[2].str() + target.lexically_normal().string() + m[4].str() + m[5].str();
        }
        out << line << '\n';
    }
    return out.str();
}

}  // namespace imc::spice
