// A job's cell netlist is someone else's file: what would make ngspice run commands on this
// machine is refused, with the file and line, unless the job says "trust_netlist": true.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

struct CellDir {
    fs::path dir = fs::temp_directory_path() / ("imc-untrusted-" + std::to_string(::getpid()));
    fs::path marker = dir / "created-by-the-netlist";
    CellDir() {
        fs::remove_all(dir);
        fs::create_directories(dir / "models");
    }
    ~CellDir() { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) const { std::ofstream(dir / name) << text; }
    std::string job(bool trust, const std::string& includes = "") const {
        const std::string text = std::string(R"({"format": "imc-job", "version": 1, "name": "res",)") +
                                 (trust ? R"( "trust_netlist": true,)" : "") +
                                 R"( "cell": {"netlist": "res.lib", "subckt": "res", "ports": {"top": "a", "bottom": "b"})" +
                                 includes + R"(}, "testbench": {"kind": "resistive-cell", "read_V": 0.2}, "sweep": {"V": [0.1]}})";
        std::ofstream(dir / "job.json") << text;
        return (dir / "job.json").string();
    }
};

const char* kCell = "* a resistor\n.subckt res a b\nR1 a b 1k\n.ends res\n";

}  // namespace

TEST_CASE("a cell with a .control block that runs a shell command is refused with its file and line", "[cli][untrusted]") {
    CellDir d;
    d.write("res.lib", std::string(kCell) + ".control\nshell touch " + d.marker.string() + "\n.endc\n");
    const auto r = runImc({"characterize", d.job(false), "--out", (d.dir / "out").string()});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring((d.dir / "res.lib").string() + ":5: .control block"));
    CHECK_THAT(r.err, ContainsSubstring((d.dir / "res.lib").string() + ":6: shell command: shell touch"));
    CHECK_THAT(r.err, ContainsSubstring("\"trust_netlist\": true"));
    CHECK_FALSE(fs::exists(d.marker));
    CHECK_FALSE(fs::exists(d.dir / "out"));
}

TEST_CASE("control lines in an include of the cell, or of the cell's own includes, are refused", "[cli][untrusted]") {
    CellDir d;
    // The cell file includes a model file whose *# line would run a shell command.
    d.write("models/card.lib", "* model card\n*# shell touch " + d.marker.string() + "\n");
    d.write("res.lib", std::string(".include models/card.lib\n") + kCell);
    auto r = runImc({"characterize", d.job(false), "--out", (d.dir / "out").string()});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring((d.dir / "models" / "card.lib").string() + ":2: *# control line"));
    CHECK_FALSE(fs::exists(d.marker));
    // The same file named in the job's "includes".
    d.write("res.lib", kCell);
    r = runImc({"characterize", d.job(false, R"(, "includes": ["models/card.lib"])"), "--out", (d.dir / "out").string()});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("card.lib:2:"));
    CHECK_FALSE(fs::exists(d.marker));
}

TEST_CASE("a job with trust_netlist set runs the cell's commands", "[cli][untrusted]") {
    // The counterpart: the refusal above is what keeps the file from being created.
    CellDir d;
    d.write("res.lib", std::string(kCell) + ".control\nshell touch " + d.marker.string() + "\n.endc\n");
    const auto r = runImc({"characterize", d.job(true), "--out", (d.dir / "out").string(), "--workers", "1"});
    INFO(r.err);
    CHECK(r.exitCode == 0);
    CHECK(fs::exists(d.marker));
}

TEST_CASE("a job's parameter value cannot start a card of its own", "[cli][untrusted]") {
    CellDir d;
    d.write("res.lib", ".subckt res a b params: R=1k\nR1 a b {R}\n.ends res\n");
    std::ofstream(d.dir / "job.json") << R"({"format": "imc-job", "version": 1, "name": "res",
 "cell": {"netlist": "res.lib", "subckt": "res", "ports": {"top": "a", "bottom": "b"},
          "params": {"R": "1k\n.control\nshell touch )" + d.marker.string() + R"(\n.endc"}},
 "testbench": {"kind": "resistive-cell", "read_V": 0.2}, "sweep": {"V": [0.1]}})";
    const auto r = runImc({"characterize", (d.dir / "job.json").string(), "--out", (d.dir / "out").string()});
    CHECK(r.exitCode != 0);
    CHECK_THAT(r.err, ContainsSubstring("parameter R holds a line break"));
    CHECK_FALSE(fs::exists(d.marker));
}
