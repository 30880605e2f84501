#include "characterize/job.hpp"
#include "circuits/gaincell_array.hpp"
#include "netlist/netlist.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <unistd.h>

using namespace imc;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinRel;
namespace fs = std::filesystem;

namespace {

struct JobDir {
    fs::path dir = fs::temp_directory_path() / ("imc-job-" + std::to_string(::getpid()));
    JobDir() {
        fs::remove_all(dir);
        fs::create_directories(dir);
        std::ofstream(dir / "res.lib") << "* a plain resistor as a two-terminal cell\n"
                                          ".subckt myres a b params: R=1k\nR1 a b {R}\n.ends myres\n";
    }
    ~JobDir() { fs::remove_all(dir); }
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name) << text;
        return dir / name;
    }
};

const char* kResistorJob = R"({"format": "imc-job", "version": 1, "name": "myres",
 "cell": {"netlist": "res.lib", "subckt": "myres", "ports": {"top": "a", "bottom": "b"}, "params": {"R": "4.7k"}},
 "testbench": {"kind": "resistive-cell", "read_V": 0.2},
 "sweep": {"V": {"start": -0.4, "stop": 0.4, "points": 4}}})";

}  // namespace

TEST_CASE("a resistor as a resistive cell gives its exact conductance", "[job]") {
    JobDir d;
    const auto job = characterize::loadJob(d.write("job.json", kResistorJob));
    CHECK(job.cell.params.at("R") == "4.7k");
    const auto out = characterize::runJob(job, {d.dir / "out", 2, false, false});
    REQUIRE(out.run.failed == 0);
    REQUIRE(out.run.rows.size() == 5);  // four sweep points and the read voltage
    for (const auto& row : out.run.rows) {
        CHECK_THAT(row.values.at("G_S"), WithinRel(1 / 4.7e3, 1e-9));
        CHECK_THAT(row.values.at("I_A"), WithinRel(row.values.at("V") / 4.7e3, 1e-9));
    }
}

TEST_CASE("a lognormal Monte-Carlo resistor is fitted back to the job's parameters", "[job]") {
    JobDir d;
    const auto job = characterize::loadJob(d.write("job.json", R"({"format": "imc-job", "version": 1, "name": "mcres",
 "cell": {"netlist": "res.lib", "subckt": "myres", "ports": {"top": "a", "bottom": "b"}},
 "testbench": {"kind": "resistive-cell", "read_V": 0.1},
 "montecarlo": {"samples": 3000, "seed": 7, "vary": [{"param": "R", "distribution": "lognormal", "median": "10k", "sigma": 0.25}]},
 "fits": ["lognormal"]})"));
    const auto out = characterize::runJob(job, {d.dir / "out", 2, false, false});
    REQUIRE(out.run.failed == 0);
    // G = 1/R: ln G ~ N(-ln 10k, 0.25).
    const double mu = out.report["lognormal"]["mu"], sigma = out.report["lognormal"]["sigma"];
    CHECK_THAT(mu, WithinRel(-std::log(1e4), 0.02));
    CHECK_THAT(sigma, WithinRel(0.25, 0.02));
    REQUIRE(out.fitFiles.size() == 1);
    CHECK(fs::exists(out.fitFiles[0]));
}

TEST_CASE("a malformed job file names the key", "[job]") {
    JobDir d;
    auto bad = [&](const std::string& text) {
        try {
            characterize::loadJob(d.write("bad.json", text));
        } catch (const characterize::JobError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string cell = R"("cell": {"netlist": "res.lib", "subckt": "myres", "ports": {"top": "a", "bottom": "b"}})";
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", )" + cell + R"(, "testbench": {"kind": "resistive-cell"},
        "montecarlo": {"samples": 10, "vary": [{"param": "R", "distribution": "lognormal", "median": 1000, "sigma": -1}]}})"),
               ContainsSubstring("bad.json: key 'montecarlo.vary[0].sigma': must be >= 0"));
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", )" + cell + R"(, "testbench": {"kind": "resistive-cell"},
        "montecarlo": {"sampels": 10}})"),
               ContainsSubstring("key 'montecarlo.sampels': unknown key"));
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", "cell": {"netlist": "res.lib", "subckt": "myres",
        "ports": {"top": "a"}}, "testbench": {"kind": "resistive-cell"}})"),
               ContainsSubstring("role 'bottom' is not bound"));
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", "cell": {"netlist": "res.lib", "subckt": "nosuch",
        "ports": {"top": "a", "bottom": "b"}}, "testbench": {"kind": "resistive-cell"}})"),
               ContainsSubstring("no .subckt nosuch"));
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", )" + cell + R"(, "testbench": {"kind": "warp-drive"}})"),
               ContainsSubstring("key 'testbench.kind': unknown testbench"));
    CHECK_THAT(bad(R"({"format": "imc-job", "version": 1, "name": "x", )" + cell + R"(, "testbench": {"kind": "resistive-cell"},
        "montecarlo": {"vary": [{"param": "Q", "distribution": "normal", "mean": 1, "sigma": 0.1}]}})"),
               ContainsSubstring("has no parameter 'Q'"));
    CHECK_THAT(bad("{not json"), ContainsSubstring("not valid JSON"));
}

