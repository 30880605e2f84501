#include "sweep/sweep.hpp"
#include "netlist/netlist.hpp"
#include "sweep/sha256.hpp"
#include "variability/variability.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace imc;
namespace fs = std::filesystem;

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[sweep]") {
    CHECK(sweep::sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sweep::sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sweep::sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sweep::sha256Hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 fed in pieces equals the hash of the whole", "[sweep]") {
    // Lengths around the 64-byte block and the 55/56-byte padding edge, cut at every offset kind.
    std::string text;
    for (int i = 0; i < 1000; ++i) text += char('a' + (i * 7 + i / 13) % 26);
    for (std::size_t len : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200, 1000})
        for (std::size_t piece : {1, 3, 63, 64, 65, 500}) {
            const std::string_view whole(text.data(), len);
            sweep::Sha256 h;
            for (std::size_t at = 0; at < len; at += piece) h.update(whole.substr(at, piece));
            INFO("length " << len << ", pieces of " << piece);
            CHECK(h.hex() == sweep::sha256Hex(whole));
        }
    CHECK(sweep::Sha256().update("ab").update("").update("c").hex() == sweep::sha256Hex("abc"));
}

namespace {

// Monte-Carlo of a divider: R2 drawn lognormal per sample; V(out) = V R2 / (R1 + R2).
std::vector<sweep::PlannedJob> dividerSweep(std::uint64_t seed, int samples) {
    std::vector<sweep::PlannedJob> jobs;
    const auto dist = variability::Distribution::lognormal(std::log(1e3), 0.2);
    for (int s = 0; s < samples; ++s) {
        const double r2 = variability::drawDeviceToDevice(dist, seed, std::uint64_t(s), 0);
        netlist::Circuit c("divider sample " + std::to_string(s));
        c.add(netlist::VoltageSource{"1", "a", "0", netlist::Dc{1.0}});
        c.add(netlist::Resistor{"1", "a", "out", netlist::Resistance(1e3)});
        c.add(netlist::Resistor{"2", "out", "0", netlist::Resistance(r2)});
        c.analysis(netlist::OpAnalysis{});
        sweep::PlannedJob j;
        j.sim.id = "divider_s" + std::to_string(s);
        j.sim.deck = netlist::writeDeck(c);
        j.sim.vectors = {"v(out)"};
        j.point = {{"sample", s}, {"r2_Ohm", r2}};
        jobs.push_back(j);
    }
    return jobs;
}

const sweep::Measure measureOut = [](const sweep::PlannedJob&, const spice::SimResult& r) {
    return std::vector<std::pair<std::string, double>>{{"vout_V", r.vec("v(out)")[0]}};
};

fs::path freshDir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / ("imc-test-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    return d;
}

}  // namespace

TEST_CASE("the sweep hash is the SHA-256 of the sweep's text, as results folders are keyed", "[sweep]") {
    // Stored folders are found and checked by this key: its text must not change.
    auto jobs = dividerSweep(3, 3);
    jobs[1].sim.preCommands = {"setseed 7"};
    std::string text = "seed=3\n";
    for (const auto& j : jobs) {
        text += "job " + j.sim.id + "\n" + j.sim.deck + "\n";
        for (const auto& c : j.sim.preCommands) text += "cmd " + c + "\n";
        for (const auto& v : j.sim.vectors) text += "vec " + v + "\n";
        for (const auto& [k, v] : j.point) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            text += "pt " + k + "=" + buf + "\n";
        }
    }
    CHECK(sweep::sweepHash(jobs, 3) == sweep::sha256Hex(text));
    CHECK(sweep::sweepHash(jobs, 4) != sweep::sweepHash(jobs, 3));
}

TEST_CASE("decks built on demand key, save and run as decks given", "[sweep]") {
    const auto given = dividerSweep(6, 4);
    auto onDemand = given;
    for (auto& j : onDemand) j.makeDeck = [deck = j.sim.deck] { return deck; }, j.sim.deck.clear();
    CHECK(sweep::sweepHash(onDemand, 6) == sweep::sweepHash(given, 6));
    sweep::RunSpec spec;
    spec.name = "divider";
    spec.seed = 6;
    spec.workers = 2;
    spec.progress = false;
    spec.outDir = freshDir("given");
    const auto a = sweep::runSweep(given, {"vout_V"}, measureOut, spec);
    spec.outDir = freshDir("on-demand");
    const auto b = sweep::runSweep(onDemand, {"vout_V"}, measureOut, spec);
    CHECK(b.failed == 0);
    CHECK(a.netlistHash == b.netlistHash);
    CHECK(a.column("vout_V") == b.column("vout_V"));
    for (const auto& j : given) {
        std::ifstream in(b.dir / "decks" / (j.sim.id + ".cir"));
        std::stringstream text;
        text << in.rdbuf();
        CHECK(text.str() == j.sim.deck);
    }
    fs::remove_all(a.dir);
    fs::remove_all(b.dir);
}

