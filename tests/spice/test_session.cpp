#include "circuits/crossbar.hpp"
#include "netlist/netlist.hpp"
#include "nodal_reference.hpp"
#include "spice/session.hpp"
#include "variability/variability.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using namespace imc;
using namespace imc::netlist::literals;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// One session for the whole test executable: ngspice allows one per process.
spice::Session& session() {
    static spice::Session s;
    return s;
}

long residentKiB() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

netlist::Circuit rcCircuit(double R_Ohm, double C_F, double stop_s, double step_s) {
    netlist::Circuit c("rc step");
    c.add(netlist::VoltageSource{"in", "in", "0", netlist::Pulse{0, 1, netlist::Time(0), 1.0_ps, 1.0_ps, netlist::Time(1), netlist::Time(0)}});
    c.add(netlist::Resistor{"1", "in", "out", netlist::Resistance(R_Ohm)});
    c.add(netlist::Capacitor{"1", "out", "0", netlist::Capacitance(C_F)});
    c.analysis(netlist::TranAnalysis{netlist::Time(step_s), netlist::Time(stop_s), netlist::Time(0), netlist::Time(step_s)});
    return c;
}

}  // namespace

TEST_CASE("ngspice 44 or newer is loaded in process", "[spice]") {
    const int major = std::stoi(session().version());
    CHECK(major >= 44);
}

TEST_CASE("a voltage divider's operating point matches Ohm's law", "[spice]") {
    netlist::Circuit c("divider");
    c.add(netlist::VoltageSource{"1", "a", "0", netlist::Dc{0.9}});
    c.add(netlist::Resistor{"1", "a", "b", 3.0_kOhm});
    c.add(netlist::Resistor{"2", "b", "0", 6.0_kOhm});
    c.analysis(netlist::OpAnalysis{});
    session().load(netlist::writeDeck(c));
    session().run();
    CHECK_THAT(session().vector("v(b)")[0], WithinRel(0.6, 1e-9));
    CHECK_THAT(session().vector("i(v1)")[0], WithinRel(-0.9 / 9e3, 1e-9));
    CHECK_THAT(session().vector("v(a)-v(b)")[0], WithinRel(0.3, 1e-9));  // an expression
}

TEST_CASE("an RC step response follows the analytic exponential", "[spice]") {
    const double R = 1e3, C = 1e-9, tau = R * C;
    session().load(netlist::writeDeck(rcCircuit(R, C, 5 * tau, tau / 200)));
    session().run();
    const auto t = session().vector("time");
    const auto v = session().vector("v(out)");
    REQUIRE(t.size() > 100);
    CHECK_THAT(t[t.size() - 1], WithinRel(5 * tau, 1e-9));  // the run reached its stop time
    double maxErr = 0;
    for (Eigen::Index i = 0; i < t.size(); ++i)
        if (t[i] > 1e-11) maxErr = std::max(maxErr, std::abs(v[i] - (1 - std::exp(-(t[i] - 1e-12) / tau))));
    CHECK(maxErr < 2e-3);
}

TEST_CASE("a crossbar with wire resistance matches an independent nodal solve", "[spice]") {
    const int R = 12, C = 10;
    circuits::CrossbarSpec spec;
    spec.rows = R, spec.cols = C;
    spec.wireResistance_Ohm = 2.0;
    spec.cellConductance_S.resize(R, C);
    spec.rowVoltage_V.resize(R);
    variability::Stream s({5, variability::Purpose::User, 0, 0, 0});
    for (int i = 0; i < R; ++i) {
        spec.rowVoltage_V[i] = s.uniform(0, 0.5);
        for (int j = 0; j < C; ++j) spec.cellConductance_S(i, j) = s.lognormal(std::log(1e-4), 0.5);
    }
    session().load(netlist::writeDeck(circuits::buildResistiveCrossbar(spec)));
    session().run();
    const auto ref = solveCrossbarNodal(spec.cellConductance_S, spec.rowVoltage_V, spec.wireResistance_Ohm);
    double worst = 0;
    for (int j = 0; j < C; ++j) {
        // The sense source's current flows from its + node (the column end) through it to ground.
        const double spiceI = session().vector(circuits::columnCurrentVector(j))[0];
        worst = std::max(worst, std::abs(spiceI - ref.columnCurrent_A[j]) / std::abs(ref.columnCurrent_A[j]));
        for (int i = 0; i < R; ++i) {
            const double vr = session().vector(circuits::rowNode(i, j))[0];
            const double vc = session().vector(circuits::colNode(i, j))[0];
            worst = std::max(worst, std::abs(vr - ref.rowNode_V(i, j)) / std::abs(ref.rowNode_V(i, j)));
            worst = std::max(worst, std::abs(vc - ref.colNode_V(i, j)) / std::abs(ref.colNode_V(i, j)));
        }
    }
    CHECK(worst < 1e-6);
}

