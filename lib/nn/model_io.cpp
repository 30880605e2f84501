// Model <-> safetensors, with GPT-2 tensor names and our config in __metadata__; plain GPT-2
// checkpoints as Hugging Face publishes them load too (config from the shapes, buffers ignored).
#include "nn/gpt2_checkpoint.hpp"
#include "nn/nn.hpp"
#include "nn/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace imc::nn {
namespace {

constexpr const char* kFormat = "imc-nn";
constexpr const char* kFormatVersion = "1";

std::vector<std::int64_t> expectedShape(const Matrix& m, bool isVector) {
    if (isVector) return {m.cols()};
    return {m.rows(), m.cols()};
}

Config configFromMetadata(const std::string& text) {
    const auto j = nlohmann::json::parse(text);
    Config c;
    c.vocabSize = j.at("vocab_size");
    c.context = j.at("context");
    c.layers = j.at("layers");
    c.heads = j.at("heads");
    c.dModel = j.at("d_model");
    c.headDim = j.at("head_dim");
    return c;
}

std::map<std::string, std::vector<std::int64_t>> shapesOf(const safetensors::File& file) {
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const auto& [name, tensor] : file.tensors) shapes.emplace(name, tensor.shape);
    return shapes;
}

// Hugging Face's GPT2Model stores its causal mask as buffers beside the parameters.
bool isMaskBuffer(const std::string& name) {
    auto endsWith = [&](std::string_view tail) {
        return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    return name.rfind("h.", 0) == 0 && (endsWith(".attn.bias") || endsWith(".attn.masked_bias"));
}

// Tensors the model does not use: mask buffers are dropped with one note, a tied lm_head must
// equal wte, anything else is listed.
void checkLeftovers(const safetensors::File& file, const Model& model, const std::filesystem::path& path,
                    const std::function<std::vector<float>(const std::string&)>& valuesOf,
                    std::vector<std::string>* notes) {
    std::vector<std::string> used;
    for (const auto& named : model.weights.named()) used.push_back(named.name);
    std::sort(used.begin(), used.end());
    int buffers = 0;
    std::vector<std::string> unknown;
    for (const auto& [name, tensor] : file.tensors) {
        if (std::binary_search(used.begin(), used.end(), name)) continue;
        if (isMaskBuffer(name)) {
            ++buffers;
        } else if (name == "lm_head.weight") {
            const Matrix& wte = model.weights.wte;
            bool tied = tensor.shape == std::vector<std::int64_t>{wte.rows(), wte.cols()};
            if (tied) {
                const auto values = valuesOf(name);
                tied = std::equal(values.begin(), values.end(), wte.data());
            }
            if (!tied)
                throw std::runtime_error("model file " + path.string() +
                                         ": tensor 'lm_head.weight' differs from 'wte.weight'; the output head is tied "
                                         "(expected shape " + shapeText({wte.rows(), wte.cols()}) + " and equal values)");
            if (notes) notes->push_back("lm_head.weight equals wte.weight (tied head): ignored");
        } else {
            unknown.push_back(name);
        }
    }
    if (!notes) return;
    if (buffers > 0)
        notes->push_back("ignored " + std::to_string(buffers) + " attention mask buffers (h.N.attn.bias / masked_bias)");
    if (!unknown.empty()) {
        std::string list;
        for (std::size_t i = 0; i < unknown.size() && i < 5; ++i) list += (i ? ", " : "") + unknown[i];
        if (unknown.size() > 5) list += ", ...";
        notes->push_back("ignored " + std::to_string(unknown.size()) + " unknown tensors: " + list);
    }
}

}  // namespace

void saveModel(const Model& model, const std::filesystem::path& path) {
    model.config.validate();
    safetensors::File file;
    for (const auto& named : model.weights.named()) {
        safetensors::Tensor t;
        t.shape = expectedShape(*named.tensor, named.isVector);
        t.values.assign(named.tensor->data(), named.tensor->data() + named.tensor->size());
        file.tensors.emplace(named.name, std::move(t));
    }
    file.metadata = model.metadata;
    const Config& c = model.config;
    file.metadata["format"] = kFormat;
    file.metadata["format_version"] = kFormatVersion;
    file.metadata["config"] = nlohmann::json{{"vocab_size", c.vocabSize}, {"context", c.context},
                                             {"layers", c.layers},         {"heads", c.heads},
                                             {"d_model", c.dModel},        {"head_dim", c.headDim}}
                                  .dump();
    safetensors::write(path, file);
}

Model loadModel(const std::filesystem::path& path, std::vector<std::string>* notes) {
    // The header first (shapes, metadata), then one tensor at a time straight into the model, so
    // the weights are held about once while loading; mask buffers are never read.
    safetensors::File file = safetensors::read(path, [](const std::string&) { return false; });
    // Hugging Face exports of GPT2Model sometimes keep the "transformer." module prefix.
    safetensors::File stripped;
    stripped.metadata = file.metadata;
    std::map<std::string, std::string> original;  // stripped name -> name in the file
    for (auto& [name, tensor] : file.tensors) {
        const std::string prefix = "transformer.";
        std::string key = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
        original.emplace(key, name);
        stripped.tensors.emplace(std::move(key), std::move(tensor));
    }
    const auto valuesOf = [&](const std::string& key) {
        const std::string& name = original.at(key);
        auto one = safetensors::read(path, [&](const std::string& n) { return n == name; });
        return std::move(one.tensors.at(name).values);
    };

    Model model;
    model.metadata = stripped.metadata;
    auto config = stripped.metadata.find("config");
    try {
        model.config = config != stripped.metadata.end() ? configFromMetadata(config->second)
                                                         : configFromShapes(shapesOf(stripped), path.string());
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("model file " + path.string() + ": bad config metadata: " + e.what());
    }
    if (auto v = stripped.metadata.find("format_version");
        v != stripped.metadata.end() && stripped.metadata.count("format") && v->second != kFormatVersion)
        throw std::runtime_error("model file " + path.string() + ": format version " + v->second +
                                 " is not supported (expected " + kFormatVersion + ")");
    model.config.validate();
    if (notes && config == stripped.metadata.end()) {
        const std::string size = gpt2SizeName(model.config);
        const Config& c = model.config;
        notes->push_back((size.empty() ? std::string("config") : "GPT-2 " + size + " config") +
                         " from the tensor shapes: " + std::to_string(c.layers) + " layers, " + std::to_string(c.heads) +
                         " heads, d_model " + std::to_string(c.dModel) + ", context " + std::to_string(c.context) +
                         ", vocab " + std::to_string(c.vocabSize));
    }
    model.weights = Weights::zeros(model.config);
    for (auto& named : model.weights.named()) {
        auto it = stripped.tensors.find(named.name);
        const auto expected = expectedShape(*named.tensor, named.isVector);
        if (it == stripped.tensors.end())
            throw std::runtime_error("model file " + path.string() + ": missing tensor '" + named.name +
                                     "' (expected shape " + shapeText(expected) + ")");
        if (it->second.shape != expected)
            throw std::runtime_error("model file " + path.string() + ": tensor '" + named.name + "' has shape " +
                                     shapeText(it->second.shape) + ", expected " + shapeText(expected));
        const auto values = valuesOf(named.name);
        std::copy(values.begin(), values.end(), named.tensor->data());
    }
    checkLeftovers(stripped, model, path, valuesOf, notes);
    return model;
}

}  // namespace imc::nn
