// Sorted-chunk LSH attention (Reformer): positions are sorted by (bucket, position) per round, each
// query looks at its chunk and the previous one of the sorted order, and the rounds are merged
// through their log-sum-exp normalizers. Also the O(L^2) reference and the nn backend.
#include "lsh/lsh.hpp"

#include "nn/random.hpp"

#include <algorithm>
#include <atomic>
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
                 const std::vector<std::vector<int>>& bucketsPerRound,
                 const std::vector<std::vector<int>>& queryBucketsPerRound, const LshAttentionSettings& settings) {
    if (settings.chunk < 1) throw std::invalid_argument("lsh attention: chunk must be >= 1");
    if (settings.window < 0) throw std::invalid_argument("lsh attention: window must be >= 0");
    if (bucketsPerRound.empty() && settings.window == 0)
        throw std::invalid_argument("lsh attention: no hashing rounds and no local window");
    if (q.cols() != k.cols() || k.rows() != v.rows() || q.rows() > k.rows())
        throw std::invalid_argument("lsh attention: q, k, v shapes do not match");
    if (!settings.causal && q.rows() != k.rows())
        throw std::invalid_argument("lsh attention: non-causal attention needs Tq == Tk");
    for (const auto& buckets : bucketsPerRound)
        if (Eigen::Index(buckets.size()) != k.rows())
            throw std::invalid_argument("lsh attention: a round has " + std::to_string(buckets.size()) +
                                        " buckets for " + std::to_string(k.rows()) + " keys");
    if (queryBucketsPerRound.empty()) return;
    if (queryBucketsPerRound.size() != bucketsPerRound.size())
        throw std::invalid_argument("lsh attention: query and key buckets have different round counts");
    for (const auto& buckets : queryBucketsPerRound) {
        if (Eigen::Index(buckets.size()) != q.rows())
            throw std::invalid_argument("lsh attention: a round has " + std::to_string(buckets.size()) +
                                        " query buckets for " + std::to_string(q.rows()) + " queries");
        for (int b : buckets)
            if (b < 0) throw std::invalid_argument("lsh attention: negative bucket");
    }
}

// Where each query sits in one round's sorted key order. Shared QK: at its own key. Separate
// queries: right after the keys of lower buckets and the keys of its bucket at positions <= its
// own, the place a joint (bucket, position) sort of queries and keys gives it. `rank` is the sorted
// index of the last key before it (-1 for none), `chunk` the chunk of that index.
struct QueryPlacement {
    std::vector<int> bucket, rank, chunk;  // [Tq]
};

QueryPlacement placeQueries(const std::vector<int>& keyBuckets, const SortedRound& sorted,
                            const std::vector<int>* queryBuckets, int offset, int tq, int chunk) {
    QueryPlacement placed{std::vector<int>(tq), std::vector<int>(tq), std::vector<int>(tq)};
    std::vector<int> start;
    if (queryBuckets) {
        int bucketCount = 0;
        for (int b : keyBuckets) bucketCount = std::max(bucketCount, b + 1);
        for (int b : *queryBuckets) bucketCount = std::max(bucketCount, b + 1);
        start.assign(bucketCount + 1, 0);
        for (int b : keyBuckets) ++start[b + 1];
        for (int b = 0; b < bucketCount; ++b) start[b + 1] += start[b];
    }
    for (int i = 0; i < tq; ++i) {
        const int p = offset + i;
        if (!queryBuckets) {
            placed.bucket[i] = keyBuckets[p];
            placed.rank[i] = sorted.rankOf[p];
        } else {
            const int b = (*queryBuckets)[i];
            const auto first = sorted.positionAt.begin() + start[b], last = sorted.positionAt.begin() + start[b + 1];
            placed.bucket[i] = b;
            placed.rank[i] = int(std::upper_bound(first, last, p) - sorted.positionAt.begin()) - 1;
        }
        placed.chunk[i] = std::max(placed.rank[i], 0) / chunk;
    }
    return placed;
}

// Queries in sorted order (by rank, then position), so a chunk's queries are consecutive.
std::vector<int> queriesInSortedOrder(const QueryPlacement& placed) {
    std::vector<int> order(placed.rank.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = int(i);
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        return placed.rank[a] != placed.rank[b] ? placed.rank[a] < placed.rank[b] : a < b;
    });
    return order;
}

