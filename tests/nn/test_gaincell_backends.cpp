// The gain-cell backends against lib/behavior's double-precision reference kernel, through the
// engine and per call; variability draws per (seed, layer, head); the straight-through backward
// against central differences of the unquantized model computed with the reference kernel.
#include "behavior/gaincell_attention.hpp"
#include "fit/fit.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/nn.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

using namespace imc::nn;
namespace behavior = imc::behavior;

namespace {

// The paper's model written once into the build tree: tests never read constants from the code.
std::string paperFits() {
    static const std::string dir = [] {
        const std::string d = std::string(IMC_BINARY_DIR) + "/test-fits/nn-gaincell-paper";
        behavior::writePaperModelFits(d);
        return d;
    }();
    return dir;
}

// The linear model: gain 1 (the ideal dot product) or, for the nonlinear model's surrogate,
// D_1 = sum_j C_1_j V_in^j; K_offset from the polynomial. Read from the files here.
// The cell's linearization read straight from the files: D_1 = C_1_0 + C_1_1 V_in + C_1_2 V_in^2
// times the full pulse (1 when the array record gives none).
behavior::LinearArray linearFromFitsFiles(const std::string& dir) {
    const auto poly = imc::fit::readFit(dir + "/gaincell-poly.json");
    const auto array = imc::fit::readFit(dir + "/gaincell-array.json");
    const double vin = array.coefficient("V_in_V");
    const auto full = array.coefficients.find("pulse_full_scale_ns");
    behavior::LinearArray linear;
    linear.gain = (poly.coefficient("C_1_0") + poly.coefficient("C_1_1") * vin + poly.coefficient("C_1_2") * vin * vin) *
                  (full != array.coefficients.end() ? full->second : 1.0);
    linear.K_offset_V = linear.V_offset_V = poly.coefficient("K_offset");
    return linear;
}

Matrix uniformMatrix(Eigen::Index rows, Eigen::Index cols, double lo, double hi, std::uint64_t seed) {
    Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(lo + (hi - lo) * rng.uniform());
    return m;
}

Eigen::MatrixXd toDouble(const Matrix& m) { return m.cast<double>(); }

// A backend that runs the reference kernel, for the engine comparison.
class ReferenceBackend final : public AttentionBackend {
public:
    ReferenceBackend(const behavior::GainCellModel& model, behavior::AttentionOptions options)
        : model_(model), options_(options) {}
    std::string name() const override { return "reference"; }
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape*) const override {
        const Eigen::MatrixXd r = behavior::gainCellAttentionReference(
            model_, options_, {}, {site.layer, site.head}, q.cast<double>(), k.cast<double>(), v.cast<double>());
        out = r.cast<float>();
    }
    void backward(const HeadSite&, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef,
                  const AttentionTape&, MatrixRef, MatrixRef, MatrixRef) const override {}

private:
    const behavior::GainCellModel& model_;
    behavior::AttentionOptions options_;
};

// Output quantizer steps are 2/31: compare as "almost every element equal".
double fractionDiffering(const Matrix& a, const Matrix& b, double tolerance) {
    long differing = 0;
    for (Eigen::Index i = 0; i < a.size(); ++i)
        if (std::abs(a.data()[i] - b.data()[i]) > tolerance) ++differing;
    return double(differing) / double(a.size());
}

}  // namespace

