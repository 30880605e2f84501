// imc infer: validation perplexity of the language model with a chosen attention backend (ideal
// or the gain-cell hardware models, optionally adapted), text generation from a prompt, the
// paper's comparison table (--report), or the letter-shift workload of the LSH stage.
#include "cli.hpp"

#include "datadir/datadir.hpp"
#include "lsh/lsh.hpp"
#include "nn/adaptation.hpp"
#include "nn/bpe_tokenizer.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/lm_report.hpp"
#include "nn/nn.hpp"
#include "report/plot.hpp"

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

struct InferArgs {
    std::string workload = "lm";
    std::string attention;  // default: ideal (lm), lsh (letters)
    std::string weights;    // default: by backend, see defaultWeights()
    std::string fortunes = "/usr/share/games/fortunes";
    std::string fits;       // lm: gain-cell fits directory; letters: memristor/passive fits file
    long window = 0;
    double linearGain = 0.0;
    bool noQuantize = false;
    std::string variability = "off";
    std::uint64_t seed = 1;
    bool adapt = false;
    bool refit = false;
    std::size_t tokens = 16384;
    bool json = false;
    std::string prompt;
    bool generate = false;
    imc::nn::GenerateOptions generation;
    int threads = 0;
    // --report
    bool report = false;
    bool retrain = false;
    int draws = 0;
    std::string plot = "results/lm-finetune.png";
    std::string modelsDir = imc::dataPath("models").string();
    int linearSteps = 1000, nonlinearSteps = 300, scratchSteps = 1000;
    float learningRate = 1e-3f;
    // --workload letters
    std::string task = "same";
    std::string rp = "memristor";
    int rounds = 1;
    int buckets = 2;
    // --workload lm on a user's checkpoint: its tokenizer, the text scored and calibrated on
    std::string tokenizer;  // folder with GPT-2's encoder.json + vocab.bpe
    std::string text;       // text file (default: the held-out fortunes)
    int calibration = 8;    // calibration windows of the context length for --adapt
};

const fs::path kModels = imc::dataPath("models");

// ideal: the software model; gain-cell backends: the linear model fine-tuned from it.
fs::path defaultWeights(const std::string& attention) {
    if (attention == "ideal") return kModels / "char-lm.safetensors";
    const fs::path hardware = imc::nn::LmArtifacts::in(kModels).linear;
    if (fs::exists(hardware)) return hardware;
    std::fprintf(stderr, "imc: note: %s is missing; using the software weights\n", hardware.string().c_str());
    return kModels / "char-lm.safetensors";
}

bool parseOnOff(const std::string& value, const char* option) {
    if (value == "on") return true;
    if (value == "off") return false;
    throw imc::cli::UsageError(std::string(option) + " must be on or off, got '" + value + "'");
}

void runLetters(const InferArgs& args) {
    imc::lsh::LettersOptions options;
    options.task = args.task;
    if (!args.attention.empty()) options.attention = args.attention;
    options.rp = args.rp;
    options.rounds = args.rounds;
    options.buckets = args.buckets;
    options.fitsPath = args.fits;
    options.seed = args.seed;
    const nlohmann::json result = imc::lsh::runLettersWorkload(options);
    std::printf("%s\n", args.json ? result.dump().c_str() : result.dump(2).c_str());
    if (!args.json && result.contains("round_counts")) std::printf("%s", imc::lsh::lettersSummary(result).c_str());
}

imc::nn::GainCellBackendOptions gainCellOptions(const InferArgs& args, int layers) {
    imc::nn::GainCellBackendOptions o;
    o.fitsDir = args.fits.empty() ? imc::nn::defaultFitsDirectory() : args.fits;
    o.windowTokens = args.window;
    o.layers = layers;
    o.variability = parseOnOff(args.variability, "--variability");
    o.seed = args.seed;
    o.linearGain = args.linearGain;
    o.quantize = !args.noQuantize;
    return o;
}

std::unique_ptr<imc::nn::AttentionBackend> makeBackend(const InferArgs& args, const std::string& name, int layers) {
    if (name == "gaincell-linear")
        return std::make_unique<imc::nn::GainCellAttention>(imc::behavior::ArrayModel::Linear, gainCellOptions(args, layers));
    if (name == "gaincell")
        return std::make_unique<imc::nn::GainCellAttention>(imc::behavior::ArrayModel::Nonlinear,
                                                            gainCellOptions(args, layers));
    return imc::nn::makeAttentionBackend(name);
}