// out = sum_r exp(z_r - Z) o_r with Z = log sum_r exp(z_r); the stored logits become probabilities.
void combineRounds(ConstMatrixRef v, int offset, const std::vector<Matrix>& roundOutput,
                   const std::vector<Eigen::VectorXf>& roundNormalizer, MatrixRef out, Matrix* pairsKey,
                   Matrix* pairsProb, const std::vector<int>& entryCount) {
    const float minusInfinity = -std::numeric_limits<float>::infinity();
    const int rounds = int(roundOutput.size());
    for (Eigen::Index i = 0; i < out.rows(); ++i) {
        float maxNormalizer = minusInfinity;
        for (int r = 0; r < rounds; ++r) maxNormalizer = std::max(maxNormalizer, roundNormalizer[r](i));
        if (maxNormalizer == minusInfinity) {  // no target in any round: attend to itself
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

}  // namespace

void lshAttentionForward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         const std::vector<std::vector<int>>& bucketsPerRound, const LshAttentionSettings& settings,
                         MatrixRef out, Matrix* pairsKey, Matrix* pairsProb) {
    lshAttentionForward(q, k, v, bucketsPerRound, {}, settings, out, pairsKey, pairsProb);
}

void lshAttentionForward(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         const std::vector<std::vector<int>>& bucketsPerRound,
                         const std::vector<std::vector<int>>& queryBucketsPerRound,
                         const LshAttentionSettings& settings, MatrixRef out, Matrix* pairsKey, Matrix* pairsProb,
                         std::vector<int>* attendedKeys) {
    checkInputs(q, k, v, bucketsPerRound, queryBucketsPerRound, settings);
    const int rounds = int(bucketsPerRound.size());
    const int tk = int(k.rows()), tq = int(q.rows()), offset = tk - tq, chunk = settings.chunk;
    const Eigen::Index dv = v.cols(), d = q.cols();
    const float scale = 1.0f / std::sqrt(float(d));
    const float minusInfinity = -std::numeric_limits<float>::infinity();

    std::vector<SortedRound> sorted;
    std::vector<QueryPlacement> placed;
    for (int r = 0; r < rounds; ++r) {
        sorted.push_back(sortByBucket(bucketsPerRound[r]));
        placed.push_back(placeQueries(bucketsPerRound[r], sorted[r],
                                      queryBucketsPerRound.empty() ? nullptr : &queryBucketsPerRound[r], offset, tq,
                                      chunk));
    }

    // Whether key j is in query i's set of round r; also used to count the rounds that share a
    // pair for the union correction.
    const auto member = [&](int r, int i, int j) {
        const int p = offset + i;
        if (settings.sameBucketOnly && placed[r].bucket[i] != bucketsPerRound[r][j]) return false;
        if (settings.causal && j > p) return false;
        if (settings.excludeSelf && j == p) return false;
        if (j <= p && j > p - settings.window) return false;  // the local window's, counted there
        const int chunkOfQuery = placed[r].chunk[i], chunkOfKey = sorted[r].rankOf[j] / chunk;
        return chunkOfKey == chunkOfQuery || chunkOfKey == chunkOfQuery - 1;
    };

    // Per-round outputs o_r and normalizers z_r = log sum exp over the round's set: O(rounds L dv).
    std::vector<Matrix> roundOutput(rounds, Matrix(tq, dv));
    std::vector<Eigen::VectorXf> roundNormalizer(rounds, Eigen::VectorXf::Constant(tq, minusInfinity));
    const Eigen::Index maxEntries = Eigen::Index(rounds) * 2 * chunk + settings.window;
    std::vector<int> entryCount;
    if (pairsKey) {
        pairsKey->setConstant(tq, maxEntries, -1.0f);
        pairsProb->setZero(tq, maxEntries);  // holds logits until the total normalizer is known
        entryCount.assign(tq, 0);
    }
    std::vector<std::vector<int>> chosen(attendedKeys ? tq : 0);  // keys of every round, per query

    // Keys and values gathered in sorted order, so every chunk window is a contiguous block and
    // its scores one small matrix product.
    Matrix sortedKeys(tk, d), sortedValues(tk, dv);
    Matrix chunkQueries(chunk, d), scores(chunk, 2 * chunk);  // [queries of a chunk, window]
    for (int r = 0; r < rounds; ++r) {
        const auto& positionAt = sorted[r].positionAt;
        for (int s = 0; s < tk; ++s) sortedKeys.row(s) = k.row(positionAt[s]), sortedValues.row(s) = v.row(positionAt[s]);
        const std::vector<int> order = queriesInSortedOrder(placed[r]);
        for (std::size_t begin = 0; begin < order.size();) {
            const int c = placed[r].chunk[order[begin]];
            std::size_t end = begin;
            while (end < order.size() && placed[r].chunk[order[end]] == c) ++end;
            const Eigen::Index rows = Eigen::Index(end - begin);
            if (scores.rows() < rows) scores.resize(rows, 2 * chunk), chunkQueries.resize(rows, d);
            const int windowBegin = std::max(0, (c - 1) * chunk), windowEnd = std::min(tk, (c + 1) * chunk);
            const Eigen::Index width = windowEnd - windowBegin;
            for (Eigen::Index row = 0; row < rows; ++row) chunkQueries.row(row) = q.row(order[begin + row]);
            auto s = scores.topLeftCorner(rows, width);
            s.noalias() = chunkQueries.topRows(rows) * sortedKeys.middleRows(windowBegin, width).transpose();
            for (Eigen::Index row = 0; row < rows; ++row) {
                const int i = order[begin + row];
                float maxLogit = minusInfinity;
                for (Eigen::Index t = 0; t < width; ++t) {
                    const int j = positionAt[windowBegin + t];
                    float& logit = s(row, t);
                    if (!member(r, i, j)) {
                        logit = minusInfinity;
                        continue;
                    }
                    logit *= scale;
                    if (settings.combination == RoundCombination::Union && rounds > 1) {
                        int shared = 0;
                        for (int other = 0; other < rounds; ++other) shared += other == r || member(other, i, j);
                        logit -= std::log(float(shared));  // each pair counts once over all rounds
                    }
                    maxLogit = std::max(maxLogit, logit);
                    if (pairsKey) {
                        (*pairsKey)(i, entryCount[i]) = float(j);
                        (*pairsProb)(i, entryCount[i]++) = logit;
                    }
                    if (attendedKeys) chosen[i].push_back(j);
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
            for (Eigen::Index row = 0; row < rows; ++row) roundOutput[r].row(order[begin + row]) = chunkOutput.row(row);
            begin = end;
        }
    }
    if (settings.window > 0) {
        // The local window as one more set: its output and normalizer join the rounds'.
        Matrix windowOutput = Matrix::Zero(tq, dv);
        Eigen::VectorXf windowNormalizer = Eigen::VectorXf::Constant(tq, minusInfinity);
        std::vector<float> logits(settings.window);
        for (int i = 0; i < tq; ++i) {
            const int p = offset + i, first = std::max(0, p - settings.window + 1);
            float maxLogit = minusInfinity;
            int count = 0;
            for (int j = first; j <= p; ++j) {
                if (settings.excludeSelf && j == p) continue;
                const float logit = q.row(i).dot(k.row(j)) * scale;
                logits[count++] = logit;
                maxLogit = std::max(maxLogit, logit);
                if (pairsKey) {
                    (*pairsKey)(i, entryCount[i]) = float(j);
                    (*pairsProb)(i, entryCount[i]++) = logit;
                }
                if (attendedKeys) chosen[i].push_back(j);
            }
            if (count == 0) continue;
            float total = 0;
            for (int e = 0, j = first; j <= p; ++j) {
                if (settings.excludeSelf && j == p) continue;
                const float w = std::exp(logits[e++] - maxLogit);
                total += w;
                windowOutput.row(i) += w * v.row(j);
            }
            windowOutput.row(i) /= total;
            windowNormalizer(i) = maxLogit + std::log(total);
        }
        roundOutput.push_back(std::move(windowOutput));
        roundNormalizer.push_back(std::move(windowNormalizer));
    }
    combineRounds(v, offset, roundOutput, roundNormalizer, out, pairsKey, pairsProb, entryCount);
    if (attendedKeys) {
        attendedKeys->assign(tq, 1);  // a query without targets attends to itself
        for (int i = 0; i < tq; ++i) {
            auto& keys = chosen[i];
            std::sort(keys.begin(), keys.end());
            const int distinct = int(std::unique(keys.begin(), keys.end()) - keys.begin());
            if (distinct > 0) (*attendedKeys)[i] = distinct;
        }
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
    return lshAttentionReference(q, k, v, bucketsPerRound, {}, settings);
}

Matrix lshAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v,
                             const std::vector<std::vector<int>>& bucketsPerRound,
                             const std::vector<std::vector<int>>& queryBucketsPerRound,
                             const LshAttentionSettings& settings, std::vector<int>* attendedKeys) {
    checkInputs(q, k, v, bucketsPerRound, queryBucketsPerRound, settings);
    const int tk = int(k.rows()), tq = int(q.rows()), offset = tk - tq, rounds = int(bucketsPerRound.size());
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
    if (attendedKeys) attendedKeys->assign(tq, 0);
    for (int i = 0; i < tq; ++i) {
        const int p = offset + i;
        std::vector<int> multiset;  // every (round, key) pair
        for (int r = 0; r < rounds; ++r) {
            const auto& b = bucketsPerRound[r];
            // The query's bucket and the sorted index of the last key before it in a joint sort.
            int queryBucket = b[p], queryRank = rank[r][p];
            if (!queryBucketsPerRound.empty()) {
                queryBucket = queryBucketsPerRound[r][i];
                queryRank = -1;
                for (int j = 0; j < tk; ++j) queryRank += b[j] < queryBucket || (b[j] == queryBucket && j <= p);
            }
            const int queryChunk = std::max(queryRank, 0) / settings.chunk;
            for (int j = 0; j < tk; ++j) {
                const int keyChunk = rank[r][j] / settings.chunk;
                const bool window = keyChunk == queryChunk || keyChunk + 1 == queryChunk;
                const bool bucketOk = !settings.sameBucketOnly || b[j] == queryBucket;
                const bool causalOk = !settings.causal || j <= p;
                const bool selfOk = !settings.excludeSelf || j != p;
                const bool local = j <= p && j > p - settings.window;  // the window's, added once below
                if (window && bucketOk && causalOk && selfOk && !local) multiset.push_back(j);
            }
        }
        for (int j = std::max(0, p - settings.window + 1); j <= p && settings.window > 0; ++j)
            if (!settings.excludeSelf || j != p) multiset.push_back(j);
        std::vector<int> chosen = multiset;
        std::sort(chosen.begin(), chosen.end());
        chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
        if (chosen.empty()) chosen.push_back(p), multiset.push_back(p);
        if (attendedKeys) (*attendedKeys)[i] = int(chosen.size());
        if (settings.combination == RoundCombination::LogSumExp) chosen = multiset;
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

namespace {
constexpr double kFractionUnit = 0x1.0p32;  // fixed point for the order-independent fraction sum
}

struct LshAttention::Cache {
    std::mutex mutex;
    std::map<std::tuple<int, int, int>, std::unique_ptr<HashFamily>> families;  // (layer, head, dim)
    std::atomic<std::uint64_t> queries{0}, attended{0}, visible{0}, fractionSum{0};
};

LshAttention::LshAttention(LshOptions options) : options_(std::move(options)), cache_(std::make_unique<Cache>()) {
    if (options_.attention.chunk < 1) throw std::invalid_argument("lsh backend: chunk must be >= 1");
    if (options_.attention.window < 0) throw std::invalid_argument("lsh backend: window must be >= 0");
    if (options_.projection.kind == "none" && options_.attention.window == 0)
        throw std::invalid_argument("lsh backend: projection 'none' (the local window alone) needs a window > 0");
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

std::vector<std::vector<int>> LshAttention::bucketsFor(const nn::HeadSite& site, ConstMatrixRef vectors,
                                                       std::uint64_t readStream) const {
    if (options_.projection.kind == "none") return {};  // the local window alone
    const HashFamily& hashes = family(site, int(vectors.cols()));
    std::vector<std::vector<int>> buckets;
    for (int r = 0; r < hashes.rounds(); ++r) buckets.push_back(hashBuckets(hashes.project(vectors, r, readStream)));
    return buckets;
}

void LshAttention::forward(const nn::HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                           MatrixRef out, nn::AttentionTape* tape) const {
    const auto keyBuckets = bucketsFor(site, k);
    const auto queryBuckets =
        options_.queries == QueryHashing::Separate ? bucketsFor(site, q, 1) : std::vector<std::vector<int>>{};
    std::vector<int> attended;
    lshAttentionForward(q, k, v, keyBuckets, queryBuckets, options_.attention, out, tape ? &tape->buffer(0) : nullptr,
                        tape ? &tape->buffer(1) : nullptr, &attended);
    std::uint64_t attendedSum = 0, visibleSum = 0, fractionSum = 0;
    const long offset = long(k.rows() - q.rows());
    for (std::size_t i = 0; i < attended.size(); ++i) {
        const long visible = options_.attention.causal ? offset + long(i) + 1 : long(k.rows());
        attendedSum += std::uint64_t(attended[i]);
        visibleSum += std::uint64_t(visible);
        fractionSum += std::uint64_t(std::llround(double(attended[i]) / double(visible) * kFractionUnit));
    }
    cache_->queries += attended.size();
    cache_->attended += attendedSum;
    cache_->visible += visibleSum;
    cache_->fractionSum += fractionSum;
}

void LshAttention::backward(const nn::HeadSite&, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                            ConstMatrixRef dout, const nn::AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                            MatrixRef dv) const {
    lshAttentionBackward(q, k, v, dout, tape.buffers.at(0), tape.buffers.at(1), dq, dk, dv);
}

LshStatistics LshAttention::statistics() const {
    LshStatistics s;
    s.queries = cache_->queries;
    s.attendedKeys = cache_->attended;
    s.visibleKeys = cache_->visible;
    s.meanAttendedFraction = s.queries ? double(cache_->fractionSum.load()) / kFractionUnit / double(s.queries) : 0.0;
    return s;
}

void LshAttention::resetStatistics() const {
    cache_->queries = 0, cache_->attended = 0, cache_->visible = 0, cache_->fractionSum = 0;
}

LshOptions resolvedLshOptions(LshOptions options) {
    auto& projection = options.projection;
    if (projection.kind == "passive" && !projection.passive) {
        PassiveOptions passive =
            projection.fitsPath.empty() ? PassiveOptions{} : PassiveOptions::fromFitsFile(projection.fitsPath);
        passive.inputThreshold = 0.0;  // queries and keys are signed reals, not 0/1 codes
        projection.passive = passive;
    }
    if (projection.kind == "memristor" && !projection.memristor) {
        if (projection.fitsPath.empty()) projection.fitsPath = defaultMemristorFitsPath();
        projection.memristor = memristorOptionsFor(projection.fitsPath);  // fails early, naming it
    }
    return options;
}

void registerLshBackend(const LshOptions& options) {
    const auto& s = options.attention;
    const std::string description =
        "LSH sparse attention (" + options.projection.kind + " RP, " + std::to_string(options.projection.buckets) +
        " buckets, " + std::to_string(options.projection.rounds) + " rounds, chunk " + std::to_string(s.chunk) + ", " +
        (s.combination == RoundCombination::Union ? "union of rounds" : "log-sum-exp over rounds") + ", self " +
        (s.excludeSelf ? "excluded" : "allowed") + ", " +
        (s.window > 0 ? "local window " + std::to_string(s.window) + ", " : std::string()) +
        (options.queries == QueryHashing::Separate ? "queries hashed with the keys" : "shared QK") + ")";
    nn::registerAttentionBackend("lsh", description, [options] { return std::make_unique<LshAttention>(options); });
}

nlohmann::json describe(const LshOptions& o) {
    return {{"rp", o.projection.kind},
            {"rp_fits", o.projection.fitsPath},
            {"buckets", o.projection.buckets},
            {"rounds", o.projection.rounds},
            {"chunk", o.attention.chunk},
            {"self", o.attention.excludeSelf ? "exclude" : "allow"},
            {"combine", o.attention.combination == RoundCombination::Union ? "union" : "lse"},
            {"queries", o.queries == QueryHashing::Separate ? "separate" : "shared"},
            {"window", o.attention.window},
            {"design", o.projection.kind == "none" ? "local window alone"
                       : o.attention.window > 0   ? "LSH + local window"
                                                  : "LSH alone"}};
}

}  // namespace imc::lsh
