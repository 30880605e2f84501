#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <random>

using namespace imc::fit;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

void sampleDecay(double V0, double V_inf, double tau_s, double span_s, int n, double noise_V, std::uint64_t seed,
                 std::vector<double>& t, std::vector<double>& V) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, noise_V);
    for (int k = 0; k < n; ++k) {
        const double time = span_s * k / (n - 1);
        t.push_back(time);
        V.push_back(V_inf + (V0 - V_inf) * std::exp(-time / tau_s) + (noise_V > 0 ? noise(rng) : 0.0));
    }
}

}  // namespace

TEST_CASE("decay fit recovers tau, V0 and V_inf from noiseless data", "[fit][decay]") {
    std::vector<double> t, V;
    sampleDecay(0.9, 0.1, 5e-3, 20e-3, 200, 0.0, 1, t, V);  // the paper's 5 ms storage time constant
    const ExponentialDecayFit fit = fitExponentialDecay(t, V);
    CHECK_THAT(fit.tau_s, WithinRel(5e-3, 1e-8));
    CHECK_THAT(fit.V0_V, WithinRel(0.9, 1e-8));
    CHECK_THAT(fit.V_inf_V, WithinRel(0.1, 1e-8));
    CHECK(fit.rmse < 1e-10);
    CHECK_FALSE(fit.V_inf_fixed);
}

TEST_CASE("decay fit recovers tau from noisy data with a sensible standard error", "[fit][decay]") {
    std::vector<double> t, V;
    sampleDecay(0.8, 0.3, 2.5e-6, 10e-6, 500, 2e-3, 42, t, V);
    const ExponentialDecayFit fit = fitExponentialDecay(t, V);
    CHECK_THAT(fit.tau_s, WithinRel(2.5e-6, 0.01));
    CHECK(fit.tau_stderr_s > 0.0);
    CHECK(std::abs(fit.tau_s - 2.5e-6) < 4.0 * fit.tau_stderr_s);
    CHECK_THAT(fit.rmse, WithinRel(2e-3, 0.1));
}

TEST_CASE("decay fit with V_inf fixed works when tau is much longer than the record", "[fit][decay]") {
    std::vector<double> t, V;
    // 1 ms of a 50 ms leak: only 2 % of the decay is visible, V_inf = 0 must be given.
    sampleDecay(0.9, 0.0, 50e-3, 1e-3, 100, 0.0, 3, t, V);
    const ExponentialDecayFit fit = fitExponentialDecay(t, V, 0.0);
    CHECK(fit.V_inf_fixed);
    CHECK(fit.V_inf_V == 0.0);
    CHECK_THAT(fit.tau_s, WithinRel(50e-3, 1e-6));
    CHECK_THAT(fit.V0_V, WithinRel(0.9, 1e-9));
}

TEST_CASE("decay fit refuses to separate tau from V_inf on an almost straight line", "[fit][decay]") {
    std::vector<double> t, V;
    sampleDecay(0.9, 0.0, 1e5, 1.0, 50, 0.0, 5, t, V);
    CHECK_THROWS_AS(fitExponentialDecay(t, V), std::invalid_argument);
    CHECK_THAT(fitExponentialDecay(t, V, 0.0).tau_s, WithinRel(1e5, 1e-6));
}

TEST_CASE("decay fit handles rising curves (V0 below V_inf)", "[fit][decay]") {
    std::vector<double> t, V;
    sampleDecay(0.0, 1.2, 3e-9, 15e-9, 150, 0.0, 4, t, V);
    const ExponentialDecayFit fit = fitExponentialDecay(t, V);
    CHECK_THAT(fit.tau_s, WithinRel(3e-9, 1e-8));
    CHECK_THAT(fit.V_inf_V, WithinRel(1.2, 1e-8));
    CHECK_THAT(fit.V0_V, WithinAbs(0.0, 1e-9));
}
