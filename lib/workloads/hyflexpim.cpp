// SVD fine-tuning with importance, SLC selection, perplexity over shared draws, the SLC-fraction
// report and the paper's Table 2 cost model (paper 004).
#include "workloads/hyflexpim.hpp"
#include "workloads/paper_targets.hpp"
#include "fit/fit.hpp"
#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace imc::nn {

std::filesystem::path denseControlPathFor(const std::filesystem::path& modelPath) {
    auto p = modelPath;
    return p.replace_extension(".dense-control.safetensors");
}

namespace {

// Mean over blocks of the share of total importance held by the top `fraction` of ranks.
double importanceShare(const SvdFactors& f, double fraction, bool last) {
    double sum = 0;
    int blocks = 0;
    for (const auto& site : f.sites)
        for (const auto& b : site) {
            const Matrix& imp = last ? b.importanceLast : b.importanceWindow;
            std::vector<float> v(imp.data(), imp.data() + imp.size());
            std::sort(v.begin(), v.end(), std::greater<>());
            const auto top = static_cast<std::size_t>(std::lround(fraction * double(v.size())));
            const double total = std::accumulate(v.begin(), v.end(), 0.0);
            if (total > 0) sum += std::accumulate(v.begin(), v.begin() + top, 0.0) / total;
            ++blocks;
        }
    return blocks ? sum / blocks : 0.0;
}

}  // namespace

nlohmann::json fineTuneSvd(const SvdFineTuneOptions& o) {
    const Model base = loadModel(o.baseWeights);
    const auto corpus = loadFortunes(o.fortunes);
    const auto attention = makeAttentionBackend("ideal");
    const std::size_t evalTokens = o.train.evalTokens;
    nlohmann::json out;
    out["base_weights"] = o.baseWeights.string();
    out["dense_loss"] = evaluate(base, *attention, corpus.validation, evalTokens).loss;

    Model model = base;
    SvdLinear svd(factorize(base.weights, base.config, o.rank));
    out["svd_loss_before_finetune"] = evaluate(model, *attention, svd, corpus.validation, evalTokens).loss;
    TrainOptions t = o.train;
    t.linear = &svd;
    const int window = std::min(o.importanceWindow, t.steps);
    const auto svdResult = train(model, *attention, corpus.train, corpus.validation, t, [&](const TrainProgress& p) {
        svd.recordImportance(p.step > t.steps - window);
        if (o.onProgress) o.onProgress("svd", p);
    });
    out["svd_loss"] = svdResult.validationLoss;

    SvdFactors factors = svd.factors();
    writeProducts(factors, model.weights);
    std::map<std::string, std::string> info{{"base_weights", o.baseWeights.filename().string()},
                                            {"rank", o.rank <= 0 ? "hard-threshold" : std::to_string(o.rank)},
                                            {"steps", std::to_string(t.steps)},
                                            {"learning_rate", std::to_string(t.learningRate)},
                                            {"seed", std::to_string(t.seed)},
                                            {"importance_window_steps", std::to_string(window)}};
    model.metadata["linear_layers"] = "svd";
    model.metadata["svd_finetune"] = nlohmann::json(info).dump();
    saveModel(model, o.out);
    saveSvdFactors(svdFactorsPathFor(o.out), factors, info);

    // The control: the dense model fine-tuned for as many steps with the same schedule and seed.
    Model control = base;
    TrainOptions c = o.train;
    c.linear = nullptr;
    const auto controlResult = train(control, *attention, corpus.train, corpus.validation, c, [&](const TrainProgress& p) {
        if (o.onProgress) o.onProgress("dense-control", p);
    });
    control.metadata["dense_finetune"] = nlohmann::json(info).dump();
    saveModel(control, denseControlPathFor(o.out));
    out["dense_control_loss"] = controlResult.validationLoss;

    out["files"] = {{"model", o.out.string()},
                    {"factors", svdFactorsPathFor(o.out).string()},
                    {"dense_control", denseControlPathFor(o.out).string()}};
    out["steps"] = t.steps;
    out["importance_window_steps"] = window;
    out["importance_top_share"] = {{"window", {{"top_10pct", importanceShare(factors, 0.1, false)},
                                               {"top_20pct", importanceShare(factors, 0.2, false)}}},
                                   {"last_batch", {{"top_10pct", importanceShare(factors, 0.1, true)},
                                                   {"top_20pct", importanceShare(factors, 0.2, true)}}}};
    std::size_t params = 0;
    for (const auto& site : factors.sites)
        for (const auto& b : site) params += static_cast<std::size_t>(b.u.size() + b.s.size() + b.vt.size());
    out["factor_parameters"] = params;
    return out;
}

