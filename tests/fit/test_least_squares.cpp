#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <random>

using namespace imc::fit;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("linear least squares recovers a line and reports R^2 and RMSE", "[fit][ls]") {
    // y = 2 - 3x exactly, plus one known perturbation: residuals and RMSE follow by hand.
    Eigen::MatrixXd A(4, 2);
    A << 1, 0, 1, 1, 1, 2, 1, 3;
    Eigen::VectorXd y(4);
    y << 2, -1, -4, -7;
    const auto exact = fitLinearLeastSquares(A, y);
    CHECK(exact.full_rank());
    CHECK_THAT(exact.coefficients[0], WithinAbs(2.0, 1e-12));
    CHECK_THAT(exact.coefficients[1], WithinAbs(-3.0, 1e-12));
    CHECK_THAT(exact.rmse, WithinAbs(0.0, 1e-12));
    CHECK_THAT(exact.r2, WithinAbs(1.0, 1e-12));

    // Adding (1,-1,-1,1) (orthogonal to both columns) leaves the coefficients and gives RMSE 1.
    y += Eigen::Vector4d(1, -1, -1, 1);
    const auto noisy = fitLinearLeastSquares(A, y);
    CHECK_THAT(noisy.coefficients[0], WithinAbs(2.0, 1e-12));
    CHECK_THAT(noisy.coefficients[1], WithinAbs(-3.0, 1e-12));
    CHECK_THAT(noisy.rmse, WithinAbs(1.0, 1e-12));
    CHECK_THAT(noisy.residuals[0], WithinAbs(1.0, 1e-12));
    // SS_tot of y = (3,-2,-5,-6): mean -2.5, SS_tot = 30.25+0.25+6.25+12.25 = 49; SS_res = 4.
    CHECK_THAT(noisy.r2, WithinAbs(1.0 - 4.0 / 49.0, 1e-12));
}

TEST_CASE("linear least squares survives columns many decades apart and detects rank loss", "[fit][ls]") {
    Eigen::MatrixXd A(5, 3);
    Eigen::VectorXd y(5);
    for (int r = 0; r < 5; ++r) {
        const double t = 1e-9 * (r + 1);
        A(r, 0) = 1.0;
        A(r, 1) = t;
        A(r, 2) = t * t;
        y[r] = 0.5 + 2e8 * t - 3e16 * t * t;
    }
    const auto fit = fitLinearLeastSquares(A, y);
    CHECK(fit.rank == 3);
    CHECK_THAT(fit.coefficients[1], WithinRel(2e8, 1e-8));
    CHECK_THAT(fit.coefficients[2], WithinRel(-3e16, 1e-7));

    A.col(2) = 7.0 * A.col(1);
    CHECK(fitLinearLeastSquares(A, y).rank == 2);
}

namespace {

GainCellCoefficients knownCoefficients() {
    GainCellCoefficients C{};
    // Arbitrary, of mixed sign and magnitude, so that a swapped index would show.
    C[0][0] = 1.2;  C[0][1] = -0.8; C[0][2] = 0.35; C[0][3] = -0.05;
    C[1][0] = 2.5;  C[1][1] = 1.1;  C[1][2] = -0.4;
    C[2][0] = -0.7; C[2][1] = 0.9;
    C[3][0] = 3.3;
    return C;
}

}  // namespace

TEST_CASE("gain-cell polynomial recovers all ten C_ij when V_in varies", "[fit][gaincell]") {
    const GainCellCoefficients C = knownCoefficients();
    const double K_offset = 0.45;
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<double> Q_dist(0.0, 1.0), K_dist(0.0, 0.9), V_dist(0.6, 1.2);
    std::vector<double> Q, K, V, S;
    for (int r = 0; r < 400; ++r) {
        Q.push_back(Q_dist(rng));
        K.push_back(K_dist(rng));
        V.push_back(V_dist(rng));
        S.push_back(evaluateGainCellPolynomial(C, Q.back(), K.back(), V.back(), K_offset));
    }
    const GainCellPolyFit fit = fitGainCellPolynomial(Q, K, S, V, K_offset);
    REQUIRE(fit.identifiable);
    REQUIRE(fit.coefficients.size() == 10);
    for (int i = 0; i <= 3; ++i)
        for (int j = 0; j <= 3 - i; ++j) {
            INFO("C_" << i << "_" << j);
            CHECK_THAT(fit.C[i][j], WithinRel(C[i][j], 1e-6));
            CHECK_THAT(fit.coefficients.at("C_" + std::to_string(i) + "_" + std::to_string(j)), WithinRel(C[i][j], 1e-6));
        }
    CHECK(fit.rmse < 1e-10);
    CHECK_THAT(fit.r2, WithinAbs(1.0, 1e-12));
    CHECK(fit.n == 400);
}

