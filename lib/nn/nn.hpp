#pragma once
// A GPT-2 style transformer on Eigen: weights with GPT-2 tensor names, batched forward and
// backward with a pluggable attention backend, KV-cache decoding, training and evaluation.
#include "nn/attention.hpp"
#include "nn/linear.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace imc::nn {

struct Config {
    int vocabSize = 256;
    int context = 128;  // maximum sequence length (rows of wpe)
    int layers = 4;
    int heads = 2;
    int dModel = 128;
    int headDim = 64;  // dModel == heads * headDim, as in GPT-2

    // The shipped character-level language model.
    static Config characterLm();
    // Throws std::invalid_argument when the sizes are inconsistent.
    void validate() const;
    bool operator==(const Config&) const = default;
};

// Tensors use GPT-2's layout: Conv1D weights are [in, out] so y = x W + b; vectors are [1, n].
struct LayerWeights {
    Matrix ln1Weight, ln1Bias;          // [1, C]
    Matrix attnWeight, attnBias;        // c_attn: [C, 3C], [1, 3C]; columns are q | k | v
    Matrix attnProjWeight, attnProjBias;  // c_proj: [C, C], [1, C]
    Matrix ln2Weight, ln2Bias;          // [1, C]
    Matrix fcWeight, fcBias;            // c_fc: [C, 4C], [1, 4C]
    Matrix fcProjWeight, fcProjBias;    // mlp.c_proj: [4C, C], [1, C]
};

struct Weights {
    Matrix wte;  // [vocab, C], also the output head (tied)
    Matrix wpe;  // [context, C]
    std::vector<LayerWeights> layers;
    Matrix lnfWeight, lnfBias;  // [1, C]

    // All-zero tensors of the right shapes (gradients, optimizer moments, a model to load into).
    static Weights zeros(const Config& config);
    // GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers).
    static Weights initialized(const Config& config, std::uint64_t seed);

    struct Named {
        std::string name;  // GPT-2 name, e.g. "h.0.attn.c_attn.weight"
        Matrix* tensor;
        bool isVector;  // stored as 1-D [n] in files
    };
    struct ConstNamed {
        std::string name;
        const Matrix* tensor;
        bool isVector;
    };
    std::vector<Named> named();
    std::vector<ConstNamed> named() const;
    std::size_t parameterCount() const;
};

struct Model {
    Config config;
    Weights weights;
    std::map<std::string, std::string> metadata;  // tokenizer, training info, ... (from/to file)
};

// safetensors with GPT-2 tensor names; the config and `metadata` go in __metadata__.
void saveModel(const Model& model, const std::filesystem::path& path);
// Accepts F32, F16 and BF16 tensors and an optional "transformer." prefix. Without our metadata
// (a Hugging Face GPT-2 model.safetensors) the config is inferred from the shapes (head_dim 64);
// mask buffers (h.N.attn.bias) are skipped and a tied lm_head.weight is checked against wte.
// Errors name the offending tensor and the expected shape; `notes` gets what was inferred or ignored.
Model loadModel(const std::filesystem::path& path, std::vector<std::string>* notes = nullptr);

// Worker threads used by every parallel loop; results do not depend on the count.
void setThreadCount(int threads);  // <= 0: all cores
int threadCount();

// Batched forward/backward over [batch, seqLen] token blocks (training and prefill evaluation).
class Transformer {
public:
    Transformer(const Model& model, const AttentionBackend& backend);
    // Every block's linear layers through `linear` (which must outlive the Transformer).
    Transformer(const Model& model, const AttentionBackend& backend, const LinearBackend& linear);
    ~Transformer();
    Transformer(const Transformer&) = delete;
    Transformer& operator=(const Transformer&) = delete;

    HeadScalars& headScalars(int layer, int head);
    // All of them at once, layer-major: [layers * heads] (empty: identity).
    void setHeadScalars(std::span<const HeadScalars> scalars);

