#include "netlist/netlist.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

using namespace imc::netlist;
using namespace imc::netlist::literals;

TEST_CASE("formatSI writes SI suffixes that read back exactly", "[netlist]") {
    CHECK(formatSI(0) == "0");
    CHECK(formatSI(2) == "2");
    CHECK(formatSI(1.5e-9) == "1.5n");
    CHECK(formatSI(1e6) == "1meg");
    CHECK(formatSI(0.8e-15) == "8e-16");  // below femto: plain scientific form
    CHECK(formatSI(12e-15) == "12f");
    CHECK(formatSI(-0.45) == "-450m");
    CHECK(formatSI(4.7e3) == "4.7k");
    CHECK(formatSI(1e-12) == "1p");
    // Every double reads back exactly, suffix or not.
    std::uint64_t state = 12345;
    for (int i = 0; i < 2000; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const double mantissa = double(state >> 11) * 0x1.0p-53 * 10.0 - 5.0;
        const double value = mantissa * std::pow(10.0, double(int(state % 40) - 20));
        INFO(value << " written as " << formatSI(value));
        REQUIRE(parseSI(formatSI(value)) == value);
    }
    CHECK(parseSI("2meg") == 2e6);
    CHECK(parseSI("1.5n") == 1.5e-9);
    CHECK_THROWS_AS(parseSI("1.5q"), NetlistError);
    CHECK_THROWS_AS(formatSI(std::numeric_limits<double>::infinity()), NetlistError);
    // Engineering exponents at every suffix boundary, and the plain form outside f..t.
    CHECK(formatSI(999.9999999999999) == "999.9999999999999");
    CHECK(formatSI(1e3) == "1k");
    CHECK(formatSI(123456789012.0) == "123.456789012g");
    CHECK(formatSI(1e14) == "100t");
    CHECK(formatSI(1e15) == "1e+15");
    CHECK(formatSI(-1.5e-15) == "-1.5f");
    CHECK(formatSI(5e-324) == "5e-324");
    std::string s = "R1 a b ";
    appendSI(s, 2.2e6);
    CHECK(s == "R1 a b 2.2meg");
}

TEST_CASE("invalid names and values are rejected with the element named", "[netlist]") {
    Circuit c;
    CHECK_THROWS_WITH(c.add(Resistor{"1", "a b", "0", 1.0_kOhm}), Catch::Matchers::ContainsSubstring("R1 node"));
    CHECK_THROWS_WITH(c.add(Resistor{"2", "a", "0", Resistance(-5)}), Catch::Matchers::ContainsSubstring("R2: resistance must be > 0"));
    CHECK_THROWS_WITH(c.add(Capacitor{"1", "a", "0", Capacitance(std::nan(""))}), Catch::Matchers::ContainsSubstring("C1"));
    c.add(Resistor{"load", "a", "0", 1.0_kOhm});
    CHECK_THROWS_WITH(c.add(Resistor{"Rload", "b", "0", 1.0_kOhm}), Catch::Matchers::ContainsSubstring("duplicate"));
    CHECK_THROWS_AS(c.add(VoltageSource{"in", "a", "0", Pwl{{{0.0_ns, 0}, {0.0_ns, 1}}}}), NetlistError);
    CHECK_THROWS_AS(c.analysis(TranAnalysis{Time(0), 1.0_ns}), NetlistError);
    CHECK_THROWS_AS(c.param("bad name", "1"), NetlistError);
}

