// imc infer: validation perplexity of the language model with a chosen attention backend (ideal,
// the gain-cell hardware models, optionally adapted, or LSH), text generation from a prompt, the
// paper's comparison tables (--report [gaincell|lsh]), or the letter-shift workload of the LSH stage.
#include "attention_cli.hpp"
#include "cli.hpp"
#include "hyflexpim_cli.hpp"

#include "datadir/datadir.hpp"
#include "lsh/lsh.hpp"
#include "nn/adaptation.hpp"
#include "nn/bpe_tokenizer.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/nn.hpp"
#include "report/html.hpp"
#include "workloads/lm_report.hpp"
#include "workloads/lsh.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

// --report lsh: the grid and the fine-tuned settings (lib/lsh runLmLshReport).
struct LshReportArgs {
    std::vector<std::string> projections{"gaussian", "memristor", "passive"};
    std::vector<int> rounds{1, 2, 4, 8}, buckets{2, 4, 8, 16};
    std::vector<int> windows{-1};  // -1: --lsh-window
    std::vector<std::string> tune{"gaussian:4:2"};  // rp:buckets:rounds[:window]
    int tuneSteps = 1000;
    float tuneLearningRate = 3e-4f;
};

void addLshReportOptions(CLI::App& app, LshReportArgs& r) {
    app.add_option("--grid-rp", r.projections, "With --report lsh: projections of the grid")->capture_default_str();
    app.add_option("--grid-buckets", r.buckets, "With --report lsh: bucket counts of the grid")->capture_default_str();
    app.add_option("--grid-rounds", r.rounds, "With --report lsh: round counts of the grid")->capture_default_str();
    app.add_option("--grid-windows", r.windows,
                   "With --report lsh: local windows of the grid (0: LSH alone; default: --lsh-window)");
    app.add_option("--tune", r.tune, "With --report lsh: settings fine-tuned with LSH, rp:buckets:rounds[:window] (rp none: the local window "
                   "alone; the value none: no fine-tuning)")
        ->capture_default_str();
    app.add_option("--tune-steps", r.tuneSteps, "With --report lsh: fine-tuning steps (LSH settings and the ideal reference)")
        ->capture_default_str();
    app.add_option("--tune-learning-rate", r.tuneLearningRate, "With --report lsh: peak fine-tuning learning rate")
        ->capture_default_str();
}

struct InferArgs {
    std::string workload = "lm";
    std::string attention;  // default: ideal (lm), lsh (letters)
    std::string weights;    // default: by backend, see defaultWeights()
    std::string fortunes = "/usr/share/games/fortunes";
    imc::cli::AttentionCli backend;  // backend.fits: lm: gain-cell fits directory; letters: RP fits file
    std::uint64_t seed = 1;
    bool adapt = false;
    bool refit = false;
    std::size_t tokens = 16384;
    bool json = false;
    std::string prompt;
    bool generate = false;
    imc::nn::GenerateOptions generation;
    int threads = 0;
    // --report [gaincell|lsh]
    std::string report;
    bool retrain = false;
    int draws = 0;
    std::string plot = "results/lm-report/lm-finetune.png";
    std::string modelsDir = imc::dataPath("models").string();
    int linearSteps = 1000, nonlinearSteps = 300, scratchSteps = 1000;
    float learningRate = 1e-3f;
    // --workload letters
    std::string task = "same";
    // --workload lm on a user's checkpoint: its tokenizer, the text scored and calibrated on
    std::string tokenizer;  // folder with GPT-2's encoder.json + vocab.bpe
    std::string text;       // text file (default: the held-out fortunes)
    int calibration = 8;    // calibration windows of the context length for --adapt
    LshReportArgs lshReport;
    imc::cli::HyFlexInferCli hyflex;  // --linear-layers hyflexpim, --report hyflexpim (paper 004)
};

const fs::path kModels = imc::dataPath("models");

// ideal and lsh: the software model; gain-cell backends: the linear model fine-tuned from it.
fs::path defaultWeights(const std::string& attention) {
    if (attention.rfind("gaincell", 0) != 0) return kModels / "char-lm.safetensors";
    const fs::path hardware = imc::nn::LmArtifacts::in(kModels).linear;
    if (fs::exists(hardware)) return hardware;
    std::fprintf(stderr, "imc: note: %s is missing; using the software weights\n", hardware.string().c_str());
    return kModels / "char-lm.safetensors";
}

