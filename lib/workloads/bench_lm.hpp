#pragma once
// imc bench lm: a GPT-2-sized language model's prefill and KV-cache decode speed and peak
// memory for chosen attention backends, against llm.c's CPU forward (train_gpt2.c, built from a
// folder the user supplies) on the same weights converted to its checkpoint, measured as
// interleaved repeats in the same run.
#include "nn/nn.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace imc::nn {

struct LmBenchOptions {
    std::string size = "124M";             // a released size, or "LxC[xT]" (L layers, C wide, 64-wide heads, context T)
    std::filesystem::path checkpoint;      // a Hugging Face GPT-2 model.safetensors; empty: random weights
    std::filesystem::path workDir;         // random checkpoint, llm.c files; empty: <temp>/imc-bench-lm
    std::vector<std::string> attention{"ideal"};
    std::string fitsDir;                   // gain-cell backends' fits (empty: the default)
    int prefillTokens = 256;               // one sequence of this length per prefill
    int decodeTokens = 128;                // KV-cache steps from an empty cache
    int repeats = 3;                       // interleaved; tokens/s are medians
    int threads = 2;                       // imc workers and llm.c's OMP_NUM_THREADS
    std::filesystem::path llmcDir;         // folder with llm.c's train_gpt2.c; empty: llm.c skipped
    std::uint64_t seed = 1;                // random weights and token ids
    std::function<void(const std::string&)> log;
};

// The config of a --size value; throws naming the accepted forms.
Config lmBenchConfig(const std::string& size);

// Writes the random GPT-2 checkpoint of `size` in the Hugging Face layout (the generator behind
// the benchmark, also for tests and for trying `imc infer` without real weights).
void writeRandomGpt2Checkpoint(const std::string& size, std::uint64_t seed, const std::filesystem::path& path);

nlohmann::json benchLm(const LmBenchOptions& options);

}  // namespace imc::nn
