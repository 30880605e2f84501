#pragma once
// Resistive crossbar generator: R rows x C columns of two-terminal cells with wire resistance
// per array element on word (row) and bit (column) lines. Rows are driven at their left end;
// columns end in a 0 V sense source at the bottom (a virtual-ground readout), whose current
// is the column output. Node names say where they are: r<i>_<j>, c<i>_<j>.
#include "netlist/netlist.hpp"

#include <Eigen/Core>

#include <string>
#include <vector>

namespace imc::circuits {

struct CrossbarSpec {
    int rows = 8, cols = 8;
    Eigen::MatrixXd cellConductance_S;  // rows x cols, > 0
    Eigen::VectorXd rowVoltage_V;       // rows
    double wireResistance_Ohm = 2.0;    // per array element, on each row and column segment
    double wireCapacitance_F = 0.0;     // per array element to ground on both lines (0: none)
    bool useKlu = true;                 // ngspice 46 KLU: the fast solver for large linear networks
};

// The netlist with a `.op` analysis.
netlist::Circuit buildResistiveCrossbar(const CrossbarSpec& spec);

// Names of the column sense currents as read from a session: "i(vsense<j>)".
std::string columnCurrentVector(int col);
std::string rowNode(int row, int col);
std::string colNode(int row, int col);

}  // namespace imc::circuits