// The adaptation scalars beside the weights; with --refit (or when there are none) fitted now
// against the linear model on calibration windows of the training split.
std::vector<imc::nn::HeadScalars> adaptationScalars(const InferArgs& args, const imc::nn::Model& model,
                                                    const fs::path& weights, const imc::nn::AttentionBackend& backend,
                                                    std::span<const int> calibrationText, nlohmann::json& info) {
    const fs::path path = imc::nn::headScalarsPathFor(weights);
    if (!args.refit && fs::exists(path)) {
        const auto file = imc::nn::loadHeadScalars(path);
        if (file.layers != model.config.layers || file.heads != model.config.heads)
            throw std::runtime_error(path.string() + ": scalars for " + std::to_string(file.layers) + " layers x " +
                                     std::to_string(file.heads) + " heads, the model has " +
                                     std::to_string(model.config.layers) + " x " + std::to_string(model.config.heads) +
                                     " (refit with --refit)");
        info = {{"scalars", path.string()}, {"fitted_now", false}};
        return file.scalars;
    }
    if (!args.refit)
        std::fprintf(stderr, "imc: note: no %s; fitting the adaptation scalars now (--refit saves them)\n",
                     path.string().c_str());
    const auto linear = makeBackend(args, "gaincell-linear", model.config.layers);
    const auto calibration =
        calibrationText.empty()
            ? imc::nn::calibrationTokens(imc::nn::loadFortunes(args.fortunes).train, args.calibration, model.config.context, args.seed)
            : imc::nn::calibrationTokens(calibrationText, args.calibration, model.config.context, args.seed);
    const auto result = imc::nn::adaptToLinearModel(model, *linear, backend, calibration);
    if (!result.converged)
        std::fprintf(stderr, "imc: warning: adaptation did not reach the tolerance (std error %.3g, mean error %.3g)\n",
                     result.maxStdError, result.maxMeanError);
    info = {{"scalars", args.refit ? path.string() : std::string{}}, {"fitted_now", true},
            {"converged", result.converged}, {"forward_passes", result.iterations},
            {"max_std_error", result.maxStdError}, {"max_mean_error", result.maxMeanError}};
    if (args.refit) {
        imc::nn::HeadScalarsFile file;
        file.layers = model.config.layers;
        file.heads = model.config.heads;
        file.scalars = result.scalars;
        file.backend = "gaincell";
        file.weights = weights.filename().string();
        file.fits = args.fits.empty() ? imc::nn::defaultFitsDirectory() : args.fits;
        file.adaptation = info;
        imc::nn::saveHeadScalars(file, path);
    }
    return result.scalars;
}

void plotCurves(const fs::path& curvesCsv, const fs::path& png, double softwarePerplexity) {
    const auto points = imc::nn::readCurves(curvesCsv);
    std::vector<imc::report::Series> series;
    for (const auto& p : points) {
        auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.label == p.curve; });
        if (it == series.end()) {
            series.push_back({p.curve, {}, {}, imc::report::Series::Style::LinesPoints});
            it = series.end() - 1;
        }
        it->x.push_back(p.step);
        it->y.push_back(std::exp(p.loss));
    }
    if (!series.empty() && !series.front().x.empty()) {
        double last = 0;
        for (const auto& s : series) last = std::max(last, s.x.back());
        series.push_back({"software model (2000 steps)", {0.0, last}, {softwarePerplexity, softwarePerplexity},
                          imc::report::Series::Style::Lines});
    }
    imc::report::PlotSpec spec;
    spec.title = "Validation perplexity during training (cf. paper Fig. 4d)";
    spec.xlabel = "training iteration";
    spec.ylabel = "perplexity (bytes)";
    spec.logY = true;
    imc::report::plotXY(png, spec, series);
}

