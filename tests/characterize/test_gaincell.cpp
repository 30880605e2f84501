// Gain-cell characterizations against independent references: an ideal behavioral multiplier
// whose polynomial is known exactly, the charge-to-pulse law of c2p.sub, and the measured cell
// table of netlists/models/gaincell/README.md. Everything runs through runSweep (worker pool).
#include "characterize/gaincell.hpp"
#include "characterize/job.hpp"
#include "fit/fit.hpp"
#include "spice/worker_pool.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include "../gaincell_run.hpp"
#include "../temp_dir.hpp"

using namespace imc;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
namespace fs = std::filesystem;

TEST_CASE("a behavioral multiplier cell as a gaincell job gives back its polynomial", "[gaincell][job]") {
    TempDir t("gc-job");
    // The stored voltage follows wbl through a 1 kohm switch while we is high; while pwm is high
    // the cell draws I = (2 V_in d + 30 d^3 + 0.5 V_in^2) uA from the bit line, d = V_sn - 0.45 V.
    // In fC and ns: C_1_1 = 2, C_3_0 = 30, C_0_2 = 0.5, every other C_i_j = 0.
    std::ofstream(t.dir / "mult.sub")
        << "* ideal multiplier with the gain cell's ports\n"
           ".subckt mult wbl we web pwm pwmb bl vdd vss\n"
           "BW wbl sn I = 1e-3*v(wbl,sn)*(v(we,vss) > 0.45 ? 1 : 0)\n"
           "CSN sn vss 100f\nRL sn vss 1e15\n"
           "BR bl vss I = (v(pwm,vss) > 0.45 ? 1 : 0)*1e-6*(2*v(vdd,vss)*(v(sn,vss)-0.45) + 30*(v(sn,vss)-0.45)*(v(sn,vss)-0.45)*(v(sn,vss)-0.45) + "
           "0.5*v(vdd,vss)*v(vdd,vss))\n"
           ".ends mult\n";
    std::ofstream(t.dir / "mult.job.json") << R"({"format": "imc-job", "version": 1, "name": "mult",
 "cell": {"netlist": "mult.sub", "subckt": "mult",
          "ports": {"wbl": "wbl", "we": "we", "web": "web", "pwm": "pwm", "pwmb": "pwmb", "bl": "bl", "vdd": "vdd", "vss": "vss"}},
 "testbench": {"kind": "gaincell"},
 "sweep": {"K": {"start": 0, "stop": 0.9, "points": 7}, "Q": ["0", "5n", "15n"], "V_in": [0.45, 0.6, 0.75, 0.9]},
 "fits": ["gaincell-poly"]})";
    const auto job = characterize::loadJob(t.dir / "mult.job.json");
    characterize::JobRunOptions o;
    o.outDir = t.dir / "out";
    o.workers = 2;
    o.progress = false;
    const auto out = characterize::runJob(job, o);
    REQUIRE(out.fitFiles.size() == 1);
    const auto rec = fit::readFit(out.fitFiles[0].string());
    CHECK(rec.model == "gaincell-poly");
    CHECK_THAT(rec.coefficient("C_1_1"), WithinRel(2.0, 0.01));
    CHECK_THAT(rec.coefficient("C_3_0"), WithinRel(30.0, 0.01));
    CHECK_THAT(rec.coefficient("C_0_2"), WithinRel(0.5, 0.02));
    for (const char* zero : {"C_0_0", "C_0_1", "C_0_3", "C_1_0", "C_1_2", "C_2_0", "C_2_1"})
        CHECK_THAT(rec.coefficient(zero), WithinAbs(0.0, 0.05));
    CHECK(*rec.quality.r2 > 0.9999);
}

TEST_CASE("charge-to-pulse: no pulse for negative charge, T_max above S_sat, T_max Q/S_sat between", "[gaincell][c2p]") {
    TempDir t("gc-c2p");
    auto sw = characterize::chargeToPulseSweepFromJob(characterize::builtinReadoutJob(false, 8, 1, 1));
    const double Ssat = circuits::readoutForRows(8, 150).Ssat_C;  // 424 fC
    sw.Q_in_C = {-300e-15, -20e-15, 100e-15, 200e-15, 1.2 * Ssat, 2 * Ssat};
    const auto r = characterize::characterizeChargeToPulse(sw, quietGainCellRun(t.dir));
    REQUIRE(r.width_s.size() == 6);
    CHECK(std::abs(r.width_s[0]) < 1e-12);
    CHECK(std::abs(r.width_s[1]) < 1e-12);
    // c2p.sub: width = T_max Q / S_sat plus the comparator delay (0.1 ns) minus Vos Cf / I_dis.
    // The slope is the law itself; the intercept (comparator delay and output shaping, about
    // 0.1 ns, see the README table) within 0.1 ns.
    CHECK_THAT(r.width_s[3] - r.width_s[2], WithinAbs(15e-9 * 100e-15 / Ssat, 10e-12));
    CHECK_THAT(r.width_s[2], WithinAbs(15e-9 * 100e-15 / Ssat + 0.1e-9, 0.1e-9));
    CHECK_THAT(r.width_s[4], WithinAbs(15e-9, 20e-12));
    CHECK_THAT(r.width_s[5], WithinAbs(15e-9, 20e-12));
}

