#include "variability/variability.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace imc::variability;
using Catch::Matchers::WithinAbs;

TEST_CASE("a stream depends on its key only", "[variability]") {
    Stream a({7, Purpose::DeviceToDevice, 3, 11, 0}), b({7, Purpose::DeviceToDevice, 3, 11, 0});
    for (int i = 0; i < 1000; ++i) REQUIRE(a.next() == b.next());
    // Any key field changes the stream.
    const StreamKey base{7, Purpose::DeviceToDevice, 3, 11, 0};
    std::vector<StreamKey> others = {{8, Purpose::DeviceToDevice, 3, 11, 0}, {7, Purpose::CycleToCycle, 3, 11, 0},
                                     {7, Purpose::DeviceToDevice, 4, 11, 0}, {7, Purpose::DeviceToDevice, 3, 12, 0},
                                     {7, Purpose::DeviceToDevice, 3, 11, 1}};
    for (const auto& k : others) CHECK(Stream(base).next() != Stream(k).next());
    // D2D draws do not depend on the order devices are drawn in.
    const auto d = Distribution::normal(0, 1);
    const double first = drawDeviceToDevice(d, 1, 0, 5);
    for (int dev = 0; dev < 5; ++dev) (void)drawDeviceToDevice(d, 1, 0, std::uint64_t(dev));
    CHECK(drawDeviceToDevice(d, 1, 0, 5) == first);
}

TEST_CASE("normal draws follow the standard normal distribution", "[variability]") {
    Stream s({42, Purpose::User, 0, 0, 0});
    const int n = 200000;
    std::vector<double> x(n);
    double sum = 0, sum2 = 0;
    for (auto& v : x) v = s.normal(), sum += v, sum2 += v * v;
    const double mean = sum / n, var = sum2 / n - mean * mean;
    CHECK_THAT(mean, WithinAbs(0.0, 4.0 / std::sqrt(double(n))));  // 4 standard errors
    CHECK_THAT(var, WithinAbs(1.0, 0.015));
    // Kolmogorov-Smirnov distance against Phi: the 1 % critical value is 1.63/sqrt(n).
    std::sort(x.begin(), x.end());
    double dmax = 0;
    for (int i = 0; i < n; ++i) {
        const double cdf = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
        dmax = std::max({dmax, std::abs(cdf - double(i) / n), std::abs(cdf - double(i + 1) / n)});
    }
    CHECK(dmax < 1.63 / std::sqrt(double(n)));
}

TEST_CASE("lognormal and uniform draws have the moments of their distributions", "[variability]") {
    Stream s({9, Purpose::User, 0, 0, 0});
    const int n = 100000;
    const double mu = -22.8, sigma = 0.35;  // conductances around 0.13 nS
    double sumLog = 0, sumLog2 = 0, sumU = 0;
    for (int i = 0; i < n; ++i) {
        const double g = s.lognormal(mu, sigma);
        REQUIRE(g > 0);
        sumLog += std::log(g), sumLog2 += std::log(g) * std::log(g);
        sumU += s.uniform(2, 4);
    }
    const double m = sumLog / n;
    CHECK_THAT(m, WithinAbs(mu, 4 * sigma / std::sqrt(double(n))));
    CHECK_THAT(std::sqrt(sumLog2 / n - m * m), WithinAbs(sigma, 0.005));
    CHECK_THAT(sumU / n, WithinAbs(3.0, 4 * (2 / std::sqrt(12.0)) / std::sqrt(double(n))));
}

TEST_CASE("Pelgrom sigma scales with one over the square root of the area", "[variability]") {
    // A_vt = 1 mV um at W = L = 1 um gives 1 mV; four times the area halves it.
    CHECK_THAT(pelgromSigma(1e-9, 1e-6, 1e-6), WithinAbs(1e-3, 1e-15));
    CHECK_THAT(pelgromSigma(1e-9, 2e-6, 2e-6), WithinAbs(0.5e-3, 1e-15));
    CHECK_THROWS(pelgromSigma(1e-9, 0, 1e-6));
    const int a = simulatorSeed(1, 0), b = simulatorSeed(1, 1);
    CHECK(a > 0);
    CHECK(a != b);
    CHECK(simulatorSeed(1, 0) == a);
}

TEST_CASE("SplitMix64 gives the published reference sequence", "[variability][random]") {
    // The first outputs of SplitMix64 from seed 0 (Steele, Lea, Flood 2014; Vigna's splitmix64.c).
    SplitMix64 g(0);
    CHECK(g.next() == 0xe220a8397b1dcdafULL);
    CHECK(g.next() == 0x6e789e6aa1b965f4ULL);
    CHECK(g.next() == 0x06c45d188009454fULL);
    // The keyed mixer is the same function: output i is mix64(seed + i * golden ratio).
    CHECK(mix64(0) == 0xe220a8397b1dcdafULL);
}

