#include "nn/nn.hpp"
#include "nn/optimizer.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>

using namespace imc::nn;

namespace {

Config tinyConfig() {
    Config c;
    c.vocabSize = 256;
    c.context = 16;
    c.layers = 1;
    c.heads = 2;
    c.dModel = 32;
    c.headDim = 16;
    return c;
}

TrainResult trainTiny(std::uint64_t seed, Model& model) {
    std::string text;
    for (int i = 0; i < 20; ++i) text += "the cat sat on the mat. ";
    const auto tokens = ByteTokenizer::encode(text);
    model = Model{tinyConfig(), Weights::initialized(tinyConfig(), seed), {}};
    TrainOptions options;
    options.steps = 150;
    options.batch = 4;
    options.learningRate = 1e-2f;
    options.warmupSteps = 10;
    options.seed = seed;
    auto backend = makeAttentionBackend("ideal");
    return train(model, *backend, tokens, tokens, options);
}

}  // namespace

TEST_CASE("a tiny model overfits a tiny text, deterministically") {
    Model first, second, other;
    const TrainResult a = trainTiny(42, first);
    const TrainResult b = trainTiny(42, second);
    const TrainResult c = trainTiny(43, other);
    REQUIRE(a.losses.size() == 150);
    INFO("first loss " << a.losses.front() << ", last " << a.losses.back() << ", validation " << a.validationLoss);
    CHECK(std::abs(a.losses.front() - std::log(256.0f)) < 0.2f);
    // The text has a period of 24 characters: once learned, the next byte is nearly certain.
    CHECK(a.losses.back() < 0.3f);
    CHECK(a.validationLoss < 0.3);
    CHECK(a.losses == b.losses);                     // same seed: bit-identical
    CHECK(first.weights.wte == second.weights.wte);
    CHECK(a.losses != c.losses);                     // the seed matters

    auto backend = makeAttentionBackend("ideal");
    GenerateOptions greedy;
    greedy.maxNewTokens = 20;
    greedy.temperature = 0;
    const std::string continuation = generate(first, *backend, "on the mat. the cat", greedy);
    INFO("continuation: " << continuation);
    CHECK(continuation.rfind(" sat on the mat", 0) == 0);
}

TEST_CASE("learning-rate schedule and AdamW steps match their closed forms", "[train][optimizer]") {
    LearningRateSchedule lm;  // ramp, then cosine over the rest (the language model)
    lm.peak = 1e-2;
    lm.warmupSteps = 10;
    lm.decayStart = 10;
    lm.decaySteps = 90;
    lm.minFraction = 0.1;
    CHECK(std::abs(lm.at<double>(0) - 1e-3) < 1e-15);
    CHECK(std::abs(lm.at<double>(9) - 1e-2) < 1e-15);
    CHECK(std::abs(lm.at<double>(55) - 1e-2 * (0.1 + 0.9 * 0.5)) < 1e-15);  // half way: cos = 0
    CHECK(std::abs(lm.at<double>(100) - 1e-3) < 1e-15);
    CHECK(std::abs(lm.at<double>(500) - 1e-3) < 1e-15);
    LearningRateSchedule letters = lm;  // cosine over the whole run, ramp on top
    letters.decayStart = 0;
    letters.decaySteps = 100;
    letters.ramp = LearningRateSchedule::Ramp::Fraction;
    const double cosine = 0.5 * (1 + std::cos(3.141592653589793 * 0.04));
    CHECK(std::abs(letters.at<double>(4) - 1e-2 * 0.5 * (0.1 + 0.9 * cosine)) < 1e-15);

    // Two steps with gradients g1, g2 from the paper's recursion, written out by hand.
    const double lr = 0.1, decay = 0.5, b1 = 0.9, b2 = 0.999, g1 = 2.0, g2 = -1.0, p0 = 1.0;
    const double m1 = (1 - b1) * g1, v1 = (1 - b2) * g1 * g1;
    const double m2 = b1 * m1 + (1 - b1) * g2, v2 = b2 * v1 + (1 - b2) * g2 * g2;
    const double adam1 = (m1 / (1 - b1)) / (std::sqrt(v1 / (1 - b2)) + 1e-8);
    const double adam2 = (m2 / (1 - b1 * b1)) / (std::sqrt(v2 / (1 - b2 * b2)) + 1e-8);
    for (const auto form : {AdamW<double>::Decay::InStep, AdamW<double>::Decay::ShrinkFirst}) {
        AdamW<double> optimizer;
        optimizer.decay = form;
        Eigen::ArrayXd p = Eigen::ArrayXd::Constant(1, p0), m = Eigen::ArrayXd::Zero(1), v = Eigen::ArrayXd::Zero(1);
        double expected = p0;
        for (const auto [g, adam] : {std::pair{g1, adam1}, std::pair{g2, adam2}}) {
            optimizer.step();
            optimizer.update(p, Eigen::ArrayXd::Constant(1, g), m, v, lr, decay);
            expected = expected - lr * adam - lr * decay * expected;  // decoupled decay
        }
        CHECK(std::abs(p[0] - expected) < 1e-12);
    }
}
