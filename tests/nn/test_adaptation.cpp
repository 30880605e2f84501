// The adaptation algorithm (eq. 9) on a small model: convergence to the 1e-4 tolerance and the
// adapted stages' statistics against the linear model's, measured independently here; the
// statistics themselves against a hand computation; the scalars file round trip and its version
// error; folding scalars into weights; the fixed-scalar training wrapper against the engine.
#include "behavior/gaincell_attention.hpp"
#include "nn/adaptation.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/ideal_attention.hpp"
#include "nn/nn.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

using namespace imc::nn;
namespace behavior = imc::behavior;

namespace {

std::string paperFits() {
    static const std::string dir = [] {
        const std::string d = std::string(IMC_BINARY_DIR) + "/test-fits/nn-adaptation-paper";
        behavior::writePaperModelFits(d);
        return d;
    }();
    return dir;
}

Config smallConfig() {
    Config c;
    c.vocabSize = 256;
    c.context = 64;
    c.layers = 2;
    c.heads = 2;
    c.dModel = 128;
    c.headDim = 64;
    return c;
}

// Q, K and V inside the arrays' ranges with a visible spread.
Model smallModel(std::uint64_t seed) {
    Model model{smallConfig(), Weights::initialized(smallConfig(), seed), {}};
    for (auto& layer : model.weights.layers) {
        layer.attnWeight *= 6.0f;
        const Eigen::Index c = model.config.dModel;
        // Above the cells' offset, so the charges reach the charge-to-pulse ranges (S_sat).
        layer.attnBias.middleCols(0, c).setConstant(0.75f);
        layer.attnBias.middleCols(c, 2 * c).setConstant(0.7f);
    }
    return model;
}

std::vector<int> randomTokens(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<int> t(n);
    for (auto& x : t) x = 32 + static_cast<int>(rng.below(64));
    return t;
}

// Collects every matrix a backend sees or returns, per (layer, head, stage), to compute moments here.
class Collector final : public AttentionBackend {
public:
    explicit Collector(const AttentionBackend& inner) : inner_(inner) {}
    std::string name() const override { return "collector"; }
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override {
        inner_.forward(site, q, k, v, out, tape);
        std::lock_guard lock(mutex_);
        auto& slot = values_[{site.layer, site.head}];
        slot.resize(4);
        for (Eigen::Index i = 0; i < q.size(); ++i) {
            slot[0].push_back(q(i / q.cols(), i % q.cols()));
            slot[1].push_back(k(i / k.cols(), i % k.cols()));
            slot[2].push_back(v(i / v.cols(), i % v.cols()));
            slot[3].push_back(out(i / out.cols(), i % out.cols()));
        }
    }
    void backward(const HeadSite&, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef,
                  const AttentionTape&, MatrixRef, MatrixRef, MatrixRef) const override {}
    // Two-pass mean and population std of one stage (out: before its scalar).
    std::pair<double, double> moments(int layer, int head, int stage) const {
        const auto& x = values_.at({layer, head}).at(static_cast<std::size_t>(stage));
        double mean = 0;
        for (double e : x) mean += e;
        mean /= double(x.size());
        double var = 0;
        for (double e : x) var += (e - mean) * (e - mean);
        return {mean, std::sqrt(var / double(x.size()))};
    }

private:
    const AttentionBackend& inner_;
    mutable std::mutex mutex_;
    mutable std::map<std::pair<int, int>, std::vector<std::vector<double>>> values_;
};

}  // namespace

TEST_CASE("stage statistics match a direct computation", "[adaptation]") {
    const Model model = smallModel(3);
    const IdealAttention ideal;
    const auto tokens = randomTokens(3 * 64, 4);
    std::vector<HeadScalars> scalars(4);
    scalars[3].out = {2.0f, 0.25f};  // layer 1, head 1
    const StageStatistics stats = measureStageStatistics(model, ideal, scalars, tokens);
    const Collector collector(ideal);
    Transformer net(model, collector);
    net.setHeadScalars(scalars);
    net.forward(tokens, 3, 64);
    for (int l = 0; l < 2; ++l)
        for (int h = 0; h < 2; ++h)
            for (int s = 0; s < 4; ++s) {
                auto [mean, std] = collector.moments(l, h, s);
                if (s == 3) {
                    const AffineScalar& a = scalars[static_cast<std::size_t>(l * 2 + h)].out;
                    mean = a.a * mean + a.b;
                    std = std::abs(a.a) * std;
                }
                const Moments& m = stats.at(l, h, static_cast<ScalingStage>(s));
                INFO("layer " << l << " head " << h << " stage " << s);
                CHECK(std::abs(m.mean - mean) < 1e-6);
                CHECK(std::abs(m.std - std) < 1e-6);
            }
}

