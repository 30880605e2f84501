// imc bench attention: per-head throughput of every registered attention backend at several
// context lengths, with the ideal backend measured in the same run as the reference.
#include "attention_cli.hpp"
#include "cli.hpp"

#include "nn/nn.hpp"
#include "nn/random.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct BenchArgs {
    std::vector<int> lengths{64, 128, 256, 512, 1024};
    std::vector<std::string> backends;  // empty: every registered backend
    int headDim = 64;
    imc::cli::AttentionCli backend;  // fits, window, variability of the gain-cell backends; lsh settings
    double seconds = 0.25;  // per measurement
    int repeats = 3;        // interleaved rounds of every backend; medians reported
    bool forwardDecode = false;  // decode through forward() (the comparing path) instead of decode()
    bool json = false;
};

// The calling thread's CPU time: other work on a shared machine does not count against a backend.
double threadSeconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

imc::nn::Matrix randomMatrix(int rows, int cols, unsigned seed) {
    imc::nn::Rng rng(seed);
    imc::nn::Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}

// Repeats `pass` (which handles `tokensPerPass` tokens) until `seconds` have elapsed.
template <typename Pass>
double tokensPerSecond(double seconds, int tokensPerPass, Pass&& pass) {
    pass();  // warm-up: buffers, caches
    const double start = threadSeconds();
    long passes = 0;
    double elapsed = 0;
    do {
        pass();
        ++passes;
        elapsed = threadSeconds() - start;
    } while (elapsed < seconds);
    return double(passes) * tokensPerPass / elapsed;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

struct Measurement {
    double prefill = 0, decode = 0;
};

Measurement measure(const imc::nn::AttentionBackend& backend, int length, const BenchArgs& args) {
    const int d = args.headDim;
    const auto q = randomMatrix(length, d, 1), k = randomMatrix(length, d, 2), v = randomMatrix(length, d, 3);
    imc::nn::Matrix out(length, d);
    const imc::nn::HeadSite site{0, 0};
    Measurement m;
    // Prefill: the whole causal sequence in one call.
    m.prefill = tokensPerSecond(args.seconds, length, [&] { backend.forward(site, q, k, v, out, nullptr); });
    // Decode: one query per call against a growing key/value prefix, through the append-only call
    // a KV cache makes (AttentionBackend::decode), with a new cache per pass: every row is written
    // once per pass, as in real decoding. Passes alternate between two sequences as well.
    const auto k2 = randomMatrix(length, d, 4), v2 = randomMatrix(length, d, 5);
    long pass = 0;
    m.decode = tokensPerSecond(args.seconds, length, [&] {
        const auto& keys = pass % 2 == 0 ? k : k2;
        const auto& values = pass % 2 == 0 ? v : v2;
        ++pass;
        const auto cache = args.forwardDecode ? nullptr : backend.makeCache(site);
        for (int t = 0; t < length; ++t) {
            if (args.forwardDecode)
                backend.forward(site, q.row(t), keys.topRows(t + 1), values.topRows(t + 1), out.row(t), nullptr);
            else
                backend.decode(site, q.row(t), keys.topRows(t + 1), values.topRows(t + 1), out.row(t), cache.get());
        }
    });
    return m;
}

void run(const BenchArgs& args) {
    // The paper's network depth for the decay per step (Delta_t = L delta_t, L = 12).
    const auto options = imc::cli::registerAttentionBackends(args.backend, 12, 1);
    auto names = imc::nn::attentionBackendNames();
    if (!args.backends.empty()) {
        for (const auto& name : args.backends) imc::nn::makeAttentionBackend(name);  // throws listing the known names
        names = args.backends;
    }
    auto ideal = imc::nn::makeAttentionBackend("ideal");
    nlohmann::json results = nlohmann::json::array();
    if (!args.json)
        std::printf("%-16s %7s %14s %14s %9s %9s  %s\n", "backend", "context", "prefill tok/s", "decode tok/s",
                    "prefill/x", "decode/x", "(decode/x range)");
    std::vector<std::unique_ptr<imc::nn::AttentionBackend>> backends;
    for (const auto& name : names) backends.push_back(name == "ideal" ? nullptr : imc::nn::makeAttentionBackend(name));
    for (int length : args.lengths) {
        // Rounds of ideal then every backend: each ratio is to the ideal of its own round, so a
        // change of the machine's speed between rounds moves both sides.
        std::vector<std::vector<Measurement>> rounds(names.size());
        std::vector<std::vector<double>> prefillRatios(names.size()), decodeRatios(names.size());
        for (int round = 0; round < args.repeats; ++round) {
            const Measurement reference = measure(*ideal, length, args);
            for (std::size_t b = 0; b < names.size(); ++b) {
                const Measurement m = backends[b] ? measure(*backends[b], length, args) : reference;
                rounds[b].push_back(m);
                prefillRatios[b].push_back(m.prefill / reference.prefill);
                decodeRatios[b].push_back(m.decode / reference.decode);
            }
        }
        for (std::size_t b = 0; b < names.size(); ++b) {
            std::vector<double> prefill, decode;
            for (const Measurement& m : rounds[b]) {
                prefill.push_back(m.prefill);
                decode.push_back(m.decode);
            }
            const auto [decodeLo, decodeHi] = std::minmax_element(decodeRatios[b].begin(), decodeRatios[b].end());
            const double prefillRatio = median(prefillRatios[b]), decodeRatio = median(decodeRatios[b]);
            results.push_back({{"backend", names[b]},
                               {"context", length},
                               {"head_dim", args.headDim},
                               {"repeats", args.repeats},
                               {"prefill_tokens_per_s", median(prefill)},
                               {"decode_tokens_per_s", median(decode)},
                               {"prefill_ratio_to_ideal", prefillRatio},
                               {"decode_ratio_to_ideal", decodeRatio},
                               {"decode_ratio_range", {*decodeLo, *decodeHi}}});
            if (!args.json)
                std::printf("%-16s %7d %14.0f %14.0f %9.3f %9.3f  (%.2f-%.2f)\n", names[b].c_str(), length,
                            median(prefill), median(decode), prefillRatio, decodeRatio, *decodeLo, *decodeHi);
        }
    }
    if (args.json)
        std::printf("%s\n", nlohmann::json{{"reference", "ideal"}, {"unit", "tokens per second of thread CPU time, one head, one thread"},
                                           {"decode_call", args.forwardDecode ? "forward" : "decode"},
                                           {"gaincell_window", options.gaincell.windowTokens},
                                           {"gaincell_variability", options.gaincell.variability},
                                           {"lsh", imc::lsh::describe(options.lsh)},
                                           {"results", results}}
                                .dump()
                                .c_str());
}

const imc::cli::CommandRegistration registration{
    "bench attention", "Throughput of each attention backend against the ideal one", [](CLI::App& app) {
        auto args = std::make_shared<BenchArgs>();
        app.add_option("--lengths", args->lengths, "Context lengths")->capture_default_str();
        app.add_option("--backends", args->backends, "Backends to measure (default: all; ideal is always the reference)");
        app.add_option("--head-dim", args->headDim, "Head dimension")->capture_default_str();
        app.add_option("--seconds", args->seconds, "CPU time per measurement")->capture_default_str();
        app.add_option("--repeats", args->repeats,
                       "Interleaved rounds of ideal and every backend (medians of tokens/s and of the per-round ratios)")
            ->capture_default_str()
            ->check(CLI::Range(1, 1000));
        app.add_flag("--forward-decode", args->forwardDecode,
                     "Decode through forward(), which compares the rows held, instead of the append-only decode()");
        imc::cli::addAttentionOptions(app, args->backend);
        app.add_flag("--json", args->json, "Print one JSON object");
        app.callback([args] { run(*args); });
    }};

}  // namespace
