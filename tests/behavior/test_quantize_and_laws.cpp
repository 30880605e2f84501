#include "behavior/gaincell_attention.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <set>

using namespace imc::behavior;
using Catch::Matchers::WithinAbs;

TEST_CASE("Query quantizer: 16 levels k/15 in [0, 1], round to nearest, clamped", "[behavior][quantize]") {
    // 0.5 * 15 = 7.5 rounds up to level 8; 0.03 * 15 = 0.45 rounds down to 0; 0.04 * 15 = 0.6 to 1.
    CHECK_THAT(quantizeUniform(0.5, 0.0, 1.0, 16), WithinAbs(8.0 / 15.0, 1e-15));
    CHECK_THAT(quantizeUniform(0.03, 0.0, 1.0, 16), WithinAbs(0.0, 1e-15));
    CHECK_THAT(quantizeUniform(0.04, 0.0, 1.0, 16), WithinAbs(1.0 / 15.0, 1e-15));
    CHECK_THAT(quantizeUniform(0.97, 0.0, 1.0, 16), WithinAbs(1.0, 1e-15));
    CHECK(quantizeUniform(1.7, 0.0, 1.0, 16) == 1.0);
    CHECK(quantizeUniform(-0.2, 0.0, 1.0, 16) == 0.0);
}

TEST_CASE("Key/value quantizer: 8 levels k * 0.9/7 V", "[behavior][quantize]") {
    // 0.2 / (0.9 / 7) = 1.556 -> level 2 = 0.257142...; 0.46 / 0.128571 = 3.58 -> level 4;
    // 0.44 -> 3.42 -> level 3.
    CHECK_THAT(quantizeUniform(0.2, 0.0, 0.9, 8), WithinAbs(2 * 0.9 / 7, 1e-15));
    CHECK_THAT(quantizeUniform(0.46, 0.0, 0.9, 8), WithinAbs(4 * 0.9 / 7, 1e-15));
    CHECK_THAT(quantizeUniform(0.44, 0.0, 0.9, 8), WithinAbs(3 * 0.9 / 7, 1e-15));
    CHECK_THAT(quantizeUniform(0.06, 0.0, 0.9, 8), WithinAbs(0.0, 1e-15));
    CHECK(quantizeUniform(1.2, 0.0, 0.9, 8) == 0.9);
    CHECK(quantizeUniform(-3.0, 0.0, 0.9, 8) == 0.0);
}

TEST_CASE("Output quantizer: 32 levels -1 + 2k/31, so 0 is not a level", "[behavior][quantize]") {
    // (0 + 1) / (2/31) = 15.5 -> level 16 = 1/31; 0.5 -> 23.25 -> level 23 = 15/31.
    CHECK_THAT(quantizeUniform(0.0, -1.0, 1.0, 32), WithinAbs(1.0 / 31.0, 1e-15));
    CHECK_THAT(quantizeUniform(0.5, -1.0, 1.0, 32), WithinAbs(15.0 / 31.0, 1e-15));
    CHECK_THAT(quantizeUniform(-0.5, -1.0, 1.0, 32), WithinAbs(-15.0 / 31.0, 1e-15));
    CHECK(quantizeUniform(2.0, -1.0, 1.0, 32) == 1.0);
    CHECK(quantizeUniform(-2.0, -1.0, 1.0, 32) == -1.0);

    std::set<double> seen;
    for (int i = -1200; i <= 1200; ++i) seen.insert(quantizeUniform(i / 1000.0, -1.0, 1.0, 32));
    CHECK(seen.size() == 32);
}

TEST_CASE("UniformQuantizer step and call match quantizeUniform", "[behavior][quantize]") {
    const UniformQuantizer q{8, 0.0, 0.9};
    CHECK_THAT(q.step(), WithinAbs(0.9 / 7, 1e-15));
    CHECK(q(0.31) == quantizeUniform(0.31, 0.0, 0.9, 8));
}

TEST_CASE("HardSigmoid pulse clamps (S - offset) / S_sat to [0, 1] with slope 1/S_sat inside", "[behavior][laws]") {
    const HardSigmoidPulse phi{2.0, 80.0};
    CHECK(phi(-5.0) == 0.0);
    CHECK(phi(2.0) == 0.0);
    CHECK_THAT(phi(42.0), WithinAbs(0.5, 1e-15));
    CHECK(phi(82.0) == 1.0);
    CHECK(phi(500.0) == 1.0);
    CHECK_THAT(phi.derivative(30.0), WithinAbs(1.0 / 80.0, 1e-15));
    CHECK(phi.derivative(0.0) == 0.0);
    CHECK(phi.derivative(100.0) == 0.0);
}

TEST_CASE("Signed readout is odd, with a dead zone of the offset and saturation at +-1", "[behavior][laws]") {
    const SignedReadout r{1.0, 40.0};
    CHECK_THAT(r(21.0), WithinAbs(0.5, 1e-15));
    CHECK_THAT(r(-21.0), WithinAbs(-0.5, 1e-15));
    CHECK(r(0.5) == 0.0);
    CHECK(r(-0.5) == 0.0);
    CHECK(r(100.0) == 1.0);
    CHECK(r(-100.0) == -1.0);
    CHECK_THAT(r.derivative(-10.0), WithinAbs(1.0 / 40.0, 1e-15));
    CHECK(r.derivative(-60.0) == 0.0);
}

TEST_CASE("Readout noise table interpolates linearly and holds its end values", "[behavior][laws]") {
    const ReadoutNoiseTable table{{0.0, 0.5, 1.0}, {0.1, 0.3, 0.2}};
    CHECK_THAT(table.at(0.25), WithinAbs(0.2, 1e-15));
    CHECK_THAT(table.at(0.75), WithinAbs(0.25, 1e-15));
    CHECK(table.at(-1.0) == 0.1);
    CHECK(table.at(2.0) == 0.2);
}
