#pragma once
// The attention-backend options every command shares (infer, train, bench attention): one block
// of CLI11 options filling one struct, turned into the library's options for
// backends::registerAttentionBackends.
#include "backends/backends.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace imc::cli {

struct AttentionCli {
    // gain-cell backends
    std::string fits;  // gain-cell fits directory (default: backends' defaultFitsDirectory)
    long window = 0;
    double linearGain = 0.0;
    bool noQuantize = false;
    std::string variability = "off";
    // lsh
    std::string rp;  // gaussian | memristor | passive | measured (default: the command's)
    std::string rpFits;
    std::vector<std::string> rpMaps;
    int buckets = 0;  // 0: the command's default
    int rounds = 0;
    int chunk = 64;
    std::string self = "allow";
    std::string combine = "lse";
    std::string queries = "separate";
    int lshWindow = 0;
};

// "ideal | gaincell-linear | gaincell | lsh", for help texts.
std::string attentionBackendList();

// Adds --fits, --window, --linear-gain, --no-quantize, --variability and the lsh options
// (--rp, --rp-fits, --rp-map, --buckets, --rounds, --chunk, --self, --combine, --queries,
// --lsh-window).
// withFits = false leaves --fits to the command (which may give it another meaning as well).
void addAttentionOptions(CLI::App& app, AttentionCli& options, bool withFits = true);

// The library options for a network of `layers` layers; lsh defaults (rp, buckets, rounds) from
// the arguments where the command left them unset. Throws UsageError on a bad choice.
backends::AttentionBackendOptions attentionBackendOptions(const AttentionCli& options, int layers, std::uint64_t seed,
                                                          const std::string& defaultRp = "gaussian",
                                                          int defaultBuckets = 8, int defaultRounds = 2);

// attentionBackendOptions + backends::registerAttentionBackends.
backends::AttentionBackendOptions registerAttentionBackends(const AttentionCli& options, int layers, std::uint64_t seed);

}  // namespace imc::cli