TEST_CASE("a malformed netlist gives an error naming the line", "[spice]") {
    const std::string deck =
        "bad deck\n"
        "V1 a 0 DC 1\n"
        "R1 a b 1k\n"
        "Q7 b c\n"  // a bipolar transistor with missing nodes and no model
        "R2 b 0 1k\n"
        ".op\n"
        ".end\n";
    try {
        session().load(deck, "bad.cir");
        session().run();
        FAIL("no error raised");
    } catch (const spice::SpiceError& e) {
        CHECK(e.kind == spice::SpiceError::Kind::Parse);
        CHECK_THAT(e.what(), ContainsSubstring("bad.cir:4"));
        CHECK_THAT(e.what(), ContainsSubstring("Q7"));
    }
    // The session is usable afterwards.
    session().load(netlist::writeDeck(rcCircuit(1e3, 1e-12, 1e-9, 1e-11)));
    session().run();
    CHECK(session().vector("time").size() > 10);
}

TEST_CASE("an unknown model is reported with ngspice's words", "[spice]") {
    const std::string deck = "unknown model\nV1 d 0 1\nM1 d d 0 0 nosuchmodel W=1u L=1u\n.op\n";
    CHECK_THROWS_AS(
        [&] {
            session().load(deck, "m.cir");
            session().run();
        }(),
        spice::SpiceError);
}

TEST_CASE("a missing vector is an error naming it", "[spice]") {
    session().load(netlist::writeDeck(rcCircuit(1e3, 1e-12, 1e-9, 1e-11)));
    session().run();
    CHECK_THROWS_WITH(session().vector("v(nowhere)"), ContainsSubstring("v(nowhere)"));
    CHECK_FALSE(session().hasVector("v(nowhere)"));
    CHECK(session().hasVector("v(out)"));
}

TEST_CASE("ngspice's controlled exit becomes an error and a fresh simulator", "[spice]") {
    session().load(netlist::writeDeck(rcCircuit(1e3, 1e-12, 1e-9, 1e-11)));
    try {
        session().command("quit");
        FAIL("quit did not raise");
    } catch (const spice::SpiceError& e) {
        CHECK(e.kind == spice::SpiceError::Kind::ControlledExit);
    }
    session().load(netlist::writeDeck(rcCircuit(1e3, 1e-12, 1e-9, 1e-11)));
    session().run();
    const auto v = session().vector("v(out)");
    CHECK_THAT(v[v.size() - 1], WithinAbs(1 - std::exp(-1.0), 2e-3));  // one time constant
}

TEST_CASE("loading 500 circuits keeps resident memory flat", "[spice][memory]") {
#if IMC_ASAN
    SKIP("AddressSanitizer keeps freed memory in quarantine: resident memory says nothing here");
#endif
    circuits::CrossbarSpec spec;
    spec.rows = spec.cols = 16;
    spec.cellConductance_S = Eigen::MatrixXd::Constant(16, 16, 1e-5);
    spec.rowVoltage_V = Eigen::VectorXd::Constant(16, 0.3);
    const std::string deck = netlist::writeDeck(circuits::buildResistiveCrossbar(spec));
    for (int i = 0; i < 50; ++i) session().load(deck), session().run();  // warm up allocator pools
    const long before = residentKiB();
    for (int i = 0; i < 500; ++i) session().load(deck), session().run();
    const long after = residentKiB();
    INFO("RSS before " << before << " KiB, after " << after << " KiB");
    CHECK(after - before < 4 * 1024);
}
