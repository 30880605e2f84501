#include "workloads/lm_report.hpp"
#include "workloads/paper_targets.hpp"

#include "fit/fit.hpp"
#include "report/plot.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace imc::nn {

LmArtifacts LmArtifacts::in(const std::filesystem::path& modelsDir) {
    LmArtifacts a;
    a.software = modelsDir / "char-lm.safetensors";
    a.linear = modelsDir / "char-lm-linear.safetensors";
    a.linearScalars = headScalarsPathFor(a.linear);
    a.tuned = modelsDir / "char-lm-gaincell.safetensors";
    a.tunedScalars = headScalarsPathFor(a.tuned);
    a.curves = modelsDir / "char-lm-curves.csv";
    return a;
}

void writeCurves(const std::filesystem::path& csv, const std::vector<CurvePoint>& points) {
    std::ofstream out(csv);
    if (!out) throw std::runtime_error(csv.string() + ": cannot write");
    auto number = [](double v) {
        std::ostringstream o;
        o.precision(8);
        o << v;
        return o.str();
    };
    out << fit::csvLine({"curve", "step", "validation_loss_nats", "perplexity"}) << '\n';
    for (const auto& p : points)
        out << fit::csvLine({p.curve, std::to_string(p.step), number(p.loss), number(std::exp(p.loss))}) << '\n';
}

std::vector<CurvePoint> readCurves(const std::filesystem::path& csv) {
    std::ifstream in(csv);
    if (!in) throw std::runtime_error(csv.string() + ": no curves file (rebuild with `imc infer --workload lm --report --retrain`)");
    std::vector<CurvePoint> points;
    std::string line;
    std::getline(in, line);  // header
    for (int number = 2; std::getline(in, line); ++number) {
        if (line.empty()) continue;
        const std::string where = csv.string() + ":" + std::to_string(number) + ": ";
        const auto fields = fit::splitCsvLine(line);
        if (fields.size() < 3) throw std::runtime_error(where + "expected curve,step,loss,...");
        CurvePoint p;
        p.curve = fields[0];
        try {
            std::size_t used = 0;
            p.step = std::stoi(fields[1], &used);
            if (used != fields[1].size()) throw std::invalid_argument("trailing text");
            p.loss = std::stod(fields[2], &used);
            if (used != fields[2].size()) throw std::invalid_argument("trailing text");
        } catch (const std::exception&) {
            throw std::runtime_error(where + "step '" + fields[1] + "' or loss '" + fields[2] + "' is not a number");
        }
        points.push_back(p);
    }
    return points;
}

namespace {

using Clock = std::chrono::steady_clock;

void say(const LmHardwareOptions& options, const std::string& line) {
    if (options.log) options.log(line);
}

GainCellBackendOptions backendOptionsFor(const LmHardwareOptions& options, const Config& config) {
    GainCellBackendOptions o = options.gaincell;
    if (o.fitsDir.empty()) o.fitsDir = defaultFitsDirectory();
    o.layers = config.layers;
    return o;
}

Model loadLm(const std::filesystem::path& path) {
    Model model = loadModel(path);
    if (auto t = model.metadata.find("tokenizer"); t != model.metadata.end() && t->second != "byte")
        throw std::runtime_error(path.string() + ": tokenizer '" + t->second + "', only 'byte' is supported");
    return model;
}

// Quantization-aware fine-tuning with `backend` (its forward quantizes, its backward is the
// straight-through estimate), recording the held-out loss every curveEvery steps.
void fineTune(Model& model, const AttentionBackend& backend, const TextSplit& corpus, int steps,
              const LmHardwareOptions& options, const std::string& curveName, std::vector<CurvePoint>& curve,
              float learningRate) {
    curve.push_back({curveName, 0, evaluate(model, backend, corpus.validation, options.curveTokens).loss});
    say(options, curveName + ": step 0, perplexity " + std::to_string(std::exp(curve.back().loss)));
    if (steps <= 0) return;
    TrainOptions schedule;
    schedule.steps = steps;
    schedule.batch = options.batch;
    schedule.learningRate = learningRate;
    schedule.warmupSteps = std::min(options.warmupSteps, steps);
    schedule.seed = options.seed;
    schedule.evalEvery = options.curveEvery;
    schedule.evalTokens = options.curveTokens;
    nn::train(model, backend, corpus.train, corpus.validation, schedule, [&](const TrainProgress& p) {
        if (p.validationLoss < 0) return;
        curve.push_back({curveName, p.step, p.validationLoss});
        say(options, curveName + ": step " + std::to_string(p.step) + "/" + std::to_string(p.steps) + ", perplexity " +
                         std::to_string(std::exp(p.validationLoss)) + ", " + std::to_string(int(p.tokensPerSecond)) +
                         " tokens/s");
    });
}

nlohmann::json adaptationSummary(const AdaptationResult& r, const AdaptationOptions& o) {
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& s : r.stages)
        stages.push_back({{"layer", s.layer}, {"stage", s.stage == ScalingStage::Output ? "out" : "qkv"},
                          {"iterations", s.iterations}, {"converged", s.converged},
                          {"std_error", s.stdError}, {"mean_error", s.meanError}});
    return {{"converged", r.converged}, {"tolerance", o.tolerance}, {"forward_passes", r.iterations},
            {"max_std_error", r.maxStdError}, {"max_mean_error", r.maxMeanError}, {"stages", stages}};
}

}  // namespace

