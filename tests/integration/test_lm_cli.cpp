// End-to-end: `imc infer --workload lm` on a random GPT-2 checkpoint in the Hugging Face layout
// (written by `imc bench lm --write-random`) with GPT-2's tokenizer: perplexity, adaptation
// calibrated on the user's text, generation, and the error without a tokenizer.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;

namespace {

namespace fs = std::filesystem;

fs::path tokenizerDir() {
    if (const char* dir = std::getenv("IMC_GPT2_TOKENIZER")) return dir;
    return IMC_GPT2_TOKENIZER_DIR;
}

fs::path scratch() {
    const auto dir = fs::temp_directory_path() / ("imc-lm-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir;
}

// "Hello world Hello world ...": GPT-2 encodes it as 15496, 995, then 18435, 995 per repeat.
std::string helloText(int repeats) {
    std::string text = "Hello world";
    for (int i = 1; i < repeats; ++i) text += " Hello world";
    return text;
}

}  // namespace

TEST_CASE("imc infer scores, adapts and generates with a Hugging Face GPT-2 checkpoint and its tokenizer", "[cli][lm]") {
    if (!fs::exists(tokenizerDir() / "encoder.json"))
        SKIP("GPT-2 tokenizer files not found in " + tokenizerDir().string() + " (run tools/setup/install-test-data.sh)");
    const fs::path dir = scratch(), weights = dir / "model.safetensors", text = dir / "text.txt";
    const ImcRun written = runImc({"bench", "lm", "--write-random", weights.string(), "--size", "1x64x64", "--seed", "3"});
    REQUIRE(written.exitCode == 0);
    std::ofstream(text) << helloText(100);  // 200 tokens

    const ImcRun ideal = runImc({"infer", "--workload", "lm", "--weights", weights.string(), "--tokenizer",
                                 tokenizerDir().string(), "--text", text.string(), "--attention", "ideal", "--json"});
    INFO(ideal.err);
    REQUIRE(ideal.exitCode == 0);
    CHECK_THAT(ideal.err, ContainsSubstring("config from the tensor shapes: 1 layers, 1 heads, d_model 64, context 64"));
    CHECK_THAT(ideal.err, ContainsSubstring("ignored 1 attention mask buffers"));
    const auto j = nlohmann::json::parse(ideal.out);
    CHECK(j["tokens"] == 199);
    CHECK(j["tokenizer"] == "gpt2-bpe");
    // Random weights give nearly uniform predictions over the 50257 tokens.
    CHECK(j["perplexity"].get<double>() > 0.5 * 50257);
    CHECK(j["perplexity"].get<double>() < 1.5 * 50257);

    const ImcRun adapted = runImc({"infer", "--workload", "lm", "--weights", weights.string(), "--tokenizer",
                                   tokenizerDir().string(), "--text", text.string(), "--attention", "gaincell", "--adapt",
                                   "--refit", "--calibration", "2", "--json"});
    INFO(adapted.err);
    REQUIRE(adapted.exitCode == 0);
    const auto a = nlohmann::json::parse(adapted.out);
    CHECK(a["adaptation"]["fitted_now"] == true);
    CHECK(a["adaptation"]["forward_passes"].get<int>() > 0);
    CHECK(std::isfinite(a["perplexity"].get<double>()));
    const auto scalars = nlohmann::json::parse(std::ifstream(dir / "model.gaincell-scalars.json"));
    CHECK(scalars["scalars"].size() == 1);  // 1 layer x 1 head

    const std::vector<std::string> generate{"infer", "--workload", "lm", "--weights", weights.string(), "--tokenizer",
                                            tokenizerDir().string(), "--generate", "Hello", "--max-new", "6",
                                            "--temperature", "0", "--json"};
    const ImcRun g1 = runImc(generate), g2 = runImc(generate);
    REQUIRE(g1.exitCode == 0);
    CHECK(g1.out == g2.out);
    CHECK_FALSE(nlohmann::json::parse(g1.out)["text"].get<std::string>().empty());

    const ImcRun noTokenizer = runImc({"infer", "--workload", "lm", "--weights", weights.string(), "--text", text.string()});
    CHECK(noTokenizer.exitCode == 1);
    CHECK_THAT(noTokenizer.err, ContainsSubstring("--tokenizer DIR"));
    fs::remove_all(dir);
}

TEST_CASE("imc bench lm: llm.c's forward on the converted weights gives imc's logits to 1e-3", "[cli][lm][llmc]") {
    const char* llmc = std::getenv("IMC_LLMC_DIR");
    if (!llmc) SKIP("set IMC_LLMC_DIR to a folder with llm.c's train_gpt2.c to compare against llm.c");
    const fs::path dir = scratch();
    const ImcRun r = runImc({"bench", "lm", "--size", "2x128x64", "--prefill", "32", "--decode", "4", "--repeats", "1",
                             "--llmc", llmc, "--work-dir", dir.string(), "--json"});
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["llmc"]["logits_max_abs"].get<double>() > 0.1);
    CHECK(j["llmc"]["logits_max_abs_diff"].get<double>() < 1e-3);
    fs::remove_all(dir);
}
