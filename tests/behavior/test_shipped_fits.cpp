// The shipped fits/ loaded into the gain-cell model and both nn backends: with variability on,
// every seed is another set of devices, and the drawn devices spread as the fits say.
// Statistical checks compare a sample standard deviation of N draws with the value implied by
// the fits; for Gaussian draws its relative standard error is 1 / sqrt(2 (N - 1)), so the 5 %
// tolerance used below is about 4 standard errors at N = 4000 and 3.5 at N = 2500.
#include "fits_fixture.hpp"
#include "nn/gaincell_backends.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace imc::behavior;
using namespace behavior_test;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinRel;

namespace {

const std::string kShippedFits = std::string(IMC_SOURCE_DIR) + "/fits";

struct Moments {
    double mean = 0.0, std = 0.0;
};

Moments moments(const std::vector<double>& x) {
    Moments m;
    for (const double v : x) m.mean += v;
    m.mean /= double(x.size());
    for (const double v : x) m.std += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(m.std / double(x.size() - 1));
    return m;
}

double fittedStd(const CoefficientSet& set, const std::string& name) {
    const auto it = set.std.find(name);
    REQUIRE(it != set.std.end());
    return it->second;
}

// Relative std of S_sat = T_max_s / slope_s_per_x with independent draws (first order).
double saturationRelativeStd(const CoefficientSet& set) {
    const double T = set.mean.at("T_max_s"), slope = set.mean.at("slope_s_per_x");
    return std::hypot(fittedStd(set, "T_max_s") / T, fittedStd(set, "slope_s_per_x") / slope);
}

// One read of a one-query, one-key head with variability on: its S and phi.
HeadTrace readWithSeed(const GainCellModel& model, const AttentionOptions& options, int seed, const Matrix& q,
                       const Matrix& k, const Matrix& v) {
    Variability variability;
    variability.enabled = true;
    variability.seed = std::uint64_t(seed);
    Matrix out(q.rows(), q.cols());
    HeadTrace trace;
    gainCellAttentionForward(model, options, variability, {0, 0}, q, k, v, out, &trace);
    return trace;
}

}  // namespace

TEST_CASE("The shipped fits give a spread to every circuit the gain-cell models draw", "[behavior][shipped-fits]") {
    const GainCellModel model = GainCellModel::load(kShippedFits);
    for (const CoefficientSet* set : {&model.pulseCoefficients(), &model.readoutCoefficients()}) {
        INFO(set->source);
        CHECK(fittedStd(*set, "offset_x") > 0.0);
        CHECK(fittedStd(*set, "slope_s_per_x") > 0.0);
    }
    REQUIRE(model.polynomialCoefficients());
    for (const char* name : {"D_0", "D_1", "D_2", "D_3"}) CHECK(fittedStd(*model.polynomialCoefficients(), name) > 0.0);
    REQUIRE(model.readoutNoise().levels_V.size() == 8);
    for (const double s : model.readoutNoise().std) CHECK(s > 0.0);
    CHECK_NOTHROW(model.requireSpread(ArrayModel::Linear));
    CHECK_NOTHROW(model.requireSpread(ArrayModel::Nonlinear));
}

TEST_CASE("Tiles drawn from the shipped fits spread as the fitted coefficient_std", "[behavior][shipped-fits][variability]") {
    const GainCellModel model = GainCellModel::load(kShippedFits);
    Variability variability;
    variability.enabled = true;
    variability.seed = 2;
    const int N = 4000;
    std::vector<double> pulse_offset, pulse_sat, readout_offset, readout_sat;
    std::vector<std::vector<double>> D(4);
    for (int tile = 0; tile < N; ++tile) {
        const TileCircuits c = drawTileCircuits(model, variability, {0, 0}, tile);
        pulse_offset.push_back(c.pulse.offset), pulse_sat.push_back(c.pulse.S_sat);
        readout_offset.push_back(c.readout.offset), readout_sat.push_back(c.readout.S_sat);
        for (std::size_t i = 0; i < 4; ++i) D[i].push_back(c.key_array.D[i]);
    }
    const double tolerance = 0.05;
    CHECK_THAT(moments(pulse_offset).std, WithinRel(fittedStd(model.pulseCoefficients(), "offset_x"), tolerance));
    CHECK_THAT(moments(readout_offset).std, WithinRel(fittedStd(model.readoutCoefficients(), "offset_x"), tolerance));
    const Moments ps = moments(pulse_sat), rs = moments(readout_sat);
    CHECK_THAT(ps.std / ps.mean, WithinRel(saturationRelativeStd(model.pulseCoefficients()), tolerance));
    CHECK_THAT(rs.std / rs.mean, WithinRel(saturationRelativeStd(model.readoutCoefficients()), tolerance));
    for (std::size_t i = 0; i < 4; ++i) {
        const std::string name = "D_" + std::to_string(i);
        INFO(name);
        const Moments m = moments(D[i]);
        const double sigma = fittedStd(*model.polynomialCoefficients(), name);
        CHECK_THAT(m.std, WithinRel(sigma, tolerance));
        CHECK(std::abs(m.mean - model.polynomial().D[i]) < 4.0 * sigma / std::sqrt(double(N)));
    }
}

