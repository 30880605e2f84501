#include "circuits/crossbar.hpp"

#include <stdexcept>

namespace imc::circuits {

using namespace imc::netlist;

std::string rowNode(int r, int c) { return "r" + std::to_string(r) + "_" + std::to_string(c); }
std::string colNode(int r, int c) { return "c" + std::to_string(r) + "_" + std::to_string(c); }
std::string columnCurrentVector(int col) { return "i(vsense" + std::to_string(col) + ")"; }

Circuit buildResistiveCrossbar(const CrossbarSpec& s) {
    if (s.rows < 1 || s.cols < 1) throw std::invalid_argument("crossbar: rows and cols must be >= 1");
    if (s.cellConductance_S.rows() != s.rows || s.cellConductance_S.cols() != s.cols)
        throw std::invalid_argument("crossbar: cellConductance_S must be rows x cols");
    if (s.rowVoltage_V.size() != s.rows) throw std::invalid_argument("crossbar: rowVoltage_V must have one value per row");
    if (s.wireResistance_Ohm <= 0) throw std::invalid_argument("crossbar: wire resistance must be > 0");

    Circuit c("resistive crossbar " + std::to_string(s.rows) + "x" + std::to_string(s.cols));
    // Regular row/column order keeps the LU fill low (measured: shuffled order is slower).
    for (int i = 0; i < s.rows; ++i) {
        c.add(VoltageSource{"row" + std::to_string(i), "in" + std::to_string(i), "0", Dc{s.rowVoltage_V[i]}});
        c.add(Resistor{"wr" + std::to_string(i) + "_0", "in" + std::to_string(i), rowNode(i, 0), Resistance(s.wireResistance_Ohm)});
        for (int j = 1; j < s.cols; ++j)
            c.add(Resistor{"wr" + std::to_string(i) + "_" + std::to_string(j), rowNode(i, j - 1), rowNode(i, j),
                           Resistance(s.wireResistance_Ohm)});
    }
    for (int j = 0; j < s.cols; ++j) {
        for (int i = 1; i < s.rows; ++i)
            c.add(Resistor{"wc" + std::to_string(i) + "_" + std::to_string(j), colNode(i - 1, j), colNode(i, j),
                           Resistance(s.wireResistance_Ohm)});
        c.add(Resistor{"wc" + std::to_string(s.rows) + "_" + std::to_string(j), colNode(s.rows - 1, j),
                       "out" + std::to_string(j), Resistance(s.wireResistance_Ohm)});
        c.add(VoltageSource{"sense" + std::to_string(j), "out" + std::to_string(j), "0", Dc{0.0}});
    }
    for (int i = 0; i < s.rows; ++i)
        for (int j = 0; j < s.cols; ++j) {
            const double g = s.cellConductance_S(i, j);
            if (!(g > 0)) throw std::invalid_argument("crossbar: cell (" + std::to_string(i) + "," + std::to_string(j) +
                                                      ") conductance must be > 0");
            c.add(Resistor{"cell" + std::to_string(i) + "_" + std::to_string(j), rowNode(i, j), colNode(i, j),
                           Resistance(1.0 / g)});
            if (s.wireCapacitance_F > 0) {
                c.add(Capacitor{"cr" + std::to_string(i) + "_" + std::to_string(j), rowNode(i, j), "0",
                                Capacitance(s.wireCapacitance_F)});
                c.add(Capacitor{"cc" + std::to_string(i) + "_" + std::to_string(j), colNode(i, j), "0",
                                Capacitance(s.wireCapacitance_F)});
            }
        }
    if (s.useKlu) c.option("klu");
    c.analysis(OpAnalysis{});
    return c;
}

}  // namespace imc::circuits