    // tokens: [batch * seqLen] row-major -> logits [batch * seqLen, vocab].
    const Matrix& forward(std::span<const int> tokens, int batch, int seqLen);
    // Forward plus mean next-token cross-entropy; targets < 0 are ignored.
    float forwardLoss(std::span<const int> tokens, std::span<const int> targets, int batch, int seqLen);
    // Gradients of the last forwardLoss, added to `grads` (same shapes as the weights).
    void backward(Weights& grads);
    // The final layer norm's output of the last forward: [batch * seqLen, dModel].
    const Matrix& finalHidden() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

// Autoregressive decoding with a KV cache: one token in, next-token logits out.
class Decoder {
public:
    Decoder(const Model& model, const AttentionBackend& backend);
    Decoder(const Model& model, const AttentionBackend& backend, const LinearBackend& linear);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    HeadScalars& headScalars(int layer, int head);
    void setHeadScalars(std::span<const HeadScalars> scalars);  // layer-major, empty: identity
    void reset();
    int position() const;  // tokens in the cache
    // Appends `token` at position() (< context) and returns logits [1, vocab].
    const Matrix& step(int token);

private:
    struct State;
    std::unique_ptr<State> state_;
};

// Bytes are tokens; byte 0 (never in the text) marks the end of a document.
struct ByteTokenizer {
    static constexpr int kVocabSize = 256;
    static constexpr int kEndOfText = 0;
    static std::vector<int> encode(std::string_view text);
    static std::string decode(std::span<const int> tokens);  // end-of-text tokens are dropped
};

struct TextSplit {
    std::vector<int> train, validation;
    std::size_t trainDocuments = 0, validationDocuments = 0;
};
// The fortunes Debian ships (package `fortunes`): every file but *.dat/*.u8, split at "%" lines,
// each fortune followed by end-of-text; every `validationEvery`-th fortune is held out.
TextSplit loadFortunes(const std::filesystem::path& directory = "/usr/share/games/fortunes", int validationEvery = 10);

// The fortunes of the files named `topics` (e.g. "computers"), labelled by their index in
// `topics`, held out exactly as loadFortunes holds them out (the same global count over every
// file), so a classifier on the LM backbone is scored on fortunes the LM never trained on.
// Throws naming a topic that has no file.
struct LabelledText {
    std::vector<int> tokens;  // bytes, no end-of-text
    int label = 0;
    bool heldOut = false;
};
std::vector<LabelledText> loadFortuneTopics(const std::filesystem::path& directory, const std::vector<std::string>& topics,
                                            int validationEvery = 10);

struct EvalResult {
    double loss = 0;  // nats per token
    double perplexity = 0;
    std::size_t tokens = 0;
    double seconds = 0;
};
// Non-overlapping windows of the context length over the first `maxTokens` predictions.
// headScalars: layer-major [layers * heads], empty for identity.
EvalResult evaluate(const Model& model, const AttentionBackend& backend, std::span<const int> tokens,
                    std::size_t maxTokens, std::span<const HeadScalars> headScalars = {});
// The same with every block's linear layers through `linear`.
EvalResult evaluate(const Model& model, const AttentionBackend& backend, const LinearBackend& linear,
                    std::span<const int> tokens, std::size_t maxTokens);

struct TrainOptions {
    int steps = 2000;
    int batch = 8;
    float learningRate = 2e-3f;
    float minLearningRateFraction = 0.1f;  // cosine decay ends at this fraction
    int warmupSteps = 100;
    float weightDecay = 0.1f;  // on matrices only
    float beta1 = 0.9f, beta2 = 0.95f;
    float gradClip = 1.0f;
    std::uint64_t seed = 1;
    int evalEvery = 0;  // 0: only at the end
    std::size_t evalTokens = 16384;
    // Linear layers of every block (null: dense); its parameters() are optimized beside the
    // model's weights, without weight decay.
    LinearBackend* linear = nullptr;
};

struct TrainProgress {
    int step = 0, steps = 0;
    float loss = 0, learningRate = 0, gradNorm = 0;
    double tokensPerSecond = 0, elapsedSeconds = 0, etaSeconds = 0;
    double validationLoss = -1;  // >= 0 when evaluated at this step
};

struct TrainResult {
    std::vector<float> losses;  // per step
    double validationLoss = 0;
    double seconds = 0;
};

// AdamW with warmup + cosine schedule and global-norm clipping; deterministic from the seed.
TrainResult train(Model& model, const AttentionBackend& backend, std::span<const int> trainTokens,
                  std::span<const int> validationTokens, const TrainOptions& options,
                  const std::function<void(const TrainProgress&)>& onProgress = {});

struct GenerateOptions {
    int maxNewTokens = 200;
    float temperature = 0.8f;  // 0: greedy
    std::uint64_t seed = 1;
};
std::string generate(const Model& model, const AttentionBackend& backend, std::string_view prompt,
                     const GenerateOptions& options, std::span<const HeadScalars> headScalars = {});
// The same over token ids of any tokenizer: continues `prompt` until `endOfText` (-1: none) or
// maxNewTokens; returns the new tokens.
std::vector<int> generateTokens(const Model& model, const AttentionBackend& backend, std::span<const int> prompt,
                                const GenerateOptions& options, int endOfText,
                                std::span<const HeadScalars> headScalars = {});

}  // namespace imc::nn
