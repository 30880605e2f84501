// Sorted-chunk LSH attention (Reformer): positions are sorted by (bucket, position) per round, each
// query looks at its chunk and the previous one of the sorted order, and the rounds are merged
// through their log-sum-exp normalizers. Also the O(L^2) reference and the nn backend.
#include "lsh/lsh.hpp"

#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

namespace imc::lsh {

namespace {

// One round's sorted order: a counting sort by bucket that keeps positions ascending inside a
// bucket, so (bucket, position) order costs O(L + buckets).
struct SortedRound {
    std::vector<int> positionAt;  // sorted index -> position
    std::vector<int> rankOf;      // position -> sorted index
};

SortedRound sortByBucket(const std::vector<int>& buckets) {
    const int n = int(buckets.size());
    const int bucketCount = n == 0 ? 0 : *std::max_element(buckets.begin(), buckets.end()) + 1;
    std::vector<int> start(bucketCount + 1, 0);
    for (int b : buckets) {
        if (b < 0) throw std::invalid_argument("lsh attention: negative bucket");
        ++start[b + 1];
    }
    for (int b = 0; b < bucketCount; ++b) start[b + 1] += start[b];
    SortedRound sorted{std::vector<int>(n), std::vector<int>(n)};
    for (int p = 0; p < n; ++p) {
        const int s = start[buckets[p]]++;
        sorted.positionAt[s] = p;
        sorted.rankOf[p] = s;
    }
    return sorted;
}

void checkInputs(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                 const std::vector<std::vector<int>>& bucketsPerRound, const LshAttentionSettings& settings) {
    if (settings.chunk < 1) throw std::invalid_argument("lsh attention: chunk must be >= 1");
    if (bucketsPerRound.empty()) throw std::invalid_argument("lsh attention: no hashing rounds");
    if (q.cols() != k.cols() || k.rows() != v.rows() || q.rows() > k.rows())
        throw std::invalid_argument("lsh attention: q, k, v shapes do not match");
    if (!settings.causal && q.rows() != k.rows())
        throw std::invalid_argument("lsh attention: non-causal attention needs Tq == Tk");
    for (const auto& buckets : bucketsPerRound)
        if (Eigen::Index(buckets.size()) != k.rows())
            throw std::invalid_argument("lsh attention: a round has " + std::to_string(buckets.size()) +
                                        " buckets for " + std::to_string(k.rows()) + " keys");
}

}  // namespace

void lshAttentionForward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         const std::vector<std::vector<int>>& bucketsPerRound, const LshAttentionSettings& settings,
                         MatrixRef out, Matrix* pairsKey, Matrix* pairsProb) {
    checkInputs(q, k, v, bucketsPerRound, settings);
    const int rounds = int(bucketsPerRound.size());
    const int tk = int(k.rows()), tq = int(q.rows()), offset = tk - tq, chunk = settings.chunk;
    const Eigen::Index dv = v.cols(), d = q.cols();
    const float scale = 1.0f / std::sqrt(float(d));
    const float minusInfinity = -std::numeric_limits<float>::infinity();

    std::vector<SortedRound> sorted;
    sorted.reserve(rounds);
    for (const auto& buckets : bucketsPerRound) sorted.push_back(sortByBucket(buckets));

    // Whether key j is in query position p's set of round r; also used to count the rounds that
    // share a pair for the union correction.
    const auto member = [&](int r, int p, int j) {
        if (settings.sameBucketOnly && bucketsPerRound[r][p] != bucketsPerRound[r][j]) return false;
        if (settings.causal && j > p) return false;
        if (settings.excludeSelf && j == p) return false;
        const int chunkOfQuery = sorted[r].rankOf[p] / chunk, chunkOfKey = sorted[r].rankOf[j] / chunk;
        return chunkOfKey == chunkOfQuery || chunkOfKey == chunkOfQuery - 1;
    };

    // Per-round outputs o_r and normalizers z_r = log sum exp over the round's set: O(rounds L dv).
    std::vector<Matrix> roundOutput(rounds, Matrix(tq, dv));
    std::vector<Eigen::VectorXf> roundNormalizer(rounds, Eigen::VectorXf::Constant(tq, minusInfinity));
    const Eigen::Index maxEntries = Eigen::Index(rounds) * 2 * chunk;
    std::vector<int> entryCount;
    if (pairsKey) {
        pairsKey->setConstant(tq, maxEntries, -1.0f);
        pairsProb->setZero(tq, maxEntries);  // holds logits until the total normalizer is known
        entryCount.assign(tq, 0);
    }

    // Keys and values gathered in sorted order, so every chunk window is a contiguous block and
    // its scores one small matrix product.
    Matrix sortedKeys(tk, d), sortedValues(tk, dv);
    Matrix chunkQueries(chunk, d), scores(chunk, 2 * chunk);  // [queries of a chunk, window]
    std::vector<int> chunkQueryPositions;
    for (int r = 0; r < rounds; ++r) {
        const auto& positionAt = sorted[r].positionAt;
        for (int s = 0; s < tk; ++s) sortedKeys.row(s) = k.row(positionAt[s]), sortedValues.row(s) = v.row(positionAt[s]);
        for (int first = 0; first < tk; first += chunk) {
            chunkQueryPositions.clear();
            for (int s = first; s < std::min(tk, first + chunk); ++s)
                if (positionAt[s] >= offset) chunkQueryPositions.push_back(positionAt[s]);
            if (chunkQueryPositions.empty()) continue;
            const Eigen::Index rows = Eigen::Index(chunkQueryPositions.size());
            const int windowBegin = std::max(0, first - chunk), windowEnd = std::min(tk, first + chunk);
            const Eigen::Index width = windowEnd - windowBegin;
            for (Eigen::Index row = 0; row < rows; ++row) chunkQueries.row(row) = q.row(chunkQueryPositions[row] - offset);
            auto s = scores.topLeftCorner(rows, width);
            s.noalias() = chunkQueries.topRows(rows) * sortedKeys.middleRows(windowBegin, width).transpose();
            for (Eigen::Index row = 0; row < rows; ++row) {
                const int p = chunkQueryPositions[row], i = p - offset;
                float maxLogit = minusInfinity;
                for (Eigen::Index t = 0; t < width; ++t) {
                    const int j = positionAt[windowBegin + t];
                    float& logit = s(row, t);
                    if (!member(r, p, j)) {
                        logit = minusInfinity;
                        continue;
                    }
                    logit *= scale;
                    if (settings.combination == RoundCombination::Union && rounds > 1) {
                        int shared = 0;
                        for (int other = 0; other < rounds; ++other) shared += other == r || member(other, p, j);
                        logit -= std::log(float(shared));  // each pair counts once over all rounds
                    }
                    maxLogit = std::max(maxLogit, logit);
                    if (pairsKey) {
                        (*pairsKey)(i, entryCount[i]) = float(j);
                        (*pairsProb)(i, entryCount[i]++) = logit;
                    }
                }
                if (maxLogit == minusInfinity) {  // no target this round
                    s.row(row).setZero();
                    continue;
                }
                s.row(row) = (s.row(row).array() - maxLogit).exp();  // masked entries become 0
                const float total = s.row(row).sum();
                s.row(row) /= total;
                roundNormalizer[r](i) = maxLogit + std::log(total);
            }
            // o_r for the chunk's queries: [rows, width] x [width, dv].
            const Matrix chunkOutput = s * sortedValues.middleRows(windowBegin, width);
            for (Eigen::Index row = 0; row < rows; ++row) roundOutput[r].row(chunkQueryPositions[row] - offset) = chunkOutput.row(row);
        }
    }

    // Combine the rounds: out = sum_r exp(z_r - Z) o_r with Z = log sum_r exp(z_r).
    for (int i = 0; i < tq; ++i) {
        float maxNormalizer = minusInfinity;
        for (int r = 0; r < rounds; ++r) maxNormalizer = std::max(maxNormalizer, roundNormalizer[r](i));
        if (maxNormalizer == minusInfinity) {  // no other target in any round: attend to itself
            out.row(i) = v.row(offset + i);
            if (pairsKey) (*pairsKey)(i, 0) = float(offset + i), (*pairsProb)(i, 0) = 1.0f;
            continue;
        }
        float normalizerSum = 0;
        for (int r = 0; r < rounds; ++r) normalizerSum += std::exp(roundNormalizer[r](i) - maxNormalizer);
        const float total = maxNormalizer + std::log(normalizerSum);
        out.row(i).setZero();
        for (int r = 0; r < rounds; ++r)
            if (roundNormalizer[r](i) != minusInfinity) out.row(i) += std::exp(roundNormalizer[r](i) - total) * roundOutput[r].row(i);
        if (pairsKey)
            for (int e = 0; e < entryCount[i]; ++e) (*pairsProb)(i, e) = std::exp((*pairsProb)(i, e) - total);
    }
}