TEST_CASE("gain-cell backends match the reference kernel per call", "[gaincell]") {
    const auto model = behavior::GainCellModel::load(paperFits());
    for (auto arrayModel : {behavior::ArrayModel::Linear, behavior::ArrayModel::Nonlinear}) {
        GainCellBackendOptions options;
        options.fitsDir = paperFits();
        options.windowTokens = 64;
        options.layers = 4;
        const GainCellAttention backend(arrayModel, options);
        behavior::AttentionOptions reference;
        reference.model = arrayModel;
        reference.window = 64;
        reference.layers = 4;
        reference.linear = linearFromFitsFiles(paperFits());
        // Mostly inside the ranges (some outside to exercise the clamps), above the cells' offset
        // so the charges reach the charge-to-pulse ranges.
        const Matrix q = uniformMatrix(160, 64, 0.4, 1.1, 1), k = uniformMatrix(160, 64, 0.45, 1.0, 2),
                     v = uniformMatrix(160, 64, 0.5, 1.0, 3);
        Matrix out(160, 64);
        backend.forward({1, 0}, q, k, v, out, nullptr);
        const Matrix expected =
            behavior::gainCellAttentionReference(model, reference, {}, {1, 0}, toDouble(q), toDouble(k), toDouble(v))
                .cast<float>();
        INFO((arrayModel == behavior::ArrayModel::Linear ? "linear" : "nonlinear"));
        // Float and double may round a value lying on a quantizer boundary differently.
        CHECK(fractionDiffering(out, expected, 1e-4) < 0.01);
        CHECK((out - expected).cwiseAbs().mean() < 2e-3);
        CHECK(expected.cwiseAbs().maxCoeff() > 0.05);  // beyond the smallest output level (1/31)
    }
}

TEST_CASE("gain-cell backend through the engine: one layer, one head", "[gaincell]") {
    Config config;
    config.vocabSize = 256;
    config.context = 128;
    config.layers = 1;
    config.heads = 1;
    config.dModel = 64;
    config.headDim = 64;
    Model net{config, Weights::initialized(config, 5), {}};
    const auto model = behavior::GainCellModel::load(paperFits());
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.windowTokens = 64;  // two sub-tiles in a circular buffer at T = 128
    options.layers = 1;
    const GainCellAttention backend(behavior::ArrayModel::Nonlinear, options);
    behavior::AttentionOptions reference;
    reference.model = behavior::ArrayModel::Nonlinear;
    reference.window = 64;
    reference.layers = 1;
    const ReferenceBackend naive(model, reference);
    // Scalars bring the small initial projections into the arrays' ranges.
    HeadScalars scalars;
    scalars.q = {8.0f, 0.5f};
    scalars.k = {8.0f, 0.45f};
    scalars.v = {8.0f, 0.45f};
    scalars.out = {0.5f, 0.0f};
    std::vector<int> tokens(2 * 128);
    Rng rng(9);
    for (auto& t : tokens) t = static_cast<int>(rng.below(256));
    Transformer a(net, backend), b(net, naive);
    a.setHeadScalars(std::span<const HeadScalars>(&scalars, 1));
    b.setHeadScalars(std::span<const HeadScalars>(&scalars, 1));
    const Matrix la = a.forward(tokens, 2, 128), lb = b.forward(tokens, 2, 128);
    CHECK((la - lb).cwiseAbs().mean() < 1e-3 * la.cwiseAbs().mean() + 1e-5);
    CHECK(fractionDiffering(la, lb, 1e-3) < 0.02);
}

TEST_CASE("gain-cell backends: decode steps with stored keys equal calls without, across sequences and threads",
          "[gaincell]") {
    const long T = 100, D = 64;
    const Matrix q = uniformMatrix(T, D, 0.4, 1.1, 61), kA = uniformMatrix(T, D, 0.45, 1.0, 62),
                 vA = uniformMatrix(T, D, 0.5, 1.0, 63);
    Matrix kB = uniformMatrix(T, D, 0.45, 1.0, 64), vB = uniformMatrix(T, D, 0.5, 1.0, 65);
    Matrix kC = kB, vC = vB;  // shares its first 40 rows with A
    kC.topRows(40) = kA.topRows(40);
    vC.topRows(40) = vA.topRows(40);
    for (auto arrayModel : {behavior::ArrayModel::Linear, behavior::ArrayModel::Nonlinear}) {
        GainCellBackendOptions options;
        options.fitsDir = paperFits();
        options.windowTokens = 64;
        options.layers = 4;
        options.variability = true;
        options.seed = 3;
        const GainCellAttention backend(arrayModel, options);
        const HeadSite site{1, 0};
        // Token by token through the backend, against the kernel without stored keys.
        const auto decode = [&](const Matrix& k, const Matrix& v, Matrix& out, Matrix& expected) {
            out.resize(T, D);
            expected.resize(T, D);
            for (long t = 0; t < T; ++t) {
                backend.forward(site, q.row(t), k.topRows(t + 1), v.topRows(t + 1), out.row(t), nullptr);
                behavior::gainCellAttentionForward(backend.model(), backend.arrayOptions(), backend.variabilityFor(site),
                                                   {site.layer, site.head}, q.row(t), k.topRows(t + 1),
                                                   v.topRows(t + 1), expected.row(t));
            }
        };
        INFO((arrayModel == behavior::ArrayModel::Linear ? "linear" : "nonlinear"));
        // A, then new sequences (B; C sharing A's first rows), then A again.
        const std::vector<std::pair<const Matrix*, const Matrix*>> sequences{{&kA, &vA}, {&kB, &vB}, {&kC, &vC}, {&kA, &vA}};
        Matrix out, expected;
        for (const auto& [k, v] : sequences) {
            decode(*k, *v, out, expected);
            CHECK(out == expected);
        }
        CHECK(out.cwiseAbs().maxCoeff() > 0.05f);
        // Two sequences of one head decoded at once contend for its stored keys: same results.
        Matrix outA, expectedA, outB, expectedB;
        std::thread first([&] { decode(kA, vA, outA, expectedA); });
        std::thread second([&] { decode(kB, vB, outB, expectedB); });
        first.join();
        second.join();
        CHECK(outA == expectedA);
        CHECK(outB == expectedB);
    }
}