void runLetters(const InferArgs& args) {
    imc::lsh::LettersOptions options;
    options.task = args.task;
    if (!args.attention.empty()) options.attention = args.attention;
    options.rp = args.backend.rp.empty() ? "memristor" : args.backend.rp;
    options.rounds = args.backend.rounds > 0 ? args.backend.rounds : 1;
    options.buckets = args.backend.buckets > 0 ? args.backend.buckets : 2;
    options.fitsPath = args.backend.rpFits.empty() ? args.backend.fits : args.backend.rpFits;
    options.seed = args.seed;
    const nlohmann::json result = imc::lsh::runLettersWorkload(options);
    std::printf("%s\n", args.json ? result.dump().c_str() : result.dump(2).c_str());
    if (!args.json && result.contains("round_counts")) std::printf("%s", imc::lsh::lettersSummary(result).c_str());
}

// The adaptation scalars beside the weights, or fitted now against the linear model.
imc::nn::HeadScalarsResult adaptationScalars(const InferArgs& args, const imc::nn::Model& model, const fs::path& weights,
                                             const imc::nn::AttentionBackend& backend, std::span<const int> calibrationText,
                                             const std::string& fits) {
    imc::nn::HeadScalarsRequest request;
    request.weights = weights;
    request.refit = args.refit;
    request.fortunes = args.fortunes;
    request.seed = args.seed;
    request.fits = fits;
    request.calibrationText = calibrationText;
    request.calibrationSequences = args.calibration;
    request.log = [](const std::string& line) { std::fprintf(stderr, "imc: %s\n", line.c_str()); };
    const auto linear = imc::nn::makeAttentionBackend("gaincell-linear");
    return imc::nn::headScalarsFor(model, request, *linear, backend);
}

// report.html beside the report's plot, showing that plot alone (the folder may hold others').
std::string reportPage(const InferArgs& args, const std::string& title, const nlohmann::json& report) {
    const fs::path plot = args.plot;
    const fs::path dir = plot.has_parent_path() ? plot.parent_path() : fs::path(".");
    std::vector<fs::path> plots;
    if (report.contains("plot")) plots.push_back(plot);
    return imc::report::writeRunReport(dir, title, imc::cli::commandLine(), report, plots).string();
}

void runReport(const InferArgs& args) {
    imc::nn::LmReportOptions options;
    options.hardware.fortunes = args.fortunes;
    options.hardware.modelsDir = args.modelsDir;
    options.hardware.linearSteps = args.linearSteps;
    options.hardware.nonlinearSteps = args.nonlinearSteps;
    options.hardware.scratchSteps = args.scratchSteps;
    options.hardware.learningRate = args.learningRate;
    options.hardware.gaincell.fitsDir = args.backend.fits;
    options.hardware.gaincell.windowTokens = args.backend.window;
    options.hardware.gaincell.linearGain = args.backend.linearGain;
    options.hardware.seed = args.seed;
    options.hardware.log = [](const std::string& line) { std::fprintf(stderr, "imc: %s\n", line.c_str()); };
    options.evalTokens = args.tokens;
    options.draws = args.draws;
    options.retrain = args.retrain;
    options.plot = args.plot;
    nlohmann::json report = imc::nn::runLmReport(options);
    report["report_html"] = reportPage(args, "character LM on gain-cell attention (Fig. 4c, 4d, Table 1)", report);
    if (args.json) {
        std::printf("%s\n", report.dump().c_str());
        return;
    }
    const auto& ppl = report["perplexity"];
    const auto& fig = report["paper_gpt2"]["fig4c_perplexity"];
    const auto& table = report["paper_gpt2"]["table1_wikitext2_perplexity"];
    std::printf("Perplexity on %zu held-out fortune bytes (fits: %s)\n\n", report["tokens"].get<std::size_t>(),
                report["fits"].get<std::string>().c_str());
    std::printf("%-58s %10s %14s %14s\n", "model", "ours", "GPT-2 Fig.4c", "GPT-2 Tab.1");
    for (const char* key : {"software", "linear", "nonlinear_no_adapt", "nonlinear_adapted", "nonlinear_adapted_tuned"}) {
        const auto& label = report["rows"][key];
        const auto paperCell = [&](const nlohmann::json& from) {
            return from.contains(key) ? std::to_string(from[key].get<double>()).substr(0, 7) : std::string("-");
        };
        std::printf("%-58s %10.3f %14s %14s\n", label.get<std::string>().c_str(), ppl[key].get<double>(),
                    paperCell(fig).c_str(), paperCell(table).c_str());
    }
    if (report.contains("variability")) {
        std::printf("\nVariability over %d draws (%zu bytes each): mean +- std\n", args.draws,
                    report["variability"]["tokens"].get<std::size_t>());
        for (const auto& [key, value] : report["variability"].items())
            if (value.is_object())
                std::printf("  %-26s %10.3f +- %.3f\n", key.c_str(), value["mean"].get<double>(),
                            value["std"].get<double>());
    }
    std::printf("\nAcceptance: %s\nPlot: %s\n", report["acceptance"].dump().c_str(), args.plot.c_str());
    for (const auto& note : report["notes"]) std::printf("Note: %s\n", note.get<std::string>().c_str());
}