// ---------------------------------------------------------------- selection

Selection parseSelection(const std::string& name) {
    for (Selection s : kAllSelections)
        if (selectionName(s) == name) return s;
    throw std::invalid_argument("unknown selection '" + name + "' (known: gradient, gradient-last, rank, magnitude, random)");
}

std::string selectionName(Selection s) {
    switch (s) {
        case Selection::Gradient: return "gradient";
        case Selection::GradientLast: return "gradient-last";
        case Selection::Rank: return "rank";
        case Selection::Magnitude: return "magnitude";
        case Selection::Random: return "random";
    }
    return "?";
}

namespace {

// Flags the `count` highest scores (ties: lower index first).
std::vector<std::uint8_t> topFlags(const std::vector<double>& score, std::size_t count) {
    std::vector<std::size_t> order(score.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
    std::vector<std::uint8_t> flags(score.size(), 0);
    for (std::size_t i = 0; i < std::min(count, order.size()); ++i) flags[order[i]] = 1;
    return flags;
}

std::vector<double> randomScores(std::size_t n, std::uint64_t seed, std::uint64_t key) {
    Rng rng(seed * 0x9E3779B97F4A7C15ull + key);
    std::vector<double> s(n);
    for (auto& x : s) x = rng.uniform();
    return s;
}

std::size_t countFor(double fraction, std::size_t n) {
    if (!(fraction >= 0 && fraction <= 1)) throw std::invalid_argument("SLC fraction must lie in [0, 1]");
    return static_cast<std::size_t>(std::lround(fraction * double(n)));
}

}  // namespace

SlcSelection selectRanks(const SvdFactors& factors, Selection selection, double fraction, std::uint64_t seed) {
    SlcSelection out(factors.sites.size());
    for (std::size_t s = 0; s < factors.sites.size(); ++s)
        for (std::size_t bi = 0; bi < factors.sites[s].size(); ++bi) {
            const SvdBlock& b = factors.sites[s][bi];
            const auto k = static_cast<std::size_t>(b.rank());
            std::vector<double> score(k);
            for (std::size_t i = 0; i < k; ++i) {
                switch (selection) {
                    case Selection::Gradient: score[i] = b.importanceWindow(0, static_cast<Eigen::Index>(i)); break;
                    case Selection::GradientLast: score[i] = b.importanceLast(0, static_cast<Eigen::Index>(i)); break;
                    case Selection::Rank: score[i] = -double(i); break;  // the SVD's own order
                    case Selection::Magnitude: score[i] = std::abs(b.s(0, static_cast<Eigen::Index>(i))); break;
                    case Selection::Random: break;
                }
            }
            if (selection == Selection::Random) score = randomScores(k, seed, s * 8 + bi);
            out[s].push_back(topFlags(score, countFor(fraction, k)));
        }
    return out;
}

SlcSelection selectWeights(const Weights& weights, const Config& config, Selection selection, double fraction,
                           std::uint64_t seed) {
    if (selection != Selection::Magnitude && selection != Selection::Random)
        throw std::invalid_argument("dense layers have no singular values: use --selection magnitude or random "
                                    "(or a factorized model from imc train --linear-layers svd)");
    SlcSelection out(static_cast<std::size_t>(config.layers) * kLinearKinds);
    for (std::size_t s = 0; s < out.size(); ++s) {
        const LayerWeights& l = weights.layers[s / kLinearKinds];
        const Matrix* w[] = {&l.attnWeight, &l.attnProjWeight, &l.fcWeight, &l.fcProjWeight};
        const Matrix& m = *w[s % kLinearKinds];
        std::vector<double> score(static_cast<std::size_t>(m.size()));
        if (selection == Selection::Random) {
            score = randomScores(score.size(), seed, s * 8);
        } else {
            for (std::size_t i = 0; i < score.size(); ++i) score[i] = std::abs(m.data()[i]);
        }
        out[s].push_back(topFlags(score, countFor(fraction, score.size())));
    }
    return out;
}

// ---------------------------------------------------------------- evaluation over draws

namespace {

struct Point {
    double clean = 0;
    std::vector<double> losses;  // one per draw
    double slcWeightFraction = 0, clipRate = 0;
};

double mean(const std::vector<double>& v) { return fit::sampleMean(v); }
double stddev(const std::vector<double>& v) { return fit::sampleStd(v); }

// One model (factorized or dense) on the held-out bytes under the fits.
class Evaluator {
public:
    Evaluator(const std::filesystem::path& weights, const HyFlexPimInferOptions& o)
        : options_(o), model_(loadModel(weights)), attention_(makeAttentionBackend("ideal")) {
        const auto factors = svdFactorsPathFor(weights);
        if (std::filesystem::exists(factors)) factors_ = loadSvdFactors(factors, model_.config);
        cells_ = behavior::loadRramFits(o.fitsDir);
        validation_ = loadFortunes(o.fortunes).validation;
    }
    bool factorized() const { return factors_.has_value(); }
    const behavior::RramModel& cells() const { return cells_; }

