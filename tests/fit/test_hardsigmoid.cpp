#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <algorithm>
#include <cmath>
#include <random>

using namespace imc::fit;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// The paper's charge-to-pulse: T_max = 15 ns; here the slope reaches it at S = 0.8 above an offset 0.1.
constexpr double kTmax = 15e-9, kOffset = 0.1, kSlope = 15e-9 / 0.8;

double truth(double x) { return std::clamp(kSlope * (x - kOffset), 0.0, kTmax); }

}  // namespace

TEST_CASE("HardSigmoid fit recovers slope, offset and T_max from noiseless data", "[fit][hardsigmoid]") {
    std::vector<double> x, T;
    for (int k = 0; k < 121; ++k) {
        x.push_back(-0.2 + 1.4 * k / 120.0);
        T.push_back(truth(x.back()));
    }
    const HardSigmoidFit fit = fitHardSigmoid(x, T);
    CHECK_THAT(fit.slope_s_per_x, WithinRel(kSlope, 1e-9));
    CHECK_THAT(fit.offset_x, WithinAbs(kOffset, 1e-9));
    CHECK_THAT(fit.T_max_s, WithinRel(kTmax, 1e-9));
    CHECK(fit.offset_observed);
    CHECK(fit.saturation_observed);
    CHECK(fit.rmse < 1e-18);
}

TEST_CASE("HardSigmoid fit is robust to noise and to random sample positions", "[fit][hardsigmoid]") {
    std::mt19937_64 rng(8);
    std::uniform_real_distribution<double> position(-0.5, 1.5);
    std::normal_distribution<double> jitter(0.0, 0.1e-9);
    std::vector<double> x, T;
    for (int k = 0; k < 2000; ++k) {
        x.push_back(position(rng));
        T.push_back(truth(x.back()) + jitter(rng));
    }
    const HardSigmoidFit fit = fitHardSigmoid(x, T);
    CHECK_THAT(fit.slope_s_per_x, WithinRel(kSlope, 0.01));
    CHECK_THAT(fit.offset_x, WithinAbs(kOffset, 0.005));
    CHECK_THAT(fit.T_max_s, WithinRel(kTmax, 0.005));
    CHECK_THAT(fit.rmse, WithinRel(0.1e-9, 0.1));
    CHECK(fit.r2 > 0.999);
}

TEST_CASE("HardSigmoid fit without saturation in the data flags it", "[fit][hardsigmoid]") {
    std::vector<double> x, T;
    for (int k = 0; k < 50; ++k) {
        x.push_back(0.6 * k / 49.0);
        T.push_back(truth(x.back()));
    }
    const HardSigmoidFit fit = fitHardSigmoid(x, T);
    CHECK_FALSE(fit.saturation_observed);
    CHECK_THAT(fit.slope_s_per_x, WithinRel(kSlope, 1e-9));
    CHECK_THAT(fit.offset_x, WithinAbs(kOffset, 1e-9));
}

TEST_CASE("signed HardSigmoid fit recovers the width law from both signs", "[fit][hardsigmoid]") {
    std::mt19937_64 rng(17);
    std::uniform_real_distribution<double> position(-1.2, 1.2);
    std::vector<double> x, T;
    for (int k = 0; k < 400; ++k) {
        x.push_back(position(rng));
        const double width = truth(std::abs(x.back()));
        T.push_back(x.back() < 0 ? -width : width);
    }
    const HardSigmoidFit fit = fitSignedHardSigmoid(x, T);
    CHECK(fit.is_signed);
    CHECK_THAT(fit.slope_s_per_x, WithinRel(kSlope, 1e-9));
    CHECK_THAT(fit.offset_x, WithinAbs(kOffset, 1e-9));
    CHECK_THAT(fit.T_max_s, WithinRel(kTmax, 1e-9));
    CHECK_THAT(evaluateHardSigmoid(fit, -0.5), WithinRel(-truth(0.5), 1e-9));
    CHECK_THAT(fit.r2, WithinAbs(1.0, 1e-12));
}
