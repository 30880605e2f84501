// HyFlexPIM (paper 004): the options imc train and imc infer forward here, and
// `imc bench hyflexpim` (the paper's Table 2 cost model beside CPU tokens/s of the backends).
#include "cli.hpp"
#include "hyflexpim_cli.hpp"

#include "behavior/rram_model.hpp"
#include "datadir/datadir.hpp"
#include "report/html.hpp"
#include "report/plot.hpp"
#include "workloads/hyflexpim.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace imc::cli {
namespace {

namespace fs = std::filesystem;
fs::path modelsDir() { return imc::dataPath("models"); }
fs::path fitsDir() { return imc::dataPath("fits"); }
fs::path svdModel() { return modelsDir() / "char-lm-svd.safetensors"; }

// --fits DIR, else --paper-fits, else the shipped SPICE fits, else (said on stderr) the paper's
// 4.04 % inversion.
std::string fitsDirectory(const HyFlexInferCli& cli) {
    if (!cli.fits.empty() && !cli.paperFits) return cli.fits;
    const bool shipped = fs::exists(fitsDir() / "rram-slc.json") && fs::exists(fitsDir() / "rram-mlc.json");
    if (!cli.paperFits && shipped) return fitsDir().string();
    if (cli.paperSigma != "public-code" && cli.paperSigma != "ber-4.04")
        throw UsageError("--paper-sigma must be public-code or ber-4.04, got '" + cli.paperSigma + "'");
    const auto which = cli.paperSigma == "public-code" ? behavior::PaperRramSigma::PublicCode
                                                       : behavior::PaperRramSigma::Ber404;
    const fs::path dir = fs::temp_directory_path() / ("imc-paper-rram-" + cli.paperSigma);
    behavior::writePaperRramFits(dir.string(), which);
    if (!cli.paperFits)
        std::fprintf(stderr, "imc: note: fits/rram-slc.json and fits/rram-mlc.json are missing; using the paper's "
                             "constants (%s) from %s\n", cli.paperSigma.c_str(), dir.string().c_str());
    return dir.string();
}

nn::AnalogModel parseAnalog(const std::string& name) {
    if (name == "weight-noise") return nn::AnalogModel::WeightNoise;
    if (name == "bit-serial-adc") return nn::AnalogModel::BitSerialAdc;
    throw UsageError("--analog-model must be weight-noise or bit-serial-adc, got '" + name + "'");
}

nn::HyFlexPimInferOptions inferOptions(const HyFlexInferCli& cli, int draws, std::uint64_t seed, std::size_t tokens,
                                       const std::string& fortunes) {
    nn::HyFlexPimInferOptions o;
    o.weights = cli.weights.empty() ? svdModel() : fs::path(cli.weights);
    try {
        o.selection = nn::parseSelection(cli.selection);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--selection: ") + e.what());
    }
    o.slcFraction = cli.slcFraction;
    o.analog = parseAnalog(cli.analogModel);
    o.fitsDir = fitsDirectory(cli);
    o.draws = draws > 0 ? draws : 3;
    o.seed = seed;
    o.tokens = tokens;
    o.fortunes = fortunes;
    return o;
}

}  // namespace

void addSvdTrainOptions(CLI::App& app, SvdTrainCli& cli) {
    app.add_option("--linear-layers", cli.linearLayers,
                   "dense: train from scratch; svd: factorize a trained model (HyFlexPIM), fine-tune, record "
                   "|dL/ds| and run a dense fine-tune of the same length as the control")
        ->capture_default_str();
    app.add_option("--rank", cli.rank, "With svd: hard-threshold (D1 D2 / (D1 + D2)) or a fixed rank")->capture_default_str();
    app.add_option("--base-weights", cli.weights, "With svd: the dense model to factorize (default: models/char-lm.safetensors)");
    app.add_option("--importance-window", cli.importanceWindow, "With svd: final steps summed into |dL/ds|")
        ->capture_default_str();
    app.add_option("--finetune-lr", cli.finetuneLr, "With svd: peak learning rate of both fine-tunes")->capture_default_str();
    app.add_option("--finetune-warmup", cli.finetuneWarmup, "With svd: warmup steps of both fine-tunes")->capture_default_str();
}

