// imc demo: the pipeline on shipped defaults, each stage printing what it measured.
#include "backends/backends.hpp"
#include "characterize/crossbar_mc.hpp"
#include "characterize/gaincell.hpp"
#include "characterize/memristor.hpp"
#include "datadir/datadir.hpp"
#include "fit/fit.hpp"
#include "lsh/lsh.hpp"
#include "sweep/sweep.hpp"
#include "workloads/lm_report.hpp"
#include "workloads/lsh.hpp"
#include "workloads/paper_targets.hpp"
#include "cli.hpp"
#include "hyflexpim_cli.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

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
    const auto plan = characterize::crossbarMonteCarloSweep(spec);
    sweep::RunSpec run;
    run.name = "demo-crossbar";
    run.seed = spec.seed;
    run.workers = workers;
    run.force = force;
    run.parameters = {{"size", spec.size}, {"wire_ohm", spec.wireResistance_Ohm}, {"cells", spec.cell.describe()}};
    const auto summary = sweep::runSweep(plan.jobs, plan.columns, plan.measure, run);
    const auto mean = summary.column("ir_drop_mean"), worst = summary.column("ir_drop_max");
    double m = 0, w = 0;
    for (double v : mean) m += v / double(mean.size());
    for (double v : worst) w = std::max(w, v);
    std::printf("    column current vs ideal G^T v: mean error %.3g %%, worst %.3g %% (%zu ok, %zu failed)\n", 100 * m,
                100 * w, mean.size(), summary.failed);
    std::printf("    results: %s (ngspice %s)\n", summary.dir.string().c_str(), summary.ngspiceVersion.c_str());
}

// Stage 2: RP-LSH in SPICE: binary inputs on a self-selective crossbar whose device-to-device
// conductances are drawn from the variability model; hashes from the simulated column currents
// against hashes from the behavioral projection of the same conductance map.
void demoMemristorHashing(int workers, bool force) {
    characterize::RpLshSpec spec;
    spec.rows = 32, spec.cols = 8, spec.vectors = 20, spec.seed = 1;
    std::printf("[2] SPICE RP-LSH: %dx%d self-selective crossbar, %d binary vectors at %g V, seed %llu\n", spec.rows,
                spec.cols, spec.vectors, spec.readVoltage_V, static_cast<unsigned long long>(spec.seed));
    sweep::RunSpec run;
    run.name = "demo-rp-lsh";
    run.seed = spec.seed;
    run.workers = workers;
    run.force = force;
    const auto r = characterize::runRpLsh(spec, run);
    int agree = 0;
    for (std::size_t i = 0; i < r.hashSpice.size(); ++i) agree += r.hashSpice[i] == r.hashBehavioral[i];
    std::printf("    hash codes, SPICE vs behavioral projection: %d of %zu agree (paper: 19 of 20); "
                "largest projection error %.2g of full scale\n",
                agree, r.hashSpice.size(), r.maxProjectionError);
    std::printf("    results: %s\n", r.dir.string().c_str());
}

// Stage 3: a gain-cell array with its charge-to-pulse readout in SPICE (BSIM4 cells with
// threshold mismatch) against the behavioral model assembled from the shipped fits.
void demoGainCellArray(int workers, bool force) {
    // netlists/gaincell-array.job.json at 4x4 with two samples (its fits_dir is the shipped fits/).
    const characterize::ArrayCharacterization spec = characterize::arrayCharacterizationFromJob(
        characterize::loadBuiltinJob("gaincell-array", 2, 1, [](nlohmann::json& doc) {
            doc["testbench"]["rows"] = 4, doc["testbench"]["cols"] = 4;
        }));
    std::printf("[3] SPICE gain-cell array: %dx%d cells (PTM 32 nm BSIM4, Vth mismatch), random K and Q, %d samples, "
                "against the polynomial in fits/gaincell-poly.json\n",
                spec.rows, spec.cols, spec.samples);
    characterize::GainCellRunOptions o;
    o.workers = workers;
    o.force = force;
    // No fixed folder: the runs are keyed by their decks' hash, so a changed fit or circuit never
    // collides with stored results of the old one.
    o.command = "imc demo";
    const auto r = characterize::characterizeArray(spec, o);
    std::printf("    column charge, SPICE vs fitted model: RMSE %.3g and max error %.3g of full scale (target RMSE < 0.03)\n",
                r.rmse_fs, r.max_err_fs);
    std::printf("    results: %s\n", r.dir.string().c_str());
}

