#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// results.csv without the wall_s column (timings differ run to run; every number does not).
std::string dataColumns(const fs::path& csv) {
    std::ifstream in(csv);
    std::string line, out;
    while (std::getline(in, line)) {
        const auto last = line.rfind(',');                 // error
        const auto wall = line.rfind(',', last - 1);       // wall_s
        out += line.substr(0, wall) + line.substr(last) + "\n";
    }
    return out;
}

bool haveMpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("a sweep under mpirun -n 2 gives the single-process numbers bit for bit", "[mpi]") {
    if (!haveMpirun()) SKIP("Open MPI's mpirun is not installed");
    const fs::path tmp = fs::temp_directory_path() / ("imc-mpi-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    const std::vector<std::string> sweep = {"characterize", "crossbar-mc", "--size", "6", "--samples", "7", "--seed", "5",
                                            "--workers", "1", "--json"};
    auto single = sweep;
    single.insert(single.end(), {"--out", (tmp / "single").string()});
    const auto one = runImc(single);
    REQUIRE(one.exitCode == 0);

    // Open MPI refuses root without these flags; --oversubscribe allows more ranks than cores.
    std::vector<std::string> launch = {"mpirun", "--oversubscribe", "--allow-run-as-root", "-n", "2", IMC_EXE};
    launch.insert(launch.end(), sweep.begin(), sweep.end());
    launch.insert(launch.end(), {"--out", (tmp / "ranks2").string()});
    std::string cmd;
    for (const auto& a : launch) cmd += "'" + a + "' ";
    cmd += "> " + (tmp / "ranks2.json").string() + " 2>" + (tmp / "ranks2.err").string();
    REQUIRE(std::system(cmd.c_str()) == 0);

    CHECK(dataColumns(tmp / "single" / "results.csv") == dataColumns(tmp / "ranks2" / "results.csv"));
    const auto a = nlohmann::json::parse(one.out);
    std::ifstream in(tmp / "ranks2.json");
    std::stringstream text;
    text << in.rdbuf();
    // Only rank 0 prints: exactly one JSON object.
    const auto b = nlohmann::json::parse(text.str());
    CHECK(a["ir_drop_mean"] == b["ir_drop_mean"]);
    CHECK(a["ranks"] == 1);
    CHECK(b["ranks"] == 2);
    std::ifstream manifest(tmp / "ranks2" / "manifest.json");
    const auto m = nlohmann::json::parse(manifest);
    CHECK(m["complete"] == true);
    CHECK(m["ranks"] == 2);
    CHECK(m["samples"] == 7);
    fs::remove_all(tmp);
}
