#pragma once
// imc::lsh: locality-sensitive-hashing (Reformer-style) sparse attention whose random projections
// come from software, from a memristor crossbar model fitted to measured conductances, from a
// measured conductance map, or from a passive 0T1R stochastic VMM. The workloads of the papers
// (letter shift, collision statistics, scaling, LSH in the language model) are in workloads/lsh.hpp.
#include "fit/fit.hpp"
#include "nn/attention.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imc::lsh {

using Matrix = imc::nn::Matrix;
using ConstMatrixRef = imc::nn::ConstMatrixRef;
using MatrixRef = imc::nn::MatrixRef;

// ================================================================ hash families

// A hash family gives, for each round r, per-vector projections p: [L, buckets/2]; the bucket of
// a vector is argmax([p, -p]) (hashBuckets). Linear families have p = x R_r with R_r: [dim, buckets/2].
class HashFamily {
public:
    virtual ~HashFamily() = default;
    virtual std::string kind() const = 0;
    virtual int dim() const = 0;
    virtual int buckets() const = 0;
    virtual int rounds() const = 0;
    // x: [L, dim] -> [L, buckets/2]. Safe to call concurrently. readStream tells apart reads a
    // stochastic family must not correlate (e.g. the keys and the queries of one call); a
    // deterministic family ignores it.
    virtual Matrix project(ConstMatrixRef x, int round, std::uint64_t readStream = 0) const = 0;
};

// Ideal software RP, or any fixed matrices (memristor draws, measured maps): p = x R_r.
class LinearHashFamily final : public HashFamily {
public:
    // matrices: one [dim, buckets/2] per round, all the same shape.
    LinearHashFamily(std::string kind, std::vector<Matrix> matrices);
    std::string kind() const override { return kind_; }
    int dim() const override { return int(matrices_.front().rows()); }
    int buckets() const override { return 2 * int(matrices_.front().cols()); }
    int rounds() const override { return int(matrices_.size()); }
    Matrix project(ConstMatrixRef x, int round, std::uint64_t readStream = 0) const override;
    const Matrix& matrix(int round) const { return matrices_.at(round); }

private:
    std::string kind_;
    std::vector<Matrix> matrices_;
};

// R entries N(0, 1), independent per round; deterministic from the seed.
std::unique_ptr<LinearHashFamily> makeGaussianFamily(int dim, int buckets, int rounds, std::uint64_t seed);

// ---------------------------------------------------------------- memristor crossbar

// Conductances of one crossbar read: ln G ~ Normal(mu, sigma(n)) at programming cycle n.
// sigma(n) comes from, in order of preference:
//   1. cycleFit: a fits record of model "lognormal-cycle" with coefficients mu, sigma_0 and
//      sigma_per_decade: sigma(n) = sigma_0 + sigma_per_decade * log10(n) (mu is taken from it too);
//   2. conductanceFit ("lognormal", coefficients mu, sigma) plus the documented option
//      sigmaPerDecadeOfCycles: sigma(n) = sigma + sigmaPerDecadeOfCycles * log10(n).
// Round r is the array after firstCycle + r * cyclesBetweenRounds set/reset cycles (the paper
// cycles five times before the second round). A fraction deviceFraction of the log-variance is a
// fixed per-device offset (device-to-device) kept across cycles; the rest is redrawn at every
// reprogramming (cycle-to-cycle), so rounds are different hash functions.
struct MemristorOptions {
    fit::FitRecord conductanceFit;          // model "lognormal": mu, sigma of ln(G / 1 S)
    std::optional<fit::FitRecord> cycleFit;  // model "lognormal-cycle", see above
    int firstCycle = 1;
    int cyclesBetweenRounds = 5;
    double sigmaPerDecadeOfCycles = 0.0;
    double deviceFraction = 0.0;  // in [0, 1]
    double readVoltage_V = 3.0;   // a "1" input element; a "0" is 0 V (scales p, not the hash)

    // The HRS statistics the paper reports (mean 0.125 uS, standard deviation 0.008 uS) as a
    // lognormal record, for runs without a characterization fits file.
    static fit::FitRecord paperHrsFit();
    // Reads a fits file; "lognormal" fills conductanceFit, "lognormal-cycle" fills both.
    // provenance.parameters.variability_model.device_fraction, when present, sets deviceFraction.
    static MemristorOptions fromFitsFile(const std::string& path);
    double sigmaAtCycle(int cycle) const;
    double muAtCycle(int cycle) const;
};

