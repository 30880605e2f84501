// Hugging Face GPT-2 checkpoints: layout, config from shapes, errors, and logits against a naive
// float64 forward written from GPT-2's definition (pre-LN, tanh GELU, learned positions, tied head).
#include "nn/gpt2_checkpoint.hpp"
#include "nn/nn.hpp"
#include "nn/safetensors.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace imc::nn;
using Catch::Matchers::ContainsSubstring;

namespace {

std::filesystem::path tempFile(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("imc_gpt2_test_" + name);
}

// 2 layers x 128 wide (2 heads of 64), a vocabulary past 256 and a short context.
Config tinyConfig() {
    return Config{.vocabSize = 300, .context = 32, .layers = 2, .heads = 2, .dModel = 128, .headDim = 64};
}

using Rows = std::vector<std::vector<double>>;  // [T][n]

Rows matmul(const Rows& x, const Matrix& w, const Matrix& b) {  // x [T, in] W [in, out] + b
    Rows y(x.size(), std::vector<double>(static_cast<std::size_t>(w.cols())));
    for (std::size_t t = 0; t < x.size(); ++t)
        for (Eigen::Index o = 0; o < w.cols(); ++o) {
            double s = b(0, o);
            for (Eigen::Index i = 0; i < w.rows(); ++i) s += x[t][i] * double(w(i, o));
            y[t][o] = s;
        }
    return y;
}

Rows layerNorm(const Rows& x, const Matrix& g, const Matrix& b) {
    Rows y = x;
    for (std::size_t t = 0; t < x.size(); ++t) {
        double mean = 0, var = 0;
        for (double v : x[t]) mean += v;
        mean /= double(x[t].size());
        for (double v : x[t]) var += (v - mean) * (v - mean);
        var /= double(x[t].size());
        for (std::size_t i = 0; i < x[t].size(); ++i) y[t][i] = (x[t][i] - mean) / std::sqrt(var + 1e-5) * g(0, i) + b(0, i);
    }
    return y;
}

// Logits [T][vocab] of GPT-2 on `tokens`, every sum in double.
Rows referenceLogits(const Model& m, const std::vector<int>& tokens) {
    const Config& c = m.config;
    const std::size_t T = tokens.size(), C = c.dModel, d = c.headDim;
    Rows x(T, std::vector<double>(C));
    for (std::size_t t = 0; t < T; ++t)
        for (std::size_t i = 0; i < C; ++i) x[t][i] = double(m.weights.wte(tokens[t], i)) + m.weights.wpe(t, i);
    for (const auto& l : m.weights.layers) {
        const Rows qkv = matmul(layerNorm(x, l.ln1Weight, l.ln1Bias), l.attnWeight, l.attnBias);
        Rows att(T, std::vector<double>(C, 0.0));
        for (int h = 0; h < c.heads; ++h)
            for (std::size_t t = 0; t < T; ++t) {
                std::vector<double> score(t + 1);
                double top = -1e300, sum = 0;
                for (std::size_t s = 0; s <= t; ++s) {
                    double dot = 0;
                    for (std::size_t k = 0; k < d; ++k) dot += qkv[t][h * d + k] * qkv[s][C + h * d + k];
                    score[s] = dot / std::sqrt(double(d));
                    top = std::max(top, score[s]);
                }
                for (auto& v : score) sum += (v = std::exp(v - top));
                for (std::size_t s = 0; s <= t; ++s)
                    for (std::size_t k = 0; k < d; ++k) att[t][h * d + k] += score[s] / sum * qkv[s][2 * C + h * d + k];
            }
        const Rows proj = matmul(att, l.attnProjWeight, l.attnProjBias);
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t i = 0; i < C; ++i) x[t][i] += proj[t][i];
        Rows fc = matmul(layerNorm(x, l.ln2Weight, l.ln2Bias), l.fcWeight, l.fcBias);
        for (auto& row : fc)
            for (auto& v : row) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        const Rows mlp = matmul(fc, l.fcProjWeight, l.fcProjBias);
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t i = 0; i < C; ++i) x[t][i] += mlp[t][i];
    }
    const Rows lnf = layerNorm(x, m.weights.lnfWeight, m.weights.lnfBias);
    Rows logits(T, std::vector<double>(static_cast<std::size_t>(c.vocabSize)));
    for (std::size_t t = 0; t < T; ++t)
        for (int v = 0; v < c.vocabSize; ++v) {
            double s = 0;
            for (std::size_t i = 0; i < C; ++i) s += lnf[t][i] * m.weights.wte(v, i);
            logits[t][v] = s;
        }
    return logits;
}

