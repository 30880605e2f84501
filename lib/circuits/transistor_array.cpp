#include "circuits/transistor_array.hpp"

#include <stdexcept>

namespace imc::circuits {

using namespace imc::netlist;

Circuit buildOneTransistorArray(const TransistorArraySpec& s) {
    if (s.rows < 1 || s.cols < 1) throw std::invalid_argument("transistor array: rows and cols must be >= 1");
    Circuit c("1T1C array " + std::to_string(s.rows) + "x" + std::to_string(s.cols));
    c.addModel(Model{"nch", "nmos", {{"level", 54}, {"version", 4.8}}});
    for (int j = 0; j < s.cols; ++j) {
        // Bit lines alternate between writing 0 and VDD, so half the cells charge.
        const double v = (j % 2) ? s.vdd_V : 0.0;
        c.add(VoltageSource{"bl" + std::to_string(j), "bld" + std::to_string(j), "0", Dc{v}});
        c.add(Resistor{"bl" + std::to_string(j), "bld" + std::to_string(j), "bl" + std::to_string(j),
                       Resistance(s.lineResistance_Ohm)});
    }
    for (int i = 0; i < s.rows; ++i) {
        // Word lines open one after another, a 1 ns pulse every 0.5 ns step.
        const double delay = 0.5e-9 * (i % 16);
        c.add(VoltageSource{"wl" + std::to_string(i), "wl" + std::to_string(i), "0",
                            Pulse{0, s.vdd_V + 0.3, Time(delay), Time(50e-12), Time(50e-12), Time(1e-9), Time(0)}});
        for (int j = 0; j < s.cols; ++j) {
            const std::string cell = std::to_string(i) + "_" + std::to_string(j);
            c.add(Mosfet{"a" + cell, "bl" + std::to_string(j), "wl" + std::to_string(i), "sn" + cell, "0", "nch",
                         Length(200e-9), Length(50e-9), {}});
            c.add(Capacitor{"s" + cell, "sn" + cell, "0", Capacitance(s.storage_F)});
        }
    }
    c.analysis(TranAnalysis{Time(s.step_s), Time(s.stop_s)});
    return c;
}

}  // namespace imc::circuits
