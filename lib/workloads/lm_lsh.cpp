// LSH attention as a drop-in for softmax in the character language model (paper 001): the grid of
// projections x buckets x rounds on the shipped model, and LSH-aware fine-tuning against the
// ideal model fine-tuned as many steps.
#include "workloads/lsh.hpp"

#include "datadir/datadir.hpp"
#include "nn/nn.hpp"
#include "report/plot.hpp"
#include "workloads/paper_targets.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace imc::lsh {

namespace {
// A threshold as a sentence writes it (0.5, 2).
std::string plainNumber(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}
}  // namespace

namespace {

void say(const LmLshReportOptions& o, const std::string& line) {
    if (o.log) o.log(line);
}

LshOptions optionsFor(const LmLshReportOptions& o, const LmLshSetting& setting) {
    LshOptions options = o.base;
    options.projection.kind = setting.rp;
    options.projection.buckets = setting.buckets;
    options.projection.rounds = setting.rounds;
    if (setting.window >= 0) options.attention.window = setting.window;
    // The base's fits file belongs to its own projection kind; each kind takes its default.
    if (setting.rp != o.base.projection.kind) options.projection.fitsPath.clear();
    return resolvedLshOptions(options);
}

// One evaluation: perplexity and the attended fractions of the same run.
nlohmann::json evaluateSetting(const nn::Model& model, const LshOptions& options, const nn::TextSplit& corpus,
                               std::size_t tokens) {
    const LshAttention backend(options);
    const nn::EvalResult r = nn::evaluate(model, backend, corpus.validation, tokens);
    const LshStatistics s = backend.statistics();
    nlohmann::json row = describe(options);
    row["perplexity"] = r.perplexity;
    row["attended_fraction"] = s.meanAttendedFraction;
    row["attended_pair_fraction"] = s.pairFraction();
    row["seconds"] = r.seconds;
    return row;
}

nn::TrainOptions fineTuneSchedule(const LmLshReportOptions& o) {
    nn::TrainOptions t;
    t.steps = o.fineTuneSteps;
    t.batch = o.batch;
    t.learningRate = o.learningRate;
    t.warmupSteps = std::min(o.warmupSteps, o.fineTuneSteps);
    t.seed = o.seed;
    t.evalEvery = 0;
    t.evalTokens = 4096;
    return t;
}

// The software model fine-tuned fineTuneSteps steps with `backend` in the loop.
nn::Model fineTuned(const nn::Model& software, const nn::AttentionBackend& backend, const nn::TextSplit& corpus,
                    const LmLshReportOptions& o, const std::string& label) {
    nn::Model model = software;
    const auto result = nn::train(model, backend, corpus.train, corpus.validation, fineTuneSchedule(o));
    say(o, label + ": " + std::to_string(o.fineTuneSteps) + " fine-tuning steps in " +
               std::to_string(int(result.seconds)) + " s");
    return model;
}

}  // namespace