TEST_CASE("the self-selective cell's job file reproduces the shipped memristor fit", "[job]") {
    // netlists/selfsel-hrs.job.json goes through the same path as a user's cell; its lognormal
    // fit of the HRS conductance must agree with fits/memristor-hrs-lognormal.json (made by
    // imc characterize memristor-fits from 16,384 devices) within the job's confidence intervals.
    const fs::path out = fs::temp_directory_path() / ("imc-job-selfsel-" + std::to_string(::getpid()));
    const auto job = characterize::loadJob(fs::path(IMC_SOURCE_DIR) / "netlists" / "selfsel-hrs.job.json");
    const auto r = characterize::runJob(job, {out, 2, true, false});
    REQUIRE(r.run.failed == 0);
    std::ifstream in(fs::path(IMC_SOURCE_DIR) / "fits" / "memristor-hrs-lognormal.json");
    const auto shipped = nlohmann::json::parse(in)["coefficients"];
    const auto& l = r.report["lognormal"];
    CHECK(shipped["mu"].get<double>() >= l["mu_ci"][0].get<double>());
    CHECK(shipped["mu"].get<double>() <= l["mu_ci"][1].get<double>());
    CHECK(shipped["sigma"].get<double>() >= l["sigma_ci"][0].get<double>());
    CHECK(shipped["sigma"].get<double>() <= l["sigma_ci"][1].get<double>());
    fs::remove_all(out);
}

TEST_CASE("the gain cell's job draws Pelgrom mismatch as the circuit library does, sample 0 nominal", "[job][gaincell]") {
    const auto job = characterize::loadBuiltinJob("gaincell");
    REQUIRE(job.nominalSample0);
    CHECK(characterize::drawInstanceParams(job, 0, 0).empty());
    // The same streams as circuits::drawGainCellMismatch (A_vt 1.2 mV um, Cs 1 %), an independent
    // implementation of the draw: bit-identical literals for every device of a sample.
    const circuits::CellSpec cell = circuits::builtinCell("gaincell");
    for (std::uint64_t d = 0; d < 50; ++d) {
        const auto fromJob = characterize::drawInstanceParams(job, 3, d);
        const auto fromCircuits = circuits::drawGainCellMismatch(cell, circuits::GainCellMismatch{}, job.seed, 3, d);
        CHECK(fromJob == fromCircuits);
    }
    // The spread itself: sigma = A_vt / sqrt(W L) of the write nMOS (64 nm x 32 nm), Cs 1 % of 200 fF.
    std::vector<double> dvt, cs;
    for (std::uint64_t d = 0; d < 4000; ++d) {
        const auto p = characterize::drawInstanceParams(job, 1, d);
        dvt.push_back(netlist::parseSI(p.at("dvt_wn")));
        cs.push_back(netlist::parseSI(p.at("Cs")));
    }
    auto stdOf = [](const std::vector<double>& v) {
        double m = 0, s = 0;
        for (double x : v) m += x;
        m /= double(v.size());
        for (double x : v) s += (x - m) * (x - m);
        return std::sqrt(s / double(v.size() - 1));
    };
    // 4,000 draws: the sample std is within 5 % (4.5 standard errors) of sigma.
    CHECK_THAT(stdOf(dvt), WithinRel(1.2e-9 / std::sqrt(64e-9 * 32e-9), 0.05));
    CHECK_THAT(stdOf(cs), WithinRel(2e-15, 0.05));
}

TEST_CASE("job Monte-Carlo options: sigma_rel around the cell's value, explicit streams, errors by key", "[job]") {
    const fs::path dir = fs::temp_directory_path() / ("imc-job-mc-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "r.lib") << ".subckt myres a b R=1k\nR1 a b {R}\n.ends\n";
    auto jobWith = [&](const std::string& vary) {
        const auto doc = nlohmann::json::parse(R"({"format": "imc-job", "version": 1, "name": "r",
            "cell": {"netlist": "r.lib", "subckt": "myres", "ports": {"top": "a", "bottom": "b"}},
            "testbench": {"kind": "resistive-cell"}, "montecarlo": {"samples": 2, "seed": 4, "vary": )" + vary + "}}");
        return characterize::parseJob(doc, dir / "job.json");
    };
    // The mean defaults to the cell's R = 1k; sigma 2 % of it.
    const auto job = jobWith(R"([{"param": "R", "distribution": "normal", "sigma_rel": 0.02, "stream": 7}])");
    REQUIRE(job.vary.size() == 1);
    CHECK(job.vary[0].stream == 7);
    CHECK(job.vary[0].distribution.a == 1000.0);
    CHECK_THAT(job.vary[0].distribution.b, WithinRel(20.0, 1e-12));
    // A stream number decides the draws, not the place in the list.
    const auto moved = jobWith(R"([{"param": "R", "distribution": "uniform", "low": 0, "high": 1, "stream": 3},
                                   {"param": "R", "distribution": "normal", "sigma_rel": 0.02, "stream": 7}])");
    CHECK(characterize::drawInstanceParams(moved, 1, 5).at("R") == characterize::drawInstanceParams(job, 1, 5).at("R"));
    CHECK_THROWS_WITH(jobWith(R"([{"param": "R", "distribution": "normal", "sigma": 1, "stream": 2},
                                   {"param": "R", "distribution": "normal", "sigma": 1, "stream": 2}])"),
                      ContainsSubstring("key 'montecarlo.vary[1].stream': stream 2 is used twice"));
    CHECK_THROWS_WITH(jobWith(R"([{"param": "R", "distribution": "normal", "sigma": 1, "sigma_rel": 0.1}])"),
                      ContainsSubstring("exactly one of 'sigma' or 'sigma_rel'"));
    CHECK_THROWS_WITH(jobWith(R"([{"param": "R", "distribution": "pelgrom", "A_vt_Vm": 1e-9, "W": "R", "L": "nosuch"}])"),
                      ContainsSubstring("key 'montecarlo.vary[0].L': subcircuit myres has no numeric value of 'nosuch'"));
    fs::remove_all(dir);
}