AdaptationResult mapSoftwareToLinear(const Model& software, const AttentionBackend& ideal,
                                     const GainCellAttention& linear, std::span<const int> calibration,
                                     double sigmas, const AdaptationOptions& options) {
    const StageStatistics reference = measureStageStatistics(software, ideal, {}, calibration);
    const auto& arch = linear.model().architecture();
    const auto centered = [&](const behavior::UniformQuantizer& range, double center) {
        // As wide as fits on both sides of the center, so +-sigmas std stays inside the range.
        return Moments{center, std::min(center - range.lo, range.hi - center) / sigmas};
    };
    const auto& lin = linear.arrayOptions().linear;
    StageStatistics target = reference;
    for (int l = 0; l < target.layers; ++l)
        for (int h = 0; h < target.heads; ++h) {
            target.at(l, h, ScalingStage::Query) = centered(arch.query, 0.5 * (arch.query.lo + arch.query.hi));
            target.at(l, h, ScalingStage::Key) = centered(arch.key, lin.K_offset_V);
            target.at(l, h, ScalingStage::Value) = centered(arch.value, lin.V_offset_V);
            // Output: the software model's own statistics (left as measured).
        }
    return adaptHeadScalars(software, linear, target, calibration, options);
}

nlohmann::json buildLmHardwareModels(const LmHardwareOptions& options) {
    const auto start = Clock::now();
    const LmArtifacts files = LmArtifacts::in(options.modelsDir);
    const Model software = loadLm(files.software);
    const TextSplit corpus = loadFortunes(options.fortunes);
    const GainCellBackendOptions backendOptions = backendOptionsFor(options, software.config);
    auto device = std::make_shared<const behavior::GainCellModel>(behavior::GainCellModel::load(backendOptions.fitsDir));
    const GainCellAttention linear(behavior::ArrayModel::Linear, device, backendOptions);
    const GainCellAttention nonlinear(behavior::ArrayModel::Nonlinear, device, backendOptions);
    const auto ideal = makeAttentionBackend("ideal");
    const std::vector<int> calibration =
        calibrationTokens(corpus.train, options.calibrationSequences, software.config.context, options.seed);
    std::vector<CurvePoint> curves;

    // 1. Software from scratch, the reference curve of Fig. 4d (same steps as the fine-tuning).
    {
        Model scratch{software.config, Weights::initialized(software.config, options.seed), software.metadata};
        fineTune(scratch, *ideal, corpus, options.scratchSteps, options, "software-scratch", curves, 2e-3f);
    }

    // 2. Linear hardware model: map the software ranges onto the arrays, fold, fine-tune.
    Model linearModel = software;
    const AdaptationResult mapping =
        mapSoftwareToLinear(software, *ideal, linear, calibration, options.mappingSigmas, options.adaptation);
    foldHeadScalars(linearModel, mapping.scalars);
    say(options, "mapped the software model onto the linear arrays (" + std::to_string(mapping.iterations) +
                     " calibration passes)");
    fineTune(linearModel, linear, corpus, options.linearSteps, options, "linear-from-software", curves,
             options.learningRate);

    // 3. Adaptation of the nonlinear model to the linear one (eq. 9), scalars saved beside it.
    const AdaptationResult adapted = adaptToLinearModel(linearModel, linear, nonlinear, calibration, options.adaptation);
    say(options, std::string("adaptation ") + (adapted.converged ? "converged" : "did NOT converge") + " in " +
                     std::to_string(adapted.iterations) + " calibration passes");

    // 4. Nonlinear model with adaptation and fine-tuning: fixed scalars around the nonlinear
    //    backend, weights fine-tuned through the straight-through (linear surrogate) backward.
    Model tunedModel = linearModel;
    {
        const ScaledAttention scaled(nonlinear, adapted.scalars, software.config.heads);
        fineTune(tunedModel, scaled, corpus, options.nonlinearSteps, options, "gaincell-adapted", curves,
                 options.learningRate);
    }

    const auto stamp = [&](Model& m, const std::string& how, int steps) {
        m.metadata["training"] = how;
        m.metadata["fine_tune_steps"] = std::to_string(steps);
        m.metadata["hardware_fits"] = backendOptions.fitsDir;
        m.metadata["window"] = std::to_string(backendOptions.windowTokens);
        m.metadata["seed"] = std::to_string(options.seed);
    };
    stamp(linearModel, "gaincell-linear: mapped from char-lm.safetensors and fine-tuned (quantization-aware)",
          options.linearSteps);
    stamp(tunedModel, "gaincell: char-lm-linear adapted (scalars file beside) and fine-tuned (quantization-aware)",
          options.nonlinearSteps);
    saveModel(linearModel, files.linear);
    saveModel(tunedModel, files.tuned);
    HeadScalarsFile scalars;
    scalars.layers = software.config.layers;
    scalars.heads = software.config.heads;
    scalars.scalars = adapted.scalars;
    scalars.backend = "gaincell";
    scalars.fits = backendOptions.fitsDir;
    scalars.adaptation = adaptationSummary(adapted, options.adaptation);
    scalars.weights = files.linear.filename().string();
    saveHeadScalars(scalars, files.linearScalars);
    scalars.weights = files.tuned.filename().string();
    scalars.adaptation["note"] = "adapted on char-lm-linear, kept fixed while fine-tuning these weights";
    saveHeadScalars(scalars, files.tunedScalars);
    writeCurves(files.curves, curves);
    return {{"seconds", std::chrono::duration<double>(Clock::now() - start).count()},
            {"mapping", adaptationSummary(mapping, options.adaptation)},
            {"adaptation", adaptationSummary(adapted, options.adaptation)},
            {"files", {files.linear.string(), files.linearScalars.string(), files.tuned.string(),
                       files.tunedScalars.string(), files.curves.string()}}};
}