TEST_CASE("gain-cell polynomial with one V_in returns the per-power sums D_i", "[fit][gaincell]") {
    const GainCellCoefficients C = knownCoefficients();
    const double K_offset = 0.45, V_in = 0.9;
    // Hand-computed reference: D_i = sum_j C_ij 0.9^j.
    const double D_expected[4] = {1.2 - 0.8 * 0.9 + 0.35 * 0.81 - 0.05 * 0.729, 2.5 + 1.1 * 0.9 - 0.4 * 0.81,
                                  -0.7 + 0.9 * 0.9, 3.3};
    std::mt19937_64 rng(777);
    std::uniform_real_distribution<double> Q_dist(0.0, 1.0);
    std::vector<double> Q, K, V, S;
    for (int q = 0; q < 16; ++q)
        for (int k = 0; k < 8; ++k) {
            Q.push_back(Q_dist(rng));
            K.push_back(0.9 * k / 7.0);  // the paper's 8 stored levels
            V.push_back(V_in);
            S.push_back(evaluateGainCellPolynomial(C, Q.back(), K.back(), V_in, K_offset));
        }
    const GainCellPolyFit fit = fitGainCellPolynomial(Q, K, S, V, K_offset);
    CHECK_FALSE(fit.identifiable);
    REQUIRE(fit.coefficients.size() == 4);
    for (int i = 0; i < 4; ++i) {
        INFO("D_" << i);
        CHECK_THAT(fit.coefficients.at("D_" + std::to_string(i)), WithinRel(D_expected[i], 1e-6));
        CHECK_THAT(fit.D[i], WithinRel(D_expected[i], 1e-6));
    }
    const auto D_from_C = gainCellPerPowerSums(C, V_in);
    for (int i = 0; i < 4; ++i) CHECK_THAT(D_from_C[i], WithinRel(D_expected[i], 1e-12));
    CHECK_FALSE(fit.note.empty());
    CHECK(fit.rmse < 1e-10);
}

TEST_CASE("gain-cell polynomial refuses two V_in levels instead of returning arbitrary C_ij", "[fit][gaincell]") {
    const GainCellCoefficients C = knownCoefficients();
    std::vector<double> Q, K, V, S;
    for (int r = 0; r < 64; ++r) {
        Q.push_back(0.1 + 0.01 * r);
        K.push_back(0.9 * (r % 8) / 7.0);
        V.push_back(r % 2 ? 0.8 : 0.9);
        S.push_back(evaluateGainCellPolynomial(C, Q.back(), K.back(), V.back(), 0.45));
    }
    CHECK_THROWS_AS(fitGainCellPolynomial(Q, K, S, V, 0.45), std::invalid_argument);
}

TEST_CASE("gain-cell polynomial treats a V_in with tiny jitter as constant", "[fit][gaincell]") {
    const GainCellCoefficients C = knownCoefficients();
    std::mt19937_64 rng(4242);
    std::uniform_real_distribution<double> Q_dist(0.0, 1.0), K_dist(0.0, 0.9), jitter(-1e-5, 1e-5);
    std::vector<double> Q, K, V, S;
    for (int r = 0; r < 300; ++r) {
        Q.push_back(Q_dist(rng));
        K.push_back(K_dist(rng));
        V.push_back(0.9 * (1.0 + jitter(rng)));  // SPICE-level wobble around 0.9 V
        S.push_back(evaluateGainCellPolynomial(C, Q.back(), K.back(), V.back(), 0.45));
    }
    const GainCellPolyFit fit = fitGainCellPolynomial(Q, K, S, V, 0.45);
    CHECK_FALSE(fit.identifiable);
    CHECK(fit.distinct_V_in > 1);
    CHECK_THAT(fit.note, Catch::Matchers::ContainsSubstring("varies by only"));
    const auto D = gainCellPerPowerSums(C, fit.V_in_V);
    for (int i = 0; i < 4; ++i) CHECK_THAT(fit.D[i], WithinRel(D[i], 1e-4));
}
