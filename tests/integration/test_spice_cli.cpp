#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinRel;

TEST_CASE("imc spice --json prints the requested vectors", "[cli]") {
    auto r = runImc({"spice", sourcePath("netlists/examples/divider.cir"), "--vec", "v(out)", "--vec", "i(v1)", "--json"});
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK_THAT(j["vectors"]["v(out)"].get<double>(), WithinRel(0.6, 1e-9));
    CHECK_THAT(j["vectors"]["i(v1)"].get<double>(), WithinRel(-0.9 / 9e3, 1e-9));
    CHECK(std::stoi(j["ngspice_version"].get<std::string>()) >= 44);
    CHECK(j["wall_s"].get<double>() > 0);
}

TEST_CASE("imc spice --waveform prints whole vectors", "[cli]") {
    auto r = runImc({"spice", sourcePath("netlists/examples/rc-lowpass.cir"), "--vec", "time", "--vec", "v(out)", "--waveform", "--json"});
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto t = j["vectors"]["time"].get<std::vector<double>>();
    const auto v = j["vectors"]["v(out)"].get<std::vector<double>>();
    REQUIRE(t.size() == v.size());
    REQUIRE(t.size() > 100);
    // tau = 1 us: v = 1 - exp(-t/tau) after the 1 ns edge.
    for (std::size_t i = 0; i < t.size(); i += 37)
        if (t[i] > 1e-7) CHECK(std::abs(v[i] - (1 - std::exp(-(t[i] - 0.5e-9) / 1e-6))) < 5e-3);
}

TEST_CASE("imc spice names the file and line of a malformed netlist", "[cli]") {
    const auto dir = std::filesystem::temp_directory_path() / ("imc-cli-bad-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = (dir / "bad.cir").string();
    std::ofstream(file) << "bad\nV1 a 0 1\nR1 a b 1k\nQ7 b c\n.op\n.end\n";
    auto r = runImc({"spice", file, "--json"});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("bad.cir:4"));
    CHECK_THAT(r.err, ContainsSubstring("Q7"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("relative includes resolve against the deck's folder", "[cli]") {
    const auto dir = std::filesystem::temp_directory_path() / ("imc-cli-inc-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "models");
    std::ofstream(dir / "models" / "load.lib") << ".subckt load a\nR1 a 0 2k\n.ends load\n";
    std::ofstream(dir / "top.cir") << "top\n.include models/load.lib\nV1 a 0 1\nX1 a load\n.op\n.end\n";
    auto r = runImc({"spice", (dir / "top.cir").string(), "--vec", "i(v1)", "--json"}, "/");
    REQUIRE(r.exitCode == 0);
    CHECK_THAT(nlohmann::json::parse(r.out)["vectors"]["i(v1)"].get<double>(), WithinRel(-0.5e-3, 1e-9));
    std::filesystem::remove_all(dir);
}

namespace {
struct DeckDir {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("imc-cli-err-" + std::to_string(::getpid()));
    DeckDir() { std::filesystem::create_directories(dir); }
    ~DeckDir() { std::filesystem::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name, std::ios::binary) << text;
        return (dir / name).string();
    }
};
}  // namespace

TEST_CASE("imc spice reports a bad expression with the file, the line and ngspice's whole message", "[cli][errors]") {
    DeckDir d;
    const auto file = d.write("bad3.cir", "bad3\nV1 a 0 1\n.param p=1\nR1 a 0 {1/0}\n.op\n.end\n");
    const auto r = runImc({"spice", file});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("bad3.cir:4: R1 a 0 {1/0}: ngspice: Error on line 4 or its substitute:"));
    // The lines after ngspice's header: the card as ngspice rewrote it and the reason.
    CHECK_THAT(r.err, ContainsSubstring("| r1 a 0 inf | unknown parameter (inf)"));
}

TEST_CASE("imc spice names a binary file", "[cli][errors]") {
    DeckDir d;
    std::string elf = "\x7f" "ELF\x02\x01\x01";
    elf += std::string(9, '\0') + "\x02\x00\x3e\x00 binary garbage\n";
    auto r = runImc({"spice", d.write("prog.cir", elf)});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("prog.cir: not a text netlist (a NUL byte at offset 7)"));
    // Without NUL bytes ngspice reads it, rejects its bytes and exits: the file and all it said.
    r = runImc({"spice", d.write("noise.cir", "\x7f" "ELF\x02\x01\x01\xff\xfe\n\x89PNG\x1a\n")});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("noise.cir: ngspice exited (status 1): Error: UTF-8 syntax error in input deck, | "));
    CHECK_THAT(r.err, ContainsSubstring("| Error: ngspice.dll cannot recover"));
    // A text file without an analysis: the run that never started names the deck and the cause.
    r = runImc({"spice", d.write("nojob.cir", "no analysis\nV1 a 0 1\nR1 a 0 1k\n")});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("nojob.cir: ngspice run failed: Warning: No job (tran, ac, op etc.) defined: | run simulation not started"));
}

TEST_CASE("imc spice runs a deck's shell command as ngspice -b does, with a warning", "[cli][errors]") {
    DeckDir d;
    const auto marker = d.dir / "made-by-shell";
    d.write("cmd.inc", "*# shell touch " + marker.string() + "\n");
    const auto file = d.write("shell.cir", "shell\n.include cmd.inc\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n");
    const auto r = runImc({"spice", file, "--vec", "i(v1)", "--json"});
    CHECK(r.exitCode == 0);
    CHECK_THAT(r.err, ContainsSubstring("warning: " + (d.dir / "cmd.inc").string() + ":1: shell command: *# shell touch"));
    CHECK(std::filesystem::exists(marker));
    CHECK_THAT(nlohmann::json::parse(r.out)["vectors"]["i(v1)"].get<double>(), WithinRel(-1e-3, 1e-9));
}

TEST_CASE("a missing vector names the deck", "[cli][errors]") {
    const auto r = runImc({"spice", sourcePath("netlists/examples/divider.cir"), "--vec", "v(nowhere)"});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("divider.cir: no vector 'v(nowhere)' in the current plot"));
}
