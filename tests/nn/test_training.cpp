#include "nn/nn.hpp"

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