bool runSvdTrain(const SvdTrainCli& cli, const nn::TrainOptions& options, const std::string& out,
                 const std::string& fortunes, int logEvery) {
    if (cli.linearLayers == "dense") return false;
    if (cli.linearLayers != "svd") throw UsageError("--linear-layers must be dense or svd, got '" + cli.linearLayers + "'");
    nn::SvdFineTuneOptions o;
    o.baseWeights = cli.weights.empty() ? modelsDir() / "char-lm.safetensors" : fs::path(cli.weights);
    o.out = out;
    if (cli.rank != "hard-threshold") {
        try {
            o.rank = std::stoi(cli.rank);
        } catch (const std::exception&) {
            throw UsageError("--rank must be hard-threshold or a positive integer, got '" + cli.rank + "'");
        }
        if (o.rank <= 0) throw UsageError("--rank must be positive");
    }
    o.importanceWindow = cli.importanceWindow;
    o.train = options;
    o.train.learningRate = cli.finetuneLr;
    o.train.warmupSteps = cli.finetuneWarmup;
    o.train.evalEvery = 0;
    o.fortunes = fortunes;
    o.onProgress = [&](const std::string& phase, const nn::TrainProgress& p) {
        if (p.step % logEvery != 0 && p.step != 1 && p.validationLoss < 0) return;
        std::fprintf(stderr, "%s step %5d/%d  loss %.4f  lr %.2e  %.0f tok/s", phase.c_str(), p.step, p.steps, p.loss,
                     p.learningRate, p.tokensPerSecond);
        if (p.validationLoss >= 0) std::fprintf(stderr, "  val loss %.4f", p.validationLoss);
        std::fprintf(stderr, "\n");
    };
    const auto result = nn::fineTuneSvd(o);
    std::printf("%s\n", result.dump().c_str());
    return true;
}

void addHyFlexInferOptions(CLI::App& app, HyFlexInferCli& cli) {
    app.add_option("--linear-layers", cli.linearLayers,
                   "dense, or hyflexpim: INT8 bit slices on SLC/MLC RRAM cells from the fits (paper 004)")
        ->capture_default_str();
    app.add_option("--slc-fraction", cli.slcFraction, "With hyflexpim: share of ranks (or weights) stored in SLC")
        ->capture_default_str();
    app.add_option("--selection", cli.selection, "With hyflexpim: gradient | gradient-last | rank | magnitude | random")
        ->capture_default_str();
    app.add_option("--analog-model", cli.analogModel, "With hyflexpim: weight-noise | bit-serial-adc")->capture_default_str();
    app.add_flag("--paper-fits", cli.paperFits, "With hyflexpim: the paper's constants instead of fits/rram-*.json");
    app.add_option("--paper-sigma", cli.paperSigma, "With --paper-fits: public-code (0.025) | ber-4.04")
        ->capture_default_str();
}

void runHyFlexPimInfer(const HyFlexInferCli& cli, int draws, std::uint64_t seed, std::size_t tokens,
                       const std::string& fortunes, bool json) {
    const auto result = nn::runHyFlexPimInfer(inferOptions(cli, draws, seed, tokens, fortunes));
    std::printf("%s\n", json ? result.dump().c_str() : result.dump(2).c_str());
}

namespace {

void plotReport(const nlohmann::json& report, const fs::path& png) {
    std::vector<report::Series> series;
    auto add = [&](const std::string& label, const nlohmann::json& rows) {
        report::Series s{label, {}, {}, report::Series::Style::LinesPoints};
        for (const auto& r : rows) {
            s.x.push_back(100.0 * r["slc_fraction"].get<double>());
            s.y.push_back(r["loss_nats"]["mean"].get<double>());
        }
        series.push_back(std::move(s));
    };
    std::map<std::string, nlohmann::json> bySelection;
    for (const auto& r : report["rows"]) bySelection[r["selection"].get<std::string>()].push_back(r);
    for (const auto& [name, rows] : bySelection) add("SVD + " + name, rows);
    for (const auto& [name, control] : report["controls"].items()) add(name, control["rows"]);
    report::PlotSpec spec;
    spec.title = "Held-out loss vs SLC fraction (cf. paper 004 Fig. 12/13), " + report["cells"]["fits"].get<std::string>();
    spec.xlabel = "SLC fraction (%)";
    spec.ylabel = "loss (nats per byte), mean over draws";
    if (!png.parent_path().empty()) fs::create_directories(png.parent_path());
    report::plotXY(png, spec, series);
}

}  // namespace

