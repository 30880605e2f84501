// imc bench lsh: time and peak memory of LSH attention against exact attention for sequence
// lengths up to 64K, the crossover length and the growth exponent.
#include "cli.hpp"

#include "workloads/lsh.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace {

void printTable(const nlohmann::json& result) {
    std::printf("%8s %12s %14s %12s %14s %12s %9s\n", "length", "lsh s", "lsh peak MB", "exact s", "exact peak MB",
                "engine s", "speedup");
    const auto megabytes = [](const nlohmann::json& bytes) { return bytes.get<double>() / 1048576.0; };
    for (const auto& row : result.at("rows")) {
        const double engine = row.at("engine_ideal_s").is_null() ? -1.0 : row.at("engine_ideal_s").get<double>();
        std::printf("%8d %12.5f %14.2f %12.5f %14.2f %12.5f %9.2f\n", row.at("length").get<int>(),
                    row.at("lsh_s").get<double>(), megabytes(row.at("lsh_peak_extra_bytes")),
                    row.at("exact_blocked_s").get<double>(), megabytes(row.at("exact_blocked_peak_extra_bytes")), engine,
                    row.at("speedup").get<double>());
    }
    std::printf("crossover length: %s (%s)\ngrowth exponent: lsh %.3f, exact %.3f\n",
                result.at("crossover_length").dump().c_str(), result.at("crossover_note").get<std::string>().c_str(),
                result.at("growth_exponent").at("lsh").get<double>(),
                result.at("growth_exponent").at("exact_blocked").get<double>());
}

const imc::cli::CommandRegistration registration{
    "bench lsh", "LSH vs exact attention: time and peak memory for 128..64K tokens, crossover, growth exponent",
    [](CLI::App& app) {
        auto options = std::make_shared<imc::lsh::ScalingOptions>();
        auto json = std::make_shared<bool>(false);
        app.add_option("--lengths", options->lengths, "Sequence lengths")->capture_default_str();
        app.add_option("--head-dim", options->headDim, "Head dimension")->capture_default_str();
        app.add_option("--buckets", options->buckets, "LSH buckets")->capture_default_str();
        app.add_option("--rounds", options->rounds, "LSH rounds")->capture_default_str();
        app.add_option("--chunk", options->chunk, "LSH chunk length")->capture_default_str();
        app.add_option("--engine-ideal-max", options->engineIdealMaxLength,
                       "Longest length for nn::IdealAttention (L x L floats)")
            ->capture_default_str();
        app.add_flag("--json", *json, "Print one JSON object");
        app.callback([options, json] {
            const auto result = imc::lsh::runScalingBenchmark(*options);
            if (*json)
                std::printf("%s\n", result.dump().c_str());
            else
                printTable(result);
        });
    }};

}  // namespace
