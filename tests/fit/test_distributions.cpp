#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace imc::fit;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("Kolmogorov survival function matches tabulated critical values", "[fit][ks]") {
    // Asymptotic critical values of sqrt(n) D (Smirnov 1948 tables).
    CHECK_THAT(kolmogorovSurvival(1.0727), WithinAbs(0.20, 5e-4));
    CHECK_THAT(kolmogorovSurvival(1.2238), WithinAbs(0.10, 5e-4));
    CHECK_THAT(kolmogorovSurvival(1.3581), WithinAbs(0.05, 5e-4));
    CHECK_THAT(kolmogorovSurvival(1.4802), WithinAbs(0.025, 5e-4));
    CHECK_THAT(kolmogorovSurvival(1.6276), WithinAbs(0.01, 2e-4));
    CHECK_THAT(kolmogorovSurvival(1.9495), WithinAbs(0.001, 5e-5));
    // Median of the Kolmogorov distribution.
    CHECK_THAT(kolmogorovSurvival(0.8276), WithinAbs(0.5, 5e-4));
    CHECK(kolmogorovSurvival(0.0) == 1.0);
    CHECK(kolmogorovSurvival(0.2) > 0.999999);
    // The two series meet at 1.18 without a jump.
    CHECK_THAT(kolmogorovSurvival(1.18 - 1e-9), WithinAbs(kolmogorovSurvival(1.18), 1e-8));
}

TEST_CASE("KS p-value with the finite-n correction matches exact small-sample critical values", "[fit][ks]") {
    // Exact two-sided 5 % and 1 % critical D for n = 10 and n = 20 (Miller 1956).
    CHECK_THAT(ksPValue(0.40925, 10), WithinAbs(0.05, 3e-3));
    CHECK_THAT(ksPValue(0.48893, 10), WithinAbs(0.01, 1e-3));
    CHECK_THAT(ksPValue(0.29408, 20), WithinAbs(0.05, 3e-3));
}

