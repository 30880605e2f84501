// Memristor crossbar generator against independent nodal solves, run in this process's one
// spice::Session (this executable forks no worker pool).
#include "circuits/cell.hpp"
#include "circuits/memristor_crossbar.hpp"
#include "spice/session.hpp"

#include "../spice/nodal_reference.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <optional>

using namespace imc;
using Catch::Matchers::WithinRel;

namespace {

spice::Session& session() {
    static spice::Session s;
    return s;
}

double run(const netlist::Circuit& c, const std::string& vector) {
    auto& s = session();
    s.load(netlist::writeDeck(c), c.title());
    s.run();
    return s.vector(vector)[0];
}

// Nodal solve of a crossbar with optional drivers: rows driven at their left end, columns at their
// bottom end (nullopt: the line is open). Returns (selected cell current, column current).
struct ReadSolution {
    double cell_A, column_A;
};
ReadSolution solveRead(const Eigen::MatrixXd& G, const std::vector<std::optional<double>>& rowV,
                       const std::vector<std::optional<double>>& colV, double rWire, int selRow, int selCol) {
    const int R = int(G.rows()), C = int(G.cols());
    // unknowns: in_i, r_ij, c_ij, out_j
    auto in = [&](int i) { return i; };
    auto r = [&](int i, int j) { return R + i * C + j; };
    auto c = [&](int i, int j) { return R + R * C + i * C + j; };
    auto out = [&](int j) { return R + 2 * R * C + j; };
    const int n = R + 2 * R * C + C;
    Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, n);
    Eigen::VectorXd b = Eigen::VectorXd::Zero(n);
    auto stamp = [&](int a, int k, double g) { A(a, a) += g, A(k, k) += g, A(a, k) -= g, A(k, a) -= g; };
    const double gw = 1 / rWire;
    for (int i = 0; i < R; ++i) {
        stamp(in(i), r(i, 0), gw);
        for (int j = 1; j < C; ++j) stamp(r(i, j - 1), r(i, j), gw);
    }
    for (int j = 0; j < C; ++j) {
        for (int i = 1; i < R; ++i) stamp(c(i - 1, j), c(i, j), gw);
        stamp(c(R - 1, j), out(j), gw);
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) stamp(r(i, j), c(i, j), G(i, j));
    // A driven node: its row of the system becomes v = V.
    auto fix = [&](int node, double v) {
        A.row(node).setZero();
        A(node, node) = 1;
        b[node] = v;
    };
    for (int i = 0; i < R; ++i)
        if (rowV[std::size_t(i)]) fix(in(i), *rowV[std::size_t(i)]);
    for (int j = 0; j < C; ++j)
        if (colV[std::size_t(j)]) fix(out(j), *colV[std::size_t(j)]);
    const Eigen::VectorXd v = A.fullPivLu().solve(b);
    return {G(selRow, selCol) * (v[r(selRow, selCol)] - v[c(selRow, selCol)]), (v[c(R - 1, selCol)] - v[out(selCol)]) * gw};
}

}  // namespace

TEST_CASE("a 4x4 crossbar of ohmic cells with wire resistance matches a nodal solve", "[circuits][memristor][spice]") {
    circuits::MemristorCrossbarSpec s;
    s.cell = circuits::builtinCell("ohmic");
    s.rows = s.cols = 4;
    s.scheme = circuits::BiasScheme::Vmm;
    s.wireResistance_Ohm = 25.0;  // large against 1/G so that the wires matter (several % IR drop)
    Eigen::MatrixXd G(4, 4);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) G(i, j) = 1e-4 * (1.0 + 0.37 * i + 0.61 * j + 0.13 * ((i * 7 + j * 3) % 5));
    s.cellParams["G"] = G;
    s.rowInput_V = Eigen::Vector4d(0.3, 0.0, 0.2, 0.1);
    const auto circuit = circuits::buildMemristorCrossbar(s);
    const auto ref = solveCrossbarNodal(G, s.rowInput_V, s.wireResistance_Ohm);
    const Eigen::VectorXd ideal = G.transpose() * s.rowInput_V;
    for (int j = 0; j < 4; ++j) {
        const double spiceI = run(circuit, circuits::senseCurrentVector(j));
        CHECK_THAT(spiceI, WithinRel(ref.columnCurrent_A[j], 1e-6));
        CHECK(std::abs(spiceI / ideal[j] - 1) > 1e-3);  // the wires are really in the circuit
    }
}

