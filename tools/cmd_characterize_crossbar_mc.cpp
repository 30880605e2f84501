// imc characterize crossbar-mc: Monte-Carlo SPICE of resistive crossbars with per-device
// lognormal conductances; one rank or many (mpirun), same numbers.
#include "characterize/crossbar_mc.hpp"
#include "report/html.hpp"
#include "sweep/cluster.hpp"
#include "sweep/sweep.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace {

using namespace imc;

imc::cli::CommandRegistration crossbarMcCommand{
    "characterize crossbar-mc",
    "Monte-Carlo of resistive crossbars (lognormal cells, 2 ohm wires): IR-drop error against the ideal product",
    [](CLI::App& app) {
        struct Options {
            characterize::CrossbarMcSpec spec;
            double g_median_S = 10e-6, sigma = 0.3;
            int workers = 0;
            std::string out;
            bool force = false, json = false;
        };
        auto o = std::make_shared<Options>();
        app.add_option("--size", o->spec.size, "crossbar rows = columns")->check(CLI::Range(1, 512));
        app.add_option("--samples", o->spec.samples, "Monte-Carlo samples")->check(CLI::Range(1, 1000000));
        app.add_option("--seed", o->spec.seed, "seed of every random draw");
        app.add_option("--g-median", o->g_median_S, "median cell conductance, S")->check(CLI::PositiveNumber);
        app.add_option("--sigma", o->sigma, "lognormal sigma of the cell conductance (of ln G)")->check(CLI::NonNegativeNumber);
        app.add_option("--workers", o->workers, "worker processes per rank (default: the rank's share of the cores)");
        app.add_option("--out", o->out, "results folder (default results/crossbar-mc-<hash>)");
        app.add_flag("--force", o->force, "run again even when the folder holds these results");
        app.add_flag("--json", o->json, "print one JSON object");
        app.callback([o] {
            o->spec.cell = variability::Distribution::lognormal(variability::log(o->g_median_S), o->sigma);
            const auto plan = characterize::crossbarMonteCarloSweep(o->spec);
            sweep::RunSpec run;
            run.name = "crossbar-mc";
            run.outDir = o->out;
            run.seed = o->spec.seed;
            run.workers = o->workers;
            run.force = o->force;
            run.parameters = {{"size", o->spec.size}, {"cell", o->spec.cell.describe()},
                              {"wire_ohm", o->spec.wireResistance_Ohm}, {"input_high_V", o->spec.inputHigh_V}};
            const auto r = sweep::runSweep(plan.jobs, plan.columns, plan.measure, run);
            const auto mean = r.column("ir_drop_mean"), worst = r.column("ir_drop_max");
            double m = 0, w = 0;
            for (double v : mean) m += v / double(mean.size());
            for (double v : worst) w = std::max(w, v);
            nlohmann::json j = {{"results", r.dir.string()}, {"samples", r.rows.size()}, {"failed", r.failed},
                                {"ir_drop_mean", m}, {"ir_drop_max", w}, {"ngspice_version", r.ngspiceVersion},
                                {"ranks", sweep::cluster().size}, {"wall_s", r.wall_s}};
            if (sweep::cluster().rank == 0)
                j["report_html"] = report::writeRunReport(r.dir, "crossbar Monte-Carlo: IR drop against the ideal product",
                                                          cli::commandLine(), j).string();
            if (o->json) {
                std::cout << j.dump() << "\n";
                return;
            }
            std::printf("%zu samples (%zu failed) of a %dx%d crossbar, cells %s S\n", r.rows.size(), r.failed, o->spec.size,
                        o->spec.size, o->spec.cell.describe().c_str());
            std::printf("column current vs ideal G^T v: mean error %.4g %%, worst %.4g %%\nresults: %s\n", 100 * m, 100 * w,
                        r.dir.string().c_str());
        });
    }};

}  // namespace