bool plotFineTuningCurves(const std::filesystem::path& curvesCsv, const std::filesystem::path& png,
                          double softwarePerplexity) {
    std::vector<report::Series> series;
    for (const auto& p : readCurves(curvesCsv)) {
        auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.label == p.curve; });
        if (it == series.end()) {
            series.push_back({p.curve, {}, {}, report::Series::Style::LinesPoints});
            it = series.end() - 1;
        }
        it->x.push_back(p.step);
        it->y.push_back(std::exp(p.loss));
    }
    if (!series.empty() && !series.front().x.empty()) {
        double last = 0;
        for (const auto& s : series) last = std::max(last, s.x.back());
        series.push_back({"software model (2000 steps)", {0.0, last}, {softwarePerplexity, softwarePerplexity},
                          report::Series::Style::Lines});
    }
    report::PlotSpec spec;
    spec.title = "Validation perplexity during training (cf. paper Fig. 4d)";
    spec.xlabel = "training iteration";
    spec.ylabel = "perplexity (bytes)";
    spec.logY = true;
    return report::plotXY(png, spec, series);
}

nlohmann::json runLmReport(const LmReportOptions& options) {
    const LmHardwareOptions& hw = options.hardware;
    nlohmann::json built;
    if (options.retrain) built = buildLmHardwareModels(hw);
    const LmArtifacts files = LmArtifacts::in(hw.modelsDir);
    const Model software = loadLm(files.software);
    for (const auto& path : {files.linear, files.linearScalars, files.tuned, files.tunedScalars})
        if (!std::filesystem::exists(path))
            throw std::runtime_error(path.string() + " is missing: build the hardware models with "
                                                     "`imc infer --workload lm --report --retrain`");
    const Model linearModel = loadLm(files.linear), tunedModel = loadLm(files.tuned);
    const HeadScalarsFile linearScalars = loadHeadScalars(files.linearScalars);
    const HeadScalarsFile tunedScalars = loadHeadScalars(files.tunedScalars);
    const TextSplit corpus = loadFortunes(hw.fortunes);
    const GainCellBackendOptions backendOptions = backendOptionsFor(hw, software.config);
    auto device = std::make_shared<const behavior::GainCellModel>(behavior::GainCellModel::load(backendOptions.fitsDir));
    const GainCellAttention linear(behavior::ArrayModel::Linear, device, backendOptions);
    const GainCellAttention nonlinear(behavior::ArrayModel::Nonlinear, device, backendOptions);
    const auto ideal = makeAttentionBackend("ideal");

    nlohmann::json notes = nlohmann::json::array();
    if (auto it = linearModel.metadata.find("hardware_fits");
        it != linearModel.metadata.end() && it->second != backendOptions.fitsDir)
        notes.push_back("the hardware models were fine-tuned with the fits in " + it->second + ", evaluated with " +
                        backendOptions.fitsDir + "; rebuild them with --retrain for these fits");

    struct Row {
        const char* key;
        const char* label;
        const Model* model;
        const AttentionBackend* backend;
        std::span<const HeadScalars> scalars;
    };
    const std::vector<Row> rows{
        {"software", "software model (ideal softmax attention)", &software, ideal.get(), {}},
        {"linear", "linear hardware model (fine-tuned from software)", &linearModel, &linear, {}},
        {"nonlinear_no_adapt", "nonlinear hardware model without adaptation", &linearModel, &nonlinear, {}},
        {"nonlinear_adapted", "nonlinear hardware model with adaptation", &linearModel, &nonlinear,
         linearScalars.scalars},
        {"nonlinear_adapted_tuned", "nonlinear hardware model with adaptation and fine-tuning", &tunedModel, &nonlinear,
         tunedScalars.scalars},
    };
    nlohmann::json perplexity, seconds, labels;
    std::size_t tokens = 0;
    for (const auto& row : rows) {
        const EvalResult r = evaluate(*row.model, *row.backend, corpus.validation, options.evalTokens, row.scalars);
        perplexity[row.key] = r.perplexity;
        seconds[row.key] = r.seconds;
        labels[row.key] = row.label;
        tokens = r.tokens;
    }

    // Variability: each draw is a new set of devices (seed) and readout noise.
    nlohmann::json variability = nlohmann::json::object();
    if (options.draws > 0) {
        for (const auto& row : rows) {
            if (row.backend == ideal.get()) continue;
            const bool isLinear = row.backend == &linear;
            std::vector<double> values;
            for (int draw = 1; draw <= options.draws; ++draw) {
                GainCellBackendOptions o = backendOptions;
                o.variability = true;
                o.seed = hw.seed + static_cast<std::uint64_t>(draw);
                const GainCellAttention drawn(isLinear ? behavior::ArrayModel::Linear : behavior::ArrayModel::Nonlinear,
                                              device, o);
                values.push_back(evaluate(*row.model, drawn, corpus.validation, options.drawTokens, row.scalars).perplexity);
            }
            variability[row.key] = {{"mean", fit::sampleMean(values)}, {"std", fit::sampleStd(values)}, {"draws", values}};
        }
        variability["tokens"] = std::min(options.drawTokens, corpus.validation.size() - 1);
    }

    const double sw = perplexity["software"], lin = perplexity["linear"], noAdapt = perplexity["nonlinear_no_adapt"],
                 adaptedPpl = perplexity["nonlinear_adapted"];
    const workloads::PaperTargets targets = workloads::PaperTargets::shipped();
    const double adaptedTol = targets.number("gaincell-lm.acceptance.adapted_max_rel_diff_from_linear");
    const double linearTol = targets.number("gaincell-lm.acceptance.linear_max_rel_diff_from_software");
    nlohmann::json acceptance{
        {"nonlinear_no_adapt_worse_than_adapted", noAdapt > adaptedPpl},
        {"adapted_within_15pct_of_linear", std::abs(adaptedPpl - lin) <= adaptedTol * lin},
        {"linear_within_15pct_of_software", std::abs(lin - sw) <= linearTol * sw},
        {"thresholds", {{"adapted_max_rel_diff_from_linear", adaptedTol}, {"linear_max_rel_diff_from_software", linearTol},
                        {"file", targets.file().string()}}},
    };
    const nlohmann::json& section = targets.section("gaincell-lm");
    nlohmann::json paper = section.at("paper");
    paper["model"] = section.at("source");
    paper["pattern"] = "without adaptation far worse; adaptation brings it close to the linear model; fine-tuning "
                       "closes most of the rest";
    nlohmann::json report{{"workload", "lm"},
                          {"perplexity", perplexity},
                          {"rows", labels},
                          {"paper_gpt2", paper},
                          {"acceptance", acceptance},
                          {"tokens", tokens},
                          {"eval_seconds", seconds},
                          {"fits", backendOptions.fitsDir},
                          {"window", backendOptions.windowTokens},
                          {"adaptation", linearScalars.adaptation},
                          {"models", {{"software", files.software.string()}, {"linear", files.linear.string()},
                                      {"tuned", files.tuned.string()}, {"curves", files.curves.string()}}},
                          {"notes", notes}};
    if (options.draws > 0) report["variability"] = variability;
    if (!built.is_null()) report["built"] = built;
    if (!options.plot.empty() && plotFineTuningCurves(files.curves, options.plot, sw))
        report["plot"] = options.plot.string();
    return report;
}

}  // namespace imc::nn
