#include "nn/adaptation.hpp"

#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>

namespace imc::nn {

const char* scalingStageName(ScalingStage stage) {
    switch (stage) {
        case ScalingStage::Query: return "q";
        case ScalingStage::Key: return "k";
        case ScalingStage::Value: return "v";
        case ScalingStage::Output: return "out";
    }
    return "?";
}

const Moments& StageStatistics::at(int layer, int head, ScalingStage stage) const {
    return moments.at(static_cast<std::size_t>(layer) * heads + head)[static_cast<std::size_t>(stage)];
}

Moments& StageStatistics::at(int layer, int head, ScalingStage stage) {
    return moments.at(static_cast<std::size_t>(layer) * heads + head)[static_cast<std::size_t>(stage)];
}

std::vector<int> calibrationTokens(std::span<const int> tokens, int sequences, int context, std::uint64_t seed) {
    if (sequences < 1 || context < 1) throw std::invalid_argument("calibration: sequences and context must be >= 1");
    if (tokens.size() <= static_cast<std::size_t>(context))
        throw std::invalid_argument("calibration: the text is shorter than one context window");
    Rng rng(seed);
    std::vector<int> out;
    out.reserve(static_cast<std::size_t>(sequences) * context);
    for (int s = 0; s < sequences; ++s) {
        const std::size_t start = rng.below(tokens.size() - static_cast<std::size_t>(context));
        out.insert(out.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                   tokens.begin() + static_cast<std::ptrdiff_t>(start + static_cast<std::size_t>(context)));
    }
    return out;
}

namespace {

HeadSite siteOf(int index, int heads) { return {index / heads, index % heads}; }

// Sums of x and x^2 of every stage of every head, filled by the recording backend.
struct StageSums {
    double sum = 0, squares = 0;
    double count = 0;
    void add(ConstMatrixRef x) {
        // Double accumulation: a stage holds ~1e5 elements and the tolerance is 1e-4.
        for (Eigen::Index r = 0; r < x.rows(); ++r)
            for (Eigen::Index c = 0; c < x.cols(); ++c) {
                const double value = x(r, c);
                sum += value;
                squares += value * value;
            }
        count += double(x.size());
    }
    Moments moments() const {
        Moments m;
        if (count == 0) return m;
        m.mean = sum / count;
        m.std = std::sqrt(std::max(0.0, squares / count - m.mean * m.mean));
        return m;
    }
};

// Passes calls through to `inner` and records what it sees (the Q, K, V stage outputs) and what
// it returns (the out stage's input). Each (layer, head) is called by one task at a time when the
// batch is one sequence, so the sums need no lock and do not depend on scheduling.
class RecordingAttention final : public AttentionBackend {
public:
    RecordingAttention(const AttentionBackend& inner, int layers, int heads, int lastLayer)
        : inner_(inner), heads_(heads), lastLayer_(lastLayer),
          sums_(static_cast<std::size_t>(layers) * heads) {}
    std::string name() const override { return inner_.name(); }
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override {
        if (lastLayer_ >= 0 && site.layer > lastLayer_) {
            out.setZero();  // not measured: skip the work
            return;
        }
        inner_.forward(site, q, k, v, out, tape);
        auto& s = sums_.at(static_cast<std::size_t>(site.layer) * heads_ + site.head);
        s[0].add(q);
        s[1].add(k);
        s[2].add(v);
        s[3].add(out);
    }
    void backward(const HeadSite&, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef,
                  const AttentionTape&, MatrixRef, MatrixRef, MatrixRef) const override {
        throw std::logic_error("the recording backend is for forward statistics only");
    }
    const std::vector<std::array<StageSums, kScalingStages>>& sums() const { return sums_; }

private:
    const AttentionBackend& inner_;
    int heads_, lastLayer_;
    mutable std::vector<std::array<StageSums, kScalingStages>> sums_;
};

double errorOf(const Moments& target, const Moments& current, bool stdPart) {
    return stdPart ? std::abs(target.std - current.std) : std::abs(target.mean - current.mean);
}

}  // namespace

StageStatistics measureStageStatistics(const Model& model, const AttentionBackend& backend,
                                       std::span<const HeadScalars> scalars, std::span<const int> calibration,
                                       int lastLayer) {
    const Config& config = model.config;
    const std::size_t window = static_cast<std::size_t>(config.context);
    if (calibration.empty() || calibration.size() % window != 0)
        throw std::invalid_argument("calibration tokens must be whole windows of the context length");
    RecordingAttention recorder(backend, config.layers, config.heads, lastLayer);
    Transformer net(model, recorder);
    net.setHeadScalars(scalars);
    for (std::size_t start = 0; start < calibration.size(); start += window)
        net.forward(calibration.subspan(start, window), 1, config.context);

    StageStatistics stats;
    stats.layers = config.layers;
    stats.heads = config.heads;
    stats.moments.resize(recorder.sums().size());
    for (std::size_t i = 0; i < stats.moments.size(); ++i) {
        for (int s = 0; s < kScalingStages; ++s) stats.moments[i][static_cast<std::size_t>(s)] = recorder.sums()[i][static_cast<std::size_t>(s)].moments();
        // The out stage's output is a_out * out' + b_out of what the backend returned.
        const AffineScalar out = scalars.empty() ? AffineScalar{} : scalars[i].out;
        Moments& m = stats.moments[i][3];
        m.mean = out.a * m.mean + out.b;
        m.std = std::abs(out.a) * m.std;
    }
    return stats;
}

AdaptationResult adaptHeadScalars(const Model& model, const AttentionBackend& backend, const StageStatistics& target,
                                  std::span<const int> calibration, const AdaptationOptions& options,
                                  std::span<const HeadScalars> initial) {
    const Config& config = model.config;
    if (target.layers != config.layers || target.heads != config.heads)
        throw std::invalid_argument("adaptation: the target statistics are for another network shape");
    AdaptationResult result;
    result.scalars.assign(static_cast<std::size_t>(config.layers) * config.heads, HeadScalars{});
    if (!initial.empty()) {
        if (initial.size() != result.scalars.size()) throw std::invalid_argument("adaptation: initial scalars size");
        std::copy(initial.begin(), initial.end(), result.scalars.begin());
    }
    result.converged = true;
    const auto scalarOf = [](HeadScalars& s, ScalingStage stage) -> AffineScalar& {
        switch (stage) {
            case ScalingStage::Query: return s.q;
            case ScalingStage::Key: return s.k;
            case ScalingStage::Value: return s.v;
            case ScalingStage::Output: break;
        }
        return s.out;
    };
    for (int layer = 0; layer < config.layers; ++layer) {
        // Q, K and V of a layer see the same input, so they are adapted together; then the output.
        const std::vector<std::vector<ScalingStage>> groups{
            {ScalingStage::Query, ScalingStage::Key, ScalingStage::Value}, {ScalingStage::Output}};
        for (const auto& group : groups) {
            StageReport report;
            report.layer = layer;
            report.stage = group.front();
            double eta = options.stepStart, previous = std::numeric_limits<double>::infinity();
            for (int iteration = 0; iteration <= options.maxIterations; ++iteration) {
                const StageStatistics now = measureStageStatistics(model, backend, result.scalars, calibration, layer);
                ++result.iterations;
                report.iterations = iteration;
                report.stdError = report.meanError = 0;
                for (int head = 0; head < config.heads; ++head)
                    for (ScalingStage stage : group) {
                        report.stdError = std::max(report.stdError, errorOf(target.at(layer, head, stage), now.at(layer, head, stage), true));
                        report.meanError = std::max(report.meanError, errorOf(target.at(layer, head, stage), now.at(layer, head, stage), false));
                    }
                if (report.stdError < options.tolerance && report.meanError < options.tolerance) {
                    report.converged = true;
                    break;
                }
                if (iteration == options.maxIterations) break;  // measured, not updated: report as is
                // Damping: a growing error means the step overshoots; halve it down to stepMin.
                const double error = std::max(report.stdError, report.meanError);
                if (error >= previous) eta = std::max(options.stepMin, eta * 0.5);
                previous = error;
                for (int head = 0; head < config.heads; ++head)
                    for (ScalingStage stage : group) {
                        const Moments& linear = target.at(layer, head, stage);
                        const Moments& nonlinear = now.at(layer, head, stage);
                        AffineScalar& s = scalarOf(result.scalars[static_cast<std::size_t>(layer) * config.heads + head], stage);
                        // Eq. 9, damped: a <- a (sigma_L / sigma_NL)^eta, b <- b + eta (mu_L - mu_NL).
                        if (nonlinear.std > 0 && linear.std > 0)
                            s.a = static_cast<float>(s.a * std::pow(linear.std / nonlinear.std, eta));
                        s.b = static_cast<float>(s.b + eta * (linear.mean - nonlinear.mean));
                    }
            }
            result.converged = result.converged && report.converged;
            result.maxStdError = std::max(result.maxStdError, report.stdError);
            result.maxMeanError = std::max(result.maxMeanError, report.meanError);
            result.stages.push_back(report);
        }
    }
    return result;
}

AdaptationResult adaptToLinearModel(const Model& model, const AttentionBackend& linear,
                                    const AttentionBackend& nonlinear, std::span<const int> calibration,
                                    const AdaptationOptions& options) {
    const StageStatistics target = measureStageStatistics(model, linear, {}, calibration);
    return adaptHeadScalars(model, nonlinear, target, calibration, options);
}

// ---------------------------------------------------------------- scalars file

namespace {

constexpr const char* kScalarsFormat = "imc-head-scalars";

nlohmann::json pairOf(const AffineScalar& s) { return nlohmann::json::array({double(s.a), double(s.b)}); }

AffineScalar affineFrom(const nlohmann::json& value, const std::string& where) {
    if (!value.is_array() || value.size() != 2 || !value[0].is_number() || !value[1].is_number())
        throw std::runtime_error(where + " must be [a, b]");
    return {value[0].get<float>(), value[1].get<float>()};
}

}  // namespace

void saveHeadScalars(const HeadScalarsFile& file, const std::filesystem::path& path) {
    if (file.scalars.size() != static_cast<std::size_t>(file.layers) * file.heads)
        throw std::invalid_argument("head scalars: table size is not layers * heads");
    nlohmann::json table = nlohmann::json::array();
    for (std::size_t i = 0; i < file.scalars.size(); ++i) {
        const HeadSite site = siteOf(static_cast<int>(i), file.heads);
        const HeadScalars& s = file.scalars[i];
        table.push_back({{"layer", site.layer}, {"head", site.head}, {"q", pairOf(s.q)}, {"k", pairOf(s.k)},
                         {"v", pairOf(s.v)}, {"out", pairOf(s.out)}});
    }
    const nlohmann::json doc{{"format", kScalarsFormat}, {"version", kHeadScalarsFileVersion},
                             {"layers", file.layers},     {"heads", file.heads},
                             {"backend", file.backend},   {"weights", file.weights},
                             {"fits", file.fits},         {"scalars", table},
                             {"adaptation", file.adaptation.is_null() ? nlohmann::json::object() : file.adaptation}};
    std::ofstream out(path);
    if (!out) throw std::runtime_error(path.string() + ": cannot write");
    out << doc.dump(1) << '\n';
    if (!out) throw std::runtime_error(path.string() + ": write failed");
}

HeadScalarsFile loadHeadScalars(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error(name + ": no head scalars file (run `imc infer --workload lm --attention gaincell "
                                        "--adapt --refit` to fit them)");
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(name + ": not JSON: " + e.what());
    }
    const auto field = [&](const char* key) -> const nlohmann::json& {
        if (!doc.is_object() || !doc.contains(key)) throw std::runtime_error(name + ": missing field \"" + key + "\"");
        return doc.at(key);
    };
    if (!field("format").is_string() || field("format").get<std::string>() != kScalarsFormat)
        throw std::runtime_error(name + ": field \"format\" is not \"" + kScalarsFormat + "\"");
    if (!field("version").is_number_integer() || field("version").get<int>() != kHeadScalarsFileVersion)
        throw std::runtime_error(name + ": field \"version\" is " + field("version").dump() + "; this build reads version " +
                                 std::to_string(kHeadScalarsFileVersion) +
                                 " (refit with `imc infer --workload lm --attention gaincell --adapt --refit`)");
    HeadScalarsFile file;
    for (const char* key : {"layers", "heads"})
        if (!field(key).is_number_integer() || field(key).get<long long>() < 1 || field(key).get<long long>() > 4096)
            throw std::runtime_error(name + ": field \"" + key + "\" is " + field(key).dump() + "; must be a whole number 1..4096");
    file.layers = field("layers").get<int>();
    file.heads = field("heads").get<int>();
    file.backend = field("backend").get<std::string>();
    file.weights = field("weights").get<std::string>();
    file.fits = doc.value("fits", std::string{});
    file.adaptation = doc.value("adaptation", nlohmann::json::object());
    const auto& table = field("scalars");
    if (!table.is_array()) throw std::runtime_error(name + ": field \"scalars\" must be an array");
    file.scalars.assign(static_cast<std::size_t>(file.layers) * file.heads, HeadScalars{});
    std::vector<char> seen(file.scalars.size(), 0);
    for (const auto& entry : table) {
        const int layer = entry.value("layer", -1), head = entry.value("head", -1);
        const std::string where = name + ": scalars[layer " + std::to_string(layer) + ", head " + std::to_string(head) + "]";
        if (layer < 0 || layer >= file.layers || head < 0 || head >= file.heads)
            throw std::runtime_error(where + ": layer/head outside the " + std::to_string(file.layers) + " x " +
                                     std::to_string(file.heads) + " table");
        const std::size_t i = static_cast<std::size_t>(layer) * file.heads + head;
        if (seen[i]++) throw std::runtime_error(where + ": given twice");
        HeadScalars& s = file.scalars[i];
        for (const char* key : {"q", "k", "v", "out"})
            if (!entry.contains(key)) throw std::runtime_error(where + ": missing \"" + key + "\"");
        s.q = affineFrom(entry["q"], where + ".q");
        s.k = affineFrom(entry["k"], where + ".k");
        s.v = affineFrom(entry["v"], where + ".v");
        s.out = affineFrom(entry["out"], where + ".out");
    }
    if (std::find(seen.begin(), seen.end(), 0) != seen.end())
        throw std::runtime_error(name + ": the scalars do not cover every layer and head");
    return file;
}