// Stage 4: the character language model with attention computed by the gain-cell models read
// from fits: the paper's table (software, linear hardware model, nonlinear without and with
// adaptation, and fine-tuned), with its GPT-2 numbers beside ours.
void demoLanguageModel() {
    nn::LmReportOptions o;
    o.plot = "results/lm-finetune.png";
    std::printf("[4] Character language model (4 layers, 2 heads of 64) on held-out fortunes, gain-cell attention from fits\n");
    const auto r = nn::runLmReport(o);
    const auto& p = r["perplexity"];
    const auto& paper = r["paper_gpt2"]["fig4c_perplexity"];
    std::printf("    perplexity: software %.2f | linear hardware model %.2f | nonlinear, no adaptation %.2f (GPT-2: %d)\n"
                "                nonlinear, adapted %.2f (GPT-2: %d) | adapted and fine-tuned %.2f\n",
                p["software"].get<double>(), p["linear"].get<double>(), p["nonlinear_no_adapt"].get<double>(),
                paper["nonlinear_no_adapt"].get<int>(), p["nonlinear_adapted"].get<double>(),
                paper["nonlinear_adapted"].get<int>(), p["nonlinear_adapted_tuned"].get<double>());
    std::printf("    fits: %s; Fig. 4d curves: %s\n", r["fits"].dump().c_str(), o.plot.string().c_str());
}

// Stage 4b: LSH attention as a drop-in for softmax in the software model, through the one door
// every command uses (memristor projections from the shipped fits, queries hashed with the keys).
void demoLshLanguageModel() {
    backends::AttentionBackendOptions o;
    o.lsh.projection.kind = "memristor";
    o.lsh.projection.buckets = 4;
    o.lsh.projection.rounds = 2;
    o.lsh.attention.excludeSelf = false;
    backends::registerAttentionBackends(o);
    const auto model = nn::loadModel(dataPath("models") / "char-lm.safetensors");
    const auto corpus = nn::loadFortunes();
    const auto ideal = nn::makeAttentionBackend("ideal"), lsh = nn::makeAttentionBackend("lsh");
    const double idealPpl = nn::evaluate(model, *ideal, corpus.validation, 4096).perplexity;
    const double lshPpl = nn::evaluate(model, *lsh, corpus.validation, 4096).perplexity;
    const double fraction = dynamic_cast<const lsh::LshAttention&>(*lsh).statistics().meanAttendedFraction;
    std::printf("    LSH drop-in (memristor RP, 4 buckets x 2 rounds, no fine-tuning), 4,096 bytes: perplexity %.2f "
                "against %.2f for softmax, each query attending to %.0f %% of its keys\n",
                lshPpl, idealPpl, 100 * fraction);
}

// Stage 5: the paper's letter-shift transformer with LSH attention whose random projections are
// drawn from the memristor fits shipped in fits/.
void demoLetterShift() {
    const std::string fits = (dataPath("fits") / "memristor-hrs-lognormal.json").string();
    std::printf("[5] Letter shift (\"xdcz\" -> \"yeda\"), LSH attention, projections from %s\n", "fits/memristor-hrs-lognormal.json");
    for (int rounds : {1, 2}) {
        lsh::LettersOptions o;
        o.attention = "lsh";
        o.rp = "memristor";
        o.rounds = rounds;
        o.fitsPath = fits;
        const auto r = lsh::runLettersWorkload(o);
        const workloads::PaperTargets targets = workloads::PaperTargets::shipped();
        const nlohmann::json& paper = targets.section("lsh-letters").at("paper");
        std::printf("    %d round%s, 2 buckets: test accuracy %.3f (full attention %.3f; paper: %.2f with one round, %+.2f with two)\n",
                    rounds, rounds > 1 ? "s" : "", r["accuracy"].get<double>(), r["full_attention_accuracy"].get<double>(),
                    paper.at("accuracy_one_round").get<double>(), paper.at("gain_two_rounds").get<double>());
    }
    // The control above cannot gain from a second round (a query always shares its own key's
    // bucket); the previous-letter task needs a key at another position, where rounds matter.
    std::printf("    Previous-letter task (the needed key at t-1), shipped cycle-to-cycle fit:\n");
    lsh::LettersOptions previous;
    previous.task = "previous";
    previous.rp = "memristor";
    previous.rounds = 2;
    std::istringstream summary(lsh::lettersSummary(lsh::runLettersWorkload(previous)));
    for (std::string line; std::getline(summary, line);) std::printf("    %s\n", line.c_str());
}

imc::cli::CommandRegistration demoCommand{
    "demo", "Run the pipeline on shipped defaults: SPICE characterization, fits, behavioral inference",
    [](CLI::App& app) {
        auto workers = std::make_shared<int>(0);
        auto force = std::make_shared<bool>(false);
        app.add_option("--workers", *workers, "worker processes (default: one per core)");
        app.add_flag("--force", *force, "run simulations again even when stored results exist");
        app.callback([workers, force] {
            demoCrossbarMonteCarlo(*workers, *force);
            demoMemristorHashing(*workers, *force);
            demoGainCellArray(*workers, *force);
            demoLanguageModel();
            demoLshLanguageModel();
            demoLetterShift();
            imc::cli::demoHyFlexPim(6);
        });
    }};

}  // namespace