    SlcSelection select(Selection s, double fraction) const {
        return factors_ ? selectRanks(*factors_, s, fraction, options_.seed)
                        : selectWeights(model_.weights, model_.config, s, fraction, options_.seed);
    }

    Point run(const SlcSelection& slc, bool withClean) const {
        Point p;
        if (withClean) p.clean = loss(slc, false, options_.seed, nullptr);
        for (int d = 0; d < options_.draws; ++d) {
            double clip = 0;
            p.losses.push_back(loss(slc, true, options_.seed + static_cast<std::uint64_t>(d), &clip));
            p.clipRate += clip / options_.draws;
        }
        HyFlexPimOptions h;
        h.cells = cells_;
        h.noise = false;
        p.slcWeightFraction = make(slc, h)->slcWeightFraction();
        return p;
    }

private:
    std::unique_ptr<HyFlexPimLinear> make(const SlcSelection& slc, const HyFlexPimOptions& h) const {
        return factors_ ? std::make_unique<HyFlexPimLinear>(*factors_, slc, h)
                        : std::make_unique<HyFlexPimLinear>(model_.weights, model_.config, slc, h);
    }
    double loss(const SlcSelection& slc, bool noise, std::uint64_t seed, double* clipRate) const {
        HyFlexPimOptions h;
        h.cells = cells_;
        h.analog = options_.analog;
        h.noise = noise;
        h.seed = seed;
        const auto backend = make(slc, h);
        const double l = evaluate(model_, *attention_, *backend, validation_, options_.tokens).loss;
        if (clipRate) *clipRate = backend->adcClipRate();
        return l;
    }