nlohmann::json headerOf(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::uint64_t length = 0;
    in.read(reinterpret_cast<char*>(&length), 8);
    std::string text(length, '\0');
    in.read(text.data(), static_cast<std::streamsize>(length));
    return nlohmann::json::parse(text);
}

std::map<std::string, std::vector<std::int64_t>> releasedShapes(const Config& c) {
    std::map<std::string, std::vector<std::int64_t>> shapes{{"wte.weight", {c.vocabSize, c.dModel}},
                                                            {"wpe.weight", {c.context, c.dModel}}};
    for (int l = 0; l < c.layers; ++l) shapes["h." + std::to_string(l) + ".ln_1.weight"] = {c.dModel};
    return shapes;
}

}  // namespace

TEST_CASE("a Hugging Face layout GPT-2 checkpoint is written as published and loads with its config inferred") {
    const Model model = randomGpt2Model(tinyConfig(), 7);
    const auto path = tempFile("hf.safetensors");
    saveHuggingFaceGpt2(model, path);

    const auto header = headerOf(path);
    CHECK(header["__metadata__"] == nlohmann::json{{"format", "pt"}});
    CHECK_FALSE(header.contains("lm_head.weight"));
    CHECK(header["h.1.attn.c_attn.weight"]["shape"] == nlohmann::json{128, 384});  // Conv1D [in, out]
    CHECK(header["h.1.mlp.c_proj.weight"]["shape"] == nlohmann::json{512, 128});
    CHECK(header["h.0.attn.bias"]["shape"] == nlohmann::json{1, 1, 32, 32});

    std::vector<std::string> notes;
    const Model loaded = loadModel(path, &notes);
    CHECK(loaded.config == model.config);
    for (std::size_t i = 0; i < model.weights.named().size(); ++i) {
        INFO(model.weights.named()[i].name);
        CHECK(*loaded.weights.named()[i].tensor == *model.weights.named()[i].tensor);
    }
    bool bufferNote = false;
    for (const auto& n : notes) bufferNote |= n.find("ignored 2 attention mask buffers") != std::string::npos;
    CHECK(bufferNote);
    std::filesystem::remove(path);
}

TEST_CASE("the four released GPT-2 sizes are recognised from their tensor shapes") {
    // Parameter counts of the released checkpoints (tied head, 1024 positions).
    const std::map<std::string, std::size_t> parameters{
        {"124M", 124439808}, {"355M", 354823168}, {"774M", 774030080}, {"1.5B", 1557611200}};
    for (const auto& size : gpt2Sizes()) {
        const Config c = gpt2Config(size.name);
        INFO(size.name);
        CHECK(configFromShapes(releasedShapes(c), "x") == c);
        CHECK(gpt2SizeName(c) == size.name);
        std::size_t count = std::size_t(c.vocabSize + c.context) * c.dModel + 2 * std::size_t(c.dModel);
        count += std::size_t(c.layers) * (12 * std::size_t(c.dModel) * c.dModel + 13 * std::size_t(c.dModel));
        CHECK(count == parameters.at(std::string(size.name)));
    }
    CHECK(gpt2SizeName(tinyConfig()).empty());
    CHECK_THROWS_WITH(gpt2Config("7B"), ContainsSubstring("124M"));
}