TEST_CASE("One cell read with the shipped fits: the spread of S over seeds is the fitted spread", "[behavior][shipped-fits][variability]") {
    // One query, one key at a full-length pulse: S = 15 ns x sum_i D_i (K - K_offset)^i plus the
    // cell's readout noise, so Var S = 15^2 (sum_i sigma_Di^2 (K - K_offset)^(2i) + noise(K)^2).
    const GainCellModel model = GainCellModel::load(kShippedFits);
    AttentionOptions options;
    options.model = ArrayModel::Nonlinear;
    const double full_ns = model.architecture().pulse_full_scale;
    REQUIRE(full_ns == 15.0);
    const Matrix q = Matrix::Constant(1, 1, 1.0f), v = Matrix::Constant(1, 1, 0.9f);
    const int N = 2500;
    for (const double K : {0.0, 0.9 * 3.0 / 7.0, 0.9}) {
        INFO("K = " << K);
        const Matrix k = Matrix::Constant(1, 1, static_cast<float>(K));
        std::vector<double> S;
        for (int seed = 1; seed <= N; ++seed) S.push_back(readWithSeed(model, options, seed, q, k, v).S(0, 0));
        const double Kq = model.architecture().key(K), d = Kq - model.polynomial().offset_V;
        double variance = std::pow(model.readoutNoise().at(Kq), 2), mean = 0.0;
        for (std::size_t i = 0; i < 4; ++i) {
            const double sigma = fittedStd(*model.polynomialCoefficients(), "D_" + std::to_string(i));
            variance += std::pow(sigma * std::pow(d, double(i)), 2);
            mean += model.polynomial().D[i] * std::pow(d, double(i));
        }
        const Moments m = moments(S);
        CHECK_THAT(m.std, WithinRel(full_ns * std::sqrt(variance), 0.05));
        CHECK(std::abs(m.mean - full_ns * mean) < 4.0 * full_ns * std::sqrt(variance / N));
    }
}

TEST_CASE("The linear model's pulse spreads over seeds as the fitted charge-to-pulse spread", "[behavior][shipped-fits][variability]") {
    // phi = (S - offset) / S_sat with the mean S of the linear array: to first order
    // std(phi) = sqrt(sigma_offset^2 + ((S - offset) sigma_rel(S_sat))^2) / S_sat.
    const GainCellModel model = GainCellModel::load(kShippedFits);
    AttentionOptions options;
    options.linear = cellLinearization(model);
    const Matrix q = Matrix::Constant(1, 1, 1.0f), k = Matrix::Constant(1, 1, 0.9f), v = Matrix::Constant(1, 1, 0.9f);
    const int N = 2500;
    std::vector<double> phi;
    double S = 0.0;
    for (int seed = 1; seed <= N; ++seed) {
        const HeadTrace trace = readWithSeed(model, options, seed, q, k, v);
        phi.push_back(trace.phi(0, 0));
        S = trace.S(0, 0);
    }
    const HardSigmoidPulse& mean = model.pulse();
    const CoefficientSet& set = model.pulseCoefficients();
    const double expected =
        std::hypot(fittedStd(set, "offset_x"), (S - mean.offset) * saturationRelativeStd(set)) / mean.S_sat;
    const Moments m = moments(phi);
    CHECK(m.mean > 0.0);
    CHECK(m.mean < 1.0);
    CHECK_THAT(m.std, WithinRel(expected, 0.05));
}

TEST_CASE("Both backends on the shipped fits: two seeds differ, one seed repeats", "[behavior][shipped-fits][variability]") {
    const Matrix q = uniformMatrix(64, 16, 0.0, 1.0, 11), k = uniformMatrix(64, 16, 0.0, 0.9, 12),
                 v = uniformMatrix(64, 16, 0.0, 0.9, 13);
    for (const ArrayModel array : {ArrayModel::Linear, ArrayModel::Nonlinear}) {
        auto run = [&](bool variability, std::uint64_t seed) {
            imc::nn::GainCellBackendOptions options;
            options.fitsDir = kShippedFits;
            options.variability = variability;
            options.seed = seed;
            const imc::nn::GainCellAttention backend(array, options);
            Matrix out(64, 16);
            backend.forward({0, 0}, q, k, v, out, nullptr);
            return out;
        };
        const Matrix mean = run(false, 2), a = run(true, 2), b = run(true, 3), again = run(true, 2);
        INFO((array == ArrayModel::Linear ? "gaincell-linear" : "gaincell"));
        CHECK((a - b).cwiseAbs().maxCoeff() > 0.0f);
        CHECK((a - mean).cwiseAbs().maxCoeff() > 0.0f);
        CHECK((a - again).cwiseAbs().maxCoeff() == 0.0f);
    }
}

