// The workloads' building blocks against independent references, and short end-to-end runs.
#include "nn/ideal_attention.hpp"
#include "nn/random.hpp"
#include "workloads/lsh.hpp"

#include "../lsh/random_matrix.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <numbers>

using imc::lsh::Matrix;

namespace {

}  // namespace

TEST_CASE("blocked exact attention equals the ideal reference, prefill and decode", "[lsh][scaling]") {
    const int length = 300, dim = 16;
    const Matrix q = randomMatrix(length, dim, 1), k = randomMatrix(length, dim, 2), v = randomMatrix(length, dim, 3);
    Matrix out(length, dim);
    imc::lsh::blockedExactAttention(q, k, v, out, 64);  // 300 is not a multiple of the tile
    CHECK((out - imc::nn::idealAttentionReference(q, k, v)).cwiseAbs().maxCoeff() < 1e-5f);
    Matrix tail(7, dim);
    imc::lsh::blockedExactAttention(q.bottomRows(7), k, v, tail, 64);
    CHECK((tail - out.bottomRows(7)).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("letter shift trains and reports accuracies for lsh and full attention", "[lsh][letters]") {
    imc::lsh::LettersOptions options;
    options.trainSteps = 600;
    options.testSequences = 200;
    options.arrays = 2;
    const auto result = imc::lsh::runLettersWorkload(options);
    CHECK(result.at("fits").get<std::string>().ends_with("fits/memristor-c2c.json"));  // the shipped default
    const double accuracy = result.at("accuracy");
    CHECK(accuracy >= 0.0);
    CHECK(accuracy <= 1.0);
    CHECK(result.at("full_attention_accuracy").get<double>() > 0.3);  // far above chance (1/26)
    CHECK(result.at("arrays").at("count") == 2);
    CHECK(result.at("codes").at("letters_in_bucket_of_a").is_string());
    options.attention = "ideal";
    CHECK(imc::lsh::runLettersWorkload(options).contains("accuracy"));
    options.rp = "nonsense";
    CHECK_THROWS_AS(imc::lsh::runLettersWorkload(options), std::invalid_argument);
}

namespace {

// Pearson correlation of two 0/1 vectors (the phi coefficient), computed directly.
double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    const double n = double(x.size());
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / std::sqrt(sxx * syy);
}

}  // namespace

TEST_CASE("needed-key recall counts what the brute-force attention sets contain", "[lsh][letters][recall]") {
    // Brute force: the O(L^2) reference attention with V = identity puts weight on key j exactly
    // when j is in the query's (union of) sets; q = k = 0 makes every weight in a set equal.
    const int length = 7, rounds = 3, buckets = 4;
    imc::nn::Rng rng(11);
    imc::lsh::LshAttentionSettings settings;
    settings.combination = imc::lsh::RoundCombination::Union;
    settings.causal = true;
    settings.excludeSelf = true;
    settings.sameBucketOnly = true;
    settings.chunk = length;
    const Matrix zeros = Matrix::Zero(length, 4), identity = Matrix::Identity(length, length);
    imc::lsh::NeededKeyRecall recall(rounds);
    std::vector<long> unionHits(rounds, 0);
    std::vector<std::vector<double>> hits(rounds);
    long queries = 0;
    for (int trial = 0; trial < 60; ++trial) {
        std::vector<std::vector<int>> bucketsPerRound(rounds, std::vector<int>(length));
        for (auto& round : bucketsPerRound)
            for (int& b : round) b = int(rng.below(trial % 2 ? 2 : buckets));
        std::vector<int> needed(length);
        for (int i = 0; i < length; ++i) needed[i] = i - 1;  // "previous": position 0 needs nothing
        recall.add(bucketsPerRound, needed);
        for (int r = 0; r < rounds; ++r) {
            const Matrix single = imc::lsh::lshAttentionReference(zeros, zeros, identity, {bucketsPerRound[r]}, settings);
            const std::vector<std::vector<int>> first(bucketsPerRound.begin(), bucketsPerRound.begin() + r + 1);
            const Matrix joint = imc::lsh::lshAttentionReference(zeros, zeros, identity, first, settings);
            for (int i = 1; i < length; ++i) {
                hits[r].push_back(single(i, i - 1) > 0 ? 1.0 : 0.0);
                unionHits[r] += joint(i, i - 1) > 0;
            }
        }
        queries += length - 1;
    }
    REQUIRE(recall.queries == queries);
    for (int r = 0; r < rounds; ++r) {
        double single = 0;
        for (double h : hits[r]) single += h;
        CHECK(recall.roundHits[r] == long(single));
        CHECK(recall.unionHits[r] == unionHits[r]);
        CHECK_THAT(recall.recall(r + 1), Catch::Matchers::WithinAbs(double(unionHits[r]) / double(queries), 1e-12));
    }
    CHECK(recall.unionHits[0] < recall.unionHits[2]);  // the case exercises the union
    const double phi = (pearson(hits[0], hits[1]) + pearson(hits[0], hits[2]) + pearson(hits[1], hits[2])) / 3;
    CHECK_THAT(recall.roundCorrelation(), Catch::Matchers::WithinAbs(phi, 1e-9));
    CHECK_THROWS_AS(recall.add({{0, 1}}, {-1, 0}), std::invalid_argument);  // fewer rounds than counted
}

TEST_CASE("letters 'previous': accuracy follows the needed-key recall and a second round adds to it",
          "[lsh][letters]") {
    imc::lsh::LettersOptions options;
    options.task = "previous";
    options.trainSteps = 400;
    options.testSequences = 400;
    options.arrays = 6;
    const auto result = imc::lsh::runLettersWorkload(options);
    CHECK(result.at("exclude_self") == true);  // the Reformer rule is the task's default
    CHECK(result.at("full_attention_accuracy").get<double>() > 0.95);
    const auto& rows = result.at("round_counts").at("rows");
    REQUIRE(rows.size() == 4);
    const double r1 = rows[0].at("needed_key_recall_mean");
    for (const auto& row : rows) {
        const int rounds = row.at("rounds");
        INFO("rounds " << rounds);
        // Without the needed key in its sets a query cannot know the letter; with it, it can.
        CHECK(std::abs(row.at("accuracy_mean").get<double>() - row.at("needed_key_recall_mean").get<double>()) < 0.03);
        CHECK_THAT(row.at("independent_rounds_prediction").get<double>(),
                   Catch::Matchers::WithinAbs(1 - std::pow(1 - r1, rounds), 1e-12));
    }
    // Two buckets: one hyperplane loses a fair share of the needed keys, a second round recovers some.
    CHECK(r1 < 0.9);
    CHECK(rows[1].at("needed_key_recall_mean").get<double>() > r1 + 0.05);
    const auto& comparison = result.at("round_counts").at("paper_comparison");
    CHECK(comparison.at("paper").at("accuracy_one_round") == 0.72);
    CHECK(comparison.at("paper").at("gain_two_rounds") == 0.12);

    // The control: the needed key is the query's own, always in its bucket.
    options.task = "same";
    options.arrays = 2;
    const auto control = imc::lsh::runLettersWorkload(options);
    for (const auto& row : control.at("round_counts").at("rows")) CHECK(row.at("needed_key_recall_mean") == 1.0);
    options.task = "previous";
    options.minLength = 1;
    CHECK_THROWS_AS(imc::lsh::runLettersWorkload(options), std::invalid_argument);
}

TEST_CASE("Gaussian RP collides at angle theta with probability 1 - theta/pi", "[lsh][collision]") {
    const imc::lsh::MemristorOptions memristor{imc::lsh::MemristorOptions::paperHrsFit()};
    const imc::lsh::PassiveOptions passive;
    for (double degrees : {30.0, 90.0, 135.0}) {
        const double theta = degrees * std::numbers::pi / 180;
        const double frequency = imc::lsh::collisionFrequency("gaussian", 16, theta, 20000, 7, memristor, passive);
        INFO("theta = " << degrees << " deg, frequency " << frequency);
        CHECK_THAT(frequency, Catch::Matchers::WithinAbs(1 - theta / std::numbers::pi, 0.02));
    }
}

TEST_CASE("collision statistics table has the theory column and every family", "[lsh][collision]") {
    imc::lsh::CollisionOptions options;
    options.pairs = 400;
    options.anglesDeg = {0, 90, 180};
    const auto table = imc::lsh::runCollisionStatistics(options);
    REQUIRE(table.at("rows").size() == 3);
    CHECK(table.at("rows")[0].at("gaussian") == 1.0);  // identical vectors always collide
    CHECK(table.at("rows")[2].at("memristor") == 0.0);  // opposite vectors never do
    CHECK(table.at("rows")[1].at("theory") == 0.5);
}
