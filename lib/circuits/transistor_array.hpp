#pragma once
// A rows x cols array of 1T1C cells (access NMOS + storage capacitor): word lines pulse the
// gates, bit lines drive the cells through a line resistance. A MOSFET-heavy transient used to
// measure simulator overhead; the model is ngspice's built-in BSIM4 (level 54) with its defaults.
#include "netlist/netlist.hpp"

namespace imc::circuits {

struct TransistorArraySpec {
    int rows = 16, cols = 16;
    double vdd_V = 0.9;
    double storage_F = 1e-15;
    double lineResistance_Ohm = 100;
    double stop_s = 10e-9, step_s = 20e-12;
};

netlist::Circuit buildOneTransistorArray(const TransistorArraySpec& spec);

}  // namespace imc::circuits
