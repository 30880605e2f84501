// Degenerate samples get a message naming the job, never a fit: no spread, no successful sample.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {
struct JobDir {
    fs::path dir = fs::temp_directory_path() / ("imc-degenerate-" + std::to_string(::getpid()));
    JobDir() {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~JobDir() { fs::remove_all(dir); }
    std::string job(const std::string& cell, const std::string& vary) const {
        std::ofstream(dir / "cell.lib") << cell;
        std::ofstream(dir / "job.json") << R"({"format": "imc-job", "version": 1, "name": "deg",
 "cell": {"netlist": "cell.lib", "subckt": "c", "ports": {"top": "a", "bottom": "b"}},
 "testbench": {"kind": "resistive-cell", "read_V": 0.2}, "sweep": {"V": [0.2]},
 "montecarlo": {"samples": 5, "seed": 1)" << vary << R"(}, "fits": ["lognormal"]})";
        return (dir / "job.json").string();
    }
};
}  // namespace

TEST_CASE("five identical devices have no spread to fit", "[cli][numerics]") {
    JobDir d;
    const auto job = d.job(".subckt c a b\nR1 a b 1k\n.ends c\n", "");
    const auto r = runImc({"characterize", job, "--out", (d.dir / "out").string(), "--workers", "1"});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring(job + ": key 'fits': lognormal of the conductance at 200m V: fitLognormal: all 5 samples are equal"));
    CHECK_FALSE(fs::exists(d.dir / "out" / "fits" / "deg-lognormal.json"));
}

TEST_CASE("a sweep whose every sample failed says so, not a fit", "[cli][numerics]") {
    JobDir d;
    // An unknown model: every deck fails to load.
    const auto job = d.job(".subckt c a b params: x=1\nD1 a b nosuchmodel\n.ends c\n",
                           R"(, "vary": [{"param": "x", "distribution": "normal", "mean": 1, "sigma": 0.1}])");
    const auto r = runImc({"characterize", job, "--out", (d.dir / "out").string(), "--workers", "1"});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("lognormal needs at least 2 successful samples, 0 succeeded"));
}