void lshAttentionBackward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                          const Matrix& pairsKey, const Matrix& pairsProb, MatrixRef dq, MatrixRef dk, MatrixRef dv) {
    const float scale = 1.0f / std::sqrt(float(q.cols()));
    dq.setZero(), dk.setZero(), dv.setZero();
    std::vector<float> dprob(pairsKey.cols());
    for (Eigen::Index i = 0; i < pairsKey.rows(); ++i) {
        // Softmax backward over the selected pairs: ds = p (dp - sum p dp).
        float inner = 0;
        Eigen::Index entries = 0;
        for (; entries < pairsKey.cols() && pairsKey(i, entries) >= 0; ++entries) {
            const int j = int(pairsKey(i, entries));
            dprob[entries] = dout.row(i).dot(v.row(j));
            inner += pairsProb(i, entries) * dprob[entries];
        }
        for (Eigen::Index e = 0; e < entries; ++e) {
            const int j = int(pairsKey(i, e));
            const float p = pairsProb(i, e);
            dv.row(j) += p * dout.row(i);
            const float dscore = p * (dprob[e] - inner) * scale;
            dq.row(i) += dscore * k.row(j);
            dk.row(j) += dscore * q.row(i);
        }
    }
}

Matrix lshAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v,
                             const std::vector<std::vector<int>>& bucketsPerRound,
                             const LshAttentionSettings& settings) {
    checkInputs(q, k, v, bucketsPerRound, settings);
    const int tk = int(k.rows()), tq = int(q.rows()), offset = tk - tq;
    const double scale = 1.0 / std::sqrt(double(q.cols()));
    // rank[r][j]: how many positions sort before j in round r, counted pair by pair.
    std::vector<std::vector<int>> rank;
    for (const auto& b : bucketsPerRound) {
        std::vector<int> rr(tk, 0);
        for (int j = 0; j < tk; ++j)
            for (int other = 0; other < tk; ++other)
                rr[j] += b[other] < b[j] || (b[other] == b[j] && other < j);
        rank.push_back(std::move(rr));
    }
    Matrix out(tq, v.cols());
    for (int i = 0; i < tq; ++i) {
        const int p = offset + i;
        std::vector<int> multiset;  // every (round, key) pair
        for (std::size_t r = 0; r < rank.size(); ++r)
            for (int j = 0; j < tk; ++j) {
                const int queryChunk = rank[r][p] / settings.chunk, keyChunk = rank[r][j] / settings.chunk;
                const bool window = keyChunk == queryChunk || keyChunk + 1 == queryChunk;
                const bool bucketOk = !settings.sameBucketOnly || bucketsPerRound[r][j] == bucketsPerRound[r][p];
                const bool causalOk = !settings.causal || j <= p;
                const bool selfOk = !settings.excludeSelf || j != p;
                if (window && bucketOk && causalOk && selfOk) multiset.push_back(j);
            }
        std::vector<int> chosen = multiset;
        if (settings.combination == RoundCombination::Union) {
            std::sort(chosen.begin(), chosen.end());
            chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
        }
        if (chosen.empty()) chosen.push_back(p);
        std::vector<double> weight(chosen.size());
        double maxScore = -INFINITY, total = 0;
        for (std::size_t e = 0; e < chosen.size(); ++e) {
            double dot = 0;
            for (Eigen::Index c = 0; c < q.cols(); ++c) dot += double(q(i, c)) * double(k(chosen[e], c));
            weight[e] = dot * scale;
            maxScore = std::max(maxScore, weight[e]);
        }
        for (auto& w : weight) total += (w = std::exp(w - maxScore));
        for (Eigen::Index c = 0; c < v.cols(); ++c) {
            double acc = 0;
            for (std::size_t e = 0; e < chosen.size(); ++e) acc += weight[e] * double(v(chosen[e], c));
            out(i, c) = float(acc / total);
        }
    }
    return out;
}