TEST_CASE("gain-cell backends: append-only decode steps equal the full path bit for bit", "[gaincell][append]") {
    const long T = 160, D = 64;
    const Matrix q = uniformMatrix(T, D, 0.4, 1.1, 71), kA = uniformMatrix(T, D, 0.45, 1.0, 72),
                 vA = uniformMatrix(T, D, 0.5, 1.0, 73), kB = uniformMatrix(T, D, 0.45, 1.0, 74),
                 vB = uniformMatrix(T, D, 0.5, 1.0, 75);
    for (auto arrayModel : {behavior::ArrayModel::Linear, behavior::ArrayModel::Nonlinear})
        for (bool variability : {false, true}) {
            GainCellBackendOptions options;
            options.fitsDir = paperFits();
            options.layers = 12;
            options.variability = variability;
            options.seed = 9;
            const GainCellAttention backend(arrayModel, options);
            INFO((arrayModel == behavior::ArrayModel::Linear ? "linear" : "nonlinear")
                 << (variability ? ", variability on" : ", variability off"));
            const HeadSite site{2, 1};
            // Two sequences of one head, interleaved step by step, each with its own cache.
            const auto cacheA = backend.makeCache(site), cacheB = backend.makeCache(site);
            REQUIRE(cacheA);
            Matrix out(1, D), expected(1, D);
            for (long t = 0; t < T; ++t)
                for (const auto& [k, v, cache] : {std::tuple{&kA, &vA, cacheA.get()}, std::tuple{&kB, &vB, cacheB.get()}}) {
                    backend.decode(site, q.row(t), k->topRows(t + 1), v->topRows(t + 1), out, cache);
                    backend.forward(site, q.row(t), k->topRows(t + 1), v->topRows(t + 1), expected, nullptr);
                    INFO("step " << t);
                    REQUIRE(std::memcmp(out.data(), expected.data(), sizeof(float) * std::size_t(D)) == 0);
                }
            CHECK(out.cwiseAbs().maxCoeff() > 0.05f);
        }
    // A cache belongs to the backend kind that made it.
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    const GainCellAttention backend(behavior::ArrayModel::Linear, options);
    const auto ideal = makeAttentionBackend("ideal");
    CHECK(ideal->makeCache({0, 0}) == nullptr);
    struct Foreign final : AttentionCache {};
    Foreign foreign;
    Matrix out(1, D);
    CHECK_THROWS_AS(backend.decode({0, 0}, q.row(0), kA.topRows(1), vA.topRows(1), out, &foreign), std::invalid_argument);
}

// Hides a backend's decode() so the decoder takes the comparing forward path of before.
class ForwardOnly final : public AttentionBackend {
public:
    explicit ForwardOnly(const AttentionBackend& inner) : inner_(inner) {}
    std::string name() const override { return inner_.name(); }
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override {
        inner_.forward(site, q, k, v, out, tape);
    }
    void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                  const AttentionTape& tape, MatrixRef dq, MatrixRef dk, MatrixRef dv) const override {
        inner_.backward(site, q, k, v, dout, tape, dq, dk, dv);
    }

