#include "fits_fixture.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>

using namespace imc::behavior;
using namespace behavior_test;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("The paper's model written as fits files loads with its published numbers", "[behavior][fits]") {
    const std::string dir = freshDir("paper");
    writePaperModelFits(dir);
    const GainCellModel model = GainCellModel::load(dir);
    const ArrayArchitecture& a = model.architecture();
    CHECK(a.query.levels == 16);
    CHECK(a.query.hi == 1.0);
    CHECK(a.key.levels == 8);
    CHECK(a.key.hi == 0.9);
    CHECK(a.value.levels == 8);
    CHECK(a.output.levels == 32);
    CHECK(a.output.lo == -1.0);
    CHECK(a.tile_size == 64);
    CHECK(model.pulse().S_sat == 80.0);
    CHECK(model.readout().S_sat == 40.0);
    // 12 layers * 65 ns / 5 ms = 1.56e-4, the paper's "about 1.6e-4".
    CHECK_THAT(model.decayPerStep(12), WithinRel(12 * 65e-9 / 5e-3, 1e-12));
    // The full C_i_j form is folded at V_in = 0.9 V exactly as lib/fit folds it.
    const imc::fit::FitRecord poly = imc::fit::readFit(dir + "/gaincell-poly.json");
    imc::fit::GainCellCoefficients C{};
    for (int i = 0; i <= 3; ++i)
        for (int j = 0; j <= 3 - i; ++j) C[i][j] = poly.coefficient("C_" + std::to_string(i) + "_" + std::to_string(j));
    const auto D = imc::fit::gainCellPerPowerSums(C, 0.9);
    for (std::size_t i = 0; i < 4; ++i) CHECK_THAT(model.polynomial().D[i], WithinAbs(D[i], 1e-12));
    CHECK(model.polynomial().offset_V == 0.45);
    CHECK(model.readoutNoise().levels_V.size() == 8);
}

TEST_CASE("A fitted HardSigmoid (slope, offset, T_max) gives S_sat = T_max / slope", "[behavior][fits]") {
    FitsSpec spec;
    const std::string dir = writeFits("hardsigmoid-form", spec);
    std::filesystem::remove(dir + "/pulse.json");
    imc::fit::writeFit(dir + "/pulse.json",
                       record("c2p-relu", {{"slope_s_per_x", 15e-9 / 0.8}, {"offset_x", 0.1}, {"T_max_s", 15e-9}}));
    const GainCellModel model = GainCellModel::load(dir);
    CHECK_THAT(model.pulse().S_sat, WithinRel(0.8, 1e-12));
    CHECK(model.pulse().offset == 0.1);
    CHECK_THAT(model.pulse()(0.5), WithinAbs(0.5, 1e-12));
}

TEST_CASE("A single-V_in fit (D_i) is used as is, and must refer to the array's V_in", "[behavior][fits]") {
    FitsSpec spec;
    spec.poly = {{"D_0", 0.1}, {"D_1", 3.0}, {"D_2", -0.2}, {"D_3", 1.0}, {"K_offset", 0.45}, {"V_in", 0.9}};
    const GainCellModel model = GainCellModel::load(writeFits("d-form", spec));
    CHECK(model.polynomial().D == std::array<double, 4>{0.1, 3.0, -0.2, 1.0});

    spec.poly["V_in"] = 0.8;
    CHECK_THROWS_WITH(GainCellModel::load(writeFits("d-form-mismatch", spec)), ContainsSubstring("V_in"));
}

TEST_CASE("A polynomial in ns is fed full pulses of pulse_full_scale_ns, and needs it", "[behavior][fits]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    spec.poly_Q_unit = "ns";
    CHECK_THROWS_WITH(GainCellModel::load(writeFits("ns-without-full-scale", spec)),
                      ContainsSubstring("pulse_full_scale_ns"));

    spec.array.pulse_full_scale_ns = 15.0;
    const GainCellModel model = GainCellModel::load(writeFits("ns-full-scale", spec));
    CHECK(model.architecture().pulse_full_scale == 15.0);
    // The linearization of the cell: D_1 = C_1_0 + C_1_1 V_in + C_1_2 V_in^2 at a 15 ns pulse.
    const LinearArray linear = cellLinearization(model);
    CHECK_THAT(linear.gain, WithinRel((0.9 + 2.1 * 0.9 + 0.3 * 0.81) * 15.0, 1e-12));
    CHECK(linear.K_offset_V == 0.45);

    // The kernel takes the fits' full scale unless the options give one.
    AttentionOptions fromFits;
    fromFits.model = ArrayModel::Nonlinear;
    fromFits.decay = false;
    AttentionOptions explicit15 = fromFits, explicit1 = fromFits;
    explicit15.pulse_full_scale = 15.0;
    explicit1.pulse_full_scale = 1.0;
    const Matrix q = uniformMatrix(8, 16, 0.0, 1.0, 1), k = uniformMatrix(8, 16, 0.0, 0.9, 2),
                 v = uniformMatrix(8, 16, 0.0, 0.9, 3);
    const auto S = [&](const AttentionOptions& o) {
        HeadTrace trace;
        Matrix out(8, 16);
        gainCellAttentionForward(model, o, {}, {}, q, k, v, out, &trace);
        return trace.S;
    };
    CHECK(S(fromFits) == S(explicit15));
    CHECK(S(fromFits) != S(explicit1));
}