// ---------------------------------------------------------------- the nn backend

struct LshAttention::Cache {
    std::mutex mutex;
    std::map<std::tuple<int, int, int>, std::unique_ptr<HashFamily>> families;  // (layer, head, dim)
};

LshAttention::LshAttention(LshOptions options) : options_(std::move(options)), cache_(std::make_unique<Cache>()) {
    if (options_.attention.chunk < 1) throw std::invalid_argument("lsh backend: chunk must be >= 1");
}

LshAttention::~LshAttention() = default;

const HashFamily& LshAttention::family(const nn::HeadSite& site, int dim) const {
    std::lock_guard lock(cache_->mutex);
    auto& slot = cache_->families[{site.layer, site.head, dim}];
    if (!slot) {
        // Each head has its own array: a distinct, reproducible seed per site.
        ProjectionSpec spec = options_.projection;
        nn::Rng mix(spec.seed ^ (std::uint64_t(site.layer) << 32) ^ std::uint64_t(site.head) * 0x9E3779B97F4A7C15ull);
        spec.seed = mix.next();
        slot = makeHashFamily(spec, dim);
    }
    return *slot;
}

std::vector<std::vector<int>> LshAttention::bucketsFor(const nn::HeadSite& site, ConstMatrixRef keys) const {
    const HashFamily& hashes = family(site, int(keys.cols()));
    std::vector<std::vector<int>> buckets;
    for (int r = 0; r < hashes.rounds(); ++r) buckets.push_back(hashBuckets(hashes.project(keys, r)));
    return buckets;
}

void LshAttention::forward(const nn::HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                           MatrixRef out, nn::AttentionTape* tape) const {
    const auto buckets = bucketsFor(site, k);
    if (tape)
        lshAttentionForward(q, k, v, buckets, options_.attention, out, &tape->buffer(0), &tape->buffer(1));
    else
        lshAttentionForward(q, k, v, buckets, options_.attention, out);
}

void LshAttention::backward(const nn::HeadSite&, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                            ConstMatrixRef dout, const nn::AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                            MatrixRef dv) const {
    lshAttentionBackward(q, k, v, dout, tape.buffers.at(0), tape.buffers.at(1), dq, dk, dv);
}

void registerLshBackend(const LshOptions& options) {
    const auto& s = options.attention;
    const std::string description =
        "LSH sparse attention (" + options.projection.kind + " RP, " + std::to_string(options.projection.buckets) +
        " buckets, " + std::to_string(options.projection.rounds) + " rounds, chunk " + std::to_string(s.chunk) + ", " +
        (s.combination == RoundCombination::Union ? "union of rounds" : "log-sum-exp over rounds") + ")";
    nn::registerAttentionBackend("lsh", description, [options] { return std::make_unique<LshAttention>(options); });
}

}  // namespace imc::lsh
