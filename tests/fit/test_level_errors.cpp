#include "fit/level_errors.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <bit>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>
#include <vector>

using namespace imc::fit;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

double Q(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

struct Counted {
    double ser = 0.0;
    double ber = 0.0;
    double draws = 0.0;  // per level
};

// Draws `n` Gaussian reads per level and decides each by the nearest level mean.
Counted monteCarlo(const std::vector<double>& mean, const std::vector<double>& std, int n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    const std::size_t L = mean.size();
    const int bits = std::bit_width(L - 1);
    double symbol_errors = 0.0, bit_errors = 0.0;
    for (std::size_t i = 0; i < L; ++i)
        for (int k = 0; k < n; ++k) {
            const double read = mean[i] + std[i] * normal(rng);
            std::size_t j = 0;
            while (j + 1 < L && read > 0.5 * (mean[j] + mean[j + 1])) ++j;
            if (j != i) {
                symbol_errors += 1.0;
                bit_errors += std::popcount(i ^ j);
            }
        }
    return {symbol_errors / (double(L) * n), bit_errors / (double(L) * n * bits), double(n)};
}

// Binomial standard error of a rate p estimated from `trials` trials.
double standardError(double p, double trials) { return std::sqrt(p * (1.0 - p) / trials); }

}  // namespace

TEST_CASE("multiplicative 4-level BER equals the hand-derived confusion sum", "[fit][levels]") {
    // Natural binary 00 01 10 11; level w reads w (1 + eta), std w s; bit flips counted per outcome.
    for (double s : {0.05, 0.1, 0.159, 0.3, 1.0}) {
        const double l1 = Q(0.5 / s) * 1 + (Q(0.5 / s) - Q(1.5 / s)) * 2 + Q(1.5 / s) * 1;
        const double l2 = Q(1.5 / (2 * s)) * 1 + (Q(0.5 / (2 * s)) - Q(1.5 / (2 * s))) * 2 + Q(0.5 / (2 * s)) * 1;
        const double l3 = (Q(0.5 / (3 * s)) - Q(1.5 / (3 * s))) * 1 + (Q(1.5 / (3 * s)) - Q(2.5 / (3 * s))) * 1 +
                          Q(2.5 / (3 * s)) * 2;
        CHECK_THAT(multiplicativeBitErrorRate(4, s), WithinRel((l1 + l2 + l3) / 8.0, 1e-12));
        const double ser = (2 * Q(0.5 / s) + 2 * Q(0.5 / (2 * s)) + Q(0.5 / (3 * s))) / 4.0;
        CHECK_THAT(multiplicativeSymbolErrorRate(4, s), WithinRel(ser, 1e-12));
    }
    // SLC: only level 1 can fail, into level 0, one bit.
    CHECK_THAT(multiplicativeBitErrorRate(2, 0.2), WithinRel(Q(2.5) / 2.0, 1e-12));
    CHECK(multiplicativeBitErrorRate(4, 0.0) == 0.0);
}

TEST_CASE("10^6 Gaussian draws per level reproduce the analytic tail", "[fit][levels]") {
    SECTION("multiplicative, 4 levels") {
        const double s = 0.159;
        const Counted mc = monteCarlo({0, 1, 2, 3}, {0, s, 2 * s, 3 * s}, 1'000'000, 7);
        const double ser = multiplicativeSymbolErrorRate(4, s), ber = multiplicativeBitErrorRate(4, s);
        CHECK_THAT(mc.ser, WithinAbs(ser, 5 * standardError(ser, 4 * mc.draws)));
        CHECK_THAT(mc.ber, WithinAbs(ber, 5 * standardError(ber, 4 * mc.draws)));
    }
    SECTION("measured levels, uneven spacing and spreads") {
        const std::vector<double> mean{0.2e-6, 13e-6, 25e-6, 34e-6}, std{1.5e-6, 2.5e-6, 3e-6, 3.5e-6};
        const Counted mc = monteCarlo(mean, std, 1'000'000, 11);
        const double ser = gaussianSymbolErrorRate(mean, std), ber = gaussianBitErrorRate(mean, std);
        CHECK(ser > 0.01);
        CHECK_THAT(mc.ser, WithinAbs(ser, 5 * standardError(ser, 4 * mc.draws)));
        CHECK_THAT(mc.ber, WithinAbs(ber, 5 * standardError(ber, 4 * mc.draws)));
    }
}

