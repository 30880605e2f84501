// The classification role of paper 004 (its GLUE tasks) on the character model: four fortune
// topics, a softmax probe on the backbone's mean-pooled final hidden state, accuracy against the
// SLC fraction with the same hybrid layers, selections and shared draws as the LM report.
#include "workloads/hyflexpim.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace imc::nn {

TopicProbe trainProbe(const Eigen::MatrixXd& x, const std::vector<int>& labels, int classes, double l2, int iterations) {
    if (x.rows() != static_cast<Eigen::Index>(labels.size()) || x.rows() < 2 || classes < 2)
        throw std::invalid_argument("trainProbe: needs one label per row, two rows and two classes at least");
    TopicProbe p;
    p.mean = x.colwise().mean();
    p.scale = ((x.rowwise() - p.mean).array().square().colwise().sum() / double(x.rows() - 1)).sqrt();
    for (Eigen::Index c = 0; c < p.scale.size(); ++c)
        if (!(p.scale[c] > 0)) p.scale[c] = 1;  // a constant feature carries nothing; keep it finite
    const Eigen::MatrixXd z = (x.rowwise() - p.mean).array().rowwise() / p.scale.array();
    const double n = double(x.rows());
    Eigen::MatrixXd y = Eigen::MatrixXd::Zero(x.rows(), classes);
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (labels[i] < 0 || labels[i] >= classes) throw std::invalid_argument("trainProbe: label out of range");
        y(static_cast<Eigen::Index>(i), labels[i]) = 1;
    }
    // Gradient descent with step 1/L: the softmax loss's curvature is at most half the largest
    // eigenvalue of [Z 1]^T [Z 1] / n, which is diag(Z^T Z / n, 1) as Z's columns have mean 0, so
    // L = (lambda_max + 1) / 2 + l2 converges on this convex problem without a tuned rate.
    const Eigen::MatrixXd gram = z.transpose() * z / n;
    const double lipschitz = 0.5 * Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(gram).eigenvalues().maxCoeff() + 0.5 + l2;
    p.weight = Eigen::MatrixXd::Zero(x.cols(), classes);
    p.bias = Eigen::RowVectorXd::Zero(classes);
    for (int it = 0; it < iterations; ++it) {
        Eigen::MatrixXd logits = (z * p.weight).rowwise() + p.bias;
        const Eigen::VectorXd top = logits.rowwise().maxCoeff();
        Eigen::MatrixXd prob = (logits.colwise() - top).array().exp();
        prob.array().colwise() /= prob.rowwise().sum().array();
        const Eigen::MatrixXd d = (prob - y) / n;
        p.weight -= (z.transpose() * d + l2 * p.weight) / lipschitz;
        p.bias -= d.colwise().sum() / lipschitz;
    }
    return p;
}

std::vector<int> probePredict(const TopicProbe& p, const Eigen::MatrixXd& x) {
    const Eigen::MatrixXd z = (x.rowwise() - p.mean).array().rowwise() / p.scale.array();
    const Eigen::MatrixXd logits = (z * p.weight).rowwise() + p.bias;
    std::vector<int> out(static_cast<std::size_t>(x.rows()));
    for (Eigen::Index i = 0; i < x.rows(); ++i) logits.row(i).maxCoeff(&out[static_cast<std::size_t>(i)]);
    return out;
}

namespace {

constexpr int kBatch = 16;

// Mean over each text's positions (its first `context` bytes) of the final layer norm's output.
// Texts are padded to the context with end-of-text; the causal mask keeps padding out of them.
Eigen::MatrixXd pooledFeatures(const Model& model, const AttentionBackend& attention, const LinearBackend& linear,
                               const std::vector<const LabelledText*>& texts) {
    const int context = model.config.context;
    Eigen::MatrixXd out(static_cast<Eigen::Index>(texts.size()), model.config.dModel);
    Transformer t(model, attention, linear);
    for (std::size_t first = 0; first < texts.size(); first += kBatch) {
        const int batch = static_cast<int>(std::min<std::size_t>(kBatch, texts.size() - first));
        std::vector<int> tokens(static_cast<std::size_t>(batch * context), ByteTokenizer::kEndOfText);
        std::vector<int> lengths(static_cast<std::size_t>(batch));
        for (int b = 0; b < batch; ++b) {
            const auto& text = texts[first + static_cast<std::size_t>(b)]->tokens;
            lengths[b] = std::max(1, static_cast<int>(std::min<std::size_t>(text.size(), context)));
            std::copy_n(text.begin(), std::min<std::size_t>(text.size(), context), tokens.begin() + b * context);
        }
        const Matrix& h = t.forward(tokens, batch, context);
        for (int b = 0; b < batch; ++b)
            out.row(static_cast<Eigen::Index>(first) + b) =
                h.middleRows(b * context, lengths[b]).cast<double>().colwise().mean();
    }
    return out;
}

double accuracy(const std::vector<int>& predicted, const std::vector<int>& labels) {
    std::size_t right = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) right += predicted[i] == labels[i];
    return double(right) / double(labels.size());
}