TEST_CASE("a GPT-2 checkpoint with a wrong tensor names it and the expected shape") {
    const Model model = randomGpt2Model(tinyConfig(), 3);
    const auto good = tempFile("good.safetensors"), bad = tempFile("bad.safetensors");
    saveHuggingFaceGpt2(model, good, false);
    auto file = safetensors::read(good);

    SECTION("a matrix stored as PyTorch Linear [out, in]") {
        auto& t = file.tensors.at("h.1.mlp.c_fc.weight");
        t.shape = {512, 128};
        safetensors::write(bad, file);
        CHECK_THROWS_WITH(loadModel(bad), ContainsSubstring("'h.1.mlp.c_fc.weight' has shape [512, 128], expected [128, 512]"));
    }
    SECTION("a missing tensor") {
        file.tensors.erase("ln_f.bias");
        safetensors::write(bad, file);
        CHECK_THROWS_WITH(loadModel(bad), ContainsSubstring("missing tensor 'ln_f.bias' (expected shape [128])"));
    }
    SECTION("an untied lm_head") {
        auto head = file.tensors.at("wte.weight");
        head.values[5] += 1.0f;
        file.tensors.emplace("lm_head.weight", head);
        safetensors::write(bad, file);
        CHECK_THROWS_WITH(loadModel(bad), ContainsSubstring("'lm_head.weight' differs from 'wte.weight'"));
    }
    SECTION("a tied lm_head and unknown tensors are noted") {
        file.tensors.emplace("lm_head.weight", file.tensors.at("wte.weight"));
        file.tensors.emplace("h.0.attn.masked_bias", safetensors::Tensor{{1}, {-1e4f}, "F32"});
        file.tensors.emplace("extra.scale", safetensors::Tensor{{1}, {2.0f}, "F32"});
        safetensors::write(bad, file);
        std::vector<std::string> notes;
        loadModel(bad, &notes);
        std::string all;
        for (const auto& n : notes) all += n + "\n";
        CHECK_THAT(all, ContainsSubstring("tied head"));
        CHECK_THAT(all, ContainsSubstring("ignored 1 attention mask buffers"));
        CHECK_THAT(all, ContainsSubstring("ignored 1 unknown tensors: extra.scale"));
    }
    std::filesystem::remove(good);
    std::filesystem::remove(bad);
}

TEST_CASE("logits of a loaded GPT-2 checkpoint agree with a float64 reference forward, batched and cached") {
    const auto path = tempFile("logits.safetensors");
    saveHuggingFaceGpt2(randomGpt2Model(tinyConfig(), 11), path);
    const Model model = loadModel(path);
    std::vector<int> tokens;
    for (int t = 0; t < 24; ++t) tokens.push_back((t * 37 + 5) % model.config.vocabSize);
    const Rows reference = referenceLogits(model, tokens);

    const auto ideal = makeAttentionBackend("ideal");
    Transformer net(model, *ideal);
    const Matrix& logits = net.forward(tokens, 1, static_cast<int>(tokens.size()));
    Decoder decoder(model, *ideal);
    double largest = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
        const Matrix& step = decoder.step(tokens[t]);
        if (t % 7 != 0 && t != tokens.size() - 1) continue;  // a few positions, first and last included
        for (int v = 0; v < model.config.vocabSize; ++v) {
            largest = std::max(largest, std::abs(reference[t][v]));
            REQUIRE(std::abs(logits(static_cast<Eigen::Index>(t), v) - reference[t][v]) < 1e-3);
            REQUIRE(std::abs(step(0, v) - reference[t][v]) < 1e-3);
        }
    }
    CHECK(largest > 0.1);  // the comparison is not between near-zero numbers
    std::filesystem::remove(path);
}

TEST_CASE("llm.c's checkpoint holds the same weights, transposed to [out, in] and padded") {
    const Model model = randomGpt2Model(tinyConfig(), 5);
    const auto path = tempFile("llmc.bin");
    saveLlmcCheckpoint(model, path);
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    std::int32_t header[8];
    std::memcpy(header, bytes.data(), sizeof(header));
    CHECK(header[0] == 20240326);
    CHECK(header[1] == 3);
    CHECK(header[3] == 300);
    CHECK(header[7] == 384);  // 300 rounded up to a multiple of 128
    const Config& c = model.config;
    const std::size_t C = c.dModel, L = c.layers;
    const std::size_t floats = 384 * C + c.context * C + L * (12 * C * C + 13 * C) + 2 * C;
    REQUIRE(bytes.size() == 1024 + floats * 4);
    auto at = [&](std::size_t index) {
        float v;
        std::memcpy(&v, bytes.data() + 1024 + index * 4, 4);
        return v;
    };
    // qkvw (L, 3C, C) follows wte, wpe, ln1w, ln1b: layer 1, output 200, input 3 is W[3, 200].
    const std::size_t qkvw = 384 * C + c.context * C + 2 * L * C;
    CHECK(at(qkvw + 1 * 3 * C * C + 200 * C + 3) == model.weights.layers[1].attnWeight(3, 200));
    CHECK(at(299 * C + 7) == model.weights.wte(299, 7));
    CHECK(at(300 * C) == 0.0f);
    CHECK(at(floats - 1) == model.weights.lnfBias(0, C - 1));
    std::filesystem::remove(path);
}