TEST_CASE("Gaussian error rates keep digits far into the tail", "[fit][levels]") {
    // Two levels 1 apart, std 0.05: each errs with Q(10) = 7.62e-24.
    const std::vector<double> mean{0.0, 1.0}, std{0.05, 0.05};
    CHECK_THAT(gaussianSymbolErrorRate(mean, std), WithinRel(Q(10.0), 1e-9));
    CHECK_THAT(gaussianBitErrorRate(mean, std), WithinRel(Q(10.0), 1e-9));
    // The multiplicative model with equal spreads matches the Gaussian one with std w sigma.
    CHECK_THAT(gaussianBitErrorRate(std::vector<double>{0, 1, 2, 3}, std::vector<double>{0, 0.1, 0.2, 0.3}),
               WithinRel(multiplicativeBitErrorRate(4, 0.1), 1e-14));
}

TEST_CASE("sigma_eta from a bit error rate inverts the forward model", "[fit][levels]") {
    // The paper's 4.04 % one-day BER, 4 levels, natural binary: sigma_eta = 0.1589.
    const double s = sigmaEtaForBitErrorRate(4, 0.0404);
    CHECK_THAT(multiplicativeBitErrorRate(4, s), WithinRel(0.0404, 1e-10));
    CHECK_THAT(s, WithinAbs(0.1589, 5e-4));
    // The public code's sigma 0.025 gives a BER of about 1.6e-12, and inverts back.
    const double ber_code = multiplicativeBitErrorRate(4, 0.025);
    CHECK_THAT(ber_code, WithinRel(1.635e-12, 1e-3));
    CHECK_THAT(sigmaEtaForBitErrorRate(4, ber_code), WithinRel(0.025, 1e-9));
    for (double ber : {1e-9, 1e-4, 0.01, 0.1, 0.3})
        CHECK_THAT(multiplicativeBitErrorRate(4, sigmaEtaForBitErrorRate(4, ber)), WithinRel(ber, 1e-9));
    CHECK(sigmaEtaForBitErrorRate(4, 0.0) == 0.0);
    // Monotone on a grid, which the bisection relies on.
    double previous = 0.0;
    for (double t = 0.01; t < 100.0; t *= 1.1) {
        const double b = multiplicativeBitErrorRate(4, t);
        CHECK(b >= previous);
        previous = b;
    }
}

TEST_CASE("level error rates refuse what the model cannot produce", "[fit][levels]") {
    // 4 levels saturate at BER 3/8 as sigma -> inf.
    CHECK_THAT(multiplicativeBitErrorRate(4, 1e6), WithinAbs(0.375, 1e-6));
    CHECK_THROWS_WITH(sigmaEtaForBitErrorRate(4, 0.4), ContainsSubstring("0.4") && ContainsSubstring("0.375"));
    CHECK_THROWS_AS(sigmaEtaForBitErrorRate(4, -1e-3), std::invalid_argument);
    CHECK_THROWS_AS(sigmaEtaForBitErrorRate(2, 0.25), std::invalid_argument);
    CHECK_THROWS_AS(multiplicativeBitErrorRate(1, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(multiplicativeBitErrorRate(4, -0.1), std::invalid_argument);
    CHECK_THROWS_WITH(gaussianBitErrorRate(std::vector<double>{0, 2, 1}, std::vector<double>{1, 1, 1}),
                      ContainsSubstring("level 2"));
    CHECK_THROWS_AS(gaussianBitErrorRate(std::vector<double>{0, 1}, std::vector<double>{1}), std::invalid_argument);
}
