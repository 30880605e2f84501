// Byte tokenizer and the fortunes corpus.
#include "nn/nn.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace imc::nn {

std::vector<int> ByteTokenizer::encode(std::string_view text) {
    std::vector<int> tokens;
    tokens.reserve(text.size());
    for (unsigned char byte : text) tokens.push_back(byte);
    return tokens;
}

std::string ByteTokenizer::decode(std::span<const int> tokens) {
    std::string text;
    text.reserve(tokens.size());
    for (int t : tokens)
        if (t != kEndOfText && t > 0 && t < kVocabSize) text.push_back(static_cast<char>(t));
    return text;
}

namespace {

std::string trimmed(const std::string& text) {
    const auto isSpace = [](unsigned char ch) { return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r'; };
    std::size_t begin = 0, end = text.size();
    // Keep leading spaces of the first line (indentation of verse); drop leading blank lines only.
    while (begin < end && (text[begin] == '\n' || text[begin] == '\r')) ++begin;
    while (end > begin && isSpace(static_cast<unsigned char>(text[end - 1]))) --end;
    return text.substr(begin, end - begin);
}

// A fortune file is a list of texts separated by lines holding only "%".
std::vector<std::string> readFortuneFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::vector<std::string> fortunes;
    std::string current, line;
    auto flush = [&] {
        std::string text = trimmed(current);
        std::replace(text.begin(), text.end(), '\0', ' ');  // byte 0 is our end-of-text marker
        if (!text.empty()) fortunes.push_back(std::move(text));
        current.clear();
    };
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "%") {
            flush();
        } else {
            current += line;
            current += '\n';
        }
    }
    flush();
    return fortunes;
}

}  // namespace

namespace {

std::vector<std::filesystem::path> fortuneFiles(const std::filesystem::path& directory, int validationEvery) {
    if (!std::filesystem::is_directory(directory))
        throw std::runtime_error("no fortunes at " + directory.string() +
                                 " (install the Debian package 'fortunes': apt-get install fortunes)");
    if (validationEvery < 2) throw std::invalid_argument("validationEvery must be at least 2");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const auto ext = entry.path().extension();
        if (!entry.is_regular_file() || ext == ".dat" || ext == ".u8") continue;
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // directory order is not stable across file systems
    return files;
}

}  // namespace

std::vector<LabelledText> loadFortuneTopics(const std::filesystem::path& directory, const std::vector<std::string>& topics,
                                            int validationEvery) {
    const auto files = fortuneFiles(directory, validationEvery);
    std::vector<LabelledText> out;
    std::vector<bool> found(topics.size(), false);
    std::size_t index = 0;
    for (const auto& file : files) {
        const auto it = std::find(topics.begin(), topics.end(), file.filename().string());
        for (const auto& fortune : readFortuneFile(file)) {
            const bool held = index++ % validationEvery == static_cast<std::size_t>(validationEvery - 1);
            if (it == topics.end()) continue;
            const auto label = static_cast<std::size_t>(it - topics.begin());
            found[label] = true;
            out.push_back({ByteTokenizer::encode(fortune), static_cast<int>(label), held});
        }
    }
    for (std::size_t t = 0; t < topics.size(); ++t)
        if (!found[t]) throw std::runtime_error("no fortune file '" + topics[t] + "' in " + directory.string());
    return out;
}

TextSplit loadFortunes(const std::filesystem::path& directory, int validationEvery) {
    const auto files = fortuneFiles(directory, validationEvery);
    TextSplit split;
    std::size_t index = 0;
    for (const auto& file : files) {
        for (const auto& fortune : readFortuneFile(file)) {
            const bool held = index++ % validationEvery == static_cast<std::size_t>(validationEvery - 1);
            auto& out = held ? split.validation : split.train;
            for (unsigned char byte : fortune) out.push_back(byte);
            out.push_back(ByteTokenizer::kEndOfText);
            (held ? split.validationDocuments : split.trainDocuments) += 1;
        }
    }
    if (split.train.empty() || split.validation.empty())
        throw std::runtime_error("no fortunes found in " + directory.string());
    return split;
}

}  // namespace imc::nn