void runReport(const InferArgs& args) {
    imc::nn::LmReportOptions options;
    options.hardware.fortunes = args.fortunes;
    options.hardware.modelsDir = args.modelsDir;
    options.hardware.linearSteps = args.linearSteps;
    options.hardware.nonlinearSteps = args.nonlinearSteps;
    options.hardware.scratchSteps = args.scratchSteps;
    options.hardware.learningRate = args.learningRate;
    options.hardware.gaincell.fitsDir = args.fits;
    options.hardware.gaincell.windowTokens = args.window;
    options.hardware.gaincell.linearGain = args.linearGain;
    options.hardware.seed = args.seed;
    options.hardware.log = [](const std::string& line) { std::fprintf(stderr, "imc: %s\n", line.c_str()); };
    options.evalTokens = args.tokens;
    options.draws = args.draws;
    options.retrain = args.retrain;
    nlohmann::json report = imc::nn::runLmReport(options);
    const fs::path curves = report["models"]["curves"].get<std::string>();
    plotCurves(curves, args.plot, report["perplexity"]["software"].get<double>());
    report["plot"] = args.plot;
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

void run(const InferArgs& args) {
    if (args.workload == "letters") return runLetters(args);
    if (args.workload != "lm") throw imc::cli::UsageError("unknown workload '" + args.workload + "' (known: lm, letters)");
    imc::nn::setThreadCount(args.threads);
    if (args.report) return runReport(args);

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
    const auto backend = makeBackend(args, attention, model.config.layers);
    if (args.adapt && attention == "ideal") throw imc::cli::UsageError("--adapt applies to the gain-cell backends");
    nlohmann::json adaptInfo;
    const std::vector<imc::nn::HeadScalars> scalars =
        args.adapt ? adaptationScalars(args, model, weights, *backend, text, adaptInfo) : std::vector<imc::nn::HeadScalars>{};

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
        if (attention != "ideal") {
            const auto o = gainCellOptions(args, model.config.layers);
            out["fits"] = o.fitsDir;
            out["window"] = o.windowTokens;
            out["variability"] = o.variability;
            out["seed"] = o.seed;
        }
        if (args.adapt) out["adaptation"] = adaptInfo;
        std::printf("%s\n", out.dump().c_str());
    } else {
        std::printf("%s attention%s: perplexity %.4f (%.4f nats/token) over %zu tokens, %.0f tokens/s\n",
                    backend->name().c_str(), args.adapt ? " (adapted)" : "", result.perplexity, result.loss,
                    result.tokens, tokensPerSecond);
    }
}

const imc::cli::CommandRegistration registration{
    "infer", "Language-model perplexity on held-out fortunes, text generation, the hardware-model report, or the "
             "letter-shift workload",
    [](CLI::App& app) {
        auto args = std::make_shared<InferArgs>();
        app.add_option("--workload", args->workload,
                       "lm: the character-level fortunes model or a GPT-2 checkpoint (--tokenizer); letters: letter shift with LSH attention (imc lsh letters)")
            ->capture_default_str();
        app.add_option("--attention", args->attention,
                       "lm: ideal | gaincell-linear | gaincell (default ideal); letters: lsh | ideal (default lsh)");
        app.add_option("--weights", args->weights,
                       "Model .safetensors file (default: models/char-lm.safetensors for ideal, "
                       "models/char-lm-linear.safetensors for the gain-cell backends)");
        app.add_flag("--adapt", args->adapt, "Apply the adaptation scalars stored beside the weights");
        app.add_flag("--refit", args->refit, "With --adapt: fit the scalars now and save them beside the weights");
        app.add_option("--fits", args->fits,
                       "lm: gain-cell fits directory (default fits/ when it holds them, else the paper's model); "
                       "letters: memristor or passive fits file");
        app.add_option("--window", args->window, "Sliding window M in tokens (0: the whole context)")
            ->capture_default_str();
        app.add_option("--linear-gain", args->linearGain,
                       "Gain of the linear model's arrays (0: the fitted cell's linearization D_1 x full pulse; 1: the bare Q K^T)")
            ->capture_default_str();
        app.add_flag("--no-quantize", args->noQuantize, "Gain-cell backends without their quantizers (ablation)");
        app.add_option("--variability", args->variability, "Device-to-device draws and readout noise: on | off")
            ->capture_default_str();
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
        app.add_flag("--report", args->report,
                     "The paper's table: software, linear, nonlinear without/with adaptation, with fine-tuning");
        app.add_flag("--retrain", args->retrain, "With --report: rebuild the hardware models in models/ first (minutes)");
        app.add_option("--draws", args->draws, "With --report: variability draws per hardware model")
            ->capture_default_str();
        app.add_option("--plot", args->plot, "With --report: PNG of perplexity vs training iteration")
            ->capture_default_str();
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
        app.add_option("--rp", args->rp, "letters: random projection gaussian | memristor | passive")
            ->capture_default_str();
        app.add_option("--rounds", args->rounds, "letters: hashing rounds")->capture_default_str();
        app.add_option("--buckets", args->buckets, "letters: buckets per round")->capture_default_str();
        // A user's checkpoint (e.g. a Hugging Face GPT-2 model.safetensors) and its tokenizer.
        app.add_option("--tokenizer", args->tokenizer, "lm: folder with GPT-2's encoder.json and vocab.bpe (BPE tokens)");
        app.add_option("--text", args->text, "lm: text file to score, also the calibration set of --adapt "
                                             "(default: the held-out fortunes)");
        app.add_option("--calibration", args->calibration, "lm --adapt: calibration windows of the context length")
            ->capture_default_str();
        app.callback([args, gen] {
            args->generate = gen->count() > 0;
            args->generation.seed = args->seed;
            run(*args);
        });
    }};

}  // namespace
