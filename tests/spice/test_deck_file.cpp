// The pure parts of deck reading: the hazard scanner and the mapping of ngspice's output to a
// message that names the file and line.
#include "spice/deck_file.hpp"
#include "spice/session.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace imc::spice;

TEST_CASE("the scanner finds control blocks, *# lines and commands that run programs", "[deck][untrusted]") {
    const std::string text =
        "* title\n"
        ".include models/a.lib\n"
        "R1 a b 1k\n"
        "  .CONTROL\n"
        "run\n"
        "Shell rm -rf x\n"
        "pre_codemodel evil.cm\n"
        ".endc\n"
        "*# source other.sp\n"
        ".lib 'cards/b.lib' tt\n";
    const auto scan = scanDeckText(text, "/d/top.cir");
    REQUIRE(scan.hazards.size() == 5);
    CHECK(scan.hazards[0].line == 4);
    CHECK(scan.hazards[0].what == ".control block (ngspice runs its commands)");
    CHECK(scan.hazards[0].card == ".CONTROL");
    CHECK_FALSE(scan.hazards[0].runsProgram);
    CHECK((scan.hazards[1].line == 6 && scan.hazards[1].what == "shell command" && scan.hazards[1].runsProgram));
    CHECK((scan.hazards[2].line == 7 && scan.hazards[2].what == "codemodel command"));
    CHECK((scan.hazards[3].line == 9 && !scan.hazards[3].runsProgram));
    CHECK((scan.hazards[4].line == 9 && scan.hazards[4].what == "source command"));
    CHECK(describe(scan.hazards[1]) == "/d/top.cir:6: shell command: Shell rm -rf x");
    REQUIRE(scan.includes.size() == 2);
    CHECK(scan.includes[0] == "/d/models/a.lib");
    CHECK(scan.includes[1] == "/d/cards/b.lib");
    // "run" inside the block is an interpreter command, but not one that reaches the machine.
    CHECK(scanDeckText("t\nR1 a 0 1k\n.op\n", "x.cir").hazards.empty());
}

TEST_CASE("errorMessage keeps ngspice's whole message, from the first error on", "[deck][errors]") {
    const std::vector<std::string> out{"Note: No compatibility mode selected!", "Circuit: bad3", "Error on line 4 or its substitute:",
                                       "  r1 a 0                      inf   ", "", "  unknown parameter (inf) "};
    CHECK(errorMessage(out) == "Error on line 4 or its substitute: | r1 a 0 inf | unknown parameter (inf)");
    CHECK(errorMessage({"Circuit: fine"}).empty());
    const std::vector<std::string> deck{"bad3", "V1 a 0 1", ".param p=1", "R1 a 0 {1/0}", ".op", ".end"};
    CHECK(loadErrorMessage(deck, out, "bad3.cir") ==
          "bad3.cir:4: R1 a 0 {1/0}: ngspice: Error on line 4 or its substitute: | r1 a 0 inf | unknown parameter (inf)");
    // A line number that names another element is not trusted; nor one past the deck.
    const std::vector<std::string> other{"t", "V1 a 0 1", ".op", "C1 a 0 {1/0}"};
    CHECK(loadErrorMessage(other, out, "o.cir").rfind("o.cir: ngspice: Error on line 4", 0) == 0);
    CHECK(loadErrorMessage({"t"}, {"Error on line 99999999999999 or its substitute:", "x"}, "s.cir") ==
          "s.cir: ngspice: Error on line 99999999999999 or its substitute: | x");
}