void runHyFlexPimReport(const HyFlexInferCli& cli, int draws, std::uint64_t seed, std::size_t tokens,
                        const std::string& fortunes, bool json) {
    nn::HyFlexPimReportOptions o;
    o.base = inferOptions(cli, draws, seed, tokens, fortunes);
    o.denseWeights = modelsDir() / "char-lm.safetensors";
    o.denseFineTuned = nn::denseControlPathFor(o.base.weights);
    auto report = nn::runHyFlexPimReport(o);
    const fs::path png = cli.plot;
    plotReport(report, png);
    report["plot"] = png.string();
    // report.html beside the plot, showing that plot alone (the folder may hold others').
    report["report_html"] = report::writeRunReport(png.has_parent_path() ? png.parent_path() : fs::path("."),
                                                   "HyFlexPIM: loss against SLC fraction", cli::commandLine(), report,
                                                   std::vector<fs::path>{png})
                                .string();
    if (json) {
        std::printf("%s\n", report.dump().c_str());
        return;
    }
    std::printf("HyFlexPIM on %zu held-out bytes, %d draws, %s; fits %s (MLC sigma %.4g)\n\n", tokens, o.base.draws,
                report["analog_model"].get<std::string>().c_str(), report["cells"]["fits"].get<std::string>().c_str(),
                report["cells"]["sigma_mlc"].get<double>());
    std::printf("%-24s", "selection \\ SLC %");
    for (double f : o.fractions) std::printf("%9.0f", 100 * f);
    std::printf("\n");
    auto printRow = [&](const std::string& label, const std::vector<nlohmann::json>& rows) {
        std::printf("%-24s", label.c_str());
        for (const auto& r : rows) std::printf("%9.4f", r["loss_nats"]["mean"].get<double>());
        std::printf("\n");
    };
    std::map<std::string, std::vector<nlohmann::json>> bySelection;
    for (const auto& r : report["rows"]) bySelection[r["selection"].get<std::string>()].push_back(r);
    for (const auto& [name, rows] : bySelection) printRow("svd " + name, rows);
    for (const auto& [name, control] : report["controls"].items())
        printRow(name, std::vector<nlohmann::json>(control["rows"].begin(), control["rows"].end()));
    std::printf("\nOrdering at 20 %% SLC (lowest loss first): ");
    for (const auto& o2 : report["ordering_at_20pct"]) std::printf("%s ", o2["selection"].get<std::string>().c_str());
    std::printf("\nAcceptance: %s\nPlot: %s\n", report["acceptance"].dump().c_str(), png.string().c_str());
}

void runHyFlexPimTopics(const HyFlexInferCli& cli, int draws, std::uint64_t seed, const std::string& fortunes, bool json) {
    nn::HyFlexPimTopicsOptions o;
    o.base = inferOptions(cli, draws, seed, 0, fortunes);
    // --linear-layers hyflexpim alone: the one configuration asked for; --report: every fraction.
    if (cli.linearLayers == "hyflexpim") {
        o.fractions = {cli.slcFraction};
        o.selections = {o.base.selection};
    }
    const auto r = nn::runHyFlexPimTopics(o);
    if (json) {
        std::printf("%s\n", r.dump().c_str());
        return;
    }
    std::printf("Fortune topics (%s) on the character backbone: %zu training, %zu held-out fortunes, %d draws, fits %s\n",
                "computers, politics, science, songs-poems", r["documents"]["train"].get<std::size_t>(),
                r["documents"]["held_out"].get<std::size_t>(), o.base.draws, o.base.fitsDir.c_str());
    std::printf("software accuracy %.3f, majority class %.3f\n\n", r["software_accuracy"].get<double>(),
                r["majority_class_accuracy"].get<double>());
    std::printf("%-16s %8s %10s %8s %12s\n", "selection", "SLC %", "accuracy", "std", "clean INT8");
    for (const auto& row : r["rows"])
        std::printf("%-16s %8.0f %10.4f %8.4f %12.4f\n", row["selection"].get<std::string>().c_str(),
                    100 * row["slc_fraction"].get<double>(), row["accuracy"]["mean"].get<double>(),
                    row["accuracy"]["std"].get<double>(), row["accuracy"]["clean"].get<double>());
}