// The checkpoint's tokenizer: GPT-2's BPE from --tokenizer, else bytes (the shipped models).
std::optional<imc::nn::BpeTokenizer> loadTokenizer(const InferArgs& args, const imc::nn::Model& model, const fs::path& weights) {
    if (args.tokenizer.empty()) {
        if (model.config.vocabSize != imc::nn::ByteTokenizer::kVocabSize)
            throw imc::cli::UsageError("model " + weights.string() + " has " + std::to_string(model.config.vocabSize) +
                                       " tokens: give its tokenizer with --tokenizer DIR (encoder.json, vocab.bpe)");
        return std::nullopt;
    }
    auto tokenizer = imc::nn::BpeTokenizer::load(args.tokenizer);
    if (tokenizer.vocabSize() > model.config.vocabSize)
        throw std::runtime_error("tokenizer " + args.tokenizer + " has " + std::to_string(tokenizer.vocabSize()) +
                                 " tokens, more than the " + std::to_string(model.config.vocabSize) + " of " +
                                 weights.string());
    return tokenizer;
}

std::vector<int> encodeTextFile(const std::string& path, const std::optional<imc::nn::BpeTokenizer>& tokenizer) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the text file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return tokenizer ? tokenizer->encode(text.str()) : imc::nn::ByteTokenizer::encode(text.str());
}

std::string generateText(const InferArgs& args, const imc::nn::Model& model, const imc::nn::AttentionBackend& backend,
                         const std::optional<imc::nn::BpeTokenizer>& tokenizer,
                         std::span<const imc::nn::HeadScalars> scalars) {
    if (!tokenizer) return imc::nn::generate(model, backend, args.prompt, args.generation, scalars);
    std::vector<int> prompt = tokenizer->encode(args.prompt);
    if (prompt.empty()) prompt.push_back(tokenizer->endOfText());  // GPT-2's unconditional start
    if (prompt.back() < 0) throw std::runtime_error("empty prompt and the tokenizer has no <|endoftext|>");
    return tokenizer->decode(
        imc::nn::generateTokens(model, backend, prompt, args.generation, tokenizer->endOfText(), scalars));
}

imc::lsh::LmLshSetting parseSetting(const std::string& text) {
    imc::lsh::LmLshSetting setting;
    const auto first = text.find(':'), second = text.find(':', first == std::string::npos ? first : first + 1);
    try {
        if (first == std::string::npos || second == std::string::npos) throw std::invalid_argument(text);
        setting.rp = text.substr(0, first);
        setting.buckets = std::stoi(text.substr(first + 1, second - first - 1));
        const auto third = text.find(':', second + 1);
        setting.rounds = std::stoi(text.substr(second + 1, third == std::string::npos ? third : third - second - 1));
        if (third != std::string::npos) setting.window = std::stoi(text.substr(third + 1));
        if (setting.rp == "none" && setting.window <= 0) throw std::invalid_argument(text);
    } catch (const std::exception&) {
        throw imc::cli::UsageError("--tune takes rp:buckets:rounds[:window] (e.g. gaussian:4:2 or gaussian:8:2:8; "
                                   "none:2:1:8 is the window alone), got '" + text + "'");
    }
    return setting;
}