TEST_CASE("a gain cell's charge is linear in the pulse width and matches the measured cell", "[gaincell]") {
    TempDir t("gc-cell");
    characterize::GainCellSweep sw;
    sw.cell = circuits::builtinCell("gaincell");
    sw.K_V = {0.9, 0.6, 0.2, 0.0};
    sw.Q_s = {2e-9, 6e-9, 10e-9, 15e-9};
    sw.V_in_V = {0.9};
    const auto r = characterize::characterizeGainCell(sw, quietGainCellRun(t.dir));
    REQUIRE(r.points.size() == 16);
    for (double K : {0.9, 0.0}) {
        std::vector<std::pair<double, double>> qs;
        for (const auto& p : r.points)
            if (p.K_V == K) qs.emplace_back(p.Q_ns, p.S_fC);
        const double slope = (qs.back().second - qs.front().second) / (qs.back().first - qs.front().first);
        for (const auto& [q, s] : qs) CHECK_THAT(s, WithinAbs(qs.front().second + slope * (q - qs.front().first), 0.002 * std::abs(qs.back().second)));
        // README table (deck gaincell-cell.cir): 9.726 uA at K = 0.9 V, -10.380 uA at K = 0.
        CHECK_THAT(slope, WithinRel(K > 0.5 ? 9.726 : -10.380, 0.03));
    }
}

// A 2x2 gain-cell array in SPICE against its cell-by-cell reference: each column's bit-line charge
// must equal the sum of the charges the same cells give alone in the single-cell bench (the
// behavioral model of an array is that sum), the one-column decomposition must match the full
// array, and the readout width must follow T_max S / S_sat. (Here rather than in test_circuits,
// which keeps one in-process ngspice session and so may not fork a worker pool.)
namespace {

double integrateTrapezoid(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0, double t1) {
    double s = 0;
    for (Eigen::Index k = 1; k < t.size(); ++k) {
        const double a = std::max(t[k - 1], t0), b = std::min(t[k], t1);
        if (b <= a) continue;
        auto at = [&](double x) { return y[k - 1] + (y[k] - y[k - 1]) * (x - t[k - 1]) / (t[k] - t[k - 1]); };
        s += 0.5 * (at(a) + at(b)) * (b - a);
    }
    return s;
}

}  // namespace

TEST_CASE("a 2x2 gain-cell array adds its cells' charges on each bit line", "[gaincell][array]") {
    const auto cell = circuits::builtinCell("gaincell");
    circuits::GainCellArraySpec a;
    a.rows = a.cols = 2;
    a.stored_V = {{0.9, 0.0}, {0.7714, 0.5143}};
    a.codes = {15, 8};
    a.readoutParams = circuits::readoutForRows(2, 150);
    // Independent reference: the four cells alone (bit line held by an ideal source, same write).
    circuits::CellReadBench b;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) b.K_V.push_back(a.stored_V[i][j]), b.Q_s.push_back(a.codes[i] * 1e-9);
    std::vector<spice::SimJob> jobs(3);
    jobs[0] = {"full", netlist::writeDeck(circuits::gainCellArrayCircuit(cell, a)), circuits::arrayVectors(a, {0, 1}, false), {}, 0};
    jobs[1] = {"column1", netlist::writeDeck(circuits::gainCellColumnCircuit(cell, a, 1)), circuits::arrayVectors(a, {1}, true), {}, 0};
    jobs[2] = {"cells", netlist::writeDeck(circuits::cellReadCircuit(cell, b)), circuits::cellReadVectors(b), {}, 0};
    std::vector<spice::SimResult> res(3);
    spice::PoolOptions po;
    po.workers = 2;
    spice::WorkerPool pool(po);
    pool.run(jobs, [&](std::size_t i, spice::SimResult&& r) { res[i] = std::move(r); });
    for (const auto& r : res) {
        INFO(r.id << ": " << r.error);
        REQUIRE(r.ok);
    }

    std::array<double, 4> cell_fC{};
    for (std::size_t c = 0; c < 4; ++c)
        cell_fC[c] = -1e15 * integrateTrapezoid(res[2].vec("time"), res[2].vec("i(vbl" + std::to_string(c) + ")"), b.windowStart_s(), b.windowEnd_s());
    const auto tf = circuits::arrayTiming(a, 2), tc = circuits::arrayTiming(a, 1);
    for (int j = 0; j < 2; ++j) {
        const std::string J = std::to_string(j);
        const double full = -1e15 * integrateTrapezoid(res[0].vec("time"), res[0].vec("i(vprobe" + J + ")"), tf.readStart_s - 0.5e-9, tf.convStart_s - 0.2e-9);
        const double model = cell_fC[std::size_t(j)] + cell_fC[std::size_t(2 + j)];
        CHECK(std::abs(model) > 100.0);  // both columns carry real charge (about +190 and -155 fC)
        // Stated tolerance: 2 fC + 1 % (wire drop, driver edges, the integrator's finite gain).
        CHECK_THAT(full, WithinAbs(model, 2.0 + 0.01 * std::abs(model)));
        if (j == 1) {
            const double col = -1e15 * integrateTrapezoid(res[1].vec("time"), res[1].vec("i(vprobe1)"), tc.readStart_s - 0.5e-9, tc.convStart_s - 0.2e-9);
            CHECK_THAT(col, WithinAbs(full, 0.5 + 0.003 * std::abs(full)));
        }
        // Readout: width = T_max S / S_sat + 0.1 ns comparator delay, none for S <= 0, at most T_max.
        const Eigen::VectorXd out = res[0].vec("v(out" + J + ")") / 0.9;
        const double width = integrateTrapezoid(res[0].vec("time"), out, tf.convStart_s - 0.5e-9, tf.convEnd_s + 0.9e-9);
        const double expected = full <= 0 ? 0.0 : std::min(15e-9, 15e-9 * full * 1e-15 / a.readoutParams.Ssat_C + 0.1e-9);
        CHECK_THAT(width, WithinAbs(expected, 0.1e-9));
    }
}