void demoHyFlexPim(int stage) {
    HyFlexInferCli cli;
    std::printf("[%d] HyFlexPIM (paper 004): SVD-factorized linear layers on SLC/MLC RRAM, %s\n", stage,
                "models/char-lm-svd.safetensors");
    auto o = inferOptions(cli, 2, 1, 4096, "/usr/share/games/fortunes");
    std::printf("    fits: %s\n", o.fitsDir.c_str());
    for (const auto& [selection, fraction] : {std::pair{"gradient", 0.0}, {"gradient", 0.2}, {"random", 0.2}}) {
        o.selection = nn::parseSelection(selection);
        o.slcFraction = fraction;
        const auto r = nn::runHyFlexPimInfer(o);
        std::printf("    %3.0f %% SLC, %-8s: loss %.4f nats/byte (all-SLC %.4f, +%.1f %%), perplexity %.2f\n",
                    100 * fraction, fraction == 0.0 ? "all-MLC" : selection, r["loss_nats"]["mean"].get<double>(),
                    r["loss_nats"]["all_slc"].get<double>(),
                    100 * r["loss_nats"]["delta_vs_all_slc"].get<double>() / r["loss_nats"]["all_slc"].get<double>(),
                    r["perplexity"]["mean"].get<double>());
    }
}

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
    std::size_t tokens = 4096;
    std::string fits;
    bool json = false;
};

void runBench(const BenchArgs& args) {
    nlohmann::json out = nn::hyflexPimCostModel({0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0});
    HyFlexInferCli cli;
    cli.fits = args.fits;
    const auto cells = behavior::loadRramFits(fitsDirectory(cli));
    const nn::Model dense = nn::loadModel(modelsDir() / "char-lm.safetensors");
    const nn::Model factorized = nn::loadModel(svdModel());
    const nn::SvdFactors factors = nn::loadSvdFactors(nn::svdFactorsPathFor(svdModel()), factorized.config);
    const auto validation = nn::loadFortunes().validation;
    const auto attention = nn::makeAttentionBackend("ideal");
    const nn::SvdLinear svd(factors);
    nn::HyFlexPimOptions h;
    h.cells = cells;
    const nn::HyFlexPimLinear hybrid(factors, nn::selectRanks(factors, nn::Selection::Rank, 0.05, 1), h);
    auto time = [&](const nn::Model& m, const nn::LinearBackend& linear) {
        nn::evaluate(m, *attention, linear, validation, 1024);  // warm-up
        const auto start = Clock::now();
        nn::evaluate(m, *attention, linear, validation, args.tokens);
        return double(args.tokens) / std::chrono::duration<double>(Clock::now() - start).count();
    };
    const double tDense = time(dense, nn::denseLinearBackend()), tSvd = time(factorized, svd), tHybrid = time(factorized, hybrid);
    out["cpu_tokens_per_s"] = {{"dense", tDense},
                               {"svd", tSvd},
                               {"hyflexpim_weight_noise", tHybrid},
                               {"svd_vs_dense", tSvd / tDense},
                               {"hyflexpim_vs_dense", tHybrid / tDense},
                               {"hyflexpim_within_2x", tHybrid >= 0.5 * tDense},
                               {"tokens", args.tokens},
                               {"threads", nn::threadCount()}};
    if (args.json) {
        std::printf("%s\n", out.dump().c_str());
        return;
    }
    std::printf("HyFlexPIM linear layers, paper 004 Table 2 model (baseline: all-SLC INT8)\n");
    std::printf("%10s %12s %10s\n", "SLC %", "energy gain", "speed-up");
    for (const auto& r : out["rows"])
        std::printf("%10.0f %12.3f %10.3f\n", 100 * r["slc_fraction"].get<double>(), r["energy_gain"].get<double>(),
                    r["speedup"].get<double>());
    std::printf("at 5 %%: %.3fx energy (paper %.2fx), %.3fx speed (paper %.2fx)\n", out["at_5pct"]["energy_gain"].get<double>(),
                out["at_5pct"]["paper_energy_gain"].get<double>(), out["at_5pct"]["speedup"].get<double>(),
                out["at_5pct"]["paper_speedup"].get<double>());
    std::printf("CPU tokens/s: dense %.0f, svd %.0f (%.2fx), hyflexpim weight-noise %.0f (%.2fx)\n", tDense, tSvd,
                tSvd / tDense, tHybrid, tHybrid / tDense);
}

const CommandRegistration registration{
    "bench hyflexpim", "Paper 004's energy/throughput model vs SLC fraction, and CPU tokens/s of the linear backends",
    [](CLI::App& app) {
        auto args = std::make_shared<BenchArgs>();
        app.add_option("--tokens", args->tokens, "Held-out tokens per timing")->capture_default_str();
        app.add_option("--fits", args->fits, "RRAM fits directory (default: fits/, else the paper's constants)");
        app.add_flag("--json", args->json, "Print one JSON object");
        app.callback([args] { runBench(*args); });
    }};

}  // namespace
}  // namespace imc::cli
