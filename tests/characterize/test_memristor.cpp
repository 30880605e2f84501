// Memristor characterization through runSweep (worker processes only: this executable never opens
// a spice::Session of its own). References: the model equation of selfsel.lib evaluated in C++,
// hand computations, and the documented parameters.
#include "characterize/memristor.hpp"
#include "fit/fit.hpp"
#include "temp_run.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <unistd.h>

#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <fstream>
#include <filesystem>

using namespace imc;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
namespace fs = std::filesystem;

namespace {

characterize::RunSpec tempRun(const std::string& name) { return ::tempRun("memristor", name); }

}  // namespace

TEST_CASE("the self-selective model's plateau and hold voltages match the documented parameters", "[characterize][memristor][spice]") {
    const characterize::SelfSelectiveParameters p;
    const auto r = characterize::characterizeSelfSelective(tempRun("iv"));
    // Independent reference: the conduction equation in C++ on a fine grid, same hold definition.
    std::vector<double> V, Ihrs, Ilrs;
    for (int k = -50000; k <= 50000; ++k) {
        V.push_back(k * 1e-4);
        Ihrs.push_back(characterize::selfSelectiveCurrent_A(V.back(), 0, p));
        Ilrs.push_back(characterize::selfSelectiveCurrent_A(V.back(), 1, p));
    }
    // plateau: pA level, Gplat * V
    CHECK_THAT(r.plateauHrsAt1V_A, WithinRel(characterize::selfSelectiveCurrent_A(1.0, 0, p), 1e-4));
    CHECK_THAT(r.plateauHrsAt1V_A, WithinRel(p.Gplat_S * 1.0, 0.01));
    CHECK_THAT(r.plateauHrsAt2V_A, WithinRel(p.Gplat_S * 2.0, 0.02));
    // hold voltages: the documented +2.5 V / -2.0 V and the equation's own crossing
    CHECK_THAT(r.holdHrsPositive_V, WithinAbs(p.Vh_pos_V, 0.1));
    CHECK_THAT(r.holdHrsNegative_V, WithinAbs(p.Vh_neg_V, 0.1));
    CHECK_THAT(r.holdLrsPositive_V, WithinAbs(p.Vh_pos_V, 0.02));
    CHECK_THAT(r.holdLrsNegative_V, WithinAbs(p.Vh_neg_V, 0.02));
    CHECK_THAT(r.holdHrsPositive_V, WithinAbs(characterize::holdVoltage_V(V, Ihrs, p.Gplat_S, true), 0.01));
    CHECK_THAT(r.holdHrsNegative_V, WithinAbs(characterize::holdVoltage_V(V, Ihrs, p.Gplat_S, false), 0.01));
    CHECK_THAT(r.loopHoldRising_V, WithinAbs(p.Vh_pos_V, 0.1));
    CHECK_THAT(r.loopHoldNegative_V, WithinAbs(p.Vh_neg_V, 0.1));
    // read at 3 V: G * 3 V plus the plateau; on/off as documented (15.8)
    CHECK_THAT(r.hrsAt3V_A, WithinRel(3.0 * (p.Goff_S + p.Gplat_S), 1e-3));
    CHECK_THAT(r.lrsAt3V_A, WithinRel(3.0 * (p.Gon_S + p.Gplat_S), 1e-3));
    CHECK_THAT(r.onOffAt3V, WithinAbs(15.8, 0.05));
    // non-volatile, no read disturbance, and the loop opens (set) counterclockwise
    CHECK(std::abs(r.readDisturbRelative) < 1e-9);
    CHECK(r.writeGain > 1.2);
    CHECK(r.loopOnOffAt3V > 5);
    CHECK(r.loopMaxCurrent_A > 10e-9);
    CHECK(r.loopMaxCurrent_A < 100e-9);
}

TEST_CASE("RP-LSH hashes of a SPICE crossbar equal the behavioral hashes of the same conductances", "[characterize][memristor][spice]") {
    characterize::RpLshSpec spec;
    spec.rows = 6, spec.cols = 4, spec.vectors = 10, spec.seed = 3;
    const auto r = characterize::runRpLsh(spec, tempRun("rplsh"));
    // Conductance map: each device's I(3 V)/3 V against the model equation with its drawn factor.
    for (int i = 0; i < spec.rows; ++i)
        for (int j = 0; j < spec.cols; ++j) {
            const double s = spec.variability.factor(spec.seed, 0, std::uint64_t(i * spec.cols + j), spec.cycle);
            CHECK_THAT(r.conductance_S(i, j), WithinRel(characterize::selfSelectiveCurrent_A(3.0, 0, {}, s) / 3.0, 1e-6));
        }
    REQUIRE(r.hashSpice.size() == 10);
    for (int v = 0; v < spec.vectors; ++v) {
        CAPTURE(v);
        CHECK(r.hashSpice[std::size_t(v)] == r.hashBehavioral[std::size_t(v)]);
        CHECK(r.hashBehavioral[std::size_t(v)] == characterize::hashOfProjection(r.projectionBehavioral_A.row(v).transpose()));
    }
    CHECK(r.agreement == 1.0);
    CHECK(r.maxProjectionError < 1e-4);
    // argmax([p; -p]) indexing
    CHECK(characterize::hashOfProjection(Eigen::Vector2d(0.1, -0.5)) == 3);
    CHECK(characterize::hashOfProjection(Eigen::Vector2d(0.7, -0.5)) == 0);
}

