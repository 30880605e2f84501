// imc demo: the pipeline on shipped defaults, each stage printing what it measured.
#include "characterize/crossbar_mc.hpp"
#include "cli.hpp"

#include <cmath>
#include <cstdio>

namespace {

using namespace imc;

// Stage 1: Monte-Carlo SPICE of a resistive crossbar with lognormal device-to-device cells;
// the column currents against the ideal vector-matrix product show the IR drop of the wires.
void demoCrossbarMonteCarlo(int workers, bool force) {
    characterize::CrossbarMcSpec spec;
    spec.size = 32;
    spec.samples = 8;
    std::printf("[1] SPICE Monte-Carlo: %dx%d resistive crossbar, 2 ohm wires, cells %s S, %d samples, seed %llu\n",
                spec.size, spec.size, spec.cell.describe().c_str(), spec.samples,
                static_cast<unsigned long long>(spec.seed));
    const auto sweep = characterize::crossbarMonteCarloSweep(spec);
    characterize::RunSpec run;
    run.name = "demo-crossbar";
    run.seed = spec.seed;
    run.workers = workers;
    run.force = force;
    run.parameters = {{"size", spec.size}, {"wire_ohm", spec.wireResistance_Ohm}, {"cells", spec.cell.describe()}};
    const auto summary = characterize::runSweep(sweep.jobs, sweep.columns, sweep.measure, run);
    const auto mean = summary.column("ir_drop_mean"), worst = summary.column("ir_drop_max");
    double m = 0, w = 0;
    for (double v : mean) m += v / double(mean.size());
    for (double v : worst) w = std::max(w, v);
    std::printf("    column current vs ideal G^T v: mean error %.3g %%, worst %.3g %% (%zu ok, %zu failed)\n", 100 * m,
                100 * w, mean.size(), summary.failed);
    std::printf("    results: %s (ngspice %s)\n", summary.dir.string().c_str(), summary.ngspiceVersion.c_str());
}

imc::cli::CommandRegistration demoCommand{
    "demo", "Run the pipeline on shipped defaults: SPICE characterization, fits, behavioral inference",
    [](CLI::App& app) {
        auto workers = std::make_shared<int>(0);
        auto force = std::make_shared<bool>(false);
        app.add_option("--workers", *workers, "worker processes (default: one per core)");
        app.add_flag("--force", *force, "run simulations again even when stored results exist");
        app.callback([workers, force] { demoCrossbarMonteCarlo(*workers, *force); });
    }};

}  // namespace
