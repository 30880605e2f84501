// Hash families and the argmax hash against hand-computed cases and distribution theory.
#include "lsh/lsh.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using imc::lsh::Matrix;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

std::filesystem::path scratchDirectory() {
    const auto dir = std::filesystem::path(IMC_BINARY_DIR) / "test-scratch" / "lsh";
    std::filesystem::create_directories(dir);
    return dir;
}

imc::fit::FitRecord lognormalRecord(double mu, double sigma) {
    imc::fit::FitRecord record;
    record.model = "lognormal";
    record.coefficients = {{"mu", mu}, {"sigma", sigma}};
    record.units = {{"mu", "ln(S)"}, {"sigma", "ln(S)"}};
    return record;
}

}  // namespace

TEST_CASE("hash is argmax over [xR, -xR] with ties to the lowest index", "[lsh][hash]") {
    // R: [3, 2]; by hand: x R and the bucket of [p0, p1, -p0, -p1].
    Matrix r(3, 2);
    r << 1, 0,
         0, 1,
         1, -1;
    imc::lsh::LinearHashFamily family("test", {r});
    Matrix x(6, 3);
    x << 1, 2, -1,   // p = [0, 3]   -> [0, 3, 0, -3]  -> 1
         1, 0, 0,    // p = [1, 0]   -> [1, 0, -1, 0]  -> 0
         -1, 0, 0,   // p = [-1, 0]  -> [-1, 0, 1, 0]  -> 2
         0, -2, 0,   // p = [0, -2]  -> [0, -2, 0, 2]  -> 3
         0, 0, 0,    // all zero: every entry ties -> 0
         0, 1, 1;    // p = [1, 0]   -> [1, 0, -1, 0]  -> 0
    const Matrix p = family.project(x, 0);
    CHECK(p(0, 0) == 0.0f);
    CHECK(p(0, 1) == 3.0f);
    CHECK(imc::lsh::hashBuckets(p) == std::vector<int>{1, 0, 2, 3, 0, 0});
    CHECK(family.buckets() == 4);
}

TEST_CASE("memristor RP from a written lognormal fit has difference mean 0 and variance 2 Var(G)", "[lsh][memristor]") {
    const double mu = std::log(1e-7), sigma = 0.3;
    const auto path = (scratchDirectory() / "hrs-lognormal.json").string();
    imc::fit::writeFit(path, lognormalRecord(mu, sigma));
    auto options = imc::lsh::MemristorOptions::fromFitsFile(path);
    options.readVoltage_V = 1.0;  // R in siemens
    const int dim = 200, buckets = 200;  // 20,000 differences
    const auto family = imc::lsh::makeMemristorFamily(dim, buckets, 1, options, 11);
    const Eigen::MatrixXd r = family->matrix(0).cast<double>();
    const double n = double(r.size());
    const double mean = r.mean();
    const double variance = (r.array() - mean).square().sum() / (n - 1);
    const double varianceG = (std::exp(sigma * sigma) - 1) * std::exp(2 * mu + sigma * sigma);
    INFO("mean " << mean << " variance " << variance << " expected " << 2 * varianceG);
    CHECK(std::abs(mean) < 4 * std::sqrt(2 * varianceG / n));
    CHECK_THAT(variance, WithinRel(2 * varianceG, 0.05));
}

TEST_CASE("memristor rounds are redrawn per cycle and follow a sigma-vs-cycle fit", "[lsh][memristor]") {
    imc::fit::FitRecord cycle;
    cycle.model = "lognormal-cycle";
    cycle.coefficients = {{"mu", std::log(1e-7)}, {"sigma_0", 0.2}, {"sigma_per_decade", 0.2}};
    const auto path = (scratchDirectory() / "hrs-lognormal-cycle.json").string();
    imc::fit::writeFit(path, cycle);
    const auto options = imc::lsh::MemristorOptions::fromFitsFile(path);
    REQUIRE(options.cycleFit.has_value());
    // Round 0 at cycle 1, round 1 after five more cycles (cycle 6), round 2 at cycle 11.
    CHECK_THAT(options.sigmaAtCycle(1), WithinAbs(0.2, 1e-12));
    CHECK_THAT(options.sigmaAtCycle(10), WithinAbs(0.4, 1e-12));
    const auto g = imc::lsh::drawMemristorConductances(100, 200, 2, options, 3);
    const auto logStd = [](const Eigen::MatrixXd& m) {
        const Eigen::ArrayXXd l = m.array().log();
        return std::sqrt((l - l.mean()).square().mean());
    };
    CHECK_THAT(logStd(g[0]), WithinAbs(0.2, 0.01));
    CHECK_THAT(logStd(g[1]), WithinAbs(0.2 + 0.2 * std::log10(6.0), 0.01));
    // Independent redraw (deviceFraction 0): the two rounds' log-conductances are uncorrelated.
    const Eigen::ArrayXXd a = g[0].array().log() - g[0].array().log().mean();
    const Eigen::ArrayXXd b = g[1].array().log() - g[1].array().log().mean();
    const double correlation = (a * b).sum() / std::sqrt(a.square().sum() * b.square().sum());
    CHECK(std::abs(correlation) < 0.05);
}

TEST_CASE("measured conductance maps give adjacent-column differences per round", "[lsh][measured]") {
    const auto path = (scratchDirectory() / "map.csv").string();
    {
        std::ofstream out(path);
        out << "G1_S,G2_S,G3_S,G4_S\n1e-7,2e-7,3e-7,1e-7\n4e-7,1e-7,1e-7,1e-7\n";
    }
    // 2 buckets per round; the map is 4 columns wide, so it holds two rounds.
    const auto family = imc::lsh::makeMeasuredFamily({path}, 2, 2);
    REQUIRE(family->dim() == 2);
    CHECK_THAT(family->matrix(0)(0, 0), WithinRel(-1e-7f, 1e-6f));
    CHECK_THAT(family->matrix(0)(1, 0), WithinRel(3e-7f, 1e-6f));
    CHECK_THAT(family->matrix(1)(0, 0), WithinRel(2e-7f, 1e-6f));
    CHECK(family->matrix(1)(1, 0) == 0.0f);
    CHECK_THROWS(imc::lsh::makeMeasuredFamily({path}, 2, 3));
}

TEST_CASE("passive 0T1R array: calibrated thresholds balance the bits, near inputs collide more", "[lsh][passive]") {
    const imc::lsh::PassiveOptions options;
    const imc::lsh::PassiveHashFamily family(16, 8, 1, options, 5);
    // Fresh random binary inputs: each column's bit is set about half the time.
    imc::nn::Rng rng(9);
    Matrix x(2000, 16);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform() < 0.5 ? 1.0f : 0.0f;
    const Eigen::MatrixXd currents = family.columnCurrents(x, 0);
    for (Eigen::Index c = 0; c < currents.cols(); ++c) {
        const double above = (currents.col(c).array() > family.thresholds(0)(c)).cast<double>().mean();
        CHECK_THAT(above, WithinAbs(0.5, 0.05));
    }
    // The same input read twice lands in the same bucket far more often than two random inputs.
    Matrix twice(2, 16);
    int same = 0, random = 0;
    for (int n = 0; n < 500; ++n) {
        twice.row(0) = x.row(n);
        twice.row(1) = x.row(n);
        const auto b = imc::lsh::hashBuckets(family.project(twice, 0));
        same += b[0] == b[1];
        twice.row(1) = x.row(n + 1000);
        const auto c = imc::lsh::hashBuckets(family.project(twice, 0));
        random += c[0] == c[1];
    }
    CHECK(same > 400);
    CHECK(random < 250);
}
