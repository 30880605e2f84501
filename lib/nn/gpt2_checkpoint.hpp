#pragma once
// GPT-2 as released: its four sizes, the checkpoint layout Hugging Face publishes
// (model.safetensors of GPT2Model, read by loadModel) and llm.c's checkpoint format, so that
// tests and benchmarks can build GPT-2-shaped checkpoints with random weights.
#include "nn/nn.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace imc::nn {

struct Gpt2Size {
    std::string_view name;  // "124M", "355M", "774M", "1.5B"
    int layers, heads, dModel;
};
inline constexpr int kGpt2VocabSize = 50257;
inline constexpr int kGpt2Context = 1024;
std::span<const Gpt2Size> gpt2Sizes();

// The released config of a size (vocab 50257, context 1024, 64-wide heads); throws naming the sizes.
Config gpt2Config(std::string_view size);
// The released size `config` has, or "" for any other shape.
std::string gpt2SizeName(const Config& config);

// The config of a checkpoint without one (Hugging Face's), from its tensor shapes by name:
// vocab and d_model from wte, context from wpe, layers from h.N.ln_1.weight, 64-wide heads.
// Errors name `source`, the tensor and the expected shape.
Config configFromShapes(const std::map<std::string, std::vector<std::int64_t>>& shapes, const std::string& source);
std::string shapeText(const std::vector<std::int64_t>& shape);  // "[768, 2304]"

// Random weights in which every tensor matters: GPT-2 initialisation, plus N(0, 0.02) biases and
// layer-norm gains 1 + N(0, 0.1), so a loader that drops or swaps any tensor changes the logits.
Model randomGpt2Model(const Config& config, std::uint64_t seed);

// Writes `model` as Hugging Face publishes GPT-2: GPT-2 names without a prefix, Conv1D [in, out]
// matrices, no lm_head (tied), metadata {"format": "pt"} and, with `maskBuffers`, the causal
// mask buffers h.N.attn.bias [1, 1, context, context] that GPT2Model carries.
void saveHuggingFaceGpt2(const Model& model, const std::filesystem::path& path, bool maskBuffers = true);

// llm.c's train_gpt2.c checkpoint (magic 20240326, version 3): a 256-int header (magic, version,
// context, vocab, layers, heads, d_model, padded vocab), then every parameter as float32 in its
// order, matrices in PyTorch Linear [out, in] layout, wte padded with zero rows to `paddedVocab`
// (0: the vocab rounded up to a multiple of 128, llm.c's choice).
void saveLlmcCheckpoint(const Model& model, const std::filesystem::path& path, int paddedVocab = 0);

}  // namespace imc::nn