private:
    const AttentionBackend& inner_;
};

TEST_CASE("gain-cell backends in the KV-cache decoder: append-only steps give the comparing path's logits",
          "[gaincell][append]") {
    Config config;
    config.vocabSize = 256;
    config.context = 40;
    config.layers = 2;
    config.heads = 2;
    config.dModel = 128;
    config.headDim = 64;
    Model net{config, Weights::initialized(config, 11), {}};
    HeadScalars scalars;  // into the arrays' ranges, as in the test below
    scalars.q = {8.0f, 0.5f};
    scalars.k = {8.0f, 0.45f};
    scalars.v = {8.0f, 0.45f};
    scalars.out = {0.5f, 0.0f};
    const std::vector<HeadScalars> all(static_cast<std::size_t>(config.layers * config.heads), scalars);
    Rng rng(5);
    std::vector<int> tokens(40);
    for (auto& t : tokens) t = static_cast<int>(rng.below(256));
    for (auto arrayModel : {behavior::ArrayModel::Linear, behavior::ArrayModel::Nonlinear})
        for (bool variability : {false, true}) {
            GainCellBackendOptions options;
            options.fitsDir = paperFits();
            options.layers = 2;
            options.variability = variability;
            const GainCellAttention appending(arrayModel, options), comparing(arrayModel, options);
            const ForwardOnly forwardOnly(comparing);
            Decoder a(net, appending), b(net, forwardOnly);
            a.setHeadScalars(all);
            b.setHeadScalars(all);
            for (int round = 0; round < 2; ++round) {  // the second after reset(): new caches
                for (int t : tokens) {
                    const Matrix la = a.step(t), lb = b.step(t);
                    REQUIRE(std::memcmp(la.data(), lb.data(), sizeof(float) * std::size_t(la.size())) == 0);
                }
                a.reset();
                b.reset();
            }
            // Scalars changed mid-sequence rescale the keys held: the cache starts over.
            for (int i = 0; i < 10; ++i) REQUIRE(a.step(tokens[std::size_t(i)]) == b.step(tokens[std::size_t(i)]));
            a.headScalars(1, 1).k = {7.0f, 0.4f};
            b.headScalars(1, 1).k = {7.0f, 0.4f};
            for (int i = 10; i < 20; ++i) REQUIRE(a.step(tokens[std::size_t(i)]) == b.step(tokens[std::size_t(i)]));
        }
}

TEST_CASE("gain-cell backend in the KV-cache decoder: a reset decoder's new sequence gives a fresh backend's logits",
          "[gaincell]") {
    Config config;
    config.vocabSize = 256;
    config.context = 48;
    config.layers = 2;
    config.heads = 2;
    config.dModel = 128;
    config.headDim = 64;
    Model net{config, Weights::initialized(config, 7), {}};
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.windowTokens = 0;
    options.layers = 2;
    const GainCellAttention used(behavior::ArrayModel::Nonlinear, options), fresh(behavior::ArrayModel::Nonlinear, options);
    // Scalars bring the small initial projections into the arrays' ranges.
    HeadScalars scalars;
    scalars.q = {8.0f, 0.5f};
    scalars.k = {8.0f, 0.45f};
    scalars.v = {8.0f, 0.45f};
    scalars.out = {0.5f, 0.0f};
    const std::vector<HeadScalars> all(static_cast<std::size_t>(config.layers * config.heads), scalars);
    Rng rng(21);
    std::vector<int> first(48), second(48);
    for (auto& t : first) t = static_cast<int>(rng.below(256));
    for (auto& t : second) t = static_cast<int>(rng.below(256));
    std::copy_n(first.begin(), 5, second.begin());  // the same first tokens: the same first keys
    const auto decodeAll = [&](Decoder& decoder, const std::vector<int>& tokens) {
        Matrix logits(static_cast<Eigen::Index>(tokens.size()), config.vocabSize);
        for (std::size_t t = 0; t < tokens.size(); ++t) logits.row(static_cast<Eigen::Index>(t)) = decoder.step(tokens[t]);
        return logits;
    };
    Decoder reused(net, used), reference(net, fresh);
    reused.setHeadScalars(all);
    reference.setHeadScalars(all);
    decodeAll(reused, first);
    reused.reset();
    const Matrix again = decodeAll(reused, second), expected = decodeAll(reference, second);
    CHECK(again == expected);
    // And decoding agrees with the batched prefill, up to outputs on a quantizer boundary.
    Transformer batched(net, fresh);
    batched.setHeadScalars(all);
    const Matrix prefill = batched.forward(second, 1, 48);
    CHECK((prefill - expected).cwiseAbs().mean() < 1e-3 * prefill.cwiseAbs().mean() + 1e-5);
    CHECK(fractionDiffering(prefill, expected, 1e-3) < 0.02);
}