// Conductances of the 2 * (buckets/2) columns for each round: [dim, buckets] per round, siemens.
std::vector<Eigen::MatrixXd> drawMemristorConductances(int dim, int buckets, int rounds, const MemristorOptions& options,
                                                       std::uint64_t seed);
// R_r = readVoltage * (G[:, 2c] - G[:, 2c+1]): the current difference of adjacent column pairs per
// volt-scaled binary input, in amperes per unit input.
std::unique_ptr<LinearHashFamily> makeMemristorFamily(int dim, int buckets, int rounds, const MemristorOptions& options,
                                                      std::uint64_t seed);

// ---------------------------------------------------------------- measured conductance maps

// Each CSV is a conductance map, rows x cols in siemens (a header line is allowed), e.g. a SPICE
// results table. Round r uses file r % files.size(); with fewer files than rounds a file's columns
// are consumed in consecutive blocks of `buckets` (round r uses block r / files.size()), so a wide
// map can serve several rounds. dim is the row count. Throws std::runtime_error when a file is
// too narrow or the files disagree in row count.
std::unique_ptr<LinearHashFamily> makeMeasuredFamily(const std::vector<std::string>& csvPaths, int buckets,
                                                     int rounds);
Eigen::MatrixXd readConductanceMap(const std::string& csvPath);

// ---------------------------------------------------------------- passive 0T1R stochastic VMM

// A semi-passive 0T1R array read with binary voltages: device current I = A1 V + A3 V^3 with A1 =
// G (log-uniform over [G_min, G_max], fixed per device) and A3 = a3PerA1 * G * (1 + a3Spread
// N(0,1)), fixed per device. An input element x > inputThreshold drives V_high, otherwise V_low.
// Each read adds Gaussian noise of readNoiseRelative times the column current. A column's bit is
// I > theta_col, where theta_col is the median noiseless column current over `calibrationInputs`
// random binary inputs (half ones), so bits are balanced. The projection value of column c is the
// mean of its bit over `readsPerHash` reads, minus 1/2: a low-resolution (readsPerHash + 1 levels),
// stochastic estimate whose hash is argmax([p, -p]) like the linear families.
struct PassiveOptions {
    double G_min_S = 3.16e-6;
    double G_max_S = 316e-6;
    double a3PerA1_per_V2 = 0.5;
    double a3Spread = 0.1;
    double V_low_V = 0.1;
    double V_high_V = 0.4;
    double inputThreshold = 0.5;  // for 0/1 inputs; use 0 for signed real inputs
    double readNoiseRelative = 0.02;
    int readsPerHash = 8;
    int calibrationInputs = 256;

    // Coefficients of a fits record of model "passive-0t1r" named as the fields above
    // (G_min_S, G_max_S, a3_per_A1_per_V2, a3_spread, V_low_V, V_high_V, read_noise_relative);
    // missing coefficients keep their defaults.
    static PassiveOptions fromFitsFile(const std::string& path);
};

class PassiveHashFamily final : public HashFamily {
public:
    PassiveHashFamily(int dim, int buckets, int rounds, const PassiveOptions& options, std::uint64_t seed);
    std::string kind() const override { return "passive"; }
    int dim() const override { return dim_; }
    int buckets() const override { return buckets_; }
    int rounds() const override { return int(arrays_.size()); }
    // The read noise of row i is drawn from a stream keyed by (array seed, round, readStream, i,
    // the row's drive pattern), not by call order: the same inputs give the same reads whatever
    // the thread count or the order of calls, different rows and inputs get independent noise.
    Matrix project(ConstMatrixRef x, int round, std::uint64_t readStream = 0) const override;
    // Noiseless column currents [L, buckets/2], amperes, for tests and calibration.
    Eigen::MatrixXd columnCurrents(ConstMatrixRef x, int round) const;
    const Eigen::VectorXd& thresholds(int round) const { return arrays_.at(round).threshold_A; }

private:
    struct Array {
        Eigen::MatrixXd A1, A3;        // [dim, buckets/2]
        Eigen::VectorXd threshold_A;   // [buckets/2]
    };
    int dim_, buckets_;
    PassiveOptions options_;
    std::vector<Array> arrays_;
    std::uint64_t seed_;
};

