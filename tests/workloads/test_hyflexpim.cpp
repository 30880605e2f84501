// The HyFlexPIM workload's pieces against independent references: the topic probe against the
// Bayes rule, the SLC selections against hand-ordered importances.
#include "nn/random.hpp"
#include "nn/svd_linear.hpp"
#include "workloads/hyflexpim.hpp"
#include "../nn/tiny_model.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <vector>

using namespace imc::nn;
using testing::tinyModel;

TEST_CASE("the topic probe reaches the Bayes accuracy of two Gaussian classes") {
    // Classes N(-e1, I) and N(+e1, I) in 4 dimensions: the Bayes rule (sign of x_1) is right with
    // probability Phi(1) = 0.8413; 20,000 test points give a standard error of 0.0026.
    const int dims = 4, train = 4000, test = 20000;
    Rng rng(21);
    auto draw = [&](int n, std::vector<int>& labels) {
        Eigen::MatrixXd x(n, dims);
        labels.resize(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            labels[static_cast<std::size_t>(i)] = static_cast<int>(rng.below(2));
            for (int d = 0; d < dims; ++d) x(i, d) = rng.normal() + (d == 0 ? 2.0 * labels[static_cast<std::size_t>(i)] - 1.0 : 0.0);
        }
        x.col(2) = x.col(2) * 50.0 + Eigen::VectorXd::Constant(n, 7.0);  // scale and offset must not matter
        return x;
    };
    std::vector<int> trainLabels, testLabels;
    const Eigen::MatrixXd xTrain = draw(train, trainLabels), xTest = draw(test, testLabels);
    const TopicProbe probe = trainProbe(xTrain, trainLabels, 2, 1e-3, 500);
    const auto predicted = probePredict(probe, xTest);
    double right = 0;
    for (int i = 0; i < test; ++i) right += predicted[static_cast<std::size_t>(i)] == testLabels[static_cast<std::size_t>(i)];
    const double bayes = 0.5 * std::erfc(-1.0 / std::sqrt(2.0));
    CHECK(std::abs(right / test - bayes) < 0.012);
}

TEST_CASE("selections: gradient takes the largest |dL/ds|, rank the leading ranks, random nests") {
    Model model = tinyModel(6);
    SvdFactors f = factorize(model.weights, model.config, 0);
    SvdBlock& b = f.sites[2][0];  // c_fc of layer 0: rank 6
    REQUIRE(b.rank() == 6);
    b.importanceWindow << 0.1f, 0.9f, 0.2f, 0.8f, 0.3f, 0.0f;
    const auto g = selectRanks(f, Selection::Gradient, 0.34, 1)[2][0];  // round(0.34 * 6) = 2
    CHECK(g == std::vector<std::uint8_t>{0, 1, 0, 1, 0, 0});
    const auto r = selectRanks(f, Selection::Rank, 0.5, 1)[2][0];
    CHECK(r == std::vector<std::uint8_t>{1, 1, 1, 0, 0, 0});
    const auto small = selectRanks(f, Selection::Random, 0.34, 4)[2][0], large = selectRanks(f, Selection::Random, 0.67, 4)[2][0];
    for (std::size_t i = 0; i < small.size(); ++i) CHECK((!small[i] || large[i]));
}