void runLshReport(const InferArgs& args) {
    const auto& r = args.lshReport;
    imc::lsh::LmLshReportOptions o;
    o.weights = args.weights;
    o.fortunes = args.fortunes;
    o.base = imc::cli::attentionBackendOptions(args.backend, 1, args.seed).lsh;
    o.projections = r.projections;
    o.rounds = r.rounds;
    o.buckets = r.buckets;
    o.windows = r.windows;
    o.evalTokens = args.tokens;
    o.fineTuneSteps = r.tuneSteps;
    o.fineTune.clear();
    for (const auto& text : r.tune)
        if (text != "none") o.fineTune.push_back(parseSetting(text));
    o.learningRate = r.tuneLearningRate;
    o.seed = args.seed;
    o.log = [](const std::string& line) { std::fprintf(stderr, "imc: %s\n", line.c_str()); };
    nlohmann::json report = imc::lsh::runLmLshReport(o);
    if (imc::lsh::plotLmLshReport(report, args.plot)) report["plot"] = args.plot;
    report["report_html"] = reportPage(args, "LSH attention in the character LM", report);
    if (args.json) {
        std::printf("%s\n", report.dump().c_str());
        return;
    }
    std::printf("LSH attention in the character LM, %zu held-out bytes; ideal attention %.3f\n\n",
                report["tokens"].get<std::size_t>(), report["ideal_perplexity"].get<double>());
    std::printf("%-10s %8s %7s %7s %11s %17s  %s\n", "rp", "buckets", "rounds", "window", "perplexity",
                "attended fraction", "design");
    for (const auto& row : report["grid"])
        std::printf("%-10s %8d %7d %7d %11.3f %17.3f  %s\n", row["rp"].get<std::string>().c_str(),
                    row["buckets"].get<int>(), row["rounds"].get<int>(), row["window"].get<int>(),
                    row["perplexity"].get<double>(), row["attended_fraction"].get<double>(),
                    row["design"].get<std::string>().c_str());
    if (report.contains("fine_tuning")) {
        const auto& ft = report["fine_tuning"];
        std::printf("\nAfter %d fine-tuning steps (ideal attention fine-tuned as many: %.3f)\n", ft["steps"].get<int>(),
                    ft["ideal_reference_perplexity"].get<double>());
        for (const auto& row : ft["settings"])
            std::printf("%-10s %8d %7d %7d %11.3f %17.3f  (%+.1f %%, before %.3f)  %s\n",
                        row["rp"].get<std::string>().c_str(), row["buckets"].get<int>(), row["rounds"].get<int>(),
                        row["window"].get<int>(), row["perplexity"].get<double>(),
                        row["attended_fraction"].get<double>(), 100 * row["excess_over_reference"].get<double>(),
                        row["before_fine_tuning"].get<double>(), row["design"].get<std::string>().c_str());
        std::printf("\nAcceptance: %s\n", report["acceptance"].dump().c_str());
    }
    if (report.contains("plot")) std::printf("Plot: %s\n", args.plot.c_str());
}

// Paper 004: the hybrid SLC/MLC linear layers, one configuration or the report.
void runHyFlexPim(const InferArgs& args) {
    auto cli = args.hyflex;
    cli.weights = args.weights;
    cli.fits = args.backend.fits;
    cli.plot = args.plot;
    if (args.report == "hyflexpim")
        return imc::cli::runHyFlexPimReport(cli, args.draws, args.seed, args.tokens, args.fortunes, args.json);
    imc::cli::runHyFlexPimInfer(cli, args.draws, args.seed, args.tokens, args.fortunes, args.json);
}

