// The workloads' building blocks against independent references, and short end-to-end runs.
#include "lsh/lsh.hpp"
#include "nn/ideal_attention.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

using imc::lsh::Matrix;

namespace {

Matrix randomMatrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
    imc::nn::Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}

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