// ---------------------------------------------------------------- by name

struct ProjectionSpec {
    std::string kind = "gaussian";  // gaussian | memristor | measured | passive
    int buckets = 8;                // even, >= 2
    int rounds = 1;
    std::uint64_t seed = 1;
    std::string fitsPath;                   // memristor: lognormal or lognormal-cycle; passive: passive-0t1r
    std::vector<std::string> measuredCsv;   // measured
    std::optional<MemristorOptions> memristor;  // overrides fitsPath when set
    std::optional<PassiveOptions> passive;      // overrides fitsPath when set
};
// Throws std::invalid_argument on an unknown kind or bad sizes.
std::unique_ptr<HashFamily> makeHashFamily(const ProjectionSpec& spec, int dim);

// Bucket of each row of projections p: [L, buckets/2] -> argmax over [p, -p] (length buckets).
// Ties go to the lowest index, so an all-zero input (e.g. a binary query with no ones, which
// gives zero current in every column) lands in bucket 0.
std::vector<int> hashBuckets(ConstMatrixRef projections);

// ================================================================ LSH attention

enum class RoundCombination {
    // Reformer: each round's softmax output weighted by exp(its log-sum-exp normalizer - total);
    // a pair found in several rounds counts once per round.
    LogSumExp,
    // The memristor paper: a query attends to the union of its per-round sets, each pair once
    // (the same log-sum-exp combination with a log(count) correction per duplicated pair).
    Union,
};

struct LshAttentionSettings {
    int chunk = 64;  // tokens per chunk of the sorted order; a chunk also sees the previous one
    RoundCombination combination = RoundCombination::LogSumExp;
    bool causal = true;          // keys at positions <= the query's
    bool excludeSelf = true;     // a token attends to itself only when it has no other target
    bool sameBucketOnly = true;  // inside the chunk window, only keys of the query's bucket
    // The `window` most recent positions p - window < j <= p (self only when allowed) are always
    // attended beside the buckets, as one more set in the combination; pairs the rounds find
    // inside it are left to it, so each counts once. 0: LSH alone.
    int window = 0;
};

// One head. The model is shared-QK: position j's bucket in round r is bucketsPerRound[r][j],
// computed from its key, and a query is placed at its own position's bucket. q: [Tq, d] are the last
// Tq of the Tk positions; k, v: [Tk, d], [Tk, dv]; out: [Tq, dv]. Scores are q.k / sqrt(d).
// Time O(rounds * L * (log L + chunk * d)), extra memory O(rounds * L * dv).
// pairsKey/pairsProb (optional, resized here): [Tq, rounds * 2 * chunk + window] of the final softmax.
void lshAttentionForward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         const std::vector<std::vector<int>>& bucketsPerRound, const LshAttentionSettings& settings,
                         MatrixRef out, Matrix* pairsKey = nullptr, Matrix* pairsProb = nullptr);
// The same with queries hashed on their own (a model with separate W_Q and W_K): query i's bucket
// in round r is queryBucketsPerRound[r][i] ([rounds][Tq]; empty: shared QK as above), and it sits
// in the sorted order of round r where a joint (bucket, position) sort of queries and keys puts it,
// right after the keys of its bucket at positions <= its own; it sees the keys of its bucket in its
// chunk and the previous one. attendedKeys (optional): [Tq] distinct keys each query attends to
// over all rounds (1 for a query that falls back to itself).
void lshAttentionForward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         const std::vector<std::vector<int>>& bucketsPerRound,
                         const std::vector<std::vector<int>>& queryBucketsPerRound,
                         const LshAttentionSettings& settings, MatrixRef out, Matrix* pairsKey = nullptr,
                         Matrix* pairsProb = nullptr, std::vector<int>* attendedKeys = nullptr);
// Exact gradients over the selected pairs (bucket assignments are piecewise constant, so they are
// held fixed). Overwrites dq, dk, dv.
void lshAttentionBackward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                          const Matrix& pairsKey, const Matrix& pairsProb, MatrixRef dq, MatrixRef dk, MatrixRef dv);

// The same contract with straight O(L^2) double loops: sorted ranks counted pairwise, sets built
// per round, combined by brute force (LogSumExp: softmax over the multiset of all rounds' pairs;
// Union: softmax over the set union). The test reference of the kernel above.
Matrix lshAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v,
                             const std::vector<std::vector<int>>& bucketsPerRound,
                             const LshAttentionSettings& settings);
