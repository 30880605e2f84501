#pragma once
// The cell a testbench wraps: a subcircuit from a netlist file, the files it needs, and the role
// of each port. imc's own cells and a user's cells are the same kind of thing, so every
// testbench works on both.
#include "netlist/netlist.hpp"

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::circuits {

struct CellError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A subcircuit definition as found in a file: its ports in order and its default parameters.
struct SubcktSignature {
    std::string name;
    std::vector<std::string> ports;
    std::map<std::string, std::string> defaults;
    std::filesystem::path file;
    int line = 0;  // 1-based line of the .subckt card
};

// Finds `.subckt NAME` in a netlist file (following continuation lines; case-insensitive
// names). Throws CellError naming the file and listing the subcircuits it holds when absent.
SubcktSignature findSubckt(const std::filesystem::path& file, const std::string& name);

struct CellSpec {
    std::string subckt;
    std::vector<std::filesystem::path> includes;  // model cards and the subcircuit file(s), absolute
    std::vector<std::string> ports;               // the subcircuit's ports, in order
    std::map<std::string, std::string> roles;     // role -> port name ("top" -> "top", "bl" -> "bl")
    std::map<std::string, std::string> params;    // parameter overrides for every instance
    std::map<std::string, std::string> defaults;  // the subcircuit's own defaults (documentation)

    // Checks that every role in `required` is bound to a port, that no port is bound twice and
    // that every bound port exists. Errors name the role and the port.
    void validate(const std::vector<std::string>& required) const;

    // An instance with its ports connected by role: nodeOfRole maps each role to a node of the
    // testbench. Ports without a role get `unboundNode`.
    netlist::SubcktInstance instance(const std::string& name, const std::map<std::string, std::string>& nodeOfRole,
                                     const std::map<std::string, std::string>& extraParams = {},
                                     const std::string& unboundNode = "0") const;

    // Adds the includes to a circuit.
    void includeInto(netlist::Circuit& circuit) const;
};

// A cell from a file: finds the subcircuit, reads its ports and defaults, binds roles.
CellSpec cellFromFile(const std::filesystem::path& file, const std::string& subckt,
                      const std::map<std::string, std::string>& roles,
                      const std::vector<std::filesystem::path>& extraIncludes = {});

// imc's own cells, from netlists/models/ of the source tree.
std::filesystem::path modelsDir();
CellSpec builtinCell(const std::string& name);  // "gaincell", "selfsel", "ohmic", "passive0t1r", "c2p_relu", "c2p_signed", "rram1t1r"
std::vector<std::string> builtinCellNames();

}  // namespace imc::circuits
