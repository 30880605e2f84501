// The sweep of `imc characterize crossbar-mc` as a small program, built twice by the
// portable-numbers test: against this build's libraries, and from the same sources as a plain
// build (driver/CMakeLists.txt). Prints the results folder.
// usage: portable_crossbar_mc RESULTS_ROOT SIZE SAMPLES SEED SIGMA
#include "characterize/crossbar_mc.hpp"
#include "sweep/sweep.hpp"

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    using namespace imc;
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s RESULTS_ROOT SIZE SAMPLES SEED SIGMA\n", argv[0]);
        return 2;
    }
    try {
        characterize::CrossbarMcSpec spec;
        spec.size = std::stoi(argv[2]);
        spec.samples = std::stoi(argv[3]);
        spec.seed = std::stoull(argv[4]);
        // As the command does for its default median of 10 uS.
        spec.cell = variability::Distribution::lognormal(variability::log(10e-6), std::stod(argv[5]));
        const auto plan = characterize::crossbarMonteCarloSweep(spec);
        sweep::RunSpec run;
        run.name = "crossbar-mc";
        run.resultsRoot = argv[1];
        run.seed = spec.seed;
        run.workers = 2;
        run.progress = false;
        run.parameters = {{"size", spec.size}, {"cell", spec.cell.describe()}, {"wire_ohm", spec.wireResistance_Ohm},
                          {"input_high_V", spec.inputHigh_V}};
        const auto r = sweep::runSweep(plan.jobs, plan.columns, plan.measure, run);
        std::printf("%s\n", r.dir.string().c_str());
        return r.failed == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "portable_crossbar_mc: %s\n", e.what());
        return 1;
    }
}
