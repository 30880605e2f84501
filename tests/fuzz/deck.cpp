// Deck reading for imc spice (lib/spice/deck_file.cpp, the error mapping of session.cpp): a deck
// file (up to a NUL byte) and what ngspice printed (after it, one line each) go through include
// resolution, the hazard scanner and the error messages; ngspice itself is not run.
#include "fuzz.hpp"
#include "spice/deck_file.hpp"
#include "spice/session.hpp"

#include <sstream>
#include <vector>

namespace {
std::vector<std::string> lines(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto [deck, output] = imc::fuzz::splitAtNul(data, size);
    const auto path = imc::fuzz::writeScratch("fuzz-deck.cir", deck);
    std::string text;
    try {
        text = imc::spice::readDeckFile(path);
    } catch (const imc::spice::DeckError& e) {
        imc::fuzz::requireNamed(e.what(), "fuzz-deck.cir");
        return 0;
    }
    // Includes are not followed here (they would read whatever files the input names).
    const auto scan = imc::spice::scanDeckText(text, path);
    for (const auto& h : scan.hazards) {
        if (h.line < 1) std::abort();
        imc::fuzz::requireNamed(imc::spice::describe(h), "fuzz-deck.cir");
    }
    const auto said = lines(output);
    const std::string message = imc::spice::loadErrorMessage(lines(text), said, "fuzz-deck.cir");
    imc::fuzz::requireNamed(message, "fuzz-deck.cir");
    (void)imc::spice::errorMessage(said);
    return 0;
}
