#include "nn/nn.hpp"
#include "nn/safetensors.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace imc::nn;
using Catch::Matchers::ContainsSubstring;

namespace {

std::filesystem::path tempFile(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("imc_nn_test_" + name);
}

Config config() {
    Config c;
    c.vocabSize = 20;
    c.context = 8;
    c.layers = 2;
    c.heads = 1;
    c.dModel = 64;
    c.headDim = 64;
    return c;
}

std::string readBytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("a saved model loads back bit-identical with its config and metadata") {
    Model model{config(), Weights::initialized(config(), 9), {{"tokenizer", "byte"}, {"note", "round trip"}}};
    const auto path = tempFile("roundtrip.safetensors");
    saveModel(model, path);

    // The container layout, read here by hand: u64 header length, JSON, 8-byte aligned data.
    const std::string bytes = readBytes(path);
    std::uint64_t headerLength;
    std::memcpy(&headerLength, bytes.data(), 8);
    CHECK(headerLength % 8 == 0);
    const auto header = nlohmann::json::parse(bytes.substr(8, headerLength));
    CHECK(header["h.1.attn.c_attn.weight"]["dtype"] == "F32");
    CHECK(header["h.1.attn.c_attn.weight"]["shape"] == nlohmann::json::array({64, 192}));
    CHECK(header["ln_f.bias"]["shape"] == nlohmann::json::array({64}));
    CHECK(header["__metadata__"]["tokenizer"] == "byte");
    const auto offsets = header["wte.weight"]["data_offsets"].get<std::vector<std::uint64_t>>();
    float first;
    std::memcpy(&first, bytes.data() + 8 + headerLength + offsets[0], 4);
    CHECK(first == model.weights.wte(0, 0));
    CHECK(bytes.size() == 8 + headerLength + 4 * model.weights.parameterCount());

    const Model loaded = loadModel(path);
    std::filesystem::remove(path);
    CHECK(loaded.config == model.config);
    CHECK(loaded.metadata.at("tokenizer") == "byte");
    CHECK(loaded.metadata.at("note") == "round trip");
    CHECK(loaded.metadata.at("format_version") == "1");
    auto a = model.weights.named();
    auto b = loaded.weights.named();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(*a[i].tensor == *b[i].tensor);
}

TEST_CASE("loading names the tensor that is missing or has the wrong shape") {
    Model model{config(), Weights::initialized(config(), 1), {}};
    const auto path = tempFile("broken.safetensors");
    saveModel(model, path);
    auto file = safetensors::read(path);

    auto wrong = file;
    wrong.tensors["h.1.mlp.c_fc.weight"].shape = {256, 64};  // transposed
    safetensors::write(path, wrong);
    CHECK_THROWS_WITH(loadModel(path), ContainsSubstring("'h.1.mlp.c_fc.weight'") &&
                                           ContainsSubstring("[256, 64]") && ContainsSubstring("[64, 256]"));

    auto missing = file;
    missing.tensors.erase("h.0.ln_2.bias");
    safetensors::write(path, missing);
    CHECK_THROWS_WITH(loadModel(path), ContainsSubstring("missing tensor 'h.0.ln_2.bias'"));
    std::filesystem::remove(path);
}

TEST_CASE("a GPT-2 style checkpoint without our metadata loads, prefix and all") {
    Model model{config(), Weights::initialized(config(), 2), {}};
    const auto path = tempFile("gpt2style.safetensors");
    saveModel(model, path);
    auto file = safetensors::read(path);
    safetensors::File plain;
    for (auto& [name, tensor] : file.tensors) plain.tensors["transformer." + name] = tensor;
    plain.tensors["transformer.h.0.attn.bias"] = {{1, 1}, {1.0f}, "F32"};  // GPT-2's mask buffer, ignored
    safetensors::write(path, plain);
    const Model loaded = loadModel(path);
    std::filesystem::remove(path);
    CHECK(loaded.config == model.config);
    CHECK(loaded.weights.layers[1].fcProjWeight == model.weights.layers[1].fcProjWeight);
}

TEST_CASE("F16 and BF16 tensors are widened to float") {
    // Hand-built file: F16 [1, -2, 0.5, 2^-24 (smallest subnormal)] and BF16 [1, -3].
    const std::string header =
        R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
    const std::uint16_t halves[] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x3F80, 0xC040};
    const std::uint64_t length = header.size();
    const auto path = tempFile("halves.safetensors");
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(&length), 8);
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(halves), sizeof(halves));
    }
    const auto file = safetensors::read(path);
    std::filesystem::remove(path);
    CHECK(file.tensors.at("a").values == std::vector<float>{1.0f, -2.0f, 0.5f, std::ldexp(1.0f, -24)});
    CHECK(file.tensors.at("a").storedDtype == "F16");
    CHECK(file.tensors.at("b").values == std::vector<float>{1.0f, -3.0f});
}

TEST_CASE("truncated files are rejected with the file name") {
    const auto path = tempFile("truncated.safetensors");
    std::ofstream(path, std::ios::binary) << "abc";
    CHECK_THROWS_WITH(safetensors::read(path), ContainsSubstring(path.string()));
    std::filesystem::remove(path);
}
