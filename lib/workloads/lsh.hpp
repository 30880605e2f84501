#pragma once
// The workloads of the memristor RP-LSH paper on imc::lsh (letter shift, needed-key recall,
// collision statistics, scaling against exact attention) and LSH as a drop-in for softmax in the
// character language model (paper 001).
#include "lsh/lsh.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace imc::lsh {

// How often the key a query needs shares the query's bucket. For each query i with
// neededKey[i] >= 0: round r hits when bucketsPerRound[r][i] == bucketsPerRound[r][neededKey[i]];
// unionHits[R - 1] counts the queries hit in at least one of rounds 0..R-1 (the union of rounds
// the paper attends to), roundHits[r] and jointHits[r * rounds + s] the single and joint hits.
struct NeededKeyRecall {
    int rounds = 0;
    long queries = 0;
    std::vector<long> unionHits, roundHits, jointHits;

    NeededKeyRecall() = default;
    explicit NeededKeyRecall(int roundCount);
    // bucketsPerRound: >= rounds rounds of [L] buckets; neededKey: [L], -1 where nothing is needed.
    void add(const std::vector<std::vector<int>>& bucketsPerRound, const std::vector<int>& neededKey);
    double recall(int roundCount) const;   // unionHits[R - 1] / queries
    double roundRecall(int round) const;   // roundHits[r] / queries
    // Mean phi coefficient of the per-query hit indicators over all pairs of rounds (0 when
    // undefined): how far the rounds are from independent draws for the same pairs.
    double roundCorrelation() const;
};

// Letter shift, two tasks. "same" ("xdcz" -> "yeda", the paper's literal description): the
// target at t is the successor of the letter at t; attention is bidirectional within the sequence,
// self included. "previous" ("xdcz" -> "?yed", scored for t >= 1): the successor of the letter at
// t - 1; learned positional embeddings (so a letter's code differs by position), causal mask and
// the Reformer self rule, trained with full attention. Both: embedding 26 x 64, one head, W_Q = W_K:
// 64 x 16 with Q = K = (X W_Q > 0) binarized (straight-through in training), W_V: 64 x 16, then a
// ReLU feed-forward layer and a linear layer to 26 logits. No residual path: a position sees
// letters only through attention, restricted at test to keys of the query's bucket (union over
// rounds).
struct LettersOptions {
    std::string task = "same";      // same | previous
    std::string attention = "lsh";  // lsh | ideal (full attention at test)
    std::string rp = "memristor";   // gaussian | memristor | passive
    int rounds = 1;
    int buckets = 2;
    // memristor or passive fits file; empty: defaultMemristorFitsPath() for memristor, the
    // PassiveOptions defaults for passive
    std::string fitsPath;
    int minLength = 3, maxLength = 6;
    int trainSteps = 3000;
    int batch = 32;
    double learningRate = 3e-3;
    double weightDecay = 1e-4;
    int hidden = 64;
    // Training: "lsh" draws a fresh Gaussian R (one round, `buckets` buckets) per minibatch so the
    // model learns to decode within buckets of any hyperplane; "full" trains with full attention.
    // Empty: lsh for "same", full for "previous".
    std::string trainAttention;
    // allow | exclude (the Reformer rule: a token attends to itself only when it has no other
    // target), in training and test. Empty: allow for "same", exclude for "previous".
    std::string self;
    int testSequences = 2000;
    int arrays = 20;  // independent crossbars (or R draws) tested; "accuracy" is the first one
    std::uint64_t seed = 1;
};
// Also reports, for every round count 1..max(rounds, 4) over the arrays: token and sequence
// accuracy, needed-key recall (NeededKeyRecall), the independent-rounds prediction
// 1 - (1 - r1)^R, the correlation between rounds, and the paper's numbers beside ours.
nlohmann::json runLettersWorkload(const LettersOptions& options);
// A few lines of text from runLettersWorkload's result: accuracy and needed-key recall per round
// count (mean +- std over the arrays) beside the paper's 72 % and +12 %.
std::string lettersSummary(const nlohmann::json& result);

