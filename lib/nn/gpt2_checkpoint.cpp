#include "nn/gpt2_checkpoint.hpp"
#include "nn/random.hpp"
#include "nn/safetensors.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace imc::nn {
namespace {

constexpr std::array<Gpt2Size, 4> kSizes{{
    {"124M", 12, 12, 768},
    {"355M", 24, 16, 1024},
    {"774M", 36, 20, 1280},
    {"1.5B", 48, 25, 1600},
}};

safetensors::Tensor toTensor(const Matrix& m, bool isVector) {
    safetensors::Tensor t;
    t.shape = isVector ? std::vector<std::int64_t>{m.cols()} : std::vector<std::int64_t>{m.rows(), m.cols()};
    t.values.assign(m.data(), m.data() + m.size());
    return t;
}

// The mask GPT2Model registers: ones on and below the diagonal, [1, 1, T, T].
safetensors::Tensor causalMask(int context) {
    safetensors::Tensor t;
    t.shape = {1, 1, context, context};
    t.values.assign(static_cast<std::size_t>(context) * context, 0.0f);
    for (int i = 0; i < context; ++i)
        for (int j = 0; j <= i; ++j) t.values[static_cast<std::size_t>(i) * context + j] = 1.0f;
    return t;
}

class FloatWriter {
public:
    explicit FloatWriter(const std::filesystem::path& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
        if (!out_) throw std::runtime_error("cannot open " + path.string() + " for writing");
    }
    void raw(const void* data, std::size_t bytes) { out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes)); }
    void matrix(const Matrix& m) { raw(m.data(), static_cast<std::size_t>(m.size()) * sizeof(float)); }
    // Conv1D [in, out] -> Linear [out, in].
    void transposed(const Matrix& m) { matrix(Matrix(m.transpose())); }
    void zeros(std::size_t count) {
        const std::vector<float> z(count, 0.0f);
        raw(z.data(), count * sizeof(float));
    }
    void finish() {
        out_.close();
        if (!out_) throw std::runtime_error("write failed: " + path_.string());
    }

private:
    std::filesystem::path path_;
    std::ofstream out_;
};

}  // namespace

std::span<const Gpt2Size> gpt2Sizes() { return kSizes; }

Config gpt2Config(std::string_view size) {
    std::string known;
    for (const auto& s : kSizes) {
        if (s.name == size) {
            Config c;
            c.vocabSize = kGpt2VocabSize;
            c.context = kGpt2Context;
            c.layers = s.layers;
            c.heads = s.heads;
            c.dModel = s.dModel;
            c.headDim = s.dModel / s.heads;
            return c;
        }
        known += (known.empty() ? "" : ", ") + std::string(s.name);
    }
    throw std::invalid_argument("unknown GPT-2 size '" + std::string(size) + "' (known: " + known + ")");
}

std::string gpt2SizeName(const Config& config) {
    for (const auto& s : kSizes)
        if (config == gpt2Config(s.name)) return std::string(s.name);
    return "";
}