TEST_CASE("adaptation converges to 1e-4 and the adapted stages have the linear statistics", "[adaptation]") {
    const Model model = smallModel(7);
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.layers = 2;
    const GainCellAttention linear(behavior::ArrayModel::Linear, options);
    const GainCellAttention nonlinear(behavior::ArrayModel::Nonlinear, options);
    const auto calibration = calibrationTokens(randomTokens(4000, 8), 4, 64, 1);
    REQUIRE(calibration.size() == 4 * 64);

    const AdaptationResult result = adaptToLinearModel(model, linear, nonlinear, calibration);
    CHECK(result.converged);
    CHECK(result.maxStdError < 1e-4);
    CHECK(result.maxMeanError < 1e-4);
    CHECK(result.stages.size() == 4);  // (QKV, out) per layer

    // Independent check: collect every stage's values with and without adaptation.
    const Collector linearValues(linear), adaptedValues(nonlinear), rawValues(nonlinear);
    Transformer a(model, linearValues), b(model, adaptedValues), c(model, rawValues);
    b.setHeadScalars(result.scalars);
    double rawOutError = 0;
    for (std::size_t start = 0; start < calibration.size(); start += 64) {
        const std::span<const int> window(calibration.data() + start, 64);
        a.forward(window, 1, 64);
        b.forward(window, 1, 64);
        c.forward(window, 1, 64);
    }
    for (int l = 0; l < 2; ++l)
        for (int h = 0; h < 2; ++h) {
            const AffineScalar& out = result.scalars[static_cast<std::size_t>(l * 2 + h)].out;
            for (int s = 0; s < 4; ++s) {
                const auto [muL, sigmaL] = linearValues.moments(l, h, s);
                auto [muNL, sigmaNL] = adaptedValues.moments(l, h, s);
                if (s == 3) {
                    muNL = out.a * muNL + out.b;
                    sigmaNL = std::abs(out.a) * sigmaNL;
                    const auto [muRaw, sigmaRaw] = rawValues.moments(l, h, s);
                    rawOutError = std::max(rawOutError, std::abs(muRaw - muL) + std::abs(sigmaRaw - sigmaL));
                }
                INFO("layer " << l << " head " << h << " stage " << s);
                CHECK(std::abs(muNL - muL) < 1e-4);
                CHECK(std::abs(sigmaNL - sigmaL) < 1e-4);
            }
        }
    // The nonlinear arrays really differed before adaptation (by many tolerances).
    CHECK(rawOutError > 2e-3);
}

TEST_CASE("adaptation reports a tolerance it did not meet", "[adaptation]") {
    const Model model = smallModel(9);
    GainCellBackendOptions options;
    options.fitsDir = paperFits();
    options.layers = 2;
    const GainCellAttention linear(behavior::ArrayModel::Linear, options);
    const GainCellAttention nonlinear(behavior::ArrayModel::Nonlinear, options);
    const auto calibration = calibrationTokens(randomTokens(2000, 10), 2, 64, 2);
    AdaptationOptions capped;
    capped.maxIterations = 0;
    const AdaptationResult result = adaptToLinearModel(model, linear, nonlinear, calibration, capped);
    CHECK_FALSE(result.converged);
    CHECK(result.maxStdError + result.maxMeanError > 1e-4);
}