// The table of the paper comparison: rounds 1..maxRounds x bucket counts, memristor and Gaussian
// RP, full attention beside them, plus the intra/inter-bucket cosine similarities.
struct LettersSweepOptions {
    LettersOptions base;
    int maxRounds = 8;
    std::vector<int> bucketCounts{2, 4, 8, 16};
};
nlohmann::json runLettersSweep(const LettersSweepOptions& options);

// P(two vectors at angle theta share a bucket) with 2 buckets, estimated over `pairs` random
// pairs (uniform on the sphere in `dim` dimensions, a fresh R per pair) for the Gaussian,
// memristor and passive families, against 1 - theta/pi.
struct CollisionOptions {
    int dim = 16;
    int pairs = 20000;
    std::vector<double> anglesDeg{0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180};
    std::string fitsPath;  // memristor conductance fit; empty: defaultMemristorFitsPath()
    std::uint64_t seed = 1;
};
nlohmann::json runCollisionStatistics(const CollisionOptions& options);
// One estimate: fraction of `pairs` random pairs at angle theta_rad that collide in `family`-kind
// 2-bucket hashes ("gaussian" | "memristor" | "passive").
double collisionFrequency(const std::string& family, int dim, double theta_rad, int pairs, std::uint64_t seed,
                          const MemristorOptions& memristor, const PassiveOptions& passive);

// Time and peak memory of the LSH kernel against exact attention over sequence lengths. Each
// measurement runs in a forked child whose peak resident set is reset before the kernel, so the
// memory column is the kernel's real high-water mark above its inputs.
struct ScalingOptions {
    // Lengths below 1K only locate the crossover; the growth exponent is fitted from 1K up.
    std::vector<int> lengths{128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
    int headDim = 64;
    int buckets = 64;
    int rounds = 1;
    int chunk = 64;
    int engineIdealMaxLength = 8192;  // nn::IdealAttention keeps an L x L matrix; beyond: not run
    std::uint64_t seed = 1;
};
nlohmann::json runScalingBenchmark(const ScalingOptions& options);

// ---------------------------------------------------------------- LSH in the language model

// The shipped character model with LSH attention in place of softmax (paper 001's drop-in):
// held-out perplexity and the fraction of its causal-visible keys each query attends to, over a
// grid of projections x buckets x rounds; then each of `fineTune` settings fine-tuned with LSH in
// the loop (exact gradients over the selected pairs) for fineTuneSteps steps, against the same
// model fine-tuned as many steps with ideal attention (the reference the 2 % target is measured on).
struct LmLshSetting {
    std::string rp = "gaussian";  // or "none": the local window alone, the baseline LSH must beat
    int buckets = 4;
    int rounds = 2;
    int window = -1;  // LshAttentionSettings::window; -1: the base's
};

struct LmLshReportOptions {
    std::filesystem::path weights;  // empty: models/char-lm.safetensors
    std::filesystem::path fortunes = "/usr/share/games/fortunes";
    LshOptions base;                // chunk, self rule, combination, query hashing, fits, seed
    std::vector<std::string> projections{"gaussian", "memristor", "passive"};
    std::vector<int> rounds{1, 2, 4, 8};
    std::vector<int> buckets{2, 4, 8, 16};
    // Local windows of the grid (LshAttentionSettings::window); 0 is LSH alone. -1: the base's.
    std::vector<int> windows{-1};
    std::size_t evalTokens = 16384;
    int fineTuneSteps = 1000;  // 0: no fine-tuning
    std::vector<LmLshSetting> fineTune{{"gaussian", 4, 2}};
    float learningRate = 3e-4f;
    int warmupSteps = 20;
    int batch = 8;
    std::uint64_t seed = 1;  // fine-tuning batches
    std::function<void(const std::string&)> log;  // progress lines (may be empty)
};
nlohmann::json runLmLshReport(const LmLshReportOptions& options);
// Perplexity against attended fraction, one series per projection, the fine-tuned settings and the
// ideal references as lines. False when gnuplot failed.
bool plotLmLshReport(const nlohmann::json& report, const std::filesystem::path& png);

// Exact causal softmax attention in query x key blocks with an online softmax: O(L) extra memory,
// the exact reference at lengths where an L x L matrix does not fit. Same contract as forward().
void blockedExactAttention(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out, int block = 256);

}  // namespace imc::lsh
