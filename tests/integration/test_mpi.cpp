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

// The ranks unwind every allocation fully under AddressSanitizer (a no-op otherwise), so the
// suppression of Open MPI's progress-thread allocation (tests/sanitize/lsan.supp) can match it.
const std::string kFullUnwind = "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0\" ";

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
    std::string cmd = kFullUnwind;
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

TEST_CASE("under mpirun -n 2 a stored sweep is reused and an interrupted one resumes", "[mpi]") {
    if (!haveMpirun()) SKIP("Open MPI's mpirun is not installed");
    const fs::path tmp = fs::temp_directory_path() / ("imc-mpi-resume-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const std::vector<std::string> sweep = {"characterize", "crossbar-mc", "--size", "5", "--samples", "6", "--seed", "9",
                                            "--workers", "1", "--json", "--out", (tmp / "run").string()};
    const auto one = runImc(sweep);
    REQUIRE(one.exitCode == 0);
    const std::string full = dataColumns(tmp / "run" / "results.csv");

    auto ranks2 = [&](const std::string& log) {
        std::string cmd = kFullUnwind + "mpirun --oversubscribe --allow-run-as-root -n 2 '" + std::string(IMC_EXE) + "'";
        for (const auto& a : sweep) cmd += " '" + a + "'";
        cmd += " > /dev/null 2> '" + (tmp / log).string() + "'";
        return std::system(cmd.c_str());
    };
    auto text = [](const fs::path& p) {
        std::ifstream in(p);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    };
    // The single-process folder is found by the ranks' key and reused as it is.
    REQUIRE(ranks2("reuse.err") == 0);
    CHECK(text(tmp / "reuse.err").find("reusing 6 stored results") != std::string::npos);

    // Cut the table after three rows and mark the run incomplete: the ranks run the rest only.
    {
        std::istringstream in(text(tmp / "run" / "results.csv"));
        std::string line, kept;
        for (int i = 0; i < 4 && std::getline(in, line); ++i) kept += line + "\n";
        std::ofstream(tmp / "run" / "results.csv") << kept;
        auto m = nlohmann::json::parse(text(tmp / "run" / "manifest.json"));
        m["complete"] = false;
        std::ofstream(tmp / "run" / "manifest.json") << m.dump(2);
    }
    REQUIRE(ranks2("resume.err") == 0);
    CHECK(text(tmp / "resume.err").find("resuming, 3 of 6 jobs already done") != std::string::npos);
    CHECK(dataColumns(tmp / "run" / "results.csv") == full);
    const auto m = nlohmann::json::parse(text(tmp / "run" / "manifest.json"));
    CHECK(m["complete"] == true);
    CHECK(m["resumed_from"] == 3);
    CHECK(m["ran"] == 3);
    fs::remove_all(tmp);
}
