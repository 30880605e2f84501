// imc demo: the pipeline on shipped defaults, each stage printing what it measured.
#include "characterize/characterize.hpp"
#include "circuits/crossbar.hpp"
#include "cli.hpp"
#include "variability/variability.hpp"

#include <cmath>
#include <cstdio>

namespace {

using namespace imc;

// Stage 1: Monte-Carlo SPICE of a resistive crossbar with lognormal device-to-device cells;
// the column currents against the ideal vector-matrix product show the IR drop of the wires.
void demoCrossbarMonteCarlo(int workers, bool force) {
    const int n = 32, samples = 8;
    const std::uint64_t seed = 1;
    const auto cellDistribution = variability::Distribution::lognormal(std::log(10e-6), 0.3);
    std::printf("[1] SPICE Monte-Carlo: %dx%d resistive crossbar, 2 ohm wires, cells %s S, %d samples, seed %llu\n", n, n,
                cellDistribution.describe().c_str(), samples, static_cast<unsigned long long>(seed));
    std::vector<characterize::PlannedJob> jobs;
    std::vector<Eigen::VectorXd> ideal;
    for (int s = 0; s < samples; ++s) {
        circuits::CrossbarSpec spec;
        spec.rows = spec.cols = n;
        spec.cellConductance_S.resize(n, n);
        spec.rowVoltage_V.resize(n);
        for (int i = 0; i < n; ++i) {
            spec.rowVoltage_V[i] = (i % 3 == 0) ? 0.2 : 0.0;  // a binary input vector
            for (int j = 0; j < n; ++j)
                spec.cellConductance_S(i, j) =
                    variability::drawDeviceToDevice(cellDistribution, seed, std::uint64_t(s), std::uint64_t(i * n + j));
        }
        ideal.push_back(spec.cellConductance_S.transpose() * spec.rowVoltage_V);
        characterize::PlannedJob job;
        job.sim.id = "crossbar32x32_s" + std::to_string(s);
        job.sim.deck = netlist::writeDeck(circuits::buildResistiveCrossbar(spec));
        for (int j = 0; j < n; ++j) job.sim.vectors.push_back(circuits::columnCurrentVector(j));
        job.point = {{"sample", s}};
        jobs.push_back(std::move(job));
    }
    characterize::RunSpec run;
    run.name = "demo-crossbar";
    run.seed = seed;
    run.workers = workers;
    run.force = force;
    run.parameters = {{"size", n}, {"wire_ohm", 2.0}, {"cells", cellDistribution.describe()}};
    const auto measure = [&](const characterize::PlannedJob& job, const spice::SimResult& r) {
        const int s = int(job.point[0].second);
        double worst = 0, mean = 0;
        for (int j = 0; j < n; ++j) {
            const double err = std::abs(r.vec(circuits::columnCurrentVector(j))[0] - ideal[std::size_t(s)][j]) /
                               std::abs(ideal[std::size_t(s)][j]);
            worst = std::max(worst, err), mean += err / n;
        }
        return std::vector<std::pair<std::string, double>>{{"ir_drop_mean", mean}, {"ir_drop_max", worst}};
    };
    const auto summary = characterize::runSweep(jobs, {"ir_drop_mean", "ir_drop_max"}, measure, run);
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
