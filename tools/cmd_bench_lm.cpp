// imc bench lm: GPT-2 prefill and KV-cache decode tokens/s and peak memory at 124M (random
// weights in the Hugging Face layout, or a user's checkpoint), against llm.c's CPU forward on
// the same weights when --llmc DIR is given; --write-random only writes the random checkpoint.
#include "cli.hpp"

#include "workloads/bench_lm.hpp"

#include <cstdio>

namespace {

struct BenchLmArgs {
    imc::nn::LmBenchOptions options;
    std::string writeRandom;
    bool json = false;
};

void printTable(const nlohmann::json& r) {
    std::printf("GPT-2 %s (%zu parameters), %d threads, prefill %d tokens, decode %d tokens, medians of %d interleaved repeats\n",
                r["size"].get<std::string>().c_str(), r["parameters"].get<std::size_t>(), r["threads"].get<int>(),
                r["prefill_tokens"].get<int>(), r["decode_tokens"].get<int>(), r["repeats"].get<int>());
    std::printf("%-18s %14s %14s %14s\n", "forward", "prefill tok/s", "decode tok/s", "peak RSS MiB");
    for (const auto& b : r["backends"])
        std::printf("%-18s %14.1f %14.1f %14.0f\n", b["attention"].get<std::string>().c_str(),
                    b["prefill_tokens_per_s"]["median"].get<double>(), b["decode_tokens_per_s"]["median"].get<double>(),
                    b["peak_rss_after_warmup_MiB"].get<double>());
    const auto& l = r["llmc"];
    if (l.contains("skipped")) {
        std::printf("llm.c: skipped (%s)\n", l["skipped"].get<std::string>().c_str());
        return;
    }
    std::printf("%-18s %14.1f %14s %14.0f\n", "llm.c", l["prefill_tokens_per_s"]["median"].get<double>(), "-",
                l["peak_rss_MiB"].get<double>());
    if (l.contains("ideal_prefill_ratio"))
        std::printf("imc ideal / llm.c prefill: %.3f; logits differ by at most %.2e (largest |logit| %.2f)\n",
                    l["ideal_prefill_ratio"].get<double>(), l["logits_max_abs_diff"].get<double>(),
                    l["logits_max_abs"].get<double>());
}

const imc::cli::CommandRegistration registration{
    "bench lm", "GPT-2 prefill/decode tokens/s and peak memory, against llm.c's CPU forward on the same weights",
    [](CLI::App& app) {
        auto args = std::make_shared<BenchLmArgs>();
        auto& o = args->options;
        app.add_option("--size", o.size, "124M | 355M | 774M | 1.5B | LxC[xT] (L layers, C wide, context T; vocab 50257)")->capture_default_str();
        app.add_option("--checkpoint", o.checkpoint, "A Hugging Face GPT-2 model.safetensors (default: random weights)");
        app.add_option("--work-dir", o.workDir, "Folder for the random checkpoint and llm.c's files (default: <temp>/imc-bench-lm)");
        app.add_option("--attention", o.attention, "Backends: ideal gaincell-linear gaincell")->capture_default_str();
        app.add_option("--fits", o.fitsDir, "Gain-cell fits directory (default fits/ when it holds them)");
        app.add_option("--prefill", o.prefillTokens, "Prefill sequence length")->capture_default_str();
        app.add_option("--decode", o.decodeTokens, "KV-cache decode steps")->capture_default_str();
        app.add_option("--repeats", o.repeats, "Interleaved repeats (tokens/s are medians)")->capture_default_str();
        app.add_option("--threads", o.threads, "imc workers and llm.c's OMP_NUM_THREADS")->capture_default_str();
        app.add_option("--llmc", o.llmcDir, "Folder with llm.c's train_gpt2.c (built here with llm.c's CPU flags)");
        app.add_option("--seed", o.seed, "Seed of the random weights and token ids")->capture_default_str();
        app.add_option("--write-random", args->writeRandom,
                       "Only write the random checkpoint of --size (Hugging Face layout) to this path");
        app.add_flag("--json", args->json, "Print one JSON object");
        app.callback([args] {
            if (!args->writeRandom.empty()) {
                imc::nn::writeRandomGpt2Checkpoint(args->options.size, args->options.seed, args->writeRandom);
                std::fprintf(stderr, "imc: wrote %s\n", args->writeRandom.c_str());
                return;
            }
            args->options.log = [](const std::string& line) { std::fprintf(stderr, "imc: %s\n", line.c_str()); };
            const nlohmann::json result = imc::nn::benchLm(args->options);
            if (args->json)
                std::printf("%s\n", result.dump().c_str());
            else
                printTable(result);
        });
    }};

}  // namespace