// Every released size has 64-wide heads, so heads = d_model / 64.
Config configFromShapes(const std::map<std::string, std::vector<std::int64_t>>& shapes, const std::string& source) {
    auto fail = [&](const std::string& what) { throw std::runtime_error("model file " + source + ": " + what); };
    auto matrix = [&](const std::string& name, const std::string& expected) -> const std::vector<std::int64_t>& {
        auto it = shapes.find(name);
        if (it == shapes.end()) fail("missing tensor '" + name + "' (expected shape " + expected + ")");
        if (it->second.size() != 2) fail("tensor '" + name + "' has shape " + shapeText(it->second) + ", expected " + expected);
        return it->second;
    };
    Config c;
    const auto& wte = matrix("wte.weight", "[vocab, d_model]");
    c.vocabSize = static_cast<int>(wte[0]);
    c.dModel = static_cast<int>(wte[1]);
    c.context = static_cast<int>(matrix("wpe.weight", "[context, " + std::to_string(c.dModel) + "]")[0]);
    c.layers = 0;
    while (shapes.count("h." + std::to_string(c.layers) + ".ln_1.weight")) ++c.layers;
    if (c.layers == 0) fail("missing tensor 'h.0.ln_1.weight' (expected shape [" + std::to_string(c.dModel) + "])");
    c.headDim = 64;
    if (c.dModel % c.headDim != 0)
        fail("tensor 'wte.weight' has shape " + shapeText(wte) + ": d_model must be a multiple of the head width 64");
    c.heads = c.dModel / c.headDim;
    return c;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

Model randomGpt2Model(const Config& config, std::uint64_t seed) {
    Model model;
    model.config = config;
    model.weights = Weights::initialized(config, seed);
    Rng rng(seed ^ 0x5eed0b1a5ull);
    auto perturb = [&](Matrix& m, double base, double stddev) {
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(base + rng.normal() * stddev);
    };
    for (auto& l : model.weights.layers) {
        perturb(l.ln1Weight, 1.0, 0.1);
        perturb(l.ln2Weight, 1.0, 0.1);
        for (Matrix* bias : {&l.ln1Bias, &l.ln2Bias, &l.attnBias, &l.attnProjBias, &l.fcBias, &l.fcProjBias})
            perturb(*bias, 0.0, 0.02);
    }
    perturb(model.weights.lnfWeight, 1.0, 0.1);
    perturb(model.weights.lnfBias, 0.0, 0.02);
    return model;
}

void saveHuggingFaceGpt2(const Model& model, const std::filesystem::path& path, bool maskBuffers) {
    model.config.validate();
    safetensors::File file;
    for (const auto& named : model.weights.named()) file.tensors.emplace(named.name, toTensor(*named.tensor, named.isVector));
    if (maskBuffers)
        for (int l = 0; l < model.config.layers; ++l)
            file.tensors.emplace("h." + std::to_string(l) + ".attn.bias", causalMask(model.config.context));
    file.metadata["format"] = "pt";
    safetensors::write(path, file);
}

void saveLlmcCheckpoint(const Model& model, const std::filesystem::path& path, int paddedVocab) {
    const Config& c = model.config;
    c.validate();
    if (paddedVocab == 0) paddedVocab = (c.vocabSize + 127) / 128 * 128;
    if (paddedVocab < c.vocabSize)
        throw std::invalid_argument("padded vocab " + std::to_string(paddedVocab) + " is below the vocab " +
                                    std::to_string(c.vocabSize));
    std::array<std::int32_t, 256> header{};
    header[0] = 20240326;
    header[1] = 3;
    header[2] = c.context;
    header[3] = c.vocabSize;
    header[4] = c.layers;
    header[5] = c.heads;
    header[6] = c.dModel;
    header[7] = paddedVocab;
    FloatWriter out(path);
    out.raw(header.data(), sizeof(header));
    const Weights& w = model.weights;
    out.matrix(w.wte);
    out.zeros(static_cast<std::size_t>(paddedVocab - c.vocabSize) * c.dModel);
    out.matrix(w.wpe);
    // Each parameter kind for all layers at once, in llm.c's order.
    using Part = void (*)(FloatWriter&, const LayerWeights&);
    const std::array<Part, 12> parts{
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.ln1Weight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.ln1Bias); },
        [](FloatWriter& o, const LayerWeights& l) { o.transposed(l.attnWeight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.attnBias); },
        [](FloatWriter& o, const LayerWeights& l) { o.transposed(l.attnProjWeight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.attnProjBias); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.ln2Weight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.ln2Bias); },
        [](FloatWriter& o, const LayerWeights& l) { o.transposed(l.fcWeight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.fcBias); },
        [](FloatWriter& o, const LayerWeights& l) { o.transposed(l.fcProjWeight); },
        [](FloatWriter& o, const LayerWeights& l) { o.matrix(l.fcProjBias); },
    };
    for (const Part part : parts)
        for (const auto& layer : w.layers) part(out, layer);
    out.matrix(w.lnfWeight);
    out.matrix(w.lnfBias);
    out.finish();
}

}  // namespace imc::nn