    HyFlexPimInferOptions options_;
    Model model_;
    std::unique_ptr<AttentionBackend> attention_;
    std::optional<SvdFactors> factors_;
    behavior::RramModel cells_;
    std::vector<int> validation_;
};

nlohmann::json pointJson(const Point& p, const Point& allSlc, double fraction, const std::string& selection) {
    std::vector<double> ppl;
    for (double l : p.losses) ppl.push_back(std::exp(l));
    return {{"slc_fraction", fraction},
            {"slc_weight_fraction", p.slcWeightFraction},
            {"selection", selection},
            {"perplexity", {{"clean", std::exp(p.clean)}, {"mean", mean(ppl)}, {"std", stddev(ppl)}, {"draws", ppl.size()}}},
            {"loss_nats",
             {{"clean", p.clean},
              {"mean", mean(p.losses)},
              {"std", stddev(p.losses)},
              {"per_draw", p.losses},
              {"all_slc", mean(allSlc.losses)},
              {"all_slc_per_draw", allSlc.losses},
              {"delta_vs_all_slc", mean(p.losses) - mean(allSlc.losses)}}},
            {"adc", {{"clip_rate", p.clipRate}}}};
}

nlohmann::json cellsJson(const behavior::RramModel& c, const std::string& dir) {
    return {{"fits", dir},
            {"sigma_slc", c.slc.sigmaMax()},
            {"sigma_mlc", c.mlc.sigmaMax()},
            {"mlc_sigma_eta_per_level", c.mlc.sigmaEta},
            {"mlc_level0_std_lsb", c.mlc.level0StdLsb},
            {"level_mean_lsb", {{"slc", c.slc.meanLsb}, {"mlc", c.mlc.meanLsb}}},
            {"mlc_ber", c.mlc.ber},
            {"adc_bits", {{"slc", c.slc.adcBits}, {"mlc", c.mlc.adcBits}}}};
}

}  // namespace

nlohmann::json runHyFlexPimInfer(const HyFlexPimInferOptions& o) {
    if (o.draws < 1) throw std::invalid_argument("--draws must be at least 1");
    const Evaluator eval(o.weights, o);
    const Point point = eval.run(eval.select(o.selection, o.slcFraction), true);
    const Point allSlc = o.slcFraction == 1.0 ? point : eval.run(eval.select(o.selection, 1.0), false);
    nlohmann::json out = pointJson(point, allSlc, o.slcFraction, selectionName(o.selection));
    const auto cells = cellsJson(eval.cells(), o.fitsDir);
    out["sigma_slc"] = cells["sigma_slc"];
    out["sigma_mlc"] = cells["sigma_mlc"];
    out["cells"] = cells;
    out["weights"] = o.weights.string();
    out["factorized"] = eval.factorized();
    out["analog_model"] = o.analog == AnalogModel::WeightNoise ? "weight-noise" : "bit-serial-adc";
    out["tokens"] = o.tokens;
    out["seed"] = o.seed;
    return out;
}

// ---------------------------------------------------------------- report

namespace {

// Loss may not rise from one fraction to the next by more than 2 standard errors of the paired
// (same draws) difference.
nlohmann::json monotoneCheck(const std::vector<double>& fractions, const std::vector<Point>& points) {
    bool ok = true;
    nlohmann::json steps = nlohmann::json::array();
    for (std::size_t i = 0; i + 1 < points.size(); ++i) {
        std::vector<double> diff;
        for (std::size_t d = 0; d < points[i].losses.size(); ++d) diff.push_back(points[i + 1].losses[d] - points[i].losses[d]);
        const double rise = mean(diff), se = stddev(diff) / std::sqrt(double(diff.size()));
        const bool pass = rise <= 2 * se + 1e-12;
        ok = ok && pass;
        steps.push_back({{"from", fractions[i]}, {"to", fractions[i + 1]}, {"rise", rise}, {"two_se", 2 * se}, {"pass", pass}});
    }
    return {{"pass", ok}, {"steps", steps}};
}

std::size_t indexOf(const std::vector<double>& v, double x) {
    const auto it = std::find(v.begin(), v.end(), x);
    if (it == v.end()) throw std::invalid_argument("the report's fractions must include " + std::to_string(x));
    return static_cast<std::size_t>(it - v.begin());
}

// Every fraction for one model and a list of selections; 0 and 1 do not depend on the selection.
std::map<std::string, std::vector<Point>> sweep(const Evaluator& eval, const std::vector<Selection>& selections,
                                                const std::vector<double>& fractions) {
    std::map<std::string, std::vector<Point>> out;
    std::optional<Point> none, all;
    for (Selection s : selections) {
        auto& row = out[selectionName(s)];
        for (double f : fractions) {
            std::optional<Point>* shared = f == 0.0 ? &none : f == 1.0 ? &all : nullptr;
            if (shared && shared->has_value()) {
                row.push_back(**shared);
                continue;
            }
            row.push_back(eval.run(eval.select(s, f), true));
            if (shared) *shared = row.back();
        }
    }
    return out;
}

}  // namespace

nlohmann::json runHyFlexPimReport(const HyFlexPimReportOptions& o) {
    const auto& f = o.fractions;
    const workloads::PaperTargets targets = workloads::PaperTargets::shipped();
    const double atFraction = targets.number("hyflexpim.acceptance.slc_fraction");
    const double mlcMin = targets.number("hyflexpim.acceptance.all_mlc_min_excess");
    const double gradMax = targets.number("hyflexpim.acceptance.gradient_max_excess");
    const double vsRandomMax = targets.number("hyflexpim.acceptance.gradient_max_excess_vs_random");
    const std::size_t i0 = indexOf(f, 0.0), i20 = indexOf(f, atFraction), i100 = indexOf(f, 1.0);
    nlohmann::json out;
    const Evaluator svd(o.base.weights, o.base);
    if (!svd.factorized())
        throw std::runtime_error(o.base.weights.string() + " has no " + svdFactorsPathFor(o.base.weights).filename().string() +
                                 " beside it (make one with imc train --workload lm --linear-layers svd)");
    const auto rows = sweep(svd, kAllSelections, f);
    nlohmann::json table = nlohmann::json::array();
    const Point& allSlc = rows.begin()->second[i100];
    for (const auto& [name, points] : rows)
        for (std::size_t i = 0; i < f.size(); ++i) table.push_back(pointJson(points[i], allSlc, f[i], name));

    // Controls: the dense model (no SVD) and the dense fine-tune, both with magnitude selection.
    nlohmann::json controls;
    for (const auto& [label, path] : {std::pair{"dense-magnitude", o.denseWeights}, {"dense-finetune-magnitude", o.denseFineTuned}}) {
        if (path.empty() || !std::filesystem::exists(path)) continue;
        const Evaluator dense(path, o.base);
        const auto points = sweep(dense, {Selection::Magnitude}, f).at("magnitude");
        nlohmann::json rowsJson = nlohmann::json::array();
        for (std::size_t i = 0; i < f.size(); ++i) rowsJson.push_back(pointJson(points[i], points[i100], f[i], "magnitude"));
        controls[label] = {{"weights", path.string()}, {"rows", rowsJson}};
    }

    const double lSlc = mean(allSlc.losses), lMlc = mean(rows.at("gradient")[i0].losses);
    const auto excess = [&](const std::string& s) { return mean(rows.at(s)[i20].losses) - lSlc; };
    nlohmann::json acceptance;
    acceptance["all_mlc_above_all_slc"] = {{"ratio", (lMlc - lSlc) / lSlc}, {"pass", (lMlc - lSlc) / lSlc >= mlcMin}, {"min", mlcMin}};
    // The same criteria draw by draw (the draws are shared), for their standard errors.
    const auto perDraw = [&](auto ratio) {
        std::vector<double> r;
        for (std::size_t d = 0; d < allSlc.losses.size(); ++d) r.push_back(ratio(d));
        return nlohmann::json{{"per_draw", r}, {"mean", mean(r)},
                              {"standard_error", stddev(r) / std::sqrt(double(r.size()))}};
    };
    const auto drawExcess = [&](const std::string& sel, std::size_t d) {
        return rows.at(sel)[i20].losses[d] - allSlc.losses[d];
    };
    acceptance["gradient_20pct_within_10pct"] = {
        {"ratio", excess("gradient") / lSlc},
        {"pass", excess("gradient") / lSlc <= gradMax},
        {"max", gradMax},
        {"slc_fraction", atFraction},
        {"draws", perDraw([&](std::size_t d) { return drawExcess("gradient", d) / allSlc.losses[d]; })}};
    const double rnd = excess("random");
    acceptance["gradient_excess_vs_random_20pct"] = {
        {"ratio", rnd != 0 ? excess("gradient") / rnd : 0.0},
        {"pass", rnd > 0 && excess("gradient") <= vsRandomMax * rnd},
        {"max", vsRandomMax},
        {"draws", perDraw([&](std::size_t d) { return drawExcess("gradient", d) / drawExcess("random", d); })}};
    // gradient-last is the paper's own importance (the last fine-tuning batch): the same two criteria.
    acceptance["gradient_last_20pct"] = {
        {"ratio_vs_all_slc", excess("gradient-last") / lSlc},
        {"ratio_vs_random", rnd != 0 ? excess("gradient-last") / rnd : 0.0},
        {"pass", excess("gradient-last") / lSlc <= gradMax && rnd > 0 && excess("gradient-last") <= vsRandomMax * rnd}};
    acceptance["gradient_not_rising"] = monotoneCheck(f, rows.at("gradient"));
    acceptance["rank_not_rising"] = monotoneCheck(f, rows.at("rank"));
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [name, points] : rows) order.push_back({mean(points[i20].losses), name});
    std::sort(order.begin(), order.end());
    nlohmann::json ordering = nlohmann::json::array();
    for (const auto& [loss, name] : order) ordering.push_back({{"selection", name}, {"loss", loss}});

