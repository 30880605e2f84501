#include "attention_cli.hpp"

#include "cli.hpp"

namespace imc::cli {

std::string attentionBackendList() {
    std::string list;
    for (const auto& name : backends::attentionBackendKinds()) list += (list.empty() ? "" : " | ") + name;
    return list;
}

void addAttentionOptions(CLI::App& app, AttentionCli& o, bool withFits) {
    if (withFits)
        app.add_option("--fits", o.fits,
                       "Gain-cell fits directory (default fits/ when it holds them, else the paper's model)");
    app.add_option("--window", o.window, "Gain-cell sliding window M in tokens (0: the whole context)")
        ->capture_default_str();
    app.add_option("--linear-gain", o.linearGain,
                   "Gain of the linear model's arrays (0: the fitted cell's linearization D_1 x full pulse; 1: the "
                   "bare Q K^T)")
        ->capture_default_str();
    app.add_flag("--no-quantize", o.noQuantize, "Gain-cell backends without their quantizers (ablation)");
    app.add_option("--variability", o.variability, "Gain-cell device-to-device draws and readout noise: on | off")
        ->capture_default_str();
    app.add_option("--rp", o.rp, "lsh: random projection gaussian | memristor | passive | measured | none (no hashing: "
                                 "the --lsh-window alone)");
    app.add_option("--rp-fits", o.rpFits,
                   "lsh: fits file of the projection (memristor: default fits/memristor-c2c.json; passive: a "
                   "passive-0t1r record, default the documented 0T1R parameters, none is shipped)");
    app.add_option("--rp-map", o.rpMaps, "lsh: measured conductance-map CSV files (with --rp measured)");
    app.add_option("--buckets", o.buckets, "lsh: buckets per round (even)");
    app.add_option("--rounds", o.rounds, "lsh: hashing rounds");
    app.add_option("--chunk", o.chunk, "lsh: keys per chunk of the sorted order")->capture_default_str();
    app.add_option("--self", o.self, "lsh: allow | exclude a query's own key (exclude: only without other targets)")
        ->capture_default_str();
    app.add_option("--combine", o.combine, "lsh: rounds combined by lse (Reformer) | union (each pair once)")
        ->capture_default_str();
    app.add_option("--queries", o.queries,
                   "lsh: separate (queries hashed with the keys' projection, sorted jointly) | shared (a query "
                   "takes its own key's bucket, the shared-QK rule)")
        ->capture_default_str();
    app.add_option("--lsh-window", o.lshWindow,
                   "lsh: the W most recent keys always attended beside the buckets, counted in the attended "
                   "fraction (0: LSH alone; with --rp none: the window alone)")
        ->capture_default_str();
}

namespace {

bool onOff(const std::string& value, const char* option) {
    if (value == "on") return true;
    if (value == "off") return false;
    throw UsageError(std::string(option) + " must be on or off, got '" + value + "'");
}

lsh::LshOptions lshOptions(const AttentionCli& o, std::uint64_t seed, const std::string& defaultRp, int defaultBuckets,
                           int defaultRounds) {
    lsh::LshOptions l;
    l.projection.kind = o.rp.empty() ? defaultRp : o.rp;
    l.projection.buckets = o.buckets > 0 ? o.buckets : defaultBuckets;
    l.projection.rounds = o.rounds > 0 ? o.rounds : defaultRounds;
    l.projection.seed = seed;
    l.projection.fitsPath = o.rpFits;
    l.projection.measuredCsv = o.rpMaps;
    const auto& kind = l.projection.kind;
    if (kind != "gaussian" && kind != "memristor" && kind != "passive" && kind != "measured" && kind != "none")
        throw UsageError("--rp must be gaussian, memristor, passive, measured or none, got '" + kind + "'");
    if (o.lshWindow < 0) throw UsageError("--lsh-window must be >= 0, got " + std::to_string(o.lshWindow));
    if (kind == "none" && o.lshWindow == 0) throw UsageError("--rp none (the local window alone) needs --lsh-window W > 0");
    l.attention.window = o.lshWindow;
    if (kind == "measured" && o.rpMaps.empty()) throw UsageError("--rp measured needs --rp-map FILE.csv");
    if (l.projection.buckets < 2 || l.projection.buckets % 2 != 0)
        throw UsageError("--buckets must be even and >= 2, got " + std::to_string(l.projection.buckets));
    if (o.chunk < 1) throw UsageError("--chunk must be >= 1");
    l.attention.chunk = o.chunk;
    if (o.self != "allow" && o.self != "exclude") throw UsageError("--self must be allow or exclude, got '" + o.self + "'");
    l.attention.excludeSelf = o.self == "exclude";
    if (o.combine != "lse" && o.combine != "union")
        throw UsageError("--combine must be lse or union, got '" + o.combine + "'");
    l.attention.combination = o.combine == "union" ? lsh::RoundCombination::Union : lsh::RoundCombination::LogSumExp;
    if (o.queries != "separate" && o.queries != "shared")
        throw UsageError("--queries must be separate or shared, got '" + o.queries + "'");
    l.queries = o.queries == "shared" ? lsh::QueryHashing::SharedWithKeys : lsh::QueryHashing::Separate;
    return l;
}

}  // namespace

backends::AttentionBackendOptions attentionBackendOptions(const AttentionCli& o, int layers, std::uint64_t seed,
                                                          const std::string& defaultRp, int defaultBuckets,
                                                          int defaultRounds) {
    backends::AttentionBackendOptions b;
    b.gaincell.fitsDir = o.fits.empty() ? nn::defaultFitsDirectory() : o.fits;
    b.gaincell.windowTokens = o.window;
    b.gaincell.layers = layers;
    b.gaincell.variability = onOff(o.variability, "--variability");
    b.gaincell.seed = seed;
    b.gaincell.linearGain = o.linearGain;
    b.gaincell.quantize = !o.noQuantize;
    b.lsh = lsh::resolvedLshOptions(lshOptions(o, seed, defaultRp, defaultBuckets, defaultRounds));
    return b;
}

backends::AttentionBackendOptions registerAttentionBackends(const AttentionCli& o, int layers, std::uint64_t seed) {
    const auto options = attentionBackendOptions(o, layers, seed);
    backends::registerAttentionBackends(options);
    return options;
}

}  // namespace imc::cli
