#include "characterize/waveform.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <vector>

using namespace imc::characterize;
using Catch::Matchers::WithinAbs;

TEST_CASE("Window integral of a piecewise-linear waveform is exact", "[characterize][waveform]") {
    // y = 2t + 1 on an uneven grid: the integral over [0.25, 0.75] is [t^2 + t] = 1.0 exactly.
    Eigen::VectorXd t(6), y(6);
    t << 0.0, 0.1, 0.3, 0.6, 0.65, 1.0;
    for (int k = 0; k < 6; ++k) y[k] = 2 * t[k] + 1;
    CHECK_THAT(integrateWindow(t, y, 0.25, 0.75), WithinAbs(1.0, 1e-15));
    // A window beyond the record integrates only what was recorded: [0, 1] gives 2.
    CHECK_THAT(integrateWindow(t, y, -1.0, 5.0), WithinAbs(2.0, 1e-15));
    CHECK(integrateWindow(t, y, 0.5, 0.5) == 0.0);
}

TEST_CASE("Point reads interpolate inside the record", "[characterize][waveform]") {
    Eigen::VectorXd t(3), y(3);
    t << 0.0, 1.0, 3.0;
    y << 0.0, 10.0, 30.0;
    CHECK_THAT(valueAt(t, y, 2.0), WithinAbs(20.0, 1e-12));
    CHECK(valueAt(t, y, -1.0) == 0.0);  // clamped
    CHECK(valueAt(t, y, 9.0) == 30.0);
    const std::vector<double> ts = {0.0, 1.0, 3.0}, ys = {0.0, 10.0, 30.0};
    CHECK_THAT(sampleAt(ts, ys, 2.0), WithinAbs(20.0, 1e-12));
    CHECK(std::isnan(sampleAt(ts, ys, 9.0)));  // outside: no measurement
    CHECK(firstIndexAtOrAfter(ts, 1.0) == 1);
    CHECK(firstIndexAtOrAfter(ts, 4.0) == 3);
}

TEST_CASE("Crossings on a rising and a falling branch of a loop", "[characterize][waveform]") {
    // A triangle sweep 0 -> 4 -> 0 with I = V on the way up and I = 2V on the way down.
    std::vector<double> V, I;
    for (int k = 0; k <= 4; ++k) V.push_back(k), I.push_back(k);
    for (int k = 3; k >= 0; --k) V.push_back(k), I.push_back(2.0 * k);
    CHECK_THAT(interpolateRising(V, I, 2.5), WithinAbs(2.5, 1e-12));
    CHECK_THAT(interpolateFalling(V, I, 2.5, 4, V.size()), WithinAbs(5.0, 1e-12));
    CHECK(std::isnan(interpolateRising(V, I, 7.0)));
}
