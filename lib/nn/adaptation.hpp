#pragma once
// The adaptation algorithm of paper 002 (Methods, eq. 9): per layer and head, affine scalars
// y = a x + b on Q, K, V and on the attention output ("scaling stages", eq. 8), tuned so that
// every stage of the nonlinear hardware model has the mean and standard deviation the same stage
// has in the linear model on a calibration set. Also: the scalars file saved beside the weights,
// folding scalars into the weights, and a backend wrapper that applies fixed scalars in training.
#include "nn/nn.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace imc::nn {

enum class ScalingStage { Query = 0, Key = 1, Value = 2, Output = 3 };
inline constexpr int kScalingStages = 4;
const char* scalingStageName(ScalingStage stage);  // "q", "k", "v", "out"

struct Moments {
    double mean = 0;
    double std = 0;  // population standard deviation over every element of the stage
};

// Moments of every scaling stage's output, layer-major [layers * heads][stage].
struct StageStatistics {
    int layers = 0, heads = 0;
    std::vector<std::array<Moments, kScalingStages>> moments;  // [layers * heads]
    const Moments& at(int layer, int head, ScalingStage stage) const;
    Moments& at(int layer, int head, ScalingStage stage);
};

// `sequences` windows of the context length taken from `tokens` at seeded offsets:
// [sequences * context] row-major, the calibration set of the adaptation.
std::vector<int> calibrationTokens(std::span<const int> tokens, int sequences, int context, std::uint64_t seed);

// Runs the model over the calibration windows (one sequence per forward pass, so the sums do not
// depend on the thread count) and returns the moments of each scaling stage's output: Q, K and V
// after their scalars (what the backend receives), out after a_out * out' + b_out.
// Layers after `lastLayer` (>= 0) are skipped: their attention is replaced by zeros.
StageStatistics measureStageStatistics(const Model& model, const AttentionBackend& backend,
                                       std::span<const HeadScalars> scalars, std::span<const int> calibration,
                                       int lastLayer = -1);

struct AdaptationOptions {
    double tolerance = 1e-4;   // on |sigma_L - sigma_NL| and |mu_L - mu_NL|, every head of a stage
    int maxIterations = 60;    // per stage
    // Damped eq. 9: a <- a (sigma_L / sigma_NL)^eta, b <- b + eta (mu_L - mu_NL). eta starts at
    // stepStart and is halved (not below stepMin) whenever the largest error of a stage grows.
    double stepStart = 1.0;
    double stepMin = 0.1;
};

struct StageReport {
    int layer = 0;
    ScalingStage stage = ScalingStage::Query;  // Q, K and V of a layer are adapted together
    int iterations = 0;
    bool converged = false;
    double stdError = 0, meanError = 0;  // largest over the heads (and over Q, K, V) at the end
};

struct AdaptationResult {
    std::vector<HeadScalars> scalars;  // layer-major [layers * heads]
    std::vector<StageReport> stages;
    bool converged = false;  // every stage met the tolerance
    int iterations = 0;      // forward passes over the calibration set, all stages
    double maxStdError = 0, maxMeanError = 0;
};

// Stage by stage through the network (layer 0: Q, K, V together, then out; layer 1: ...), since a
// stage's input depends only on the stages before it: the nonlinear model's scalars are updated
// until its statistics match `target` (the linear model's, from measureStageStatistics).
AdaptationResult adaptHeadScalars(const Model& model, const AttentionBackend& backend, const StageStatistics& target,
                                  std::span<const int> calibration, const AdaptationOptions& options = {},
                                  std::span<const HeadScalars> initial = {});

// The paper's use: targets from `linear` with identity scalars, adapting `nonlinear`.
AdaptationResult adaptToLinearModel(const Model& model, const AttentionBackend& linear,
                                    const AttentionBackend& nonlinear, std::span<const int> calibration,
                                    const AdaptationOptions& options = {});

// ---------------------------------------------------------------- scalars file

inline constexpr int kHeadScalarsFileVersion = 1;

struct HeadScalarsFile {
    int layers = 0, heads = 0;
    std::vector<HeadScalars> scalars;  // layer-major
    std::string backend;               // the backend they adapt, e.g. "gaincell"
    std::string weights;               // file name of the weights they belong to
    std::string fits;                  // fits directory used
    nlohmann::json adaptation;         // the adaptation report, for people
};

// JSON: {"format": "imc-head-scalars", "version": 1, "layers", "heads", "backend", "weights",
// "fits", "scalars": [{"layer", "head", "q": [a, b], "k": [a, b], "v": [a, b], "out": [a, b]}],
// "adaptation": {...}}. Numbers are written so that they read back to the same float.
void saveHeadScalars(const HeadScalarsFile& file, const std::filesystem::path& path);
// Throws std::runtime_error naming the file: another format or version (saying how to refit),
// a missing field, or a table that does not cover every layer and head exactly once.
HeadScalarsFile loadHeadScalars(const std::filesystem::path& path);
// "models/char-lm-linear.safetensors" -> "models/char-lm-linear.gaincell-scalars.json".
std::filesystem::path headScalarsPathFor(const std::filesystem::path& weights, const std::string& backend = "gaincell");

// The scalars a command applies to a nonlinear backend: the file beside the weights
// (headScalarsPathFor), checked against the model's layers and heads; with refit, or when there is
// no file, fitted now with adaptToLinearModel on calibration windows of the fortunes' training
// split and, with refit, saved there.
struct HeadScalarsRequest {
    std::filesystem::path weights;
    bool refit = false;
    std::filesystem::path fortunes = "/usr/share/games/fortunes";
    std::uint64_t seed = 1;          // calibration windows
    int calibrationSequences = 8;
    std::span<const int> calibrationText;  // tokens the windows come from; empty: the fortunes' training split
    std::string fits;                // recorded in a saved file
    std::function<void(const std::string&)> log;  // notes and warnings (may be empty)
};
struct HeadScalarsResult {
    std::vector<HeadScalars> scalars;  // layer-major
    nlohmann::json info;               // where they came from; the adaptation report when fitted now
};
HeadScalarsResult headScalarsFor(const Model& model, const HeadScalarsRequest& request, const AttentionBackend& linear,
                                 const AttentionBackend& nonlinear);

// ---------------------------------------------------------------- scalars and weights

// Folds the scalars into c_attn (Q, K, V columns of each head) and the attention's c_proj
// (rows of each head), exactly: the model with identity scalars computes what it computed with them.
void foldHeadScalars(Model& model, std::span<const HeadScalars> scalars);

// A backend with fixed scalars applied around another one (forward and the chain rule backward),
// so train(), which knows no scalars, can fine-tune an adapted model.
class ScaledAttention final : public AttentionBackend {
public:
    ScaledAttention(const AttentionBackend& inner, std::vector<HeadScalars> scalars, int heads);
    std::string name() const override { return inner_.name(); }
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override;
    // The inner backend's cache and append-only step (the scalars are fixed, so scaled rows stay put).
    std::unique_ptr<AttentionCache> makeCache(const HeadSite& site) const override { return inner_.makeCache(site); }
    void decode(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                AttentionCache* cache) const override;
    void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                  const AttentionTape& tape, MatrixRef dq, MatrixRef dk, MatrixRef dv) const override;

private:
    const HeadScalars& at(const HeadSite& site) const;
    const AttentionBackend& inner_;
    std::vector<HeadScalars> scalars_;
    int heads_;
};

}  // namespace imc::nn