std::filesystem::path headScalarsPathFor(const std::filesystem::path& weights, const std::string& backend) {
    std::filesystem::path path = weights;
    path.replace_extension("." + backend + "-scalars.json");
    return path;
}

// ---------------------------------------------------------------- scalars and weights

void foldHeadScalars(Model& model, std::span<const HeadScalars> scalars) {
    const Config& config = model.config;
    if (scalars.empty()) return;
    if (scalars.size() != static_cast<std::size_t>(config.layers) * config.heads)
        throw std::invalid_argument("fold: expected layers * heads scalars");
    const Eigen::Index c = config.dModel, d = config.headDim;
    for (int l = 0; l < config.layers; ++l) {
        LayerWeights& w = model.weights.layers[static_cast<std::size_t>(l)];
        for (int h = 0; h < config.heads; ++h) {
            const HeadScalars& s = scalars[static_cast<std::size_t>(l) * config.heads + h];
            // a (x W + bias) + b = x (a W) + (a bias + b): columns of this head in c_attn.
            const AffineScalar qkv[3] = {s.q, s.k, s.v};
            for (int part = 0; part < 3; ++part) {
                const Eigen::Index col = part * c + h * d;
                w.attnWeight.middleCols(col, d) *= qkv[part].a;
                w.attnBias.middleCols(col, d) = (w.attnBias.middleCols(col, d).array() * qkv[part].a + qkv[part].b).matrix();
            }
            // (a o + b) W_h = a (o W_h) + b 1^T W_h: rows of this head in c_proj.
            auto rows = w.attnProjWeight.middleRows(h * d, d);
            w.attnProjBias += s.out.b * rows.colwise().sum();
            rows *= s.out.a;
        }
    }
}

