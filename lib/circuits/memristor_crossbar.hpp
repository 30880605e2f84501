#pragma once
// Crossbars of any two-terminal cell (a CellSpec with the roles "top" and "bottom"): N x M
// subcircuit instances with per-instance parameters written as literal numbers, wire
// resistance per array element on word (row) and bit (column) lines, and the biasing schemes
// used to read one selected cell (unselected lines floating, V/2, V/3) or to compute a
// vector-matrix product ("vmm": every row driven, every column held at 0 V by its sense source).
//
// Topology (the same as circuits/crossbar.hpp, so the nodal reference applies): row i is driven
// at its left end through node in<i>, column j ends at the bottom in node out<j>, where the
// sense source vsense<j> holds it; every array position has one wire segment on each line.
// The top port of cell (i, j) sits on the row node, the bottom port on the column node.
#include "circuits/cell.hpp"
#include "netlist/netlist.hpp"

#include <Eigen/Core>

#include <map>
#include <optional>
#include <string>

namespace imc::circuits {

enum class BiasScheme {
    Floating,  // selected row at V, selected column at 0 V, every other line left open
    Half,      // selected row V, selected column 0, all other lines V/2
    Third,     // selected row V, selected column 0, other rows V/3, other columns 2V/3
    Vmm,       // every row driven by rowInput_V, every column at 0 V
};

const char* toString(BiasScheme scheme);            // "floating", "v2", "v3", "vmm"
BiasScheme parseBiasScheme(const std::string& text);  // the names above; throws std::invalid_argument

struct MemristorCrossbarSpec {
    CellSpec cell;  // two-terminal, roles "top" and "bottom"
    int rows = 2, cols = 2;
    // Per-instance parameters (rows x cols each), computed in C++ and written as numbers, e.g.
    // "x0" (state), "sGoff" (device-to-device factor) or "G" for the ohmic cell.
    std::map<std::string, Eigen::MatrixXd> cellParams;
    double wireResistance_Ohm = 10.0;  // per array element, on each row and column segment
    BiasScheme scheme = BiasScheme::Third;
    int selectedRow = 0;
    int selectedCol = -1;         // -1: the last column (the cell farthest from both line ends)
    double readVoltage_V = 3.0;   // V of the read schemes
    Eigen::VectorXd rowInput_V;   // Vmm: one voltage per row
    bool useKlu = true;           // sparse solver: large crossbars factor much faster
    std::optional<netlist::TranAnalysis> transient;  // none: .op
};

// The deck: includes, cells, wires, sources, options (klu; method=gear for transients), analysis.
netlist::Circuit buildMemristorCrossbar(const MemristorCrossbarSpec& spec);

// Current into the sense source at the bottom of column j (positive when the column sinks
// current), "i(vsense<j>)"; present for every column driven by the scheme.
std::string senseCurrentVector(int col);
// Current through the selected cell from row to column (a 0 V probe in series with its top),
// present in the read schemes.
std::string selectedCellCurrentVector();
// Selected column index after resolving -1.
int selectedColumn(const MemristorCrossbarSpec& spec);

// Isolated devices read one at a time in parallel: device k sits between the read node
// (readVoltage_V) and its own 0 V sense source, so its current is exactly its own I(V_read).
// The device-level measurement of a conductance map without any array effect.
struct DeviceReadSpec {
    CellSpec cell;
    int devices = 1;
    std::map<std::string, Eigen::VectorXd> cellParams;  // one value per device
    double readVoltage_V = 3.0;
};
netlist::Circuit buildDeviceRead(const DeviceReadSpec& spec);
std::string deviceCurrentVector(int device);  // "i(vdev<k>)", positive from the read node into the device

}  // namespace imc::circuits