    out["rows"] = table;
    out["controls"] = controls;
    out["acceptance"] = acceptance;
    out["ordering_at_20pct"] = ordering;
    out["cells"] = cellsJson(svd.cells(), o.base.fitsDir);
    out["weights"] = o.base.weights.string();
    out["draws"] = o.base.draws;
    out["tokens"] = o.base.tokens;
    out["fractions"] = f;
    out["analog_model"] = o.base.analog == AnalogModel::WeightNoise ? "weight-noise" : "bit-serial-adc";
    return out;
}

// ---------------------------------------------------------------- Table 2 cost model

nlohmann::json hyflexPimCostModel(const std::vector<double>& fractions) {
    // Analog RRAM module power (mW), paper 004 Table 2. With 2-bit cells an INT8 weight takes four
    // cells instead of eight: arrays, word-line drivers, shift-and-add and the I/O registers do half
    // the work; the ADC converts half as many columns at 7 instead of 6 bits (twice the energy per
    // conversion), so its energy is unchanged. Throughput doubles for the MLC share.
    const double array = 60.78, ir = 0.13, orr = 0.53, wl = 297.71, adc = 512.00, sa = 59.54, sh = 12e-6;
    const double slc = array + ir + orr + wl + adc + sa + sh;
    const double mlc = 0.5 * (array + ir + orr + wl + sa + sh) + adc;
    nlohmann::json rows = nlohmann::json::array();
    for (double f : fractions) {
        const double energy = f * slc + (1 - f) * mlc, time = f + (1 - f) * 0.5;
        rows.push_back({{"slc_fraction", f}, {"energy_gain", slc / energy}, {"speedup", 1.0 / time}});
    }
    const double e5 = slc / (0.05 * slc + 0.95 * mlc), s5 = 1.0 / (0.05 + 0.95 * 0.5);
    const workloads::PaperTargets targets = workloads::PaperTargets::shipped();
    const double paperEnergy = targets.number("hyflexpim.paper.energy_gain_at_5pct_slc");
    const double paperSpeedup = targets.number("hyflexpim.paper.speedup_at_5pct_slc");
    const double tol = targets.number("hyflexpim.acceptance.energy_speedup_max_rel_diff");
    return {{"rows", rows},
            {"power_mW", {{"slc_all", slc}, {"mlc_all", mlc}}},
            {"at_5pct", {{"energy_gain", e5},
                         {"speedup", s5},
                         {"paper_energy_gain", paperEnergy},
                         {"paper_speedup", paperSpeedup},
                         {"energy_within_10pct", std::abs(e5 / paperEnergy - 1) <= tol},
                         {"speedup_within_10pct", std::abs(s5 / paperSpeedup - 1) <= tol}}},
            {"source", "paper 004 Table 2 (analog RRAM module); baseline: all-SLC INT8 (the paper's ASADI-dagger)"}};
}

}  // namespace imc::nn
