#pragma once
// Measures the session's overhead against `ngspice -b` on the same decks, and Monte-Carlo
// throughput against the worker count, all in one run so the ratios compare like with like.
#include <nlohmann/json.hpp>

#include <string>

namespace imc::characterize {

struct SpiceBenchOptions {
    int repeats = 5;             // timings are medians over this many runs
    int crossbarSize = 64;       // resistive crossbar .op with 2 ohm wires (KLU)
    int mosfetArraySize = 16;    // 1T1C BSIM4 array transient
    int deviceThreads = 1;       // ngspice's OpenMP threads for BSIM3/4, the same on both sides
    int mcSamples = 16;          // Monte-Carlo samples of the crossbar for the worker speed-up
    std::string ngspiceBinary = "ngspice";
    bool progress = true;
};

nlohmann::json benchSpice(const SpiceBenchOptions& options);

}  // namespace imc::characterize