nlohmann::json runLmLshReport(const LmLshReportOptions& o) {
    const std::filesystem::path weights =
        o.weights.empty() ? dataPath("models") / "char-lm.safetensors" : o.weights;
    const nn::Model software = nn::loadModel(weights);
    const nn::TextSplit corpus = nn::loadFortunes(o.fortunes);
    const auto ideal = nn::makeAttentionBackend("ideal");
    const nn::EvalResult idealResult = nn::evaluate(software, *ideal, corpus.validation, o.evalTokens);
    say(o, "ideal attention: perplexity " + std::to_string(idealResult.perplexity));

    nlohmann::json grid = nlohmann::json::array();
    for (int window : o.windows)
        for (const auto& rp : o.projections)
            for (int buckets : o.buckets)
                for (int rounds : o.rounds) {
                    grid.push_back(evaluateSetting(software, optionsFor(o, {rp, buckets, rounds, window}), corpus,
                                                   o.evalTokens));
                    const auto& row = grid.back();
                    say(o, rp + " " + std::to_string(buckets) + " buckets x " + std::to_string(rounds) +
                               " rounds, window " + std::to_string(row["window"].get<int>()) + ": perplexity " +
                               std::to_string(row["perplexity"].get<double>()) + ", attended fraction " +
                               std::to_string(row["attended_fraction"].get<double>()));
                }

    nlohmann::json report{{"workload", "lm"},
                          {"weights", weights.string()},
                          {"tokens", idealResult.tokens},
                          {"ideal_perplexity", idealResult.perplexity},
                          {"base", describe(o.base)},
                          {"grid", grid}};
    if (o.fineTuneSteps <= 0 || o.fineTune.empty()) return report;

    const nn::Model idealTuned = fineTuned(software, *ideal, corpus, o, "ideal");
    const double reference = nn::evaluate(idealTuned, *ideal, corpus.validation, o.evalTokens).perplexity;
    nlohmann::json tuned = nlohmann::json::array();
    bool reached = false;
    nlohmann::json metBy = nlohmann::json::array();
    const workloads::PaperTargets targets = workloads::PaperTargets::shipped();
    const double maxFraction = targets.number("lsh-lm.acceptance.max_attended_fraction");
    const double maxExcess = targets.number("lsh-lm.acceptance.max_excess_over_ideal");
    for (const auto& setting : o.fineTune) {
        const LshOptions options = optionsFor(o, setting);
        const std::string label = setting.rp + " " + std::to_string(setting.buckets) + "x" +
                                  std::to_string(setting.rounds) + " window " + std::to_string(options.attention.window);
        const nn::Model model = fineTuned(software, LshAttention(options), corpus, o, label);
        nlohmann::json row = evaluateSetting(model, options, corpus, o.evalTokens);
        row["before_fine_tuning"] = evaluateSetting(software, options, corpus, o.evalTokens)["perplexity"];
        const double ppl = row["perplexity"], fraction = row["attended_fraction"];
        row["excess_over_reference"] = ppl / reference - 1.0;
        row["meets_target"] = fraction <= maxFraction && ppl <= (1 + maxExcess) * reference;
        reached = reached || row["meets_target"].get<bool>();
        if (row["meets_target"].get<bool>()) metBy.push_back(row["design"].get<std::string>() + ": " + label);
        tuned.push_back(row);
        say(o, "fine-tuned " + label + ": perplexity " + std::to_string(ppl) + " (reference " +
                   std::to_string(reference) + "), attended fraction " + std::to_string(fraction));
    }
    report["fine_tuning"] = {{"steps", o.fineTuneSteps},
                             {"learning_rate", o.learningRate},
                             {"batch", o.batch},
                             {"ideal_reference_perplexity", reference},
                             {"settings", tuned}};
    report["acceptance"] = {{"target", "attended fraction <= " + plainNumber(maxFraction) + " within " + plainNumber(100 * maxExcess) +
                                           " % of the fine-tuned ideal model"},
                            {"max_attended_fraction", maxFraction},
                            {"max_excess_over_ideal", maxExcess},
                            {"source", targets.section("lsh-lm").at("source")},
                            {"met", reached},
                            {"met_by", metBy}};
    return report;
}

bool plotLmLshReport(const nlohmann::json& report, const std::filesystem::path& png) {
    std::map<std::string, report::Series> byRp;
    for (const auto& row : report["grid"]) {
        const std::string rp = row["rp"];
        auto& s = byRp.try_emplace(rp, report::Series{rp + " RP (shipped model)", {}, {}, report::Series::Style::Points})
                      .first->second;
        s.x.push_back(row["attended_fraction"]);
        s.y.push_back(row["perplexity"]);
    }
    std::vector<report::Series> series;
    for (auto& [rp, s] : byRp) series.push_back(std::move(s));
    const auto line = [](const std::string& label, double y) {
        return report::Series{label, {0.0, 1.0}, {y, y}, report::Series::Style::Lines};
    };
    series.push_back(line("ideal attention", report["ideal_perplexity"]));
    if (report.contains("fine_tuning")) {
        const auto& ft = report["fine_tuning"];
        report::Series tuned{"LSH-aware fine-tuned", {}, {}, report::Series::Style::Points};
        for (const auto& row : ft["settings"]) {
            tuned.x.push_back(row["attended_fraction"]);
            tuned.y.push_back(row["perplexity"]);
        }
        series.push_back(std::move(tuned));
        const double reference = ft["ideal_reference_perplexity"];
        series.push_back(line("ideal, fine-tuned as many steps", reference));
        const double maxExcess = report.at("acceptance").at("max_excess_over_ideal");
        series.push_back(line("+" + plainNumber(100 * maxExcess) + " % of it", (1 + maxExcess) * reference));
    }
    report::PlotSpec spec;
    spec.title = "LSH attention in the character LM: perplexity vs fraction of keys attended";
    spec.xlabel = "attended fraction of causal-visible keys (mean over queries)";
    spec.ylabel = "perplexity (bytes)";
    spec.logY = true;
    return report::plotXY(png, spec, series);
}

}  // namespace imc::lsh