ScaledAttention::ScaledAttention(const AttentionBackend& inner, std::vector<HeadScalars> scalars, int heads)
    : inner_(inner), scalars_(std::move(scalars)), heads_(heads) {
    if (heads < 1) throw std::invalid_argument("scaled attention: heads must be >= 1");
}

const HeadScalars& ScaledAttention::at(const HeadSite& site) const {
    const std::size_t i = static_cast<std::size_t>(site.layer) * heads_ + site.head;
    if (i >= scalars_.size()) throw std::out_of_range("scaled attention: no scalars for this layer/head");
    return scalars_[i];
}

namespace {
Matrix scaled(ConstMatrixRef x, const AffineScalar& s) { return (x.array() * s.a + s.b).matrix(); }
}  // namespace

void ScaledAttention::forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                              MatrixRef out, AttentionTape* tape) const {
    const HeadScalars& s = at(site);
    inner_.forward(site, scaled(q, s.q), scaled(k, s.k), scaled(v, s.v), out, tape);
    out = (out.array() * s.out.a + s.out.b).matrix();
}

void ScaledAttention::decode(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                             MatrixRef out, AttentionCache* cache) const {
    const HeadScalars& s = at(site);
    inner_.decode(site, scaled(q, s.q), scaled(k, s.k), scaled(v, s.v), out, cache);
    out = (out.array() * s.out.a + s.out.b).matrix();
}

