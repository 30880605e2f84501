#include "nn/bpe_tokenizer.hpp"

#include <nlohmann/json.hpp>
#include <unicode/uchar.h>

#include <array>
#include <climits>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace imc::nn {
namespace {

// ---------------------------------------------------------------- pre-tokenization

enum class CharClass { Letter, Number, Space, Other };

struct CodePoint {
    std::size_t begin = 0, length = 0;  // bytes in the text
    char32_t value = 0;
    CharClass cls = CharClass::Other;
};

CharClass classify(char32_t c) {
    const auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
    if (mask & U_GC_L_MASK) return CharClass::Letter;
    if (mask & U_GC_N_MASK) return CharClass::Number;
    if (u_isUWhiteSpace(static_cast<UChar32>(c))) return CharClass::Space;
    return CharClass::Other;
}

// Decodes UTF-8; a byte that does not start a valid sequence is one code point of class Other.
std::vector<CodePoint> decodeUtf8(std::string_view text) {
    std::vector<CodePoint> out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto b0 = static_cast<unsigned char>(text[i]);
        const std::size_t length = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
        char32_t value = length == 1 ? b0 : length == 2 ? (b0 & 0x1F) : length == 3 ? (b0 & 0x0F) : (b0 & 0x07);
        bool valid = length > 0 && i + length <= text.size();
        for (std::size_t k = 1; valid && k < length; ++k) {
            const auto b = static_cast<unsigned char>(text[i + k]);
            valid = (b & 0xC0) == 0x80;
            value = (value << 6) | (b & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8 either.
        static constexpr std::array<char32_t, 5> kMinimum{0, 0, 0x80, 0x800, 0x10000};
        if (valid && (value < kMinimum[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))) valid = false;
        if (!valid) {
            out.push_back({i, 1, 0xFFFD, CharClass::Other});
            ++i;
            continue;
        }
        out.push_back({i, length, value, classify(value)});
        i += length;
    }
    return out;
}

// Length in code points of a contraction ('s 't 're 've 'm 'll 'd) starting at `i`, or 0.
std::size_t contractionAt(const std::vector<CodePoint>& cps, std::size_t i) {
    if (cps[i].value != U'\'' || i + 1 >= cps.size()) return 0;
    const char32_t a = cps[i + 1].value;
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
    if (i + 2 < cps.size()) {
        const char32_t b = cps[i + 2].value;
        if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return 3;
    }
    return 0;
}

// Length in code points of the piece starting at `i`: the first alternative of the pattern that matches.
std::size_t pieceAt(const std::vector<CodePoint>& cps, std::size_t i) {
    const std::size_t n = cps.size();
    if (std::size_t c = contractionAt(cps, i)) return c;
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
    const std::size_t start = cps[i].value == U' ' && i + 1 < n && cps[i + 1].cls != CharClass::Space ? i + 1 : i;
    if (cps[start].cls != CharClass::Space) {
        const CharClass cls = cps[start].cls;
        std::size_t j = start + 1;
        while (j < n && cps[j].cls == cls) ++j;
        return j - i;
    }
    // '\s+(?!\S)': a whitespace run, less its last character when a non-space follows; else '\s+'.
    std::size_t j = i;
    while (j < n && cps[j].cls == CharClass::Space) ++j;
    if (j == n) return j - i;
    return j - i >= 2 ? j - i - 1 : 1;
}

// GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the others are
// shifted to U+0100 and up, in byte order.
std::array<char32_t, 256> byteCharacters() {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return map;
}

// A token string as spelled in encoder.json / vocab.bpe -> its raw bytes.
std::string toBytes(std::string_view spelled, const std::unordered_map<char32_t, unsigned char>& characterByte,
                    const std::string& where) {
    std::string bytes;
    for (const auto& cp : decodeUtf8(spelled)) {
        auto it = characterByte.find(cp.value);
        if (cp.value == 0xFFFD || it == characterByte.end())
            throw std::runtime_error(where + ": '" + std::string(spelled) + "' uses a character outside GPT-2's byte map");
        bytes.push_back(static_cast<char>(it->second));
    }
    return bytes;
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("tokenizer file " + path.string() + ": cannot open (need encoder.json and vocab.bpe)");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::uint64_t pairKey(int left, int right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

}  // namespace

std::vector<std::string_view> gpt2Pretokenize(std::string_view text) {
    const auto cps = decodeUtf8(text);
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < cps.size();) {
        const std::size_t count = pieceAt(cps, i);
        const std::size_t begin = cps[i].begin, end = cps[i + count - 1].begin + cps[i + count - 1].length;
        pieces.push_back(text.substr(begin, end - begin));
        i += count;
    }
    return pieces;
}

BpeTokenizer BpeTokenizer::load(const std::filesystem::path& directory) {
    const auto encoder = directory / "encoder.json", vocab = directory / "vocab.bpe";
    return fromText(readFile(encoder), readFile(vocab), directory.string());
}

BpeTokenizer BpeTokenizer::fromText(std::string_view encoderJson, std::string_view vocabBpe, const std::string& source) {
    std::unordered_map<char32_t, unsigned char> characterByte;
    const auto characters = byteCharacters();
    for (int b = 0; b < 256; ++b) characterByte[characters[b]] = static_cast<unsigned char>(b);

    BpeTokenizer t;
    const std::string encoderName = source + "/encoder.json", vocabName = source + "/vocab.bpe";
    nlohmann::json encoder;
    try {
        encoder = nlohmann::json::parse(encoderJson);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("tokenizer file " + encoderName + ": bad JSON: " + e.what());
    }
    if (!encoder.is_object() || encoder.empty())
        throw std::runtime_error("tokenizer file " + encoderName + ": expected an object of token -> id");
    std::unordered_map<std::string, int> ids;
    t.tokens_.assign(encoder.size(), std::string{});
    std::vector<bool> seen(encoder.size(), false);
    for (const auto& [spelled, id] : encoder.items()) {
        if (!id.is_number_integer() || id.get<long long>() < 0 || id.get<long long>() >= static_cast<long long>(encoder.size()))
            throw std::runtime_error("tokenizer file " + encoderName + ": token '" + spelled + "' has id " + id.dump() +
                                     " (ids must be 0.." + std::to_string(encoder.size() - 1) + ")");
        const int i = id.get<int>();
        if (seen[i]) throw std::runtime_error("tokenizer file " + encoderName + ": id " + std::to_string(i) + " appears twice");
        seen[i] = true;
        if (spelled == "<|endoftext|>") {
            t.endOfText_ = i;
            t.tokens_[i] = spelled;  // decodes to the marker itself
            continue;
        }
        t.tokens_[i] = toBytes(spelled, characterByte, "tokenizer file " + encoderName);
        ids.emplace(t.tokens_[i], i);
    }
    t.byteToken_.resize(256);
    for (int b = 0; b < 256; ++b) {
        auto it = ids.find(std::string(1, static_cast<char>(b)));
        if (it == ids.end())
            throw std::runtime_error("tokenizer file " + encoderName + ": byte " + std::to_string(b) + " has no token");
        t.byteToken_[b] = it->second;
    }

    std::istringstream lines{std::string(vocabBpe)};
    std::string line;
    int lineNumber = 0, rank = 0;
    while (std::getline(lines, line)) {
        ++lineNumber;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.rfind("#version", 0) == 0) continue;
        const auto where = "tokenizer file " + vocabName + " line " + std::to_string(lineNumber);
        const auto space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
            throw std::runtime_error(where + ": expected two tokens separated by one space");
        const std::string left = toBytes(line.substr(0, space), characterByte, where);
        const std::string right = toBytes(line.substr(space + 1), characterByte, where);
        auto l = ids.find(left), r = ids.find(right), m = ids.find(left + right);
        if (l == ids.end() || r == ids.end() || m == ids.end())
            throw std::runtime_error(where + ": merge '" + line + "' uses or makes a token missing from encoder.json");
        t.merges_.emplace(pairKey(l->second, r->second), std::pair{rank++, m->second});
    }
    if (rank == 0) throw std::runtime_error("tokenizer file " + vocabName + ": no merges");
    return t;
}

// Byte-pair merging of one piece: repeatedly merge every occurrence of the best-ranked adjacent pair.
void BpeTokenizer::encodePiece(std::string_view piece, std::vector<int>& out) const {
    std::vector<int> symbols;
    symbols.reserve(piece.size());
    for (char c : piece) symbols.push_back(byteToken_[static_cast<unsigned char>(c)]);
    while (symbols.size() > 1) {
        int bestRank = INT_MAX, merged = -1, left = -1, right = -1;
        for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
            auto it = merges_.find(pairKey(symbols[i], symbols[i + 1]));
            if (it != merges_.end() && it->second.first < bestRank) {
                bestRank = it->second.first;
                merged = it->second.second;
                left = symbols[i];
                right = symbols[i + 1];
            }
        }
        if (merged < 0) break;
        std::size_t w = 0;
        for (std::size_t i = 0; i < symbols.size(); ++i) {
            if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
                symbols[w++] = merged;
                ++i;
            } else {
                symbols[w++] = symbols[i];
            }
        }
        symbols.resize(w);
    }
    out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<int> BpeTokenizer::encode(std::string_view text) const {
    std::vector<int> out;
    std::unordered_map<std::string_view, std::vector<int>> cache;  // pieces repeat in any real text
    for (const auto piece : gpt2Pretokenize(text)) {
        auto [it, fresh] = cache.try_emplace(piece);
        if (fresh) encodePiece(piece, it->second);
        out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
}

std::string BpeTokenizer::decode(std::span<const int> tokens) const {
    std::string text;
    for (int id : tokens) {
        if (id < 0 || id >= vocabSize())
            throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                        std::to_string(vocabSize()));
        text += tokens_[id];
    }
    return text;
}

}  // namespace imc::nn
