// A 2x2 gain-cell array in SPICE against its cell-by-cell reference: each column's bit-line charge
// must equal the sum of the charges the same cells give alone in the single-cell bench (the
// behavioral model of an array is that sum), the one-column decomposition must match the full
// array, and the readout width must follow T_max S / S_sat.
#include "circuits/gaincell_array.hpp"
#include "spice/worker_pool.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>

using namespace imc;
using Catch::Matchers::WithinAbs;

namespace {

double integrate(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0, double t1) {
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
    a.readoutParams = circuits::readoutForRows(2);
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
        cell_fC[c] = -1e15 * integrate(res[2].vec("time"), res[2].vec("i(vbl" + std::to_string(c) + ")"), b.windowStart_s(), b.windowEnd_s());
    const auto tf = circuits::arrayTiming(a, 2), tc = circuits::arrayTiming(a, 1);
    for (int j = 0; j < 2; ++j) {
        const std::string J = std::to_string(j);
        const double full = -1e15 * integrate(res[0].vec("time"), res[0].vec("i(vprobe" + J + ")"), tf.readStart_s - 0.5e-9, tf.convStart_s - 0.2e-9);
        const double model = cell_fC[std::size_t(j)] + cell_fC[std::size_t(2 + j)];
        CHECK(std::abs(model) > 100.0);  // both columns carry real charge (about +190 and -155 fC)
        // Stated tolerance: 2 fC + 1 % (wire drop, driver edges, the integrator's finite gain).
        CHECK_THAT(full, WithinAbs(model, 2.0 + 0.01 * std::abs(model)));
        if (j == 1) {
            const double col = -1e15 * integrate(res[1].vec("time"), res[1].vec("i(vprobe1)"), tc.readStart_s - 0.5e-9, tc.convStart_s - 0.2e-9);
            CHECK_THAT(col, WithinAbs(full, 0.5 + 0.003 * std::abs(full)));
        }
        // Readout: width = T_max S / S_sat + 0.1 ns comparator delay, none for S <= 0, at most T_max.
        const Eigen::VectorXd out = res[0].vec("v(out" + J + ")") / 0.9;
        const double width = integrate(res[0].vec("time"), out, tf.convStart_s - 0.5e-9, tf.convEnd_s + 0.9e-9);
        const double expected = full <= 0 ? 0.0 : std::min(15e-9, 15e-9 * full * 1e-15 / a.readoutParams.Ssat_C + 0.1e-9);
        CHECK_THAT(width, WithinAbs(expected, 0.1e-9));
    }
}
