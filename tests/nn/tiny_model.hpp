#pragma once
// A tiny model for gradient checks: 2 layers, 2 heads of 4, vocabulary 13, context 8, with
// weights larger than the GPT-2 init so every path carries a visible gradient.
#include "nn/nn.hpp"
#include "nn/random.hpp"

namespace imc::nn::testing {

inline Config tinyConfig() {
    Config c;
    c.vocabSize = 13;
    c.context = 8;
    c.layers = 2;
    c.heads = 2;
    c.dModel = 8;
    c.headDim = 4;
    return c;
}

inline Model tinyModel(std::uint64_t seed) {
    Model model{tinyConfig(), Weights::initialized(tinyConfig(), seed), {}};
    Rng rng(seed + 100);
    for (auto& n : model.weights.named())
        for (Eigen::Index i = 0; i < n.tensor->size(); ++i) n.tensor->data()[i] += static_cast<float>(0.3 * rng.normal());
    return model;
}

}  // namespace imc::nn::testing
