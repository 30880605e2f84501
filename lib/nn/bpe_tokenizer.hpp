#pragma once
// GPT-2's byte-level BPE tokenizer, from the two files OpenAI published with the model:
// encoder.json (token string -> id, the strings spelled in GPT-2's byte-to-character map) and
// vocab.bpe (the merges, best first). Text is split by GPT-2's pre-tokenization pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (evaluated by hand over UTF-8 code points with ICU's Unicode categories), then each piece's
// bytes are merged pair by pair in rank order. Every byte sequence round-trips, even invalid UTF-8.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace imc::nn {

// GPT-2's pre-tokenization: the pieces (views into `text`, covering it in order).
std::vector<std::string_view> gpt2Pretokenize(std::string_view text);

class BpeTokenizer {
public:
    // encoder.json + vocab.bpe in `directory`; errors name the file and the entry or line.
    static BpeTokenizer load(const std::filesystem::path& directory);
    // The same from the files' contents; `source` names them in errors.
    static BpeTokenizer fromText(std::string_view encoderJson, std::string_view vocabBpe, const std::string& source);

    std::vector<int> encode(std::string_view text) const;
    std::string decode(std::span<const int> tokens) const;  // throws on an id outside the vocabulary
    int vocabSize() const { return static_cast<int>(tokens_.size()); }
    int endOfText() const { return endOfText_; }  // id of "<|endoftext|>", -1 when absent

private:
    void encodePiece(std::string_view piece, std::vector<int>& out) const;
    std::vector<std::string> tokens_;  // id -> raw bytes
    std::vector<int> byteToken_;       // byte -> id of its one-byte token
    // (left id << 32 | right id) -> (rank, merged id)
    std::unordered_map<std::uint64_t, std::pair<int, int>> merges_;
    int endOfText_ = -1;
};

}  // namespace imc::nn