TEST_CASE("a sweep writes a self-describing results folder", "[sweep]") {
    auto jobs = dividerSweep(4, 6);
    jobs[3].sim.deck = "broken\nR1 a\n.op\n.end\n";  // a failing sample does not stop the run
    sweep::RunSpec spec;
    spec.name = "divider";
    spec.outDir = freshDir("results");
    spec.seed = 4;
    spec.workers = 2;
    spec.progress = false;
    auto run = sweep::runSweep(jobs, {"vout_V"}, measureOut, spec);
    REQUIRE(run.rows.size() == 6);
    CHECK(run.failed == 1);
    CHECK_FALSE(run.rows[3].ok);
    CHECK_THAT(run.rows[3].error, Catch::Matchers::ContainsSubstring("parse"));
    for (int s : {0, 1, 2, 4, 5}) {
        const auto& row = run.rows[std::size_t(s)];
        REQUIRE(row.ok);
        const double r2 = row.values.at("r2_Ohm");
        CHECK_THAT(row.values.at("vout_V"), Catch::Matchers::WithinRel(r2 / (1e3 + r2), 1e-9));
    }
    // The manifest records what is needed to reproduce the run.
    std::ifstream in(spec.outDir / "manifest.json");
    const auto m = nlohmann::json::parse(in);
    CHECK(m["seed"] == 4);
    CHECK(m["samples"] == 6);
    CHECK(m["failures"] == 1);
    CHECK(m["complete"] == true);
    CHECK(m["netlist_sha256"].get<std::string>().size() == 64);
    CHECK(std::stoi(m["ngspice_version"].get<std::string>()) >= 44);
    CHECK(fs::exists(spec.outDir / "decks" / "divider_s2.cir"));
    // Reading the folder back gives the same numbers.
    auto back = sweep::readResults(spec.outDir);
    CHECK(back.column("vout_V") == run.column("vout_V"));
    fs::remove_all(spec.outDir);
}

TEST_CASE("stored results are reused and an interrupted run resumes", "[sweep]") {
    auto jobs = dividerSweep(9, 8);
    sweep::RunSpec spec;
    spec.name = "divider";
    spec.outDir = freshDir("resume");
    spec.seed = 9;
    spec.workers = 2;
    spec.progress = false;
    const auto first = sweep::runSweep(jobs, {"vout_V"}, measureOut, spec);
    CHECK(first.ran == 8);
    const auto again = sweep::runSweep(jobs, {"vout_V"}, measureOut, spec);
    CHECK(again.ran == 0);
    CHECK(again.reused == 8);
    CHECK(again.column("vout_V") == first.column("vout_V"));

    // Interrupt: keep the header and three rows (the last one torn), mark the manifest incomplete.
    {
        std::ifstream in(spec.outDir / "results.csv");
        std::string header, l1, l2, l3;
        std::getline(in, header), std::getline(in, l1), std::getline(in, l2), std::getline(in, l3);
        in.close();
        std::ofstream out(spec.outDir / "results.csv");
        out << header << "\n" << l1 << "\n" << l2 << "\n" << l3.substr(0, l3.size() / 2);
        std::ifstream min(spec.outDir / "manifest.json");
        auto m = nlohmann::json::parse(min);
        m["complete"] = false;
        std::ofstream(spec.outDir / "manifest.json") << m.dump();
    }
    const auto resumed = sweep::runSweep(jobs, {"vout_V"}, measureOut, spec);
    CHECK(resumed.reused == 2);
    CHECK(resumed.ran == 6);
    CHECK(resumed.column("vout_V") == first.column("vout_V"));

    // Another sweep in the same folder is refused; --force runs again.
    auto other = dividerSweep(10, 8);
    CHECK_THROWS_WITH(sweep::runSweep(other, {"vout_V"}, measureOut, spec),
                      Catch::Matchers::ContainsSubstring("holds another sweep"));
    spec.force = true;
    const auto forced = sweep::runSweep(jobs, {"vout_V"}, measureOut, spec);
    CHECK(forced.ran == 8);
    fs::remove_all(spec.outDir);
}