TEST_CASE("lognormal MLE recovers mu and sigma of 10,000 samples", "[fit][lognormal]") {
    const double mu = std::log(2e-12), sigma = 0.45;  // pA-scale HRS conductance
    std::mt19937_64 rng(2024);
    std::lognormal_distribution<double> dist(mu, sigma);
    std::vector<double> samples(10'000);
    for (double& s : samples) s = dist(rng);
    const LognormalFit fit = fitLognormal(samples);
    CHECK(fit.n == 10'000);
    CHECK_THAT(fit.mu, WithinRel(mu, 0.02));
    CHECK_THAT(fit.sigma, WithinRel(sigma, 0.02));
    CHECK(fit.mu_ci.lo < fit.mu);
    CHECK(fit.mu < fit.mu_ci.hi);
    CHECK(fit.sigma_ci.lo < fit.sigma);
    CHECK(fit.sigma < fit.sigma_ci.hi);
    // Half-width of the mu interval is about 1.96 sigma / sqrt(n).
    CHECK_THAT((fit.mu_ci.hi - fit.mu_ci.lo) / 2.0, WithinRel(1.96 * sigma / 100.0, 0.03));
    CHECK(fit.ks_p > 0.01);
}

TEST_CASE("lognormal confidence intervals cover the true values about 95 % of the time", "[fit][lognormal]") {
    std::mt19937_64 rng(99);
    std::lognormal_distribution<double> dist(0.3, 0.8);
    int mu_hits = 0, sigma_hits = 0;
    const int trials = 1000;
    std::vector<double> samples(30);
    for (int t = 0; t < trials; ++t) {
        for (double& s : samples) s = dist(rng);
        const LognormalFit fit = fitLognormal(samples);
        mu_hits += fit.mu_ci.lo <= 0.3 && 0.3 <= fit.mu_ci.hi;
        sigma_hits += fit.sigma_ci.lo <= 0.8 && 0.8 <= fit.sigma_ci.hi;
    }
    // Binomial(1000, 0.95) has a standard deviation of 6.9: +-3.5 sigma.
    CHECK(mu_hits >= 926);
    CHECK(mu_hits <= 974);
    CHECK(sigma_hits >= 926);
    CHECK(sigma_hits <= 974);
}

TEST_CASE("KS p-value rejects a uniform sample fitted as Gaussian", "[fit][gaussian]") {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> samples(5000);
    for (double& s : samples) s = uniform(rng);
    const GaussianFit fit = fitGaussian(samples);
    CHECK(fit.ks_p < 1e-6);
    // Uniform(0,1): mean 0.5, std 1/sqrt(12).
    CHECK_THAT(fit.mean, WithinAbs(0.5, 0.01));
    CHECK_THAT(fit.std, WithinRel(1.0 / std::sqrt(12.0), 0.02));
}

TEST_CASE("Gaussian MLE recovers mean and std, with t and chi-square intervals", "[fit][gaussian]") {
    std::mt19937_64 rng(31337);
    std::normal_distribution<double> dist(-1.5e-6, 3e-7);  // conductance differences in S
    std::vector<double> samples(10'000);
    for (double& s : samples) s = dist(rng);
    const GaussianFit fit = fitGaussian(samples);
    CHECK_THAT(fit.mean, WithinRel(-1.5e-6, 0.02));
    CHECK_THAT(fit.std, WithinRel(3e-7, 0.02));
    CHECK(fit.mean_ci.lo < fit.mean);
    CHECK(fit.mean < fit.mean_ci.hi);
    // Chi-square interval of sigma: relative half-width about 1.96 / sqrt(2n) = 1.39 %.
    CHECK_THAT((fit.std_ci.hi - fit.std_ci.lo) / (2.0 * fit.std), WithinRel(1.96 / std::sqrt(20'000.0), 0.03));
    CHECK(fit.ks_p > 0.01);
}

TEST_CASE("small-sample intervals match hand-computed t and chi-square quantiles", "[fit][gaussian]") {
    // n = 5, values 1..5: mean 3, SS = 10, s = sqrt(2.5). t_{0.975,4} = 2.776445, chi2_{4}: 0.484419, 11.143287.
    const std::vector<double> samples{1, 2, 3, 4, 5};
    const GaussianFit fit = fitGaussian(samples);
    CHECK_THAT(fit.mean, WithinAbs(3.0, 1e-12));
    CHECK_THAT(fit.std, WithinRel(std::sqrt(2.0), 1e-12));
    CHECK_THAT(fit.mean_ci.hi, WithinRel(3.0 + 2.776445 * std::sqrt(2.5) / std::sqrt(5.0), 1e-6));
    CHECK_THAT(fit.std_ci.lo, WithinRel(std::sqrt(10.0 / 11.143287), 1e-6));
    CHECK_THAT(fit.std_ci.hi, WithinRel(std::sqrt(10.0 / 0.484419), 1e-6));
}

TEST_CASE("distribution fits reject unusable samples", "[fit][lognormal]") {
    const std::vector<double> with_zero{1.0, 2.0, 0.0, 3.0};
    CHECK_THROWS_AS(fitLognormal(with_zero), std::invalid_argument);
    const std::vector<double> with_negative{1.0, -2.0, 3.0};
    CHECK_THROWS_AS(fitLognormal(with_negative), std::invalid_argument);
    const std::vector<double> with_nan{1.0, std::nan(""), 3.0};
    CHECK_THROWS_AS(fitGaussian(with_nan), std::invalid_argument);
    const std::vector<double> single{1.0};
    CHECK_THROWS_AS(fitGaussian(single), std::invalid_argument);
}

TEST_CASE("3,000,000 identical values have no spread to fit", "[fit][lognormal][numerics]") {
    // A naive running sum of the logs drifts by ~n * eps and used to report sigma 1.16e-9.
    const std::vector<double> same(3'000'000, 1.0e-4);
    try {
        fitLognormal(same);
        FAIL("fitLognormal accepted 3,000,000 identical values");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("all 3000000 samples are equal") != std::string::npos);
    }
    CHECK_THROWS_AS(fitGaussian(same), std::invalid_argument);
}

TEST_CASE("compensated sums keep the mean and spread of 3,000,000 values to rounding", "[fit][gaussian][numerics]") {
    // Alternating 0.1 and 0.3: the exact mean is 0.2 and the exact (MLE) std 0.1; neither 0.1 nor
    // 0.3 is a binary fraction, so every addition of a naive sum rounds.
    std::vector<double> values(3'000'000);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = (i % 2) ? 0.3 : 0.1;
    const GaussianFit fit = fitGaussian(values);
    CHECK_THAT(fit.mean, WithinRel(0.2, 4e-16));
    CHECK_THAT(fit.std, WithinRel(0.1, 4e-15));
    // Far from zero: 1e9 + {0, 1}; the spread is 1e-9 of the values.
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = 1e9 + double(i % 2);
    const GaussianFit offset = fitGaussian(values);
    CHECK(offset.mean == 1e9 + 0.5);
    CHECK(offset.std == 0.5);
}

TEST_CASE("too few samples say how many there were", "[fit][numerics]") {
    try {
        fitLognormal(std::vector<double>{});
        FAIL("an empty sample was fitted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "fitLognormal: need at least 2 samples, got 0");
    }
}

TEST_CASE("Sample mean and standard deviation of repeated measurements", "[fit][statistics]") {
    const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};  // mean 5, sum of squares about it 32
    CHECK(sampleMean(x) == 5.0);
    CHECK_THAT(sampleStd(x), WithinAbs(std::sqrt(32.0 / 7.0), 1e-15));
    CHECK(sampleStd(std::vector<double>{3.0}) == 0.0);
    CHECK(sampleMean(std::vector<double>{}) == 0.0);
}