TEST_CASE("Missing or duplicated records and misspelt spread keys are errors naming the file", "[behavior][fits]") {
    FitsSpec spec;
    const std::string dir = writeFits("missing", spec);
    std::filesystem::remove(dir + "/readout.json");
    CHECK_THROWS_WITH(GainCellModel::load(dir), ContainsSubstring("c2p-signed"));

    const std::string dup = writeFits("duplicate", spec);
    imc::fit::writeFit(dup + "/pulse2.json", record("c2p-relu", {{"S_sat", 1.0}}));
    CHECK_THROWS_WITH(GainCellModel::load(dup), ContainsSubstring("two files"));

    spec.poly = cubicPolynomial();
    spec.poly_spread = {{"coefficient_std", {{"C_9_9", 0.1}}}};
    CHECK_THROWS_WITH(GainCellModel::load(writeFits("typo", spec)), ContainsSubstring("C_9_9"));

    spec.poly_spread = nlohmann::json::object();
    const GainCellModel linear_only = GainCellModel::load(writeFits("no-poly", FitsSpec{}));
    CHECK_FALSE(linear_only.hasPolynomial());
    CHECK_THROWS(linear_only.polynomial());
    CHECK_THROWS_WITH(GainCellModel::load("/nonexistent-fits-dir"), ContainsSubstring("not a directory"));
}

TEST_CASE("Device-to-device draws: seeded, per (layer, head, tile), with the fits' spread", "[behavior][variability]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    const double s10 = 0.05, s11 = 0.02, s_sat = 4.0;
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", s10}, {"C_1_1", s11}}}};
    spec.pulse_spread = {{"coefficient_std", {{"S_sat", s_sat}}}};
    const GainCellModel model = GainCellModel::load(writeFits("draws", spec));

    const Variability off{};
    const TileCircuits mean = drawTileCircuits(model, off, {0, 0}, 0);
    CHECK(mean.key_array.D == model.polynomial().D);
    CHECK(mean.pulse.S_sat == 80.0);

    Variability on;
    on.enabled = true;
    on.seed = 11;
    const TileCircuits a = drawTileCircuits(model, on, {2, 3}, 1);
    const TileCircuits b = drawTileCircuits(model, on, {2, 3}, 1);
    CHECK(a.key_array.D == b.key_array.D);
    CHECK(a.key_array.D != a.value_array.D);                                  // two arrays, two draws
    CHECK(a.key_array.D != drawTileCircuits(model, on, {2, 4}, 1).key_array.D);  // another head
    CHECK(a.key_array.D != drawTileCircuits(model, on, {2, 3}, 2).key_array.D);  // another tile
    CHECK(a.key_array.D[3] == model.polynomial().D[3]);                       // no spread on C_3_0

    // D_1 = C_1_0 + C_1_1 V_in + C_1_2 V_in^2, so its std is sqrt(s10^2 + (0.9 s11)^2).
    const int n = 4000;
    double sum = 0, sum2 = 0, sum_sat = 0, sum_sat2 = 0;
    for (int tile = 0; tile < n; ++tile) {
        const TileCircuits c = drawTileCircuits(model, on, {0, 0}, tile);
        const double d = c.key_array.D[1] - model.polynomial().D[1];
        sum += d;
        sum2 += d * d;
        sum_sat += c.pulse.S_sat - 80.0;
        sum_sat2 += (c.pulse.S_sat - 80.0) * (c.pulse.S_sat - 80.0);
    }
    const double expected = std::sqrt(s10 * s10 + 0.81 * s11 * s11);
    CHECK(std::abs(sum / n) < 4 * expected / std::sqrt(n));
    CHECK_THAT(std::sqrt(sum2 / n), WithinRel(expected, 0.06));
    CHECK_THAT(std::sqrt(sum_sat2 / n), WithinRel(s_sat, 0.06));
    CHECK(std::abs(sum_sat / n) < 4 * s_sat / std::sqrt(n));
}