void ScaledAttention::backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                               ConstMatrixRef dout, const AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                               MatrixRef dv) const {
    const HeadScalars& s = at(site);
    const Matrix qs = (q.array() * s.q.a + s.q.b).matrix(), ks = (k.array() * s.k.a + s.k.b).matrix(),
                 vs = (v.array() * s.v.a + s.v.b).matrix();
    const Matrix scaledDout = dout * s.out.a;
    inner_.backward(site, qs, ks, vs, scaledDout, tape, dq, dk, dv);
    dq *= s.q.a;
    dk *= s.k.a;
    dv *= s.v.a;
}

HeadScalarsResult headScalarsFor(const Model& model, const HeadScalarsRequest& request, const AttentionBackend& linear,
                                 const AttentionBackend& nonlinear) {
    const std::filesystem::path path = headScalarsPathFor(request.weights);
    const auto say = [&](const std::string& line) {
        if (request.log) request.log(line);
    };
    if (!request.refit && std::filesystem::exists(path)) {
        HeadScalarsFile file = loadHeadScalars(path);
        if (file.layers != model.config.layers || file.heads != model.config.heads)
            throw std::runtime_error(path.string() + ": scalars for " + std::to_string(file.layers) + " layers x " +
                                     std::to_string(file.heads) + " heads, the model has " +
                                     std::to_string(model.config.layers) + " x " + std::to_string(model.config.heads) +
                                     " (refit with --refit)");
        return {std::move(file.scalars), {{"scalars", path.string()}, {"fitted_now", false}}};
    }
    if (!request.refit) say("note: no " + path.string() + "; fitting the adaptation scalars now (--refit saves them)");
    const auto calibration =
        request.calibrationText.empty()
            ? calibrationTokens(loadFortunes(request.fortunes).train, request.calibrationSequences,
                                model.config.context, request.seed)
            : calibrationTokens(request.calibrationText, request.calibrationSequences, model.config.context,
                                request.seed);
    AdaptationResult result = adaptToLinearModel(model, linear, nonlinear, calibration);
    if (!result.converged) {
        char line[160];
        std::snprintf(line, sizeof line, "warning: adaptation did not reach the tolerance (std error %.3g, mean error %.3g)",
                      result.maxStdError, result.maxMeanError);
        say(line);
    }
    nlohmann::json info{{"scalars", request.refit ? path.string() : std::string{}}, {"fitted_now", true},
                        {"converged", result.converged}, {"forward_passes", result.iterations},
                        {"max_std_error", result.maxStdError}, {"max_mean_error", result.maxMeanError}};
    if (request.refit) {
        HeadScalarsFile file;
        file.layers = model.config.layers;
        file.heads = model.config.heads;
        file.scalars = result.scalars;
        file.backend = "gaincell";
        file.weights = request.weights.filename().string();
        file.fits = request.fits;
        file.adaptation = info;
        saveHeadScalars(file, path);
    }
    return {std::move(result.scalars), std::move(info)};
}

}  // namespace imc::nn
