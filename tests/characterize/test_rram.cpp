// The 1T1R RRAM characterization through runSweep (worker processes only). References: a C++
// bisection of the series circuit on ngspice's own I-V of the access nMOS, a nodal solve of the
// column with resistors for transistors, closed forms of the variability draws, and the error-rate
// functions of lib/fit applied to the written fits.
#include "characterize/job.hpp"
#include "characterize/rram.hpp"
#include "fit/fit.hpp"
#include "temp_run.hpp"
#include "fit/level_errors.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <Eigen/Dense>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <numbers>

using namespace imc;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
namespace fs = std::filesystem;

namespace {

characterize::RunSpec tempRun(const std::string& name) { return ::tempRun("rram", name); }

characterize::PlannedJob job(const std::string& id, const netlist::Circuit& c, std::vector<std::string> vectors) {
    characterize::PlannedJob j;
    j.sim.id = id;
    j.sim.deck = netlist::writeDeck(c);
    j.sim.vectors = std::move(vectors);
    return j;
}

double Q(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

}  // namespace

TEST_CASE("the 1T1R read equals a bisection of the series circuit on ngspice's own nMOS I-V", "[characterize][rram][spice]") {
    const auto spec = characterize::defaultRramSpec(4);
    // Job 0: the access nMOS alone, V_GS = word line, drain swept 0 .. read_V (source and bulk at 0).
    netlist::Circuit sweep("access nMOS I-V");
    spec.cell.includeInto(sweep);
    sweep.add(netlist::VoltageSource{"g", "g", "0", netlist::Dc{spec.wordLine_V}});
    sweep.add(netlist::VoltageSource{"d", "d", "0", netlist::Dc{0.0}});
    sweep.add(netlist::Mosfet{"acc", "d", "g", "0", "0", "nmos", netlist::Length(spec.accessW_m), netlist::Length(spec.accessL_m), {}});
    sweep.analysis(netlist::DcSweep{"vd", 0.0, spec.read_V, 1e-4});
    std::vector<characterize::PlannedJob> jobs{job("nmos_iv", sweep, {"v(d)", "i(vd)"})};
    // Jobs 1..4: one cell per level at its target conductance, no mismatch; bit-line current.
    for (int level = 0; level < 4; ++level)
        jobs.push_back(job("cell_l" + std::to_string(level), characterize::buildRramDeviceRead(spec, {spec.G_target_S(level)}, {0.0}), {"i(vread)"}));
    auto iv = std::make_shared<std::pair<Eigen::VectorXd, Eigen::VectorXd>>();
    const characterize::Measure measure = [iv](const characterize::PlannedJob& j, const spice::SimResult& r) {
        if (j.sim.id == "nmos_iv") {
            *iv = {r.vec("v(d)"), -r.vec("i(vd)")};
            return std::vector<std::pair<std::string, double>>{{"I_A", 0.0}};
        }
        return std::vector<std::pair<std::string, double>>{{"I_A", -r.vec("i(vread)")[0]}};
    };
    const auto run = characterize::runSweep(jobs, {"I_A"}, measure, tempRun("bisection"));
    REQUIRE(run.failed == 0);
    REQUIRE(iv->first.size() > 100);
    auto drain_A = [&](double v) {  // linear interpolation on the 0.1 mV grid
        const auto& V = iv->first;
        const auto& I = iv->second;
        Eigen::Index k = 1;
        while (k + 1 < V.size() && V[k] < v) ++k;
        return I[k - 1] + (I[k] - I[k - 1]) * (v - V[k - 1]) / (V[k] - V[k - 1]);
    };
    for (int level = 0; level < 4; ++level) {
        const double G = spec.G_target_S(level);
        double lo = 0, hi = spec.read_V;  // element current minus drain current falls with the drain voltage
        for (int it = 0; it < 100; ++it) {
            const double mid = 0.5 * (lo + hi);
            ((spec.read_V - mid) * G > drain_A(mid) ? lo : hi) = mid;
        }
        const double reference_A = (spec.read_V - lo) * G;
        const double spice_A = run.rows[std::size_t(level + 1)].values.at("I_A");
        INFO("level " << level);
        CHECK_THAT(spice_A, WithinRel(reference_A, 1e-6));
        if (level == 3) {
            // The access transistor's series resistance compresses the top level by about 7 %.
            const double compression = 1 - spice_A / (spec.read_V * G);
            CHECK(compression > 0.05);
            CHECK(compression < 0.09);
        }
    }
}

TEST_CASE("a column with resistors for access transistors agrees with a nodal solve to 1e-9", "[characterize][rram][spice]") {
    auto spec = characterize::defaultRramSpec(4);
    spec.wire_Ohm = 2.0;
    const double access_Ohm = 470.0;
    std::vector<characterize::RramColumn> cols;
    for (std::uint64_t c = 0; c < 3; ++c) cols.push_back(characterize::drawRramColumn(spec, c));
    const auto run = characterize::runSweep({job("columns", characterize::buildRramColumns(spec, cols, access_Ohm), {"i(vsl0)", "i(vsl1)", "i(vsl2)"})},
                                            {"I0_A", "I1_A", "I2_A"},
                                            [](const characterize::PlannedJob&, const spice::SimResult& r) {
                                                return std::vector<std::pair<std::string, double>>{
                                                    {"I0_A", r.vec("i(vsl0)")[0]}, {"I1_A", r.vec("i(vsl1)")[0]}, {"I2_A", r.vec("i(vsl2)")[0]}};
                                            },
                                            tempRun("column"));
    REQUIRE(run.failed == 0);
    for (int c = 0; c < 3; ++c) {
        // Unknowns: bit-line nodes b_0..b_{R-1}, source-line nodes s_0..s_{R-1}; a selected cell is
        // 1/G + R_access between b_r and s_r; the driver (read_V) feeds b_0, s_{R-1} feeds ground.
        const int R = spec.rows;
        const double gw = 1 / spec.wire_Ohm;
        Eigen::MatrixXd A = Eigen::MatrixXd::Zero(2 * R, 2 * R);
        Eigen::VectorXd b = Eigen::VectorXd::Zero(2 * R);
        auto stamp = [&](int i, int j, double g) { A(i, i) += g, A(j, j) += g, A(i, j) -= g, A(j, i) -= g; };
        A(0, 0) += gw, b[0] += gw * spec.read_V;
        A(2 * R - 1, 2 * R - 1) += gw;
        for (int r = 1; r < R; ++r) stamp(r - 1, r, gw), stamp(R + r - 1, R + r, gw);
        int selected = 0;
        for (int r = 0; r < R; ++r)
            if (cols[std::size_t(c)].input[std::size_t(r)]) stamp(r, R + r, 1 / (1 / cols[std::size_t(c)].G_S[std::size_t(r)] + access_Ohm)), ++selected;
        REQUIRE(selected > 10);
        const Eigen::VectorXd x = A.partialPivLu().solve(b);
        const double reference_A = x[2 * R - 1] * gw;
        CHECK_THAT(run.rows[0].values.at("I" + std::to_string(c) + "_A"), WithinRel(reference_A, 1e-9));
    }
}

TEST_CASE("program-and-verify, relaxation and read noise follow their stated distributions", "[characterize][rram]") {
    auto spec = characterize::defaultRramSpec(4);
    // The Wan et al. 1-day polynomial at the ends of the window: c0 and the sum of c0..c4 (uS, 40 uS window).
    const double scale = spec.G_on_S() / 40e-6;
    CHECK_THAT(characterize::wanRelaxationStd_S(0, spec.G_on_S(), characterize::Retention::OneDay), WithinRel(0.701e-6 * scale, 1e-12));
    CHECK_THAT(characterize::wanRelaxationStd_S(spec.G_on_S(), spec.G_on_S(), characterize::Retention::OneDay),
               WithinRel((0.701 + 22.086 - 50.773 + 47.095 - 16.458) * 1e-6 * scale, 1e-12));
    // Attempts: acceptance per draw p = P(ln(1 - w) <= sigma z <= ln(1 + w)), w = window / target;
    // the capped geometric mean is (1 - (1 - p)^cap) / p.
    const int level = 1, n = 20000;
    const double w = spec.verifyWindow_lsb * spec.G_lsb_S() / spec.G_target_S(level);
    const double p = 1 - Q(std::log(1 + w) / spec.programSigma) - Q(-std::log(1 - w) / spec.programSigma);
    const double expectAttempts = (1 - std::pow(1 - p, spec.verifyCap)) / p;
    double attempts = 0, sum = 0, sum2 = 0;
    spec.readNoise_rel = 0;
    for (int k = 0; k < n; ++k) {
        const auto c = characterize::programCell(spec, level, 7, std::uint64_t(k));
        attempts += c.attempts;
        sum += c.G_S, sum2 += c.G_S * c.G_S;
    }
    CHECK_THAT(attempts / n, WithinRel(expectAttempts, 0.02));
    // Spread: relaxation on top of a verified value within +-window (roughly uniform-ish, var <= w^2).
    const double relax = characterize::wanRelaxationStd_S(spec.G_target_S(level), spec.G_on_S(), spec.retention);
    const double std = std::sqrt(sum2 / n - (sum / n) * (sum / n));
    const double window_S = spec.verifyWindow_lsb * spec.G_lsb_S();
    CHECK(std > relax * 0.97);
    CHECK(std < std::sqrt(relax * relax + window_S * window_S) * 1.03);
    // Read noise: additive, std readNoise_rel * G_on, a new draw per read.
    spec.readNoise_rel = 0.01;
    double r1 = 0, r2 = 0;
    for (int k = 0; k < n; ++k) {
        const double d = characterize::readConductance_S(spec, 100e-6, 3, std::uint64_t(k), 0) - 100e-6;
        r1 += d, r2 += d * d;
    }
    CHECK_THAT(std::sqrt(r2 / n - (r1 / n) * (r1 / n)), WithinRel(0.01 * spec.G_on_S(), 0.03));
    CHECK(characterize::readConductance_S(spec, 100e-6, 3, 1, 0) != characterize::readConductance_S(spec, 100e-6, 3, 1, 1));
}

TEST_CASE("rram-levels fits: per-level reads, error rates and the column ADC, the same for any worker count", "[characterize][rram][spice][fit]") {
    auto spec = characterize::defaultRramSpec(4);
    spec.devicesPerLevel = 48, spec.devicesPerJob = 24, spec.columnReads = 8, spec.columnsPerJob = 4, spec.seed = 5;
    auto run = tempRun("levels");
    const auto rep = characterize::runRramLevels(spec, run);
    run.workers = 1;
    run.outDir = run.outDir.string() + "-w1";
    const auto again = characterize::runRramLevels(spec, run);
    CHECK(again.ber == rep.ber);
    CHECK(again.level[2].mean_S == rep.level[2].mean_S);
    CHECK(again.adcColumn.lsb_A == rep.adcColumn.lsb_A);

    const fs::path file = run.outDir / "rram-mlc.json";
    fit::writeFit(file.string(), rep.toFit("test"));
    const auto f = fit::readFit(file.string());
    CHECK(f.model == "rram-levels");
    CHECK(f.coefficient("levels") == 4);
    CHECK(f.coefficient("bits_per_cell") == 2);
    CHECK(f.coefficient("adc_bits") == 7);
    CHECK(f.coefficient("rows") == 64);
    std::vector<double> mean, std;
    double pooled = 0;
    for (int i = 0; i < 4; ++i) {
        const std::string k = std::to_string(i);
        CHECK(f.coefficient("G_target_" + k + "_S") == spec.G_target_S(i));
        mean.push_back(f.coefficient("G_mean_" + k + "_S")), std.push_back(f.coefficient("G_std_" + k + "_S"));
        if (i > 0) {
            CHECK_THAT(f.coefficient("sigma_eta_" + k), WithinRel(std.back() / (spec.G_target_S(i) - spec.G_target_S(0)), 1e-12));
            pooled += std::pow(f.coefficient("sigma_eta_" + k), 2);
        }
        CHECK(f.units.at("G_mean_" + k + "_S") == "S");
    }
    CHECK_THAT(f.coefficient("sigma_eta"), WithinRel(std::sqrt(pooled / 3), 1e-12));
    CHECK_THAT(f.coefficient("level0_std_lsb"), WithinRel(std[0] / f.coefficient("G_lsb_S"), 1e-12));
    CHECK_THAT(f.coefficient("ber_gauss"), WithinRel(fit::gaussianBitErrorRate(mean, std), 1e-12));
    CHECK_THAT(f.coefficient("ser_gauss"), WithinRel(fit::gaussianSymbolErrorRate(mean, std), 1e-12));
    // The access transistor compresses the top level; means stay ordered.
    CHECK(mean[3] < spec.G_target_S(3));
    CHECK(f.spread.at("top_level_compression").get<double>() > 0.04);
    for (int i = 1; i < 4; ++i) CHECK(mean[std::size_t(i)] > mean[std::size_t(i - 1)]);
    CHECK(f.spread.at("per_level").size() == 4);
    CHECK(f.spread.at("per_level")[1].at("gaussian").at("quality").at("n").get<int>() == 48);
    CHECK(f.provenance.seed == 5u);
    CHECK(rep.columnReads == 8);
    CHECK(f.coefficient("adc_clip_rate") >= 0);
    // The least-squares ADC step lies below the isolated-device step: the wires' IR drop.
    CHECK(rep.adcColumn.lsb_A < rep.adcDevice.lsb_A);
}

TEST_CASE("a multilevel-cell job runs a user's cell the same path as the builtin command", "[characterize][rram][spice][job]") {
    const fs::path models = circuits::modelsDir();
    nlohmann::json doc = nlohmann::json::parse(R"({
      "format": "imc-job", "version": 1, "name": "mlc_job",
      "cell": {"subckt": "rram1t1r", "ports": {"bl": "bl", "wl": "wl", "sl": "sl"}},
      "testbench": {"kind": "multilevel-cell", "levels": 4, "devices_per_level": 24, "devices_per_job": 24,
                    "column_reads": 4, "columns_per_job": 4,
                    "variability": {"program_and_verify": {"sigma": 0.1, "window_lsb": 0.1, "iteration_cap": 20, "source": "test"},
                                    "relaxation": {"model": "wan2022", "retention": "1day", "source": "test"},
                                    "read_noise": {"std_rel_G_on": 0.01, "source": "test"},
                                    "access_mismatch": {"param": "dvt", "source": "test"}}},
      "montecarlo": {"seed": 3}, "fits": ["rram-levels"]})");
    doc["cell"]["netlist"] = (models / "rram" / "rram1t1r.sub").string();
    doc["cell"]["includes"] = {(models / "ptm-32nm-hp.pm").string()};
    const fs::path dir = fs::temp_directory_path() / ("imc-test-rram-job-" + std::to_string(::getpid()));
    const auto job = characterize::parseJob(doc, dir / "job.json");
    const auto outcome = characterize::runJob(job, {dir / "job", 2, true, false});
    REQUIRE(outcome.fitFiles.size() == 1);
    const auto f = fit::readFit(outcome.fitFiles[0].string());

    auto spec = characterize::defaultRramSpec(4);
    spec.devicesPerLevel = 24, spec.devicesPerJob = 24, spec.columnReads = 4, spec.columnsPerJob = 4, spec.seed = 3;
    const auto rep = characterize::runRramLevels(spec, tempRun("job-reference"));
    CHECK(f.coefficient("G_mean_2_S") == rep.level[2].mean_S);
    CHECK(f.coefficient("ber") == rep.ber);
    CHECK(f.coefficient("adc_clip_rate") == rep.adcColumn.clipRate);

    // Every variability source must say where its numbers come from.
    doc["testbench"]["variability"]["read_noise"].erase("source");
    const auto unstated = characterize::parseJob(doc, dir / "job.json");
    CHECK_THROWS_WITH(characterize::runJob(unstated, {dir / "job2", 2, true, false}),
                      Catch::Matchers::ContainsSubstring("testbench.variability.read_noise") && Catch::Matchers::ContainsSubstring("source"));
}
