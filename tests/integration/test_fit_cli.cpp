// End-to-end tests of `imc fit ...`: CSV in, JSON and fits files out, errors with file and line.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

std::filesystem::path scratchDir() {
    const auto dir = std::filesystem::temp_directory_path() / ("imc-fit-cli-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
}

std::string writeFile(const std::string& name, const std::string& text) {
    const auto path = scratchDir() / name;
    std::ofstream(path) << text;
    return path.string();
}

}  // namespace

TEST_CASE("imc fit gaincell-poly at one V_in prints the per-power sums and writes a fits file", "[cli][fit]") {
    // S = Q (D0 + D1 dK + D2 dK^2 + D3 dK^3) with dK = K - 0.45.
    const double D[4] = {0.7, 3.2, 0.1, 3.3};
    std::string csv = "Q_ns,K_V,S_fC\n";
    for (int q = 1; q <= 15; ++q)
        for (int k = 0; k < 8; ++k) {
            const double Q = q, K = 0.9 * k / 7.0, dK = K - 0.45;
            const double S = Q * (D[0] + D[1] * dK + D[2] * dK * dK + D[3] * dK * dK * dK);
            char line[128];
            std::snprintf(line, sizeof line, "%.17g,%.17g,%.17g\n", Q, K, S);
            csv += line;
        }
    const std::string data = writeFile("gaincell.csv", csv);
    const std::string out = (scratchDir() / "fits" / "gaincell.json").string();
    const ImcRun r = runImc({"fit", "gaincell-poly", data, "--json", "--out", out});
    REQUIRE(r.exitCode == 0);
    // --json prints the fits record that --out writes.
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["quality"]["identifiable"] == false);
    CHECK_THAT(j["description"].get<std::string>(), ContainsSubstring("not identifiable"));
    for (int i = 0; i < 4; ++i) CHECK_THAT(j["coefficients"]["D_" + std::to_string(i)].get<double>(), WithinRel(D[i], 1e-9));
    CHECK(j["quality"]["rmse"].get<double>() < 1e-9);
    CHECK(j["units"]["D_1"] == "fC/(ns*V)");
    CHECK(j["units"]["Q"] == "ns");

    std::ifstream in(out);
    const auto fits = nlohmann::json::parse(in);
    CHECK(fits["coefficients"] == j["coefficients"]);
    CHECK(fits["format"] == "imc-fit");
    CHECK(fits["version"] == 1);
    CHECK(fits["model"] == "gaincell-poly");
    CHECK(fits["coefficients"]["V_in"] == 0.9);
    CHECK(fits["validity"]["K_V"][1].get<double>() == 0.9);
    CHECK(fits["provenance"]["generator"] == "imc fit gaincell-poly");
}

TEST_CASE("imc fit lognormal and gaussian print the documented keys", "[cli][fit]") {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> dist(-1.0, 0.5);
    std::string csv = "G_S\n";
    for (int k = 0; k < 4000; ++k) csv += std::to_string(dist(rng)) + "\n";
    const std::string data = writeFile("lognormal.csv", csv);
    const ImcRun r = runImc({"fit", "lognormal", data, "--json"});
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& c = j["coefficients"];
    CHECK(j["model"] == "lognormal");
    CHECK_THAT(c["mu"].get<double>(), WithinAbs(-1.0, 0.03));
    CHECK_THAT(c["sigma"].get<double>(), WithinRel(0.5, 0.03));
    CHECK(j["spread"]["mu_ci"][0].get<double>() < c["mu"].get<double>());
    CHECK(j["spread"]["sigma_ci"][1].get<double>() > c["sigma"].get<double>());
    CHECK(j["quality"]["n"] == 4000);
    CHECK(j["quality"]["ks_p"].get<double>() > 0.001);

    const ImcRun g = runImc({"fit", "gaussian", data, "--json"});
    REQUIRE(g.exitCode == 0);
    const auto k = nlohmann::json::parse(g.out);
    for (const char* key : {"mean", "std"}) CHECK(k["coefficients"].contains(key));
    for (const char* key : {"mean_ci", "std_ci"}) CHECK(k["spread"].contains(key));
    CHECK(k["quality"]["n"] == 4000);
    // Lognormal samples are skewed: the Gaussian KS test must reject them.
    CHECK(k["quality"]["ks_p"].get<double>() < 1e-6);
}

TEST_CASE("imc fit errors name the file and the line and exit with 1", "[cli][fit]") {
    const std::string text = writeFile("text.csv", "1.0\n2.0\n3.0\n4.0\nabc\n");
    const ImcRun a = runImc({"fit", "lognormal", text});
    CHECK(a.exitCode == 1);
    CHECK_THAT(a.err, ContainsSubstring("imc: error:") && ContainsSubstring("text.csv:5:"));

    const std::string negative = writeFile("negative.csv", "x\n1.0\n2.0\n0\n");
    const ImcRun b = runImc({"fit", "lognormal", negative, "--json"});
    CHECK(b.exitCode == 1);
    CHECK_THAT(b.err, ContainsSubstring("negative.csv:4:") && ContainsSubstring("not positive"));

    const std::string nan = writeFile("nan.csv", "1.0\nnan\n");
    const ImcRun c = runImc({"fit", "gaussian", nan});
    CHECK(c.exitCode == 1);
    CHECK_THAT(c.err, ContainsSubstring("nan.csv:2:"));

    const ImcRun d = runImc({"fit", "retention", (scratchDir() / "absent.csv").string()});
    CHECK(d.exitCode == 1);
    CHECK_THAT(d.err, ContainsSubstring("absent.csv"));
}

TEST_CASE("imc fit retention converts a millisecond time column to seconds", "[cli][fit]") {
    std::string csv = "t_ms,V\n";
    for (int k = 0; k < 80; ++k) {
        const double t_ms = 20.0 * k / 79.0;
        csv += std::to_string(t_ms) + "," + std::to_string(0.1 + 0.8 * std::exp(-t_ms / 5.0)) + "\n";
    }
    const ImcRun r = runImc({"fit", "retention", writeFile("retention.csv", csv), "--json"});
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["model"] == "retention");
    CHECK_THAT(j["coefficients"]["tau_s"].get<double>(), WithinRel(5e-3, 1e-4));
    CHECK_THAT(j["coefficients"]["V_inf_V"].get<double>(), WithinAbs(0.1, 1e-4));
}

TEST_CASE("imc fit hardsigmoid recovers T_max in seconds from a nanosecond column", "[cli][fit]") {
    std::string csv = "x,T_ns\n";
    for (int k = 0; k <= 100; ++k) {
        const double x = -0.2 + 1.4 * k / 100.0;
        csv += std::to_string(x) + "," + std::to_string(std::clamp(15.0 / 0.8 * (x - 0.1), 0.0, 15.0)) + "\n";
    }
    const ImcRun r = runImc({"fit", "hardsigmoid", writeFile("hardsigmoid.csv", csv), "--json"});
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["model"] == "c2p-relu");
    CHECK_THAT(j["coefficients"]["T_max_s"].get<double>(), WithinRel(15e-9, 1e-4));
    CHECK_THAT(j["coefficients"]["offset_x"].get<double>(), WithinAbs(0.1, 1e-4));
    CHECK_THAT(j["coefficients"]["slope_s_per_x"].get<double>(), WithinRel(15e-9 / 0.8, 1e-4));
}
