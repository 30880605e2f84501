#include "nn/nn.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace imc::nn;

namespace {

Config smallConfig() {
    Config c;
    c.vocabSize = 256;
    c.context = 32;
    c.layers = 2;
    c.heads = 2;
    c.dModel = 128;
    c.headDim = 64;
    return c;
}

std::vector<int> randomTokens(std::size_t n, int vocab, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<int> tokens(n);
    for (auto& t : tokens) t = static_cast<int>(rng.below(vocab));
    return tokens;
}

// Scaled-up random weights, so attention is far from uniform and mistakes show.
Model sharpModel(std::uint64_t seed) {
    Model model{smallConfig(), Weights::initialized(smallConfig(), seed), {}};
    for (auto& n : model.weights.named())
        if (!n.isVector) *n.tensor *= 10.0f;
    return model;
}

}  // namespace

TEST_CASE("KV-cache decoding gives the logits of the batched prefill") {
    const Model model = sharpModel(11);
    auto backend = makeAttentionBackend("ideal");
    const auto tokens = randomTokens(32, 256, 1);
    Transformer net(model, *backend);
    const Matrix prefill = net.forward(tokens, 1, 32);
    Decoder decoder(model, *backend);
    double worst = 0, scale = 0;
    for (int t = 0; t < 32; ++t) {
        const Matrix& logits = decoder.step(tokens[t]);
        worst = std::max(worst, double((logits.row(0) - prefill.row(t)).cwiseAbs().maxCoeff()));
        scale = std::max(scale, double(prefill.row(t).cwiseAbs().maxCoeff()));
    }
    INFO("max |decode - prefill| " << worst << " of logits up to " << scale);
    CHECK(scale > 1.0);
    CHECK(worst < 1e-4 * scale);
    CHECK_THROWS(decoder.step(0));  // context is full
    decoder.reset();
    CHECK(decoder.position() == 0);
}

TEST_CASE("KV-cache decoding applies per-head scalars like the prefill") {
    const Model model = sharpModel(14);
    auto backend = makeAttentionBackend("ideal");
    std::vector<HeadScalars> scalars(model.config.layers * model.config.heads);
    scalars[1] = {{0.8f, 0.05f}, {1.2f, -0.1f}, {0.9f, 0.2f}, {1.1f, -0.05f}};
    scalars[2].v = {0.5f, 0.0f};
    const auto tokens = randomTokens(20, 256, 8);
    Transformer net(model, *backend), plain(model, *backend);
    net.setHeadScalars(scalars);
    const Matrix prefill = net.forward(tokens, 1, 20);
    // The scalars must change something, or this test proves nothing.
    CHECK((plain.forward(tokens, 1, 20) - prefill).cwiseAbs().maxCoeff() > 1e-2f);
    Decoder decoder(model, *backend);
    decoder.setHeadScalars(scalars);
    for (int t = 0; t < 20; ++t) {
        const Matrix& logits = decoder.step(tokens[t]);
        CHECK((logits.row(0) - prefill.row(t)).cwiseAbs().maxCoeff() < 1e-3f);
    }
    CHECK_THROWS_AS(net.setHeadScalars(std::vector<HeadScalars>(3)), std::invalid_argument);
}

TEST_CASE("sequences in a batch do not see each other") {
    const Model model = sharpModel(12);
    auto backend = makeAttentionBackend("ideal");
    const auto tokens = randomTokens(3 * 16, 256, 2);
    Transformer batched(model, *backend), single(model, *backend);
    const Matrix all = batched.forward(tokens, 3, 16);
    for (int b = 0; b < 3; ++b) {
        const Matrix one = single.forward(std::span(tokens).subspan(b * 16, 16), 1, 16);
        CHECK((all.middleRows(b * 16, 16) - one).cwiseAbs().maxCoeff() < 1e-4f);
    }
}

TEST_CASE("results are bit-identical for any thread count") {
    const Model model = sharpModel(13);
    auto backend = makeAttentionBackend("ideal");
    const auto tokens = randomTokens(4 * 32, 256, 3), targets = randomTokens(4 * 32, 256, 4);
    auto run = [&](int threads) {
        setThreadCount(threads);
        Transformer net(model, *backend);
        Weights grads = Weights::zeros(model.config);
        const float loss = net.forwardLoss(tokens, targets, 4, 32);
        net.backward(grads);
        return std::pair{loss, grads};
    };
    const auto [lossOne, gradsOne] = run(1);
    const auto [lossThree, gradsThree] = run(3);
    setThreadCount(0);
    CHECK(lossOne == lossThree);
    auto a = gradsOne.named();
    auto b = gradsThree.named();
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].name);
        CHECK(*a[i].tensor == *b[i].tensor);
    }
}

TEST_CASE("an untrained model predicts nearly uniformly: loss close to ln(vocab)") {
    const Config config = smallConfig();
    const Model model{config, Weights::initialized(config, 5), {}};
    auto backend = makeAttentionBackend("ideal");
    Transformer net(model, *backend);
    const auto tokens = randomTokens(2 * 32, 256, 6), targets = randomTokens(2 * 32, 256, 7);
    const float loss = net.forwardLoss(tokens, targets, 2, 32);
    CHECK(std::abs(loss - std::log(256.0f)) < 0.1f);
}

TEST_CASE("byte tokenizer round-trips text and drops end-of-text") {
    const std::string text = "Hello, world!\n\tcaf\xc3\xa9";
    auto tokens = ByteTokenizer::encode(text);
    CHECK(tokens.size() == text.size());
    CHECK(tokens[0] == 'H');
    CHECK(tokens.back() == 0xa9);
    CHECK(ByteTokenizer::decode(tokens) == text);
    tokens.push_back(ByteTokenizer::kEndOfText);
    CHECK(ByteTokenizer::decode(tokens) == text);
}

TEST_CASE("fortunes split into train and validation by fortune") {
    const auto dir = std::filesystem::temp_directory_path() / "imc_nn_fortunes_test";
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "a") << "one\n%\ntwo\nlines\n%\n\nthree  \n%\n%\nfour\n";
        std::ofstream(dir / "a.dat") << "binary index, skipped";
        std::ofstream(dir / "b") << "five\n%\nsix\n";
    }
    const TextSplit split = loadFortunes(dir, 3);
    std::filesystem::remove_all(dir);
    // Fortunes in file-name order: one, two\nlines, three, four, five, six; every third is held out.
    auto text = [](const std::vector<int>& tokens) {
        std::string s;
        for (int t : tokens) s.push_back(t == 0 ? '|' : static_cast<char>(t));
        return s;
    };
    CHECK(text(split.train) == "one|two\nlines|four|five|");
    CHECK(text(split.validation) == "three|six|");
    CHECK(split.trainDocuments == 4);
    CHECK(split.validationDocuments == 2);
}