TEST_CASE("sneak fraction of a 3x3 ohmic crossbar, worst case, matches a nodal solve", "[circuits][memristor][spice]") {
    const double V = 3.0, gLrs = 2e-9, gHrs = 0.125e-9, rWire = 10.0;
    for (auto scheme : {circuits::BiasScheme::Floating, circuits::BiasScheme::Third, circuits::BiasScheme::Half}) {
        CAPTURE(circuits::toString(scheme));
        circuits::MemristorCrossbarSpec s;
        s.cell = circuits::builtinCell("ohmic");
        s.rows = s.cols = 3;
        s.scheme = scheme;
        s.readVoltage_V = V;
        s.wireResistance_Ohm = rWire;
        Eigen::MatrixXd G = Eigen::MatrixXd::Constant(3, 3, gLrs);
        G(0, 2) = gHrs;  // the selected far cell in HRS, every other cell in LRS
        s.cellParams["G"] = G;
        const auto circuit = circuits::buildMemristorCrossbar(s);
        std::vector<std::optional<double>> rowV(3), colV(3);
        for (int i = 0; i < 3; ++i) {
            rowV[std::size_t(i)] = i == 0 ? std::optional(V)
                                   : scheme == circuits::BiasScheme::Third ? std::optional(V / 3)
                                   : scheme == circuits::BiasScheme::Half  ? std::optional(V / 2)
                                                                           : std::nullopt;
            colV[std::size_t(i)] = i == 2 ? std::optional(0.0)
                                   : scheme == circuits::BiasScheme::Third ? std::optional(2 * V / 3)
                                   : scheme == circuits::BiasScheme::Half  ? std::optional(V / 2)
                                                                           : std::nullopt;
        }
        const auto ref = solveRead(G, rowV, colV, rWire, 0, 2);
        const double cell = run(circuit, circuits::selectedCellCurrentVector());
        const double column = run(circuit, circuits::senseCurrentVector(2));
        CHECK_THAT(cell, WithinRel(ref.cell_A, 1e-6));
        CHECK_THAT(column, WithinRel(ref.column_A, 1e-6));
        const double sneak = (column - cell) / column, sneakRef = (ref.column_A - ref.cell_A) / ref.column_A;
        CHECK_THAT(sneak, WithinRel(sneakRef, 1e-6));
        if (scheme == circuits::BiasScheme::Floating) {
            // By hand (wires neglected): the sneak network is 2 row cells -> 4 cells -> 2 column cells
            // in series, 1/(1/2G + 1/4G + 1/2G) = 0.8 G, so I_sneak = 0.8 G V.
            CHECK_THAT(column - cell, WithinRel(0.8 * gLrs * V, 1e-4));
        }
        if (scheme == circuits::BiasScheme::Third) {
            // Two half-selected cells of the selected column at V/3: I_sneak = 2 G V/3.
            CHECK_THAT(column - cell, WithinRel(2 * gLrs * V / 3, 1e-4));
        }
    }
}

TEST_CASE("a device read gives each isolated cell its own current", "[circuits][memristor][spice]") {
    circuits::DeviceReadSpec d;
    d.cell = circuits::builtinCell("ohmic");
    d.devices = 3;
    d.cellParams["G"] = Eigen::Vector3d(1e-9, 2.5e-9, 0.125e-9);
    d.readVoltage_V = 3.0;
    const auto c = circuits::buildDeviceRead(d);
    for (int k = 0; k < 3; ++k) CHECK_THAT(run(c, circuits::deviceCurrentVector(k)), WithinRel(3.0 * d.cellParams["G"][k], 1e-9));
}

TEST_CASE("crossbar decks write per-instance numbers, never expressions", "[circuits][memristor]") {
    circuits::MemristorCrossbarSpec s;
    s.cell = circuits::builtinCell("selfsel");
    s.rows = 2, s.cols = 3;
    s.cellParams["sGoff"] = Eigen::MatrixXd::Constant(2, 3, 1.0);
    s.cellParams["sGoff"](1, 2) = 1.2345678901234567;
    const auto deck = netlist::writeDeck(circuits::buildMemristorCrossbar(s));
    CHECK(deck.find("sGoff=1.2345678901234567") != std::string::npos);
    CHECK(deck.find('{') == std::string::npos);
    CHECK(deck.find("vprobe") != std::string::npos);
    CHECK(deck.find(".options klu") != std::string::npos);
    s.scheme = circuits::BiasScheme::Floating;
    const auto floating = netlist::writeDeck(circuits::buildMemristorCrossbar(s));
    CHECK(floating.find("Vrow1 ") == std::string::npos);   // unselected row left open
    CHECK(floating.find("Vsense0 ") == std::string::npos);  // unselected column left open
    CHECK_THROWS(circuits::parseBiasScheme("v4"));
}
