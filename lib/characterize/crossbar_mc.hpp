#pragma once
// A Monte-Carlo sweep of resistive crossbars: every cell conductance drawn per device (D2D) from
// a distribution, a binary input vector on the rows, column currents read at virtual ground.
// Measured per sample: the column currents' error against the ideal product G^T v (the IR drop
// of the wires) and the geometric mean of the drawn conductances.
#include "characterize/study.hpp"
#include "variability/variability.hpp"

namespace imc::characterize {

struct CrossbarMcSpec {
    int size = 32;
    int samples = 8;
    std::uint64_t seed = 1;
    variability::Distribution cell = variability::Distribution::lognormal(-11.512925464970229, 0.3);  // ln(10 uS)
    double inputHigh_V = 0.2;     // rows i with i % 3 == 0 are driven high, the others at 0 V
    double wireResistance_Ohm = 2.0;
};

struct CrossbarMcSweep {
    std::vector<PlannedJob> jobs;
    std::vector<std::string> columns;
    Measure measure;
};

CrossbarMcSweep crossbarMonteCarloSweep(const CrossbarMcSpec& spec);

}  // namespace imc::characterize
