// Sorted-chunk LSH attention against full attention (one bucket), against the O(L^2) reference
// (many buckets and rounds), and its backward against finite differences.
#include "lsh/lsh.hpp"
#include "nn/ideal_attention.hpp"
#include "nn/nn.hpp"
#include "nn/random.hpp"

#include "random_matrix.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <algorithm>
#include <cmath>

using imc::lsh::LshAttentionSettings;
using imc::lsh::Matrix;
using imc::lsh::RoundCombination;

namespace {

std::vector<std::vector<int>> randomBuckets(int rounds, int length, int buckets, std::uint64_t seed) {
    imc::nn::Rng rng(seed);
    std::vector<std::vector<int>> result(rounds, std::vector<int>(length));
    for (auto& round : result)
        for (auto& b : round) b = int(rng.below(buckets));
    return result;
}

Matrix runKernel(const Matrix& q, const Matrix& k, const Matrix& v, const std::vector<std::vector<int>>& buckets,
                 const LshAttentionSettings& settings) {
    Matrix out(q.rows(), v.cols());
    imc::lsh::lshAttentionForward(q, k, v, buckets, settings, out);
    return out;
}

// Full causal attention without the diagonal, except that position 0 sees only itself: the
// self rule of LSH attention written out directly.
Matrix fullAttentionWithoutSelf(const Matrix& q, const Matrix& k, const Matrix& v) {
    Matrix out(q.rows(), v.cols());
    const double scale = 1 / std::sqrt(double(q.cols()));
    for (Eigen::Index i = 0; i < q.rows(); ++i) {
        if (i == 0) {
            out.row(0) = v.row(0);
            continue;
        }
        std::vector<double> w(i);
        double maxScore = -INFINITY, total = 0;
        for (Eigen::Index j = 0; j < i; ++j) maxScore = std::max(maxScore, w[j] = q.row(i).cast<double>().dot(k.row(j).cast<double>()) * scale);
        for (auto& x : w) total += (x = std::exp(x - maxScore));
        for (Eigen::Index c = 0; c < v.cols(); ++c) {
            double acc = 0;
            for (Eigen::Index j = 0; j < i; ++j) acc += w[j] * v(j, c);
            out(i, c) = float(acc / total);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("one bucket and one chunk: LSH attention is full attention", "[lsh][attention]") {
    const int length = 40, dim = 8;
    const Matrix q = randomMatrix(length, dim, 1), k = randomMatrix(length, dim, 2), v = randomMatrix(length, dim, 3);
    const std::vector<std::vector<int>> oneBucket(1, std::vector<int>(length, 0));
    LshAttentionSettings settings;
    settings.chunk = length;

    SECTION("self allowed: equals the ideal causal softmax") {
        settings.excludeSelf = false;
        const Matrix lsh = runKernel(q, k, v, oneBucket, settings);
        const Matrix ideal = imc::nn::idealAttentionReference(q, k, v);
        CHECK((lsh - ideal).cwiseAbs().maxCoeff() < 1e-5f);
    }
    SECTION("Reformer self rule: equals full attention over the other earlier tokens") {
        const Matrix lsh = runKernel(q, k, v, oneBucket, settings);
        CHECK((lsh - fullAttentionWithoutSelf(q, k, v)).cwiseAbs().maxCoeff() < 1e-5f);
    }
    SECTION("a chunk of half the length still sees everything through the previous chunk") {
        settings.chunk = length / 2;
        settings.excludeSelf = false;
        const Matrix lsh = runKernel(q, k, v, oneBucket, settings);
        CHECK((lsh - imc::nn::idealAttentionReference(q, k, v)).cwiseAbs().maxCoeff() < 1e-5f);
    }
}

TEST_CASE("multi-round sorted-chunk attention equals the brute-force reference", "[lsh][attention]") {
    const int length = 53, dim = 6;
    const Matrix q = randomMatrix(length, dim, 4), k = randomMatrix(length, dim, 5), v = randomMatrix(length, 5, 6);
    for (auto combination : {RoundCombination::LogSumExp, RoundCombination::Union})
        for (bool causal : {true, false})
            for (int rounds : {1, 2, 4}) {
                LshAttentionSettings settings;
                settings.chunk = 7;
                settings.combination = combination;
                settings.causal = causal;
                const auto buckets = randomBuckets(rounds, length, 4, 100 + rounds);
                INFO("rounds " << rounds << " causal " << causal << " union " << (combination == RoundCombination::Union));
                const Matrix fast = runKernel(q, k, v, buckets, settings);
                const Matrix reference = imc::lsh::lshAttentionReference(q, k, v, buckets, settings);
                CHECK((fast - reference).cwiseAbs().maxCoeff() < 1e-5f);
            }
}

TEST_CASE("decode rows (Tq < Tk) match the same rows of the prefill", "[lsh][attention]") {
    const int length = 30, dim = 4;
    const Matrix q = randomMatrix(length, dim, 7), k = randomMatrix(length, dim, 8), v = randomMatrix(length, dim, 9);
    const auto buckets = randomBuckets(3, length, 2, 10);
    LshAttentionSettings settings;
    settings.chunk = 4;
    const Matrix prefill = runKernel(q, k, v, buckets, settings);
    const Matrix tail = runKernel(q.bottomRows(5), k, v, buckets, settings);
    CHECK((tail - prefill.bottomRows(5)).cwiseAbs().maxCoeff() == 0.0f);
    const Matrix reference = imc::lsh::lshAttentionReference(q.bottomRows(5), k, v, buckets, settings);
    CHECK((tail - reference).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("union and log-sum-exp differ exactly when rounds share pairs", "[lsh][attention]") {
    const int length = 12, dim = 4;
    const Matrix q = randomMatrix(length, dim, 11), k = randomMatrix(length, dim, 12), v = randomMatrix(length, dim, 13);
    LshAttentionSettings settings;
    settings.chunk = length;
    // Two identical rounds: the multiset counts every pair twice, which cancels in the softmax.
    const auto one = randomBuckets(1, length, 3, 14);
    const std::vector<std::vector<int>> twice{one[0], one[0]};
    settings.combination = RoundCombination::LogSumExp;
    const Matrix lse = runKernel(q, k, v, twice, settings);
    settings.combination = RoundCombination::Union;
    const Matrix uni = runKernel(q, k, v, twice, settings);
    CHECK((lse - uni).cwiseAbs().maxCoeff() < 1e-5f);
    // Partly overlapping rounds: pairs found twice weigh double in the multiset only.
    const std::vector<std::vector<int>> overlapping{one[0], randomBuckets(1, length, 3, 15)[0]};
    settings.combination = RoundCombination::LogSumExp;
    const Matrix lse2 = runKernel(q, k, v, overlapping, settings);
    settings.combination = RoundCombination::Union;
    const Matrix uni2 = runKernel(q, k, v, overlapping, settings);
    CHECK((lse2 - uni2).cwiseAbs().maxCoeff() > 1e-3f);
}

TEST_CASE("backward is the exact gradient over the selected pairs", "[lsh][attention][gradient]") {
    const int length = 16, dim = 4;
    Matrix q = randomMatrix(length, dim, 21), k = randomMatrix(length, dim, 22), v = randomMatrix(length, dim, 23);
    const Matrix weights = randomMatrix(length, dim, 24);  // loss = sum(weights .* out)
    const auto buckets = randomBuckets(2, length, 2, 25);
    LshAttentionSettings settings;
    settings.chunk = 4;
    settings.combination = RoundCombination::Union;
    Matrix out(length, dim), keys, probs;
    imc::lsh::lshAttentionForward(q, k, v, buckets, settings, out, &keys, &probs);
    Matrix dq(length, dim), dk(length, dim), dv(length, dim);
    imc::lsh::lshAttentionBackward(q, k, v, weights, keys, probs, dq, dk, dv);
    const auto loss = [&] { return double((runKernel(q, k, v, buckets, settings).array() * weights.array()).sum()); };
    const float step = 1e-2f;
    for (auto [tensor, gradient] : {std::pair{&q, &dq}, std::pair{&k, &dk}, std::pair{&v, &dv}})
        for (Eigen::Index index : {3, 17, 40, 61}) {
            float& x = tensor->data()[index];
            const float saved = x;
            x = saved + step;
            const double up = loss();
            x = saved - step;
            const double down = loss();
            x = saved;
            CHECK_THAT(gradient->data()[index], Catch::Matchers::WithinAbs((up - down) / (2 * step), 2e-3));
        }
}

TEST_CASE("the lsh backend registers with the engine and hashes keys with its family", "[lsh][backend]") {
    imc::lsh::LshOptions options;
    options.projection.kind = "gaussian";
    options.projection.buckets = 4;
    options.projection.rounds = 2;
    options.attention.chunk = 8;
    options.queries = imc::lsh::QueryHashing::SharedWithKeys;
    imc::lsh::registerLshBackend(options);
    const auto backend = imc::nn::makeAttentionBackend("lsh");
    REQUIRE(backend->name() == "lsh");
    const auto& lsh = dynamic_cast<const imc::lsh::LshAttention&>(*backend);
    const int length = 32, dim = 8;
    const Matrix q = randomMatrix(length, dim, 31), k = randomMatrix(length, dim, 32), v = randomMatrix(length, dim, 33);
    Matrix out(length, dim);
    backend->forward({1, 0}, q, k, v, out, nullptr);
    const auto buckets = lsh.bucketsFor({1, 0}, k);
    REQUIRE(buckets.size() == 2);
    CHECK((out - imc::lsh::lshAttentionReference(q, k, v, buckets, options.attention)).cwiseAbs().maxCoeff() < 1e-5f);
    // Another head has its own array.
    CHECK(lsh.bucketsFor({1, 1}, k) != buckets);
}

TEST_CASE("separate query buckets: the joint-sort kernel against the pairwise reference", "[lsh][attention]") {
    const int length = 37, dim = 6;
    const Matrix q = randomMatrix(length, dim, 41), k = randomMatrix(length, dim, 42), v = randomMatrix(length, dim, 43);
    for (int rounds : {1, 3})
        for (int chunk : {4, 7, 64})
            for (bool excludeSelf : {false, true})
                for (auto combination : {RoundCombination::LogSumExp, RoundCombination::Union})
                    for (int queries : {length, 9}) {  // prefill and the last 9 queries of the sequence
                        LshAttentionSettings settings;
                        settings.chunk = chunk;
                        settings.excludeSelf = excludeSelf;
                        settings.combination = combination;
                        const auto keyBuckets = randomBuckets(rounds, length, 4, 100 + rounds * 7 + chunk);
                        // Bucket 5 has no keys: such queries fall back to themselves.
                        const auto queryBuckets = randomBuckets(rounds, queries, 6, 200 + rounds * 7 + chunk);
                        const Matrix qs = q.bottomRows(queries);
                        Matrix out(queries, dim);
                        std::vector<int> attended, expected;
                        imc::lsh::lshAttentionForward(qs, k, v, keyBuckets, queryBuckets, settings, out, nullptr,
                                                      nullptr, &attended);
                        const Matrix reference =
                            imc::lsh::lshAttentionReference(qs, k, v, keyBuckets, queryBuckets, settings, &expected);
                        INFO("rounds " << rounds << " chunk " << chunk << " queries " << queries);
                        CHECK((out - reference).cwiseAbs().maxCoeff() < 1e-5f);
                        CHECK(attended == expected);
                    }
}

TEST_CASE("attended keys: the kernel's count against a brute-force count", "[lsh][attention]") {
    // With one chunk holding the sequence, query i attends to the keys j <= i that share its bucket
    // in at least one round (with the self rule: not its own key, unless nothing else is left).
    const int length = 29, dim = 4, rounds = 2;
    const Matrix q = randomMatrix(length, dim, 51), k = randomMatrix(length, dim, 52), v = randomMatrix(length, dim, 53);
    const auto keyBuckets = randomBuckets(rounds, length, 4, 54), queryBuckets = randomBuckets(rounds, length, 4, 55);
    for (bool excludeSelf : {false, true}) {
        LshAttentionSettings settings;
        settings.chunk = length;
        settings.excludeSelf = excludeSelf;
        Matrix out(length, dim);
        std::vector<int> attended;
        imc::lsh::lshAttentionForward(q, k, v, keyBuckets, queryBuckets, settings, out, nullptr, nullptr, &attended);
        for (int i = 0; i < length; ++i) {
            int count = 0;
            for (int j = 0; j <= i; ++j) {
                if (excludeSelf && j == i) continue;
                bool shared = false;
                for (int r = 0; r < rounds; ++r) shared = shared || keyBuckets[r][j] == queryBuckets[r][i];
                count += shared;
            }
            CHECK(attended[i] == std::max(count, 1));
        }
    }
    // Shared QK with one bucket and one chunk: every causal key, i.e. a fraction of exactly 1.
    const std::vector<std::vector<int>> one(1, std::vector<int>(length, 0));
    LshAttentionSettings all;
    all.chunk = length;
    all.excludeSelf = false;
    Matrix out(length, dim);
    std::vector<int> attended;
    imc::lsh::lshAttentionForward(q, k, v, one, {}, all, out, nullptr, nullptr, &attended);
    for (int i = 0; i < length; ++i) CHECK(attended[i] == i + 1);
}

TEST_CASE("the lsh backend hashes queries with the keys' family and counts the attended fraction", "[lsh][backend]") {
    imc::lsh::LshOptions options;
    options.projection.kind = "gaussian";
    options.projection.buckets = 4;
    options.projection.rounds = 2;
    options.attention.chunk = 8;
    options.attention.excludeSelf = false;
    const imc::lsh::LshAttention lsh(options);
    const int length = 24, dim = 8;
    const Matrix q = randomMatrix(length, dim, 61), k = randomMatrix(length, dim, 62), v = randomMatrix(length, dim, 63);
    Matrix out(length, dim);
    lsh.forward({0, 1}, q, k, v, out, nullptr);
    const auto keyBuckets = lsh.bucketsFor({0, 1}, k), queryBuckets = lsh.bucketsFor({0, 1}, q);
    std::vector<int> attended;
    CHECK((out - imc::lsh::lshAttentionReference(q, k, v, keyBuckets, queryBuckets, options.attention, &attended))
              .cwiseAbs()
              .maxCoeff() < 1e-5f);
    double fractionSum = 0;
    long attendedSum = 0, visibleSum = 0;
    for (int i = 0; i < length; ++i) {
        fractionSum += double(attended[i]) / double(i + 1);
        attendedSum += attended[i];
        visibleSum += i + 1;
    }
    const auto stats = lsh.statistics();
    CHECK(stats.queries == std::uint64_t(length));
    CHECK(stats.attendedKeys == std::uint64_t(attendedSum));
    CHECK(stats.visibleKeys == std::uint64_t(visibleSum));
    CHECK_THAT(stats.meanAttendedFraction, Catch::Matchers::WithinAbs(fractionSum / length, 1e-9));
    CHECK(stats.meanAttendedFraction < 1.0);
    lsh.resetStatistics();
    CHECK(lsh.statistics().queries == 0);
}

TEST_CASE("local window: the kernel against the pairwise reference and a sliding-window softmax", "[lsh][attention][window]") {
    const int length = 31, dim = 5;
    const Matrix q = randomMatrix(length, dim, 71), k = randomMatrix(length, dim, 72), v = randomMatrix(length, dim, 73);
    SECTION("with buckets: equals the reference, the attended count covers the window") {
        for (int window : {1, 4, 11})
            for (int rounds : {0, 1, 3})
                for (bool excludeSelf : {false, true})
                    for (auto combination : {RoundCombination::LogSumExp, RoundCombination::Union})
                        for (int queries : {length, 6}) {
                            LshAttentionSettings settings;
                            settings.chunk = 5;
                            settings.window = window;
                            settings.excludeSelf = excludeSelf;
                            settings.combination = combination;
                            const auto keyBuckets = randomBuckets(rounds, length, 4, 300 + rounds + window);
                            const auto queryBuckets = randomBuckets(rounds, queries, 4, 400 + rounds + window);
                            const Matrix qs = q.bottomRows(queries);
                            Matrix out(queries, dim);
                            std::vector<int> attended, expected;
                            imc::lsh::lshAttentionForward(qs, k, v, keyBuckets, queryBuckets, settings, out, nullptr,
                                                          nullptr, &attended);
                            const Matrix reference = imc::lsh::lshAttentionReference(qs, k, v, keyBuckets, queryBuckets,
                                                                                     settings, &expected);
                            INFO("window " << window << " rounds " << rounds << " self excluded " << excludeSelf
                                           << " queries " << queries);
                            CHECK((out - reference).cwiseAbs().maxCoeff() < 1e-5f);
                            CHECK(attended == expected);
                            for (int i = 0; i < queries; ++i) {
                                const int p = length - queries + i;
                                const int local = std::min(window, p + 1) - (excludeSelf && window > 0 ? 1 : 0);
                                CHECK(attended[i] >= std::max(local, 1));
                            }
                        }
    }
    SECTION("no key shares a query's bucket: exactly the sliding-window softmax, written out here") {
        const int window = 6;
        const std::vector<std::vector<int>> keyBuckets(2, std::vector<int>(length, 0));
        const std::vector<std::vector<int>> queryBuckets(2, std::vector<int>(length, 1));
        LshAttentionSettings settings;
        settings.chunk = 8;
        settings.window = window;
        settings.excludeSelf = false;
        Matrix out(length, dim);
        std::vector<int> attended;
        imc::lsh::lshAttentionForward(q, k, v, keyBuckets, queryBuckets, settings, out, nullptr, nullptr, &attended);
        const double scale = 1 / std::sqrt(double(dim));
        for (int i = 0; i < length; ++i) {
            const int first = std::max(0, i - window + 1);
            std::vector<double> w;
            double maxScore = -INFINITY, total = 0;
            for (int j = first; j <= i; ++j)
                w.push_back(q.row(i).cast<double>().dot(k.row(j).cast<double>()) * scale), maxScore = std::max(maxScore, w.back());
            for (auto& x : w) total += (x = std::exp(x - maxScore));
            for (int c = 0; c < dim; ++c) {
                double acc = 0;
                for (int j = first; j <= i; ++j) acc += w[j - first] * v(j, c);
                CHECK_THAT(out(i, c), Catch::Matchers::WithinAbs(acc / total, 1e-5));
            }
            CHECK(attended[i] == i - first + 1);
        }
        // A window as long as the sequence is the ideal causal softmax, with or without buckets.
        settings.window = length;
        imc::lsh::lshAttentionForward(q, k, v, randomBuckets(2, length, 4, 77), randomBuckets(2, length, 4, 78),
                                      settings, out);
        CHECK((out - imc::nn::idealAttentionReference(q, k, v)).cwiseAbs().maxCoeff() < 1e-5f);
    }
}

TEST_CASE("local window: backward is the exact gradient over the window and the buckets", "[lsh][attention][gradient][window]") {
    const int length = 16, dim = 4;
    Matrix q = randomMatrix(length, dim, 81), k = randomMatrix(length, dim, 82), v = randomMatrix(length, dim, 83);
    const Matrix weights = randomMatrix(length, dim, 84);
    const auto keyBuckets = randomBuckets(2, length, 4, 85), queryBuckets = randomBuckets(2, length, 4, 86);
    LshAttentionSettings settings;
    settings.chunk = 4;
    settings.window = 3;
    settings.excludeSelf = false;
    const auto run = [&](Matrix* keys, Matrix* probs) {
        Matrix out(length, dim);
        imc::lsh::lshAttentionForward(q, k, v, keyBuckets, queryBuckets, settings, out, keys, probs);
        return out;
    };
    Matrix keys, probs;
    run(&keys, &probs);
    Matrix dq(length, dim), dk(length, dim), dv(length, dim);
    imc::lsh::lshAttentionBackward(q, k, v, weights, keys, probs, dq, dk, dv);
    const auto loss = [&] { return double((run(nullptr, nullptr).array() * weights.array()).sum()); };
    const float step = 1e-2f;
    for (auto [tensor, gradient] : {std::pair{&q, &dq}, std::pair{&k, &dk}, std::pair{&v, &dv}})
        for (Eigen::Index index : {2, 19, 37, 58}) {
            float& x = tensor->data()[index];
            const float saved = x;
            x = saved + step;
            const double up = loss();
            x = saved - step;
            const double down = loss();
            x = saved;
            CHECK_THAT(gradient->data()[index], Catch::Matchers::WithinAbs((up - down) / (2 * step), 2e-3));
        }
}

TEST_CASE("passive RP in a transformer: the same seed gives the same logits for any thread count and call order",
          "[lsh][passive][determinism]") {
    imc::nn::Config config;
    config.vocabSize = 32, config.context = 24, config.layers = 2, config.heads = 2, config.dModel = 32, config.headDim = 16;
    imc::nn::Model model{config, imc::nn::Weights::initialized(config, 5), {}};
    imc::lsh::LshOptions options;
    options.projection.kind = "passive";
    options.projection.buckets = 4;
    options.projection.rounds = 2;
    options.attention.chunk = 8;
    options.projection.seed = 3;
    options = imc::lsh::resolvedLshOptions(options);
    imc::nn::Rng rng(6);
    std::vector<int> a(4 * 24), b(4 * 24);
    for (auto& t : a) t = int(rng.below(32));
    for (auto& t : b) t = int(rng.below(32));
    const auto logits = [&](const imc::lsh::LshAttention& backend, const std::vector<int>& tokens) {
        imc::nn::Transformer net(model, backend);
        return Matrix(net.forward(tokens, 4, 24));
    };
    const int saved = imc::nn::threadCount();
    imc::nn::setThreadCount(1);
    const imc::lsh::LshAttention one(options);
    const Matrix aOne = logits(one, a), bOne = logits(one, b);
    imc::nn::setThreadCount(2);
    const imc::lsh::LshAttention two(options);
    const Matrix bTwo = logits(two, b), aTwo = logits(two, a);  // the other order
    imc::nn::setThreadCount(saved);
    CHECK(aOne == aTwo);
    CHECK(bOne == bTwo);
    CHECK(one.statistics().attendedKeys == two.statistics().attendedKeys);
    // The noise is real: another seed hashes differently and changes the logits.
    options.projection.seed = 4;
    const imc::lsh::LshAttention other(options);
    CHECK(logits(other, a) != aOne);
    // And reads of the same array are not frozen: the same row read with another drive pattern
    // or as another stream gets other noise, visible as a spread of the projection.
    const imc::lsh::PassiveHashFamily family(16, 4, 1, options.projection.passive.value(), 9);
    const Matrix x = randomMatrix(200, 16, 10);
    CHECK(family.project(x, 0, 0) == family.project(x, 0, 0));
    CHECK(family.project(x, 0, 0) != family.project(x, 0, 1));
}