TEST_CASE("scalars file: round trip, version and coverage errors", "[adaptation]") {
    const std::filesystem::path dir = std::filesystem::path(IMC_BINARY_DIR) / "test-scalars";
    std::filesystem::create_directories(dir);
    HeadScalarsFile file;
    file.layers = 2;
    file.heads = 3;
    Rng rng(12);
    for (int i = 0; i < 6; ++i) {
        HeadScalars s;
        for (AffineScalar* a : {&s.q, &s.k, &s.v, &s.out}) {
            a->a = static_cast<float>(rng.normal());
            a->b = static_cast<float>(rng.normal() * 1e-3);
        }
        file.scalars.push_back(s);
    }
    file.backend = "gaincell";
    file.weights = "w.safetensors";
    file.fits = "fits";
    const auto path = dir / "w.gaincell-scalars.json";
    saveHeadScalars(file, path);
    const HeadScalarsFile back = loadHeadScalars(path);
    REQUIRE(back.scalars.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) {
        CHECK(back.scalars[i].q.a == file.scalars[i].q.a);
        CHECK(back.scalars[i].q.b == file.scalars[i].q.b);
        CHECK(back.scalars[i].k.a == file.scalars[i].k.a);
        CHECK(back.scalars[i].v.b == file.scalars[i].v.b);
        CHECK(back.scalars[i].out.a == file.scalars[i].out.a);
        CHECK(back.scalars[i].out.b == file.scalars[i].out.b);
    }
    CHECK(back.backend == "gaincell");
    CHECK(headScalarsPathFor("models/char-lm-linear.safetensors") == "models/char-lm-linear.gaincell-scalars.json");

    const auto rewrite = [&](const std::function<void(nlohmann::json&)>& edit) {
        std::ifstream in(path);
        nlohmann::json doc = nlohmann::json::parse(in);
        edit(doc);
        const auto bad = dir / "bad.json";
        std::ofstream(bad) << doc.dump();
        return bad;
    };
    const auto expectError = [](const std::filesystem::path& p, const std::string& fragment) {
        try {
            loadHeadScalars(p);
            FAIL("no error for " << fragment);
        } catch (const std::runtime_error& e) {
            INFO(e.what());
            CHECK(std::string(e.what()).find(fragment) != std::string::npos);
            CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
        }
    };
    expectError(rewrite([](nlohmann::json& d) { d["version"] = 2; }), "this build reads version 1");
    expectError(rewrite([](nlohmann::json& d) { d["format"] = "other"; }), "format");
    expectError(rewrite([](nlohmann::json& d) { d["scalars"].erase(d["scalars"].begin()); }), "cover every layer");
    expectError(rewrite([](nlohmann::json& d) { d["scalars"][0]["q"] = {1.0}; }), "must be [a, b]");
    expectError(dir / "missing.json", "no head scalars file");
}

TEST_CASE("folding scalars into the weights leaves the network's output unchanged", "[adaptation]") {
    Model model = smallModel(13);
    const IdealAttention ideal;
    std::vector<HeadScalars> scalars(4);
    Rng rng(14);
    for (auto& s : scalars)
        for (AffineScalar* a : {&s.q, &s.k, &s.v, &s.out}) *a = {static_cast<float>(0.5 + rng.uniform()), static_cast<float>(0.2 * rng.normal())};
    const auto tokens = randomTokens(2 * 64, 15);
    Transformer withScalars(model, ideal);
    withScalars.setHeadScalars(scalars);
    const Matrix expected = withScalars.forward(tokens, 2, 64);
    foldHeadScalars(model, scalars);
    Transformer folded(model, ideal);
    const Matrix got = folded.forward(tokens, 2, 64);
    CHECK((got - expected).cwiseAbs().maxCoeff() < 1e-3 * (1.0f + expected.cwiseAbs().maxCoeff()));
}

TEST_CASE("fixed-scalar wrapper trains like the engine's own scalars", "[adaptation]") {
    const Model model = smallModel(16);
    const IdealAttention ideal;
    std::vector<HeadScalars> scalars(4);
    Rng rng(17);
    for (auto& s : scalars)
        for (AffineScalar* a : {&s.q, &s.k, &s.v, &s.out}) *a = {static_cast<float>(0.5 + rng.uniform()), static_cast<float>(0.2 * rng.normal())};
    const auto tokens = randomTokens(2 * 64 + 1, 18);
    const std::vector<int> inputs(tokens.begin(), tokens.end() - 1), targets(tokens.begin() + 1, tokens.end());
    Transformer engine(model, ideal);
    engine.setHeadScalars(scalars);
    const ScaledAttention wrapped(ideal, scalars, 2);
    Transformer wrapper(model, wrapped);
    const float lossA = engine.forwardLoss(inputs, targets, 2, 64), lossB = wrapper.forwardLoss(inputs, targets, 2, 64);
    CHECK(std::abs(lossA - lossB) < 1e-5f);
    Weights ga = Weights::zeros(model.config), gb = Weights::zeros(model.config);
    engine.backward(ga);
    wrapper.backward(gb);
    const auto na = ga.named(), nb = gb.named();
    for (std::size_t i = 0; i < na.size(); ++i) {
        INFO(na[i].name);
        CHECK((*na[i].tensor - *nb[i].tensor).cwiseAbs().maxCoeff() <= 1e-5f + 1e-4f * na[i].tensor->cwiseAbs().maxCoeff());
    }
}