void run(const InferArgs& args) {
    if (args.workload == "letters") return runLetters(args);
    if (args.workload == "topics") {
        if (args.report != "hyflexpim" && args.hyflex.linearLayers != "hyflexpim")
            throw imc::cli::UsageError("--workload topics runs with --report hyflexpim or --linear-layers hyflexpim");
        imc::nn::setThreadCount(args.threads);
        imc::cli::HyFlexInferCli cli = args.hyflex;
        cli.fits = args.backend.fits;
        return imc::cli::runHyFlexPimTopics(cli, args.draws, args.seed, args.fortunes, args.json);
    }
    if (args.workload != "lm")
        throw imc::cli::UsageError("unknown workload '" + args.workload + "' (known: lm, letters, topics)");
    imc::nn::setThreadCount(args.threads);
    if (args.report == "hyflexpim" || args.hyflex.linearLayers != "dense") return runHyFlexPim(args);
    if (args.report == "gaincell") return runReport(args);
    if (args.report == "lsh") return runLshReport(args);
    if (!args.report.empty()) throw imc::cli::UsageError("--report must be gaincell, lsh or hyflexpim, got '" + args.report + "'");

    const std::string attention = args.attention.empty() ? "ideal" : args.attention;
    const fs::path weights = args.weights.empty() ? defaultWeights(attention) : fs::path(args.weights);
    std::vector<std::string> notes;
    const imc::nn::Model model = imc::nn::loadModel(weights, &notes);
    for (const auto& note : notes) std::fprintf(stderr, "imc: note: %s: %s\n", weights.string().c_str(), note.c_str());
    if (auto t = model.metadata.find("tokenizer"); t != model.metadata.end() && t->second != "byte")
        throw std::runtime_error("model " + weights.string() + " uses tokenizer '" + t->second + "', only 'byte' is supported");
    const auto tokenizer = loadTokenizer(args, model, weights);
    if (tokenizer && args.text.empty() && !args.generate)
        throw imc::cli::UsageError("--tokenizer needs the text to score: --text FILE");
    const std::vector<int> text = args.text.empty() ? std::vector<int>{} : encodeTextFile(args.text, tokenizer);
    const auto backendOptions = imc::cli::registerAttentionBackends(args.backend, model.config.layers, args.seed);
    const auto backend = imc::nn::makeAttentionBackend(attention);
    if (args.adapt && attention.rfind("gaincell", 0) != 0)
        throw imc::cli::UsageError("--adapt applies to the gain-cell backends");
    nlohmann::json adaptInfo;
    std::vector<imc::nn::HeadScalars> scalars;
    if (args.adapt) {
        auto adapted = adaptationScalars(args, model, weights, *backend, text, backendOptions.gaincell.fitsDir);
        scalars = std::move(adapted.scalars);
        adaptInfo = std::move(adapted.info);
    }

    if (args.generate) {
        const std::string generated = generateText(args, model, *backend, tokenizer, scalars);
        if (args.json)
            std::printf("%s\n", nlohmann::json{{"prompt", args.prompt}, {"text", generated}, {"attention", backend->name()}}
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                    .c_str());
        else
            std::printf("%s%s\n", args.prompt.c_str(), generated.c_str());
        return;
    }

    const auto result = imc::nn::evaluate(
        model, *backend, text.empty() ? imc::nn::loadFortunes(args.fortunes).validation : text, args.tokens, scalars);
    const double tokensPerSecond = double(result.tokens) / result.seconds;
    if (args.json) {
        nlohmann::json out{{"workload", args.workload},
                           {"attention", backend->name()},
                           {"weights", weights.string()},
                           {"adapt", args.adapt},
                           {"perplexity", result.perplexity},
                           {"loss", result.loss},
                           {"tokens", result.tokens},
                           {"tokens_per_s", tokensPerSecond},
                           {"seconds", result.seconds},
                           {"threads", imc::nn::threadCount()},
                           {"text", args.text.empty() ? std::string("fortunes validation") : args.text},
                           {"tokenizer", tokenizer ? "gpt2-bpe" : "byte"}};
        if (attention.rfind("gaincell", 0) == 0) {
            const auto& o = backendOptions.gaincell;
            out["fits"] = o.fitsDir;
            out["window"] = o.windowTokens;
            out["variability"] = o.variability;
            out["seed"] = o.seed;
        }
        if (const auto* lsh = dynamic_cast<const imc::lsh::LshAttention*>(backend.get())) {
            out["lsh"] = imc::lsh::describe(lsh->options());
            out["attended_fraction"] = lsh->statistics().meanAttendedFraction;
            out["attended_pair_fraction"] = lsh->statistics().pairFraction();
        }
        if (args.adapt) out["adaptation"] = adaptInfo;
        std::printf("%s\n", out.dump().c_str());
    } else {
        std::printf("%s attention%s: perplexity %.4f (%.4f nats/token) over %zu tokens, %.0f tokens/s\n",
                    backend->name().c_str(), args.adapt ? " (adapted)" : "", result.perplexity, result.loss,
                    result.tokens, tokensPerSecond);
        if (const auto* lsh = dynamic_cast<const imc::lsh::LshAttention*>(backend.get()))
            std::printf("each query attended to %.1f %% of its causal-visible keys (mean over queries)\n",
                        100 * lsh->statistics().meanAttendedFraction);
    }
}