// With separate query buckets (the joint sort counted pairwise) and the distinct keys per query.
Matrix lshAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v,
                             const std::vector<std::vector<int>>& bucketsPerRound,
                             const std::vector<std::vector<int>>& queryBucketsPerRound,
                             const LshAttentionSettings& settings, std::vector<int>* attendedKeys = nullptr);

// How queries get their buckets when the model has separate W_Q and W_K.
enum class QueryHashing {
    SharedWithKeys,  // Reformer's shared-QK rule: a query takes its own position's key bucket
    Separate,        // queries hashed with the same projection as the keys, sorted jointly with them
};

struct LshOptions {
    ProjectionSpec projection;  // the hash family; one per (layer, head) site, seeded from the site
    LshAttentionSettings attention;
    QueryHashing queries = QueryHashing::Separate;
};

// What the queries of a backend attended to since its construction (or the last reset).
struct LshStatistics {
    std::uint64_t queries = 0;
    std::uint64_t attendedKeys = 0;  // distinct keys attended, summed over queries
    std::uint64_t visibleKeys = 0;   // causal-visible keys, summed over queries
    // Mean over queries of attended / visible: the fraction of its keys a query really looks at.
    double meanAttendedFraction = 0;
    // attendedKeys / visibleKeys: the fraction of the score matrix's causal triangle computed.
    double pairFraction() const { return visibleKeys ? double(attendedKeys) / double(visibleKeys) : 0.0; }
};

// An nn::AttentionBackend: hashes the keys (and, QueryHashing::Separate, the queries) of each call
// with the site's family and runs lshAttentionForward; backward is exact over the selected pairs
// (see lshAttentionBackward).
class LshAttention final : public nn::AttentionBackend {
public:
    explicit LshAttention(LshOptions options);
    ~LshAttention() override;
    std::string name() const override { return "lsh"; }
    // tape buffer 0: key index per selected pair, buffer 1: its probability; [Tq, rounds*2*chunk].
    void forward(const nn::HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 nn::AttentionTape* tape) const override;
    void backward(const nn::HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                  ConstMatrixRef dout, const nn::AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                  MatrixRef dv) const override;
    // The family used at a site for head dimension dim (created on first use).
    const HashFamily& family(const nn::HeadSite& site, int dim) const;
    // readStream: 0 for keys, 1 for queries (independent reads of a stochastic family).
    std::vector<std::vector<int>> bucketsFor(const nn::HeadSite& site, ConstMatrixRef vectors,
                                             std::uint64_t readStream = 0) const;
    const LshOptions& options() const { return options_; }
    // Counted over every forward call, whatever the thread count (integer sums, so the same calls
    // give the same numbers in any order).
    LshStatistics statistics() const;
    void resetStatistics() const;

private:
    struct Cache;
    LshOptions options_;
    std::unique_ptr<Cache> cache_;
};

// Options for a language model's real-valued queries and keys: the memristor fits defaulted
// (defaultMemristorFitsPath, read now so a bad file fails naming it; no 0T1R characterization is
// shipped, so passive keeps PassiveOptions' documented defaults unless given a file) and the passive array
// driven by the sign of each element (inputThreshold 0) instead of 0/1 codes.
LshOptions resolvedLshOptions(LshOptions options);

// Registers "lsh" with imc::nn (explicit, because registration objects in a static library are
// dropped by the linker when nothing references them).
void registerLshBackend(const LshOptions& options);

// The options as JSON for reports: rp, fits, buckets, rounds, chunk, self, combine, queries.
nlohmann::json describe(const LshOptions& options);

// ================================================================ shipped fits

// The shipped cycle-to-cycle memristor fit (fits/memristor-c2c.json, model lognormal-cycle), the
// default of every memristor workload; empty when the file is not there (then the workloads fall
// back to MemristorOptions::paperHrsFit and say so on stderr).
std::string defaultMemristorFitsPath();
// The memristor model of a workload: fitsPath (empty: the resolved default) read with
// MemristorOptions::fromFitsFile, or the paper's HRS statistics when there is no file at all.
MemristorOptions memristorOptionsFor(const std::string& fitsPath);
// What memristorOptionsFor(fitsPath) used, for a report.
std::string memristorFitsLabel(const std::string& fitsPath);

}  // namespace imc::lsh
