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