const imc::cli::CommandRegistration registration{
    "infer", "Language-model perplexity on held-out fortunes, text generation, the hardware-model report, or the "
             "letter-shift workload",
    [](CLI::App& app) {
        auto args = std::make_shared<InferArgs>();
        app.add_option("--workload", args->workload,
                       "lm: the character-level fortunes model or a GPT-2 checkpoint (--tokenizer); letters: letter shift with LSH attention (imc lsh letters); topics: four fortune topics on the HyFlexPIM backbone (paper 004)")
            ->capture_default_str();
        app.add_option("--attention", args->attention,
                       "lm: " + imc::cli::attentionBackendList() + " (default ideal); letters: lsh | ideal (default lsh)");
        app.add_option("--weights", args->weights,
                       "Model .safetensors file (default: models/char-lm.safetensors for ideal, "
                       "models/char-lm-linear.safetensors for the gain-cell backends)");
        app.add_flag("--adapt", args->adapt, "Apply the adaptation scalars stored beside the weights");
        app.add_flag("--refit", args->refit, "With --adapt: fit the scalars now and save them beside the weights");
        app.add_option("--fits", args->backend.fits,
                       "lm: gain-cell fits directory (default fits/ when it holds them, else the paper's model); "
                       "letters: memristor or passive fits file");
        imc::cli::addAttentionOptions(app, args->backend, false);
        app.add_option("--seed", args->seed, "Seed of the variability draws, calibration, sampling, training")
            ->capture_default_str();
        app.add_option("--tokens", args->tokens, "Held-out tokens to score")->capture_default_str();
        app.add_option("--fortunes", args->fortunes, "Directory of fortune files")->capture_default_str();
        app.add_flag("--json", args->json, "Print one JSON object");
        auto* gen = app.add_option("--generate", args->prompt, "Generate text after this prompt instead");
        app.add_option("--max-new", args->generation.maxNewTokens, "Tokens to generate at most")->capture_default_str();
        app.add_option("--temperature", args->generation.temperature, "Sampling temperature (0: greedy)")
            ->capture_default_str();
        app.add_option("--threads", args->threads, "Worker threads (0: all cores)")->capture_default_str();
        auto* report = app.add_option("--report", args->report,
                                      "gaincell (default): the paper's table: software, linear, nonlinear without/with "
                                      "adaptation, with fine-tuning; lsh: the LSH grid before and after fine-tuning; "
                                      "hyflexpim: loss vs SLC fraction per selection (paper 004)")
                           ->expected(0, 1);
        imc::cli::addHyFlexInferOptions(app, args->hyflex);
        app.add_flag("--retrain", args->retrain, "With --report: rebuild the hardware models in models/ first (minutes)");
        app.add_option("--draws", args->draws, "With --report: variability draws per hardware model")
            ->capture_default_str();
        auto* plot = app.add_option("--plot", args->plot,
                                    "With --report: PNG, with report.html beside it (gaincell: perplexity vs "
                                    "training iteration, default results/lm-report/lm-finetune.png; lsh: perplexity "
                                    "vs attended fraction, default results/lm-lsh/lm-lsh.png; hyflexpim: default "
                                    "results/hyflexpim/hyflexpim.png)");
        app.add_option("--models-dir", args->modelsDir,
                       "With --report: folder of char-lm.safetensors and the hardware models")
            ->capture_default_str();
        app.add_option("--linear-steps", args->linearSteps, "With --retrain: fine-tuning steps of the linear model")
            ->capture_default_str();
        app.add_option("--nonlinear-steps", args->nonlinearSteps,
                       "With --retrain: fine-tuning steps of the adapted nonlinear model")
            ->capture_default_str();
        app.add_option("--scratch-steps", args->scratchSteps, "With --retrain: steps of the software-from-scratch curve")
            ->capture_default_str();
        app.add_option("--learning-rate", args->learningRate, "With --retrain: peak fine-tuning learning rate")
            ->capture_default_str();
        app.add_option("--task", args->task, "letters: same | previous (see imc lsh letters)")->capture_default_str();
        // A user's checkpoint (e.g. a Hugging Face GPT-2 model.safetensors) and its tokenizer.
        app.add_option("--tokenizer", args->tokenizer, "lm: folder with GPT-2's encoder.json and vocab.bpe (BPE tokens)");
        app.add_option("--text", args->text, "lm: text file to score, also the calibration set of --adapt "
                                             "(default: the held-out fortunes)");
        app.add_option("--calibration", args->calibration, "lm --adapt: calibration windows of the context length")
            ->capture_default_str();
        addLshReportOptions(app, args->lshReport);
        app.callback([args, gen, report, plot] {
            if (report->count() > 0 && args->report.empty()) args->report = "gaincell";
            if (plot->count() == 0 && args->report == "lsh") args->plot = "results/lm-lsh/lm-lsh.png";
            if (plot->count() == 0 && args->report == "hyflexpim") args->plot = "results/hyflexpim/hyflexpim.png";
            args->generate = gen->count() > 0;
            args->generation.seed = args->seed;
            run(*args);
        });
    }};

}  // namespace