TEST_CASE("variability draws depend on seed, layer and head only", "[gaincell]") {
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.variability = true;
    options.seed = 11;
    const GainCellAttention drawn(behavior::ArrayModel::Nonlinear, options);
    const GainCellAttention again(behavior::ArrayModel::Nonlinear, options);
    options.variability = false;
    const GainCellAttention mean(behavior::ArrayModel::Nonlinear, options);
    const Matrix q = uniformMatrix(64, 64, 0, 1, 4), k = uniformMatrix(64, 64, 0, 0.9, 5), v = uniformMatrix(64, 64, 0, 0.9, 6);
    Matrix o1(64, 64), o2(64, 64), o3(64, 64), o4(64, 64);
    drawn.forward({0, 0}, q, k, v, o1, nullptr);
    again.forward({0, 0}, q, k, v, o2, nullptr);
    drawn.forward({0, 1}, q, k, v, o3, nullptr);
    mean.forward({0, 0}, q, k, v, o4, nullptr);
    CHECK(o1 == o2);              // reproducible from the seed
    CHECK(!(o1 == o3));           // another head is another device
    CHECK(!(o1 == o4));           // variability changes the result
    CHECK((o1 - o4).cwiseAbs().mean() < 0.2);  // but stays a perturbation
}

TEST_CASE("linear backward is the exact gradient of the unquantized linear model", "[gaincell]") {
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.quantize = false;
    options.windowTokens = 64;
    const GainCellAttention backend(behavior::ArrayModel::Linear, options);
    const auto model = behavior::GainCellModel::load(paperFits());
    behavior::AttentionOptions reference;
    reference.window = 64;
    reference.quantize_inputs = reference.quantize_output = false;
    reference.linear = linearFromFitsFiles(paperFits());
    // Small values keep most scores inside the HardSigmoid's linear region.
    const Eigen::Index T = 80, D = 64;
    const Matrix q = uniformMatrix(T, D, 0.1, 0.9, 21), k = uniformMatrix(T, D, 0.2, 0.7, 22),
                 v = uniformMatrix(T, D, 0.1, 0.8, 23), dout = uniformMatrix(T, D, -1, 1, 24);
    Matrix dq(T, D), dk(T, D), dv(T, D);
    AttentionTape tape;
    Matrix out(T, D);
    backend.forward({0, 0}, q, k, v, out, &tape);
    backend.backward({0, 0}, q, k, v, dout, tape, dq, dk, dv);
    // Loss = <dout, out>, central differences in double on the reference kernel, along random
    // directions (one per input) so every element contributes.
    const auto loss = [&](const Eigen::MatrixXd& qq, const Eigen::MatrixXd& kk, const Eigen::MatrixXd& vv) {
        return (behavior::gainCellAttentionReference(model, reference, {}, {0, 0}, qq, kk, vv).array() *
                toDouble(dout).array())
            .sum();
    };
    const double eps = 1e-6;
    for (int which = 0; which < 3; ++which) {
        const Eigen::MatrixXd dir = toDouble(uniformMatrix(T, D, -1, 1, 30 + which));
        Eigen::MatrixXd qp = toDouble(q), kp = toDouble(k), vp = toDouble(v);
        Eigen::MatrixXd qm = qp, km = kp, vm = vp;
        (which == 0 ? qp : which == 1 ? kp : vp) += eps * dir;
        (which == 0 ? qm : which == 1 ? km : vm) -= eps * dir;
        const double numeric = (loss(qp, kp, vp) - loss(qm, km, vm)) / (2 * eps);
        const Matrix& grad = which == 0 ? dq : which == 1 ? dk : dv;
        const double analytic = (toDouble(grad).array() * dir.array()).sum();
        INFO("input " << which << ": analytic " << analytic << " numeric " << numeric);
        CHECK(std::abs(numeric) > 1e-3);
        CHECK(std::abs(analytic - numeric) <= 1e-3 * std::abs(numeric) + 1e-4);
    }
}

