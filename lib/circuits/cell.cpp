#include "circuits/cell.hpp"

#include "datadir/datadir.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace imc::circuits {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Logical cards of a netlist file: continuation lines ('+') joined, with the first line number.
std::vector<std::pair<int, std::string>> cards(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw CellError("cannot read " + file.string());
    std::vector<std::pair<int, std::string>> out;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first != std::string::npos && line[first] == '+' && !out.empty()) {
            out.back().second += " " + line.substr(first + 1);
            continue;
        }
        out.emplace_back(n, line);
    }
    return out;
}

}  // namespace

SubcktSignature findSubckt(const fs::path& file, const std::string& name) {
    std::vector<std::string> found;
    for (const auto& [lineNo, card] : cards(file)) {
        std::istringstream in(card);
        std::string keyword, subName;
        in >> keyword >> subName;
        if (lower(keyword) != ".subckt") continue;
        found.push_back(subName);
        if (lower(subName) != lower(name)) continue;
        SubcktSignature sig;
        sig.name = subName;
        sig.file = file;
        sig.line = lineNo;
        bool inParams = false;
        for (std::string tok; in >> tok;) {
            if (lower(tok) == "params:") {
                inParams = true;
                continue;
            }
            const auto eq = tok.find('=');
            if (eq != std::string::npos) {
                sig.defaults[tok.substr(0, eq)] = tok.substr(eq + 1);
                inParams = true;
            } else if (!inParams) {
                sig.ports.push_back(tok);
            } else {
                throw CellError(file.string() + ":" + std::to_string(lineNo) + ": .subckt " + subName +
                                ": cannot read parameter '" + tok + "' (write name=value)");
            }
        }
        return sig;
    }
    std::string list;
    for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
    throw CellError(file.string() + ": no .subckt " + name + (found.empty() ? " (the file defines none)" : " (it defines: " + list + ")"));
}

void CellSpec::validate(const std::vector<std::string>& required) const {
    for (const auto& r : required)
        if (!roles.count(r)) throw CellError("cell " + subckt + ": port role '" + r + "' is not bound to a port");
    std::map<std::string, std::string> portOwner;
    for (const auto& [role, port] : roles) {
        const std::string wanted = lower(port);  // clang 14 cannot capture a structured binding
        if (std::find_if(ports.begin(), ports.end(), [&](const std::string& p) { return lower(p) == wanted; }) == ports.end())
            throw CellError("cell " + subckt + ": role '" + role + "' names port '" + port + "', which the subcircuit does not have");
        if (auto it = portOwner.find(lower(port)); it != portOwner.end())
            throw CellError("cell " + subckt + ": port '" + port + "' is bound twice (roles '" + it->second + "' and '" + role + "')");
        portOwner[lower(port)] = role;
    }
}

netlist::SubcktInstance CellSpec::instance(const std::string& name, const std::map<std::string, std::string>& nodeOfRole,
                                           const std::map<std::string, std::string>& extraParams,
                                           const std::string& unboundNode) const {
    std::map<std::string, std::string> roleOfPort;
    for (const auto& [role, port] : roles) roleOfPort[lower(port)] = role;
    netlist::SubcktInstance x;
    x.name = name;
    x.subckt = subckt;
    for (const auto& p : ports) {
        auto r = roleOfPort.find(lower(p));
        if (r == roleOfPort.end()) {
            x.nodes.push_back(unboundNode);
            continue;
        }
        auto n = nodeOfRole.find(r->second);
        if (n == nodeOfRole.end()) throw CellError("testbench gives no node for role '" + r->second + "' of cell " + subckt);
        x.nodes.push_back(n->second);
    }
    x.params = params;
    for (const auto& [k, v] : extraParams) x.params[k] = v;
    return x;
}

void CellSpec::includeInto(netlist::Circuit& circuit) const {
    for (const auto& f : includes) circuit.include(f.string());
}

CellSpec cellFromFile(const fs::path& file, const std::string& subckt, const std::map<std::string, std::string>& roles,
                      const std::vector<fs::path>& extraIncludes) {
    const auto sig = findSubckt(file, subckt);
    CellSpec c;
    c.subckt = sig.name;
    c.ports = sig.ports;
    c.defaults = sig.defaults;
    c.roles = roles;
    for (const auto& inc : extraIncludes) c.includes.push_back(fs::absolute(inc).lexically_normal());
    c.includes.push_back(fs::absolute(file).lexically_normal());
    return c;
}

fs::path modelsDir() { return dataPath("netlists") / "models"; }

std::vector<std::string> builtinCellNames() { return {"gaincell", "selfsel", "ohmic", "passive0t1r", "c2p_relu", "c2p_signed", "rram1t1r"}; }

CellSpec builtinCell(const std::string& name) {
    const auto m = modelsDir();
    const fs::path card = m / "ptm-32nm-hp.pm";
    if (name == "gaincell")
        return cellFromFile(m / "gaincell" / "gaincell.sub", "gaincell",
                            {{"wbl", "wbl"}, {"we", "we"}, {"web", "web"}, {"pwm", "pwm"}, {"pwmb", "pwmb"}, {"bl", "bl"},
                             {"vdd", "vdd"}, {"vss", "vss"}},
                            {card});
    if (name == "selfsel") return cellFromFile(m / "memristor" / "selfsel.lib", "selfsel", {{"top", "top"}, {"bottom", "bot"}});
    if (name == "ohmic") return cellFromFile(m / "memristor" / "ohmic.lib", "ohmic", {{"top", "top"}, {"bottom", "bot"}});
    if (name == "passive0t1r")
        return cellFromFile(m / "memristor" / "passive0t1r.lib", "passive0t1r", {{"top", "top"}, {"bottom", "bot"}});
    if (name == "rram1t1r")
        return cellFromFile(m / "rram" / "rram1t1r.sub", "rram1t1r", {{"bl", "bl"}, {"wl", "wl"}, {"sl", "sl"}}, {card});
    if (name == "c2p_relu")
        return cellFromFile(m / "gaincell" / "c2p.sub", "c2p_relu",
                            {{"in", "in"}, {"out", "out"}, {"outb", "outb"}, {"conv", "conv"}, {"rst", "rst"}, {"vdd", "vdd"},
                             {"vss", "vss"}});
    if (name == "c2p_signed")
        return cellFromFile(m / "gaincell" / "c2p.sub", "c2p_signed",
                            {{"in", "in"}, {"out", "out"}, {"outb", "outb"}, {"sign", "sgn"}, {"conv", "conv"}, {"rst", "rst"},
                             {"vdd", "vdd"}, {"vss", "vss"}});
    std::string list;
    for (const auto& n : builtinCellNames()) list += (list.empty() ? "" : ", ") + n;
    throw CellError("no built-in cell '" + name + "' (known: " + list + ")");
}

}  // namespace imc::circuits