TEST_CASE("writeDeck writes each card in ngspice syntax", "[netlist]") {
    Circuit c("rc test");
    c.include("models/x.lib");
    c.param("vdd", "0.9");
    c.addModel(Model{"nch", "nmos", {{"level", 54}, {"version", 4.8}}});
    Subckt inv{"inv", {"a", "y", "vdd"}, {{"wn", "64n"}}, {}, {}};
    inv.elements.push_back(Mosfet{"n", "y", "a", "0", "0", "nch", 64.0_nm, 32.0_nm, {{"delvto", 0.01}}});
    c.addSubckt(inv);
    c.add(VoltageSource{"in", "a", "0", Pulse{0, 0.9, 1.0_ns, 10.0_ps, 10.0_ps, 5.0_ns, 10.0_ns}});
    c.add(Resistor{"1", "a", "b", 1.0_kOhm});
    c.add(Capacitor{"1", "b", "0", 1.0_pF, Voltage(0)});
    c.add(Behavioral{"g", "b", "0", Behavioral::Kind::Current, "1e-6*v(a)"});
    c.add(SubcktInstance{"u1", {"a", "y", "vdd"}, "inv", {{"wn", "128n"}}});
    c.initialCondition("b", 0.0_V);
    c.option("klu");
    c.save({"v(b)"});
    c.analysis(TranAnalysis{10.0_ps, 20.0_ns});
    const std::string expected =
        "rc test\n"
        ".include models/x.lib\n"
        ".param vdd=0.9\n"
        ".model nch nmos (level=54 version=4.8)\n"
        ".subckt inv a y vdd params: wn=64n\n"
        "Mn y a 0 0 nch W=64n L=32n delvto=10m\n"
        ".ends inv\n"
        "Vin a 0 PULSE(0 900m 1n 10p 10p 5n 10n)\n"
        "R1 a b 1k\n"
        "C1 b 0 1p IC=0\n"
        "Bg b 0 I=1e-6*v(a)\n"
        "Xu1 a y vdd inv wn=128n\n"
        ".ic v(b)=0\n"
        ".options klu\n"
        ".save v(b)\n"
        ".tran 10p 20n\n"
        ".end\n";
    CHECK(writeDeck(c) == expected);
}

TEST_CASE("writeDeck writes the remaining element kinds and analyses", "[netlist]") {
    Circuit c("every card");
    c.comment("kinds the writer knows");
    c.add(CurrentSource{"b", "0", "n1", Pwl{{{0.0_ns, 0}, {1.0_ns, 1.5e-6}, {2.5_ns, -2e-3}}}});
    c.add(Inductor{"1", "n1", "n2", Inductance(4.7e-9)});
    c.add(Vcvs{"amp", "n3", "0", "n2", "0", 12.5});
    c.add(Vccs{"m", "n2", "0", "n3", "0", 1.25e-4});
    c.add(Resistor{"Rload", "n3", "0", Resistance(2.2e6)});
    c.add(Capacitor{"c2", "n3", "0", Capacitance(3.3e-15)});
    c.add(VoltageSource{"dd", "vdd", "0", Dc{-0.45}});
    c.add(RawLine{"D1 n3 0 dmod"});
    c.addModel(Model{"dmod", "d", {{"is", 1e-14}, {"n", 1.05}}});
    c.option("reltol", "1e-4");
    c.option("klu");
    c.save({"v(n3)", "i(vdd)"});
    c.analysis(DcSweep{"vdd", 0, 1.2, 0.05});
    c.analysis(AcAnalysis{"dec", 20, 10, 1e10});
    c.analysis(TranAnalysis{1.0_ps, 5.0_ns, 1.0_ns, Time(2e-12), true});
    const std::string expected =
        "every card\n"
        "* kinds the writer knows\n"
        ".model dmod d (is=10f n=1.05)\n"
        "Ib 0 n1 PWL(0 0 1n 1.5u 2.5n -2m)\n"
        "L1 n1 n2 4.7n\n"
        "Eamp n3 0 n2 0 12.5\n"
        "Gm n2 0 n3 0 125u\n"
        "Rload n3 0 2.2meg\n"
        "c2 n3 0 3.3f\n"
        "Vdd vdd 0 DC -450m\n"
        "D1 n3 0 dmod\n"
        ".options reltol=1e-4 klu\n"
        ".save v(n3) i(vdd)\n"
        ".dc vdd 0 1.2 50m\n"
        ".ac dec 20 10 10g\n"
        ".tran 1p 5n 1n 2p uic\n"
        ".end\n";
    CHECK(writeDeck(c) == expected);
    // Each element line is what writeElement gives for it alone.
    for (const auto& e : c.elements()) CHECK(expected.find("\n" + writeElement(e) + "\n") != std::string::npos);
}
