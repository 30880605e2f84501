// Model <-> safetensors, with GPT-2 tensor names and our config in __metadata__.
#include "nn/nn.hpp"
#include "nn/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace imc::nn {
namespace {

constexpr const char* kFormat = "imc-nn";
constexpr const char* kFormatVersion = "1";

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

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

// A plain GPT-2 checkpoint carries no config: read it off the tensor shapes.
Config configFromShapes(const safetensors::File& file, const std::filesystem::path& path) {
    auto need = [&](const std::string& name) -> const safetensors::Tensor& {
        auto it = file.tensors.find(name);
        if (it == file.tensors.end())
            throw std::runtime_error("model file " + path.string() + ": missing tensor '" + name + "'");
        if (it->second.shape.size() != 2)
            throw std::runtime_error("model file " + path.string() + ": tensor '" + name + "' should be 2-D");
        return it->second;
    };
    Config c;
    const auto& wte = need("wte.weight");
    c.vocabSize = static_cast<int>(wte.shape[0]);
    c.dModel = static_cast<int>(wte.shape[1]);
    c.context = static_cast<int>(need("wpe.weight").shape[0]);
    c.layers = 0;
    while (file.tensors.count("h." + std::to_string(c.layers) + ".ln_1.weight")) ++c.layers;
    c.headDim = 64;
    c.heads = c.dModel / c.headDim;
    return c;
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

Model loadModel(const std::filesystem::path& path) {
    safetensors::File file = safetensors::read(path);
    // Hugging Face exports of GPT2Model sometimes keep the "transformer." module prefix.
    safetensors::File stripped;
    stripped.metadata = file.metadata;
    for (auto& [name, tensor] : file.tensors) {
        const std::string prefix = "transformer.";
        std::string key = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
        stripped.tensors.emplace(std::move(key), std::move(tensor));
    }

    Model model;
    model.metadata = stripped.metadata;
    auto config = stripped.metadata.find("config");
    try {
        model.config = config != stripped.metadata.end() ? configFromMetadata(config->second)
                                                         : configFromShapes(stripped, path);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("model file " + path.string() + ": bad config metadata: " + e.what());
    }
    if (auto v = stripped.metadata.find("format_version");
        v != stripped.metadata.end() && stripped.metadata.count("format") && v->second != kFormatVersion)
        throw std::runtime_error("model file " + path.string() + ": format version " + v->second +
                                 " is not supported (expected " + kFormatVersion + ")");
    model.config.validate();
    model.weights = Weights::zeros(model.config);
    for (auto& named : model.weights.named()) {
        auto it = stripped.tensors.find(named.name);
        if (it == stripped.tensors.end())
            throw std::runtime_error("model file " + path.string() + ": missing tensor '" + named.name + "'");
        const auto expected = expectedShape(*named.tensor, named.isVector);
        if (it->second.shape != expected)
            throw std::runtime_error("model file " + path.string() + ": tensor '" + named.name + "' has shape " +
                                     shapeText(it->second.shape) + ", expected " + shapeText(expected));
        std::copy(it->second.values.begin(), it->second.values.end(), named.tensor->data());
    }
    return model;
}

}  // namespace imc::nn