TEST_CASE("nonlinear backward: the linear surrogate follows the nonlinear model's gradient", "[gaincell]") {
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.quantize = false;
    const GainCellAttention backend(behavior::ArrayModel::Nonlinear, options);
    const auto model = behavior::GainCellModel::load(paperFits());
    behavior::AttentionOptions reference;
    reference.model = behavior::ArrayModel::Nonlinear;
    reference.quantize_inputs = reference.quantize_output = false;
    const Eigen::Index T = 64, D = 64;
    const Matrix q = uniformMatrix(T, D, 0.1, 0.9, 41), k = uniformMatrix(T, D, 0.2, 0.7, 42),
                 v = uniformMatrix(T, D, 0.1, 0.8, 43), dout = uniformMatrix(T, D, -1, 1, 44);
    Matrix dq(T, D), dk(T, D), dv(T, D), out(T, D);
    AttentionTape tape;
    backend.forward({0, 0}, q, k, v, out, &tape);
    backend.backward({0, 0}, q, k, v, dout, tape, dq, dk, dv);
    const auto loss = [&](const Eigen::MatrixXd& qq, const Eigen::MatrixXd& kk, const Eigen::MatrixXd& vv) {
        return (behavior::gainCellAttentionReference(model, reference, {}, {0, 0}, qq, kk, vv).array() *
                toDouble(dout).array())
            .sum();
    };
    // Element-wise central differences at sampled entries of K and V; the surrogate leaves out
    // D_0, D_2 and D_3 (about 10 % of the cell current over this range), so it is close, not exact.
    const double eps = 1e-5;
    const Eigen::MatrixXd q0 = toDouble(q), k0 = toDouble(k), v0 = toDouble(v);
    for (int which : {1, 2}) {
        Eigen::VectorXd numeric(48), analytic(48);
        Rng rng(50 + which);
        for (int s = 0; s < 48; ++s) {
            const Eigen::Index r = static_cast<Eigen::Index>(rng.below(T)), c = static_cast<Eigen::Index>(rng.below(D));
            Eigen::MatrixXd kp = k0, km = k0, vp = v0, vm = v0;
            (which == 1 ? kp : vp)(r, c) += eps;
            (which == 1 ? km : vm)(r, c) -= eps;
            numeric(s) = (loss(q0, kp, vp) - loss(q0, km, vm)) / (2 * eps);
            analytic(s) = which == 1 ? dk(r, c) : dv(r, c);
        }
        const double cosine = numeric.dot(analytic) / (numeric.norm() * analytic.norm());
        INFO("input " << which << ": cosine " << cosine);
        CHECK(cosine > (which == 1 ? 0.75 : 0.9));
    }
}

TEST_CASE("gain-cell backends register by name", "[gaincell]") {
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    registerGainCellBackends(options);
    CHECK(makeAttentionBackend("gaincell-linear")->name() == "gaincell-linear");
    CHECK(makeAttentionBackend("gaincell")->name() == "gaincell");
    const auto model = behavior::GainCellModel::load(paperFits());
    const auto linear = linearArrayFor(model);
    const auto expected = linearFromFitsFiles(paperFits());
    CHECK(std::abs(linear.gain - expected.gain) < 1e-12 * expected.gain);
    CHECK(linear.K_offset_V == expected.K_offset_V);
    CHECK(linearArrayFor(model, 1.0).gain == 1.0);  // the bare dot product on request
    options.fitsDir = paperFits() + "/does-not-exist";
    CHECK_THROWS(registerGainCellBackends(options));
}