TEST_CASE("Counter-based normals do not depend on the order they are drawn in", "[variability][random]") {
    const std::uint64_t key = combine(7, 3);
    std::vector<double> forward, backward(4000);
    for (std::uint64_t c = 0; c < 4000; ++c) forward.push_back(normalAt(key, c));
    for (std::uint64_t c = 4000; c-- > 0;) backward[c] = normalAt(key, c);
    CHECK(forward == backward);
    double m = 0, s2 = 0;
    for (double v : forward) m += v;
    m /= 4000;
    for (double v : forward) s2 += (v - m) * (v - m);
    s2 /= 3999;
    // Standard normal: mean within 4 standard errors (4/sqrt(4000) = 0.063), variance within 0.1.
    CHECK(std::abs(m) < 0.063);
    CHECK(std::abs(s2 - 1.0) < 0.1);
}

namespace {
// The error of `got` in units in the last place of the long double reference, rounded to double.
double ulpError(double got, long double reference) {
    const double r = std::fabs(double(reference));
    const double ulp = std::nextafter(r, INFINITY) - r;
    return double(std::fabs((long double)got - reference) / ulp);
}
}  // namespace

TEST_CASE("the draws' own log, exp, sin and cos are within 2 ulp of long double", "[variability]") {
    // x87 long double (64-bit mantissa) is computed by other code, 11 bits more precise.
    Stream s({3, Purpose::User, 0, 0, 0});
    double worstLog = 0, worstExp = 0, worstSin = 0, worstCos = 0;
    for (int i = 0; i < 200000; ++i) {
        const double u = s.uniform();
        const double wide = std::ldexp(0.5 + u, int(s.next() % 2000) - 1000);  // 2^-1000 .. 2^1000
        const double nearOne = 0.5 + u;                                      // k = 0: the series alone
        worstLog = std::max({worstLog, ulpError(imc::variability::log(wide), logl((long double)wide)),
                             ulpError(imc::variability::log(nearOne), logl((long double)nearOne))});
        const double x = (u - 0.5) * 1400;
        worstExp = std::max(worstExp, ulpError(imc::variability::exp(x), expl((long double)x)));
        // One octant, where the reference angle is exact enough; the other octants by symmetry below.
        // t is a multiple of 2^-53, so t + 1/4 and t + 1/2 are exact too.
        const double t = std::ldexp(double(s.next() >> 13), -53) - 0.125;
        double sn = 0, cs = 0;
        sinCosTurns(t, sn, cs);
        const long double angle = 2 * 3.14159265358979323846264338327950288L * (long double)t;
        if (t != 0) worstSin = std::max(worstSin, ulpError(sn, sinl(angle)));
        worstCos = std::max(worstCos, ulpError(cs, cosl(angle)));
        // A quarter turn more is the same polynomial in another quadrant: exact symmetries.
        double s1 = 0, c1 = 0, s2 = 0, c2 = 0;
        sinCosTurns(t + 0.25, s1, c1);
        sinCosTurns(t + 0.5, s2, c2);
        REQUIRE(s1 == cs);
        REQUIRE(c1 == -sn);
        REQUIRE(s2 == -sn);
        REQUIRE(c2 == -cs);
    }
    INFO("log " << worstLog << " exp " << worstExp << " sin " << worstSin << " cos " << worstCos << " ulp");
    CHECK(worstLog <= 2);
    CHECK(worstExp <= 2);
    CHECK(worstSin <= 2);
    CHECK(worstCos <= 2);
    // Exact points and limits.
    CHECK(imc::variability::log(1.0) == 0);
    CHECK(imc::variability::exp(0.0) == 1);
    CHECK(ulpError(imc::variability::log(std::ldexp(1.0, 700)), 700 * logl(2.0L)) <= 1);
    CHECK(std::isinf(imc::variability::exp(710.0)));
    CHECK(imc::variability::exp(-746.0) == 0);
    CHECK(std::isnan(imc::variability::log(-1.0)));
    CHECK(imc::variability::log(0.0) == -INFINITY);
    CHECK(std::abs(imc::variability::log(std::numeric_limits<double>::denorm_min()) - (-1074 * 0.69314718055994530942)) < 1e-12);
    double sn = 1, cs = 0;
    sinCosTurns(0.5, sn, cs);
    CHECK(sn == 0);
    CHECK(cs == -1);
}