double meanOf(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double stdOf(const std::vector<double>& v) {
    if (v.size() < 2) return 0.0;
    const double m = meanOf(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
}

}  // namespace

nlohmann::json runHyFlexPimTopics(const HyFlexPimTopicsOptions& o) {
    if (o.base.draws < 1) throw std::invalid_argument("--draws must be at least 1");
    const Model model = loadModel(o.base.weights);
    const auto factorsPath = svdFactorsPathFor(o.base.weights);
    if (!std::filesystem::exists(factorsPath))
        throw std::runtime_error(o.base.weights.string() + " has no " + factorsPath.filename().string() +
                                 " beside it (make one with imc train --workload lm --linear-layers svd)");
    const SvdFactors factors = loadSvdFactors(factorsPath, model.config);
    const auto cells = behavior::loadRramFits(o.base.fitsDir);
    const auto attention = makeAttentionBackend("ideal");
    const auto texts = loadFortuneTopics(o.base.fortunes, o.topics);
    std::vector<const LabelledText*> train, test;
    std::vector<int> trainLabels, testLabels;
    for (const auto& t : texts) {
        (t.heldOut ? test : train).push_back(&t);
        (t.heldOut ? testLabels : trainLabels).push_back(t.label);
    }
    // The probe learns on the software backbone (the factorized model in float); the hardware
    // only changes the features it is scored on.
    const SvdLinear software(factors);
    const TopicProbe probe =
        trainProbe(pooledFeatures(model, *attention, software, train), trainLabels, static_cast<int>(o.topics.size()),
                   o.l2, o.iterations);
    const auto score = [&](const LinearBackend& linear) {
        return accuracy(probePredict(probe, pooledFeatures(model, *attention, linear, test)), testLabels);
    };
    const double softwareAccuracy = score(software);

    std::vector<double> counts(o.topics.size(), 0.0);
    for (int l : testLabels) counts[static_cast<std::size_t>(l)] += 1;
    const double majority = *std::max_element(counts.begin(), counts.end()) / double(testLabels.size());

    HyFlexPimOptions h;
    h.cells = cells;
    h.analog = o.base.analog;
    struct Point {
        double clean = 0;
        std::vector<double> perDraw;
    };
    const auto run = [&](Selection s, double fraction) {
        const SlcSelection slc = selectRanks(factors, s, fraction, o.base.seed);
        Point p;
        h.noise = false;
        p.clean = score(HyFlexPimLinear(factors, slc, h));
        h.noise = true;
        for (int d = 0; d < o.base.draws; ++d) {
            h.seed = o.base.seed + static_cast<std::uint64_t>(d);
            p.perDraw.push_back(score(HyFlexPimLinear(factors, slc, h)));
        }
        return p;
    };
    std::optional<Point> none, all;
    nlohmann::json rows = nlohmann::json::array();
    for (Selection s : o.selections)
        for (double f : o.fractions) {
            std::optional<Point>* shared = f == 0.0 ? &none : f == 1.0 ? &all : nullptr;
            if (shared && !shared->has_value()) *shared = run(s, f);
            const Point p = shared ? **shared : run(s, f);
            rows.push_back({{"selection", selectionName(s)},
                            {"slc_fraction", f},
                            {"accuracy", {{"clean", p.clean},
                                          {"mean", meanOf(p.perDraw)},
                                          {"std", stdOf(p.perDraw)},
                                          {"per_draw", p.perDraw}}}});
        }
    return {{"workload", "fortune topics"},
            {"topics", o.topics},
            {"documents", {{"train", train.size()}, {"held_out", test.size()}}},
            {"held_out_per_topic", counts},
            {"majority_class_accuracy", majority},
            {"software_accuracy", softwareAccuracy},
            {"probe", {{"features", "mean over a fortune's first " + std::to_string(model.config.context) +
                                        " bytes of the final layer norm's output"},
                       {"l2", o.l2},
                       {"iterations", o.iterations}}},
            {"rows", rows},
            {"fits", o.base.fitsDir},
            {"weights", o.base.weights.string()},
            {"draws", o.base.draws},
            {"analog_model", o.base.analog == AnalogModel::WeightNoise ? "weight-noise" : "bit-serial-adc"}};
}

}  // namespace imc::nn