TEST_CASE("sneak currents: plateau-limited in self-selective crossbars, and the V_h > V_read/3 criterion", "[characterize][memristor][spice]") {
    const characterize::SelfSelectiveParameters p;
    std::vector<characterize::SneakCase> cases(4);
    cases[0].rows = cases[0].cols = 4;  // self-selective, V/3, worst case
    cases[1] = cases[0];
    cases[1].cell = characterize::MemristorCell::Linear;
    cases[2] = cases[0];  // hold voltage below V_read/3: the half-selected cells leave the plateau
    cases[2].cellParams = {{"Vh_pos", "0.7"}, {"Vh_neg", "-0.7"}};
    cases[3] = cases[0];
    cases[3].scheme = circuits::BiasScheme::Floating;
    const auto r = characterize::runSneakStudy(cases, tempRun("sneak"));
    for (const auto& c : r) REQUIRE(c.ok);
    // V/3: three half-selected LRS cells of the selected column at +1 V carry the plateau current.
    CHECK_THAT(r[0].columnHrs_A - r[0].cellHrs_A, WithinRel(3 * characterize::selfSelectiveCurrent_A(1.0, 1, p), 1e-3));
    // Linear: the same three cells carry G * V/3.
    CHECK_THAT(r[1].columnHrs_A - r[1].cellHrs_A, WithinRel(3 * 2e-9 * 1.0, 1e-4));
    CHECK(r[0].sneakFractionLrs * 100 < r[1].sneakFractionLrs);
    CHECK(r[0].readMargin > 0.9);
    CHECK(r[1].readMargin < 0.5);
    // Criterion: with |V_h| < V_read/3 the sneak fraction rises by orders of magnitude.
    CHECK(r[2].sneakFractionLrs > 30 * r[0].sneakFractionLrs);
    CHECK(r[3].sneakFractionLrs < 0.01);
}

TEST_CASE("memristor fits files hold what the LSH backend reads", "[characterize][memristor][spice][fit]") {
    characterize::MemristorFitsSpec spec;
    spec.samples = 600, spec.devicesPerCycle = 300, spec.devicesPerJob = 300, spec.cycles = {1, 10, 100};
    spec.fitsDir = fs::temp_directory_path() / ("imc-test-memristor-fitsdir-" + std::to_string(::getpid()));
    const auto r = characterize::runMemristorFits(spec, tempRun("fits"));
    const auto hrs = fit::readFit((spec.fitsDir / "memristor-hrs-lognormal.json").string());
    CHECK(hrs.model == "lognormal");
    CHECK_THAT(hrs.coefficient("mu"), WithinAbs(r.hrs.mu, 1e-12));
    // the read conductance is Goff * s + Gplat: median near 0.127 nS, spread slightly below sigma_0
    CHECK_THAT(std::exp(hrs.coefficient("mu")), WithinRel(0.125e-9 + 2e-12, 0.02));
    CHECK(hrs.coefficient("sigma") > 0.8 * spec.variability.sigma0);
    CHECK(hrs.coefficient("sigma") < 1.2 * spec.variability.sigma0);
    const auto diff = fit::readFit((spec.fitsDir / "memristor-diff-gaussian.json").string());
    CHECK(diff.model == "gaussian");
    CHECK(std::abs(diff.coefficient("mean")) < 4 * diff.coefficient("std") / std::sqrt(300.0));
    const auto c2c = fit::readFit((spec.fitsDir / "memristor-c2c.json").string());
    CHECK(c2c.model == "lognormal-cycle");
    CHECK(c2c.coefficient("sigma_per_decade") > 0.5 * spec.variability.sigmaPerDecade);
    CHECK(c2c.provenance.seed == spec.seed);
    CHECK(!c2c.provenance.netlist_sha256.empty());
    fs::remove_all(spec.fitsDir);
}

TEST_CASE("the memristor variability comes from its file: the paper's one-reset spread, errors naming the key", "[memristor]") {
    const auto v = characterize::ConductanceVariability::shipped();
    // sigma_0 is the paper's 6.4 % coefficient of variation as a lognormal sigma.
    CHECK_THAT(v.sigma0, WithinAbs(std::sqrt(std::log(1 + 0.064 * 0.064)), 1e-5));
    CHECK(v.Goff_S == 0.125e-9);
    CHECK_THAT(v.sigmaAtCycle(10), WithinRel(v.sigma0 + v.sigmaPerDecade, 1e-12));
    const auto file = std::filesystem::temp_directory_path() / ("imc-variability-" + std::to_string(::getpid()) + ".json");
    std::ofstream(file) << R"({"format": "imc-memristor-variability", "version": 1, "G_off_S": 1e-10, "sigma_0": 0.1,
                               "sigma_per_decade": 0.01, "device_fraction": 1.5})";
    CHECK_THROWS_WITH(characterize::ConductanceVariability::load(file),
                      Catch::Matchers::ContainsSubstring("key 'device_fraction': must be within [0, 1]"));
    std::ofstream(file) << R"({"format": "imc-memristor-variability", "version": 1, "G_off_S": 1e-10})";
    CHECK_THROWS_WITH(characterize::ConductanceVariability::load(file), Catch::Matchers::ContainsSubstring("key 'sigma_0': must be a number"));
    std::filesystem::remove(file);
}
