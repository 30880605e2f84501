// The papers' numbers and the reports' thresholds come from models/paper-targets.json: every key
// a report reads is there with the value the papers state, and a broken file names file and key.
#include "datadir/datadir.hpp"
#include "workloads/paper_targets.hpp"
#include "../temp_dir.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>

using imc::workloads::PaperTargets;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("the shipped paper targets hold every number the reports read", "[workloads][targets]") {
    const PaperTargets t = PaperTargets::shipped();
    // The papers' own numbers (papers 000, 001, 003, 004 as cited in each section's source).
    CHECK(t.number("lsh-letters.paper.accuracy_one_round") == 0.72);
    CHECK(t.number("lsh-letters.paper.gain_two_rounds") == 0.12);
    CHECK(t.number("hyflexpim.paper.energy_gain_at_5pct_slc") == 1.24);
    CHECK(t.number("hyflexpim.paper.speedup_at_5pct_slc") == 1.86);
    CHECK(t.number("gaincell-lm.paper.fig4c_perplexity.nonlinear_no_adapt") == 1757);
    CHECK(t.number("gaincell-lm.paper.table1_wikitext2_perplexity.software") == 37.37);
    // The thresholds the reports call pass or fail.
    CHECK(t.number("lsh-lm.acceptance.max_attended_fraction") == 0.5);
    CHECK(t.number("lsh-lm.acceptance.max_excess_over_ideal") == 0.02);
    for (const char* key : {"slc_fraction", "all_mlc_min_excess", "gradient_max_excess", "gradient_max_excess_vs_random",
                            "energy_speedup_max_rel_diff"})
        CHECK(t.number(std::string("hyflexpim.acceptance.") + key) > 0);
    for (const char* section : {"gaincell-lm", "lsh-lm", "lsh-letters", "hyflexpim"}) CHECK(t.section(section).contains("source"));
}

TEST_CASE("a broken paper-targets file names the file and the key", "[workloads][targets]") {
    TempDir dir("targets");
    const auto write = [&](const std::string& text) {
        const auto p = dir.dir / "t.json";
        std::ofstream(p) << text;
        return p;
    };
    CHECK_THROWS_WITH(PaperTargets::load(write(R"({"format": "imc-fit", "version": 1})")), ContainsSubstring("t.json: key 'format'"));
    CHECK_THROWS_WITH(PaperTargets::load(write(R"({"format": "imc-paper-targets", "version": 2})")), ContainsSubstring("key 'version'"));
    const PaperTargets t = PaperTargets::load(write(R"({"format": "imc-paper-targets", "version": 1, "lsh-lm": {"acceptance": {"x": "a"}}})"));
    CHECK_THROWS_WITH(t.number("lsh-lm.acceptance.max_attended_fraction"), ContainsSubstring("t.json: key 'lsh-lm.acceptance.max_attended_fraction': missing"));
    CHECK_THROWS_WITH(t.number("lsh-lm.acceptance.x"), ContainsSubstring("must be a number"));
    CHECK_THROWS_WITH(t.section("hyflexpim"), ContainsSubstring("key 'hyflexpim'"));
    CHECK_THROWS_WITH(PaperTargets::load(dir.dir / "none.json"), ContainsSubstring("none.json"));
}
