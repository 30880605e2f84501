// The array and bench generators without a simulator (this executable keeps one in-process
// ngspice session for other tests and forks no worker pool; the SPICE checks of the same decks
// are in tests/characterize/test_gaincell.cpp): wire elements per array element, probes and
// readouts per bit line, timing, and the Pelgrom draws.
#include "circuits/gaincell_array.hpp"
#include "variability/variability.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <regex>

using namespace imc;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

int countLines(const std::string& deck, const std::string& pattern) {
    const std::regex re(pattern, std::regex::icase | std::regex::multiline);
    return int(std::distance(std::sregex_iterator(deck.begin(), deck.end(), re), std::sregex_iterator()));
}

circuits::GainCellArraySpec spec(int rows, int cols) {
    circuits::GainCellArraySpec a;
    a.rows = rows, a.cols = cols;
    a.stored_V.assign(std::size_t(rows), std::vector<double>(std::size_t(cols), 0.45));
    a.codes.assign(std::size_t(rows), 15);
    a.readoutParams = circuits::readoutForRows(rows, 150);
    return a;
}

}  // namespace

TEST_CASE("a full R x C array deck has a wire element per cell on every line", "[gaincell][array]") {
    const auto deck = netlist::writeDeck(circuits::gainCellArrayCircuit(circuits::builtinCell("gaincell"), spec(3, 5)));
    CHECK(countLines(deck, "^Xc\\d+_\\d+ ") == 15);              // cells
    CHECK(countLines(deck, "^Rw\\d+_\\d+ .* 2$") == 15);         // pwm word lines, 2 ohm per element
    CHECK(countLines(deck, "^Rwb\\d+_\\d+ .* 2$") == 15);        // pwmb word lines
    CHECK(countLines(deck, "^Rb\\d+_\\d+ .* 2$") == 15);         // bit lines
    CHECK(countLines(deck, "^C(w|wb|b)\\d+_\\d+ .* 8e-16$") == 45);  // 0.8 fF per element on each line
    CHECK(countLines(deck, "^Xdrv\\d+ .*pwmdrv") == 3);            // one PWM driver per row
    CHECK(countLines(deck, "^Vprobe\\d+ ") == 5);                  // one probe and readout per bit line
    CHECK(countLines(deck, "^Xro\\d+ .*c2p_relu") == 5);
    CHECK(countLines(deck, "^Vwe\\d+ ") == 5);                     // a write enable per column
}

TEST_CASE("a column deck holds one bit line with the lumped word-line resistance", "[gaincell][array]") {
    const auto deck = netlist::writeDeck(circuits::gainCellColumnCircuit(circuits::builtinCell("gaincell"), spec(4, 64), 9));
    CHECK(countLines(deck, "^Xc\\d+_9 ") == 4);
    CHECK(countLines(deck, "^Rw\\d+_9 wl\\d+ pwm\\d+_9 20$") == 4);  // (9 + 1) x 2 ohm
    CHECK(countLines(deck, "^Xro9 ") == 1);
    const auto t = circuits::arrayTiming(spec(4, 64), 1);
    CHECK_THAT(t.readEnd_s - t.readStart_s, WithinAbs(15e-9, 1e-15));
    CHECK_THAT(t.convEnd_s - t.convStart_s, WithinAbs(15e-9, 1e-15));
}

TEST_CASE("Pelgrom draws follow A_vt / sqrt(W L) and repeat for the same key", "[gaincell][variability]") {
    const auto cell = circuits::builtinCell("gaincell");
    const circuits::GainCellMismatch mm;
    std::vector<double> rn;
    for (std::uint64_t d = 0; d < 4000; ++d) rn.push_back(netlist::parseSI(circuits::drawGainCellMismatch(cell, mm, 7, 1, d).at("dvt_rn")));
    double m = 0, v = 0;
    for (double x : rn) m += x / double(rn.size());
    for (double x : rn) v += (x - m) * (x - m) / double(rn.size() - 1);
    const double sigma = variability::pelgromSigma(mm.A_vt_Vm, 64e-9, 180e-9);  // 11.2 mV
    CHECK_THAT(std::sqrt(v), WithinRel(sigma, 0.05));
    CHECK(std::abs(m) < 4 * sigma / std::sqrt(double(rn.size())));
    CHECK(circuits::drawGainCellMismatch(cell, mm, 7, 1, 3) == circuits::drawGainCellMismatch(cell, mm, 7, 1, 3));
    CHECK(circuits::drawGainCellMismatch(cell, mm, 7, 1, 3) != circuits::drawGainCellMismatch(cell, mm, 7, 2, 3));
}

TEST_CASE("readouts are sized for the bit-line length", "[gaincell][c2p]") {
    CHECK_THAT(circuits::readoutForRows(64, 150).Ssat_C, WithinRel(1.2e-12, 1e-12));
    CHECK_THAT(circuits::readoutForRows(64, 150).Cf_F, WithinRel(4e-12, 1e-12));
    CHECK_THAT(circuits::readoutForRows(1, 150).Cf_F, WithinRel(1e-12, 1e-12));  // never below 1 pF
    // The second array's readout: half the first's full scale (sparse phi on its word lines).
    CHECK_THAT(circuits::readoutForRows(64, 75).Ssat_C, WithinRel(600e-15, 1e-12));
    CHECK_THAT(circuits::readoutForRows(64, 75).Cf_F, WithinRel(2e-12, 1e-12));
    CHECK_THAT(circuits::readoutForFullScale(2.4e-12).Cf_F, WithinRel(8e-12, 1e-12));
}