TEST_CASE("Variability on with fits that give no spread is an error naming the files and keys", "[behavior][variability]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    const GainCellModel model = GainCellModel::load(writeFits("no-spread", spec));
    Variability variability;
    variability.enabled = true;
    const Matrix q = Matrix::Constant(1, 1, 1.0f), k = q, v = q;
    Matrix out(1, 1);
    for (const ArrayModel array : {ArrayModel::Linear, ArrayModel::Nonlinear}) {
        AttentionOptions options;
        options.model = array;
        CHECK_THROWS_WITH(gainCellAttentionForward(model, options, variability, {0, 0}, q, k, v, out),
                          ContainsSubstring("pulse.json") && ContainsSubstring("readout.json") &&
                              ContainsSubstring("spread.coefficient_std"));
        CHECK_THROWS_WITH(gainCellAttentionReference(model, options, variability, {0, 0}, q.cast<double>(),
                                                     k.cast<double>(), v.cast<double>()),
                          ContainsSubstring("nothing to vary"));
        variability.enabled = false;
        CHECK_NOTHROW(gainCellAttentionForward(model, options, variability, {0, 0}, q, k, v, out));
        variability.enabled = true;
    }
    AttentionOptions nonlinear;
    nonlinear.model = ArrayModel::Nonlinear;
    CHECK_THROWS_WITH(gainCellAttentionForward(model, nonlinear, variability, {0, 0}, q, k, v, out),
                      ContainsSubstring("poly.json") && ContainsSubstring("spread.readout_noise"));
}

TEST_CASE("fits/README.md's complete example loads into the gain-cell model with every key it shows", "[behavior][fits]") {
    std::ifstream in(std::string(IMC_SOURCE_DIR) + "/fits/README.md");
    REQUIRE(in);
    const std::string readme((std::istreambuf_iterator<char>(in)), {});
    const std::size_t heading = readme.find("## Complete example");
    REQUIRE(heading != std::string::npos);
    const std::size_t start = readme.find("```json\n", heading) + 8, end = readme.find("```", start);
    const nlohmann::json example = nlohmann::json::parse(readme.substr(start, end - start));
    const imc::fit::FitRecord record = imc::fit::fitFromJson(example, "README example");
    // Writer and reader agree on it, and it uses the spellings of the shipped file of its model.
    CHECK(imc::fit::fitFromJson(nlohmann::json(imc::fit::toJson(record)), "again").spread == record.spread);
    const imc::fit::FitRecord shipped = imc::fit::readFit(kShippedFits + "/gaincell-poly.json");
    CHECK(record.model == shipped.model);
    for (const auto& [key, value] : record.spread.items()) CHECK(shipped.spread.contains(key));
    for (const auto& [name, unit] : record.units) {
        INFO(name);
        if (shipped.units.count(name)) CHECK(shipped.units.at(name) == unit);
    }

    // The shipped architecture and readouts with the example as the polynomial.
    const std::string dir = freshDir("readme-example");
    for (const char* file : {"gaincell-array.json", "c2p-relu.json", "c2p-signed.json"})
        std::filesystem::copy_file(kShippedFits + "/" + file, dir + "/" + file);
    imc::fit::writeFit(dir + "/gaincell.json", record);
    const GainCellModel model = GainCellModel::load(dir);
    for (std::size_t i = 0; i < 4; ++i) {
        const std::string name = "D_" + std::to_string(i);
        CHECK(model.polynomial().D[i] == example["coefficients"][name].get<double>());
        CHECK(model.polynomialCoefficients()->std.at(name) == example["spread"]["coefficient_std"][name].get<double>());
    }
    CHECK(model.polynomial().offset_V == 0.45);
    const auto& noise = example["spread"]["readout_noise"];
    REQUIRE(model.readoutNoise().levels_V.size() == noise["levels"].size());
    for (std::size_t i = 0; i < noise["levels"].size(); ++i) {
        CHECK(model.readoutNoise().levels_V[i] == noise["levels"][i].get<double>());
        CHECK(model.readoutNoise().std[i] == noise["std"][i].get<double>());
    }
}
