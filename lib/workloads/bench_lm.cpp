#include "workloads/bench_lm.hpp"
#include "datadir/datadir.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/gpt2_checkpoint.hpp"
#include "nn/random.hpp"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace imc::nn {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double peakRssMiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Median and range of tokens/s over the repeats.
nlohmann::json rateSummary(std::vector<double> rates) {
    std::sort(rates.begin(), rates.end());
    const std::size_t n = rates.size();
    const double mid = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
    return {{"median", mid}, {"min", rates.front()}, {"max", rates.back()}, {"runs", rates}};
}

// Runs `work` in a child process, so its memory does not count in this process's peak.
template <typename Work>
void inChild(const std::string& what, Work&& work) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("bench lm: fork failed for " + what);
    if (pid == 0) {
        int code = 0;
        try {
            work();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "imc: error: %s: %s\n", what.c_str(), e.what());
            code = 1;
        }
        std::fflush(nullptr);
        _exit(code);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("bench lm: " + what + " failed");
}


// Runs argv with `env` added, capturing stdout; throws with the command on failure.
std::string runProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    int pipeFds[2];
    if (pipe(pipeFds) != 0) throw std::runtime_error("bench lm: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipeFds[0]);
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(pipeFds[1]);
    if (rc != 0) {
        close(pipeFds[0]);
        throw std::runtime_error("bench lm: cannot start " + argv[0]);
    }
    std::string output;
    char buffer[4096];
    for (ssize_t n; (n = read(pipeFds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, std::size_t(n));
    close(pipeFds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("bench lm: " + argv[0] + " failed (exit status " + std::to_string(WEXITSTATUS(status)) + ")");
    return output;
}

std::string quoted(const fs::path& p) {
    const std::string s = p.string();
    if (s.find('\'') != std::string::npos) throw std::runtime_error("bench lm: path with a quote: " + s);
    return "'" + s + "'";
}

// Builds tools/llmc_forward.c against the user's llm.c with llm.c's own Makefile flags (CPU, OpenMP).
fs::path buildLlmcDriver(const fs::path& llmcDir, const fs::path& workDir, std::string& flags) {
    if (!fs::exists(llmcDir / "train_gpt2.c"))
        throw std::runtime_error("bench lm: no train_gpt2.c in the llm.c folder " + llmcDir.string());
    const fs::path source = dataPath("tools") / "llmc_forward.c";
    const fs::path binary = workDir / "llmc_forward", log = workDir / "llmc_forward.build.log";
    flags = "-Ofast -march=native -fopenmp -DOMP -DTESTING";
    const std::string command = "cc " + flags + " -Wno-unused-result -I " + quoted(llmcDir) + " " + quoted(source) +
                                " -lm -o " + quoted(binary) + " > " + quoted(log) + " 2>&1";
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("bench lm: building llm.c's forward failed; see " + log.string());
    return binary;
}

struct BackendRun {
    std::string name;
    std::unique_ptr<AttentionBackend> backend;
    std::unique_ptr<Transformer> net;
    std::unique_ptr<Decoder> decoder;
    std::vector<double> prefill, decode;  // tokens/s per repeat
    double peakAfterMiB = 0;
};

double timePrefill(Transformer& net, const std::vector<int>& tokens) {
    const auto start = Clock::now();
    net.forward(tokens, 1, static_cast<int>(tokens.size()));
    return double(tokens.size()) / secondsSince(start);
}

double timeDecode(Decoder& decoder, const std::vector<int>& tokens, int steps) {
    decoder.reset();
    const auto start = Clock::now();
    for (int t = 0; t < steps; ++t) decoder.step(tokens[static_cast<std::size_t>(t) % tokens.size()]);
    return double(steps) / secondsSince(start);
}

}  // namespace

Config lmBenchConfig(const std::string& size) {
    std::smatch m;
    if (std::regex_match(size, m, std::regex(R"((\d+)x(\d+)(?:x(\d+))?)"))) {
        Config c = gpt2Config("124M");
        c.layers = std::stoi(m[1]);
        c.dModel = std::stoi(m[2]);
        if (m[3].matched) c.context = std::stoi(m[3]);
        c.headDim = 64;
        c.heads = c.dModel / 64;
        if (c.dModel % 64 != 0 || c.layers < 1 || c.heads < 1)
            throw std::invalid_argument("--size " + size + ": C must be a positive multiple of 64 and L >= 1");
        c.validate();
        return c;
    }
    try {
        return gpt2Config(size);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(e.what()) + "; or LxC[xT]: L layers, C wide, context T");
    }
}

void writeRandomGpt2Checkpoint(const std::string& size, std::uint64_t seed, const fs::path& path) {
    saveHuggingFaceGpt2(randomGpt2Model(lmBenchConfig(size), seed), path);
}

namespace {

using Log = std::function<void(const std::string&)>;

// The checkpoint measured: the user's, or random weights written once into the work folder.
fs::path prepareCheckpoint(const LmBenchOptions& o, const fs::path& work, const Log& log) {
    if (!o.checkpoint.empty()) return o.checkpoint;
    const fs::path path = work / ("gpt2-" + o.size + "-random-seed" + std::to_string(o.seed) + ".safetensors");
    if (!fs::exists(path)) {
        log("writing random GPT-2 " + o.size + " weights (Hugging Face layout) to " + path.string());
        inChild("writing " + path.string(), [&] { writeRandomGpt2Checkpoint(o.size, o.seed, path); });
    }
    return path;
}

struct Llmc {
    fs::path binary, checkpoint, tokens, logits;
    std::string flags;
    std::vector<double> rates;  // prefill tokens/s per repeat
    double peakRssMiB = 0;
};

// llm.c's checkpoint of the same weights, the token ids, and its forward built from the user's tree.
Llmc prepareLlmc(const LmBenchOptions& o, const fs::path& work, const fs::path& checkpoint, const Model& model,
                 const std::vector<int>& tokens) {
    Llmc l;
    l.binary = buildLlmcDriver(o.llmcDir, work, l.flags);
    l.checkpoint = work / (checkpoint.stem().string() + ".llmc.bin");
    l.tokens = work / "tokens.bin";
    l.logits = work / "llmc_logits.bin";
    inChild("writing " + l.checkpoint.string(), [&] { saveLlmcCheckpoint(model, l.checkpoint); });
    std::ofstream(l.tokens, std::ios::binary)
        .write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * sizeof(int)));
    return l;
}

void runLlmcOnce(Llmc& l, const LmBenchOptions& o) {
    const std::string output = runProcess({l.binary.string(), l.checkpoint.string(), l.tokens.string(),
                                   std::to_string(o.prefillTokens), "1", l.logits.string()},
                                  {"OMP_NUM_THREADS=" + std::to_string(o.threads)});
    std::smatch m;
    if (!std::regex_search(output, m, std::regex(R"(seconds ([0-9.eE+-]+))")))
        throw std::runtime_error("bench lm: llm.c printed no timing");
    l.rates.push_back(double(o.prefillTokens) / std::stod(m[1]));
    if (std::regex_search(output, m, std::regex(R"(peak_rss_kib ([0-9]+))")))
        l.peakRssMiB = std::max(l.peakRssMiB, std::stod(m[1]) / 1024.0);
}

std::vector<BackendRun> warmUp(const LmBenchOptions& o, const Model& model, const std::vector<int>& tokens, const Log& log) {
    GainCellBackendOptions gaincell;
    gaincell.fitsDir = o.fitsDir;
    gaincell.layers = model.config.layers;
    registerGainCellBackends(gaincell);
    std::vector<BackendRun> runs;
    for (const auto& name : o.attention) {
        BackendRun r;
        r.name = name;
        r.backend = makeAttentionBackend(name);
        r.net = std::make_unique<Transformer>(model, *r.backend);
        r.decoder = std::make_unique<Decoder>(model, *r.backend);
        log("warm-up: " + name);
        timePrefill(*r.net, tokens);
        timeDecode(*r.decoder, tokens, std::min(8, o.decodeTokens));
        r.peakAfterMiB = peakRssMiB();
        runs.push_back(std::move(r));
    }
    return runs;
}

// Logits of positions 0, T/2 and T-1 from llm.c against imc's ideal forward, and the speed ratio.
void compareWithLlmc(nlohmann::json& out, std::vector<BackendRun>& runs, const Llmc& l, const Model& model,
                     const std::vector<int>& tokens) {
    const int vocab = model.config.vocabSize, length = static_cast<int>(tokens.size());
    nlohmann::json llmc{{"flags", l.flags},
                        {"checkpoint", l.checkpoint.string()},
                        {"prefill_tokens_per_s", rateSummary(l.rates)},
                        {"peak_rss_MiB", l.peakRssMiB}};
    auto ideal = std::find_if(runs.begin(), runs.end(), [](const BackendRun& r) { return r.name == "ideal"; });
    if (ideal != runs.end()) {
        std::ifstream in(l.logits, std::ios::binary);
        std::vector<float> theirs(3 * static_cast<std::size_t>(vocab));
        in.read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size() * sizeof(float)));
        if (!in) throw std::runtime_error("bench lm: llm.c's logits file " + l.logits.string() + " is short");
        const Matrix& logits = ideal->net->forward(tokens, 1, length);
        const int positions[3] = {0, length / 2, length - 1};
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < 3; ++i)
            for (int v = 0; v < vocab; ++v) {
                const double b = theirs[static_cast<std::size_t>(i) * vocab + v];
                maxDiff = std::max(maxDiff, std::abs(double(logits(positions[i], v)) - b));
                maxAbs = std::max(maxAbs, std::abs(b));
            }
        llmc["logits_max_abs_diff"] = maxDiff;
        llmc["logits_max_abs"] = maxAbs;
        const auto& mine = out["backends"][ideal - runs.begin()]["prefill_tokens_per_s"]["median"];
        llmc["ideal_prefill_ratio"] = mine.get<double>() / llmc["prefill_tokens_per_s"]["median"].get<double>();
    }
    out["llmc"] = llmc;
}

}  // namespace

nlohmann::json benchLm(const LmBenchOptions& o) {
    const Log log = [&](const std::string& line) { if (o.log) o.log(line); };
    if (o.repeats < 1 || o.prefillTokens < 1 || o.decodeTokens < 1) throw std::invalid_argument("bench lm: counts must be >= 1");
    const fs::path work = o.workDir.empty() ? fs::temp_directory_path() / "imc-bench-lm" : o.workDir;
    fs::create_directories(work);
    const fs::path checkpoint = prepareCheckpoint(o, work, log);
    const double rssStart = peakRssMiB();
    std::vector<std::string> notes;
    const auto loadStart = Clock::now();
    const Model model = loadModel(checkpoint, &notes);
    const double loadSeconds = secondsSince(loadStart), rssLoaded = peakRssMiB();
    const Config& c = model.config;
    if (o.prefillTokens > c.context || o.decodeTokens > c.context)
        throw std::invalid_argument("bench lm: prefill and decode lengths must not exceed the context " + std::to_string(c.context));
    Rng rng(o.seed + 17);
    std::vector<int> tokens(static_cast<std::size_t>(o.prefillTokens));
    for (int& t : tokens) t = static_cast<int>(rng.below(static_cast<std::uint64_t>(c.vocabSize)));
    std::optional<Llmc> llmc;
    if (!o.llmcDir.empty()) llmc = prepareLlmc(o, work, checkpoint, model, tokens);
    else log("llm.c skipped: give --llmc DIR (a folder with llm.c's train_gpt2.c) to measure it in the same run");

    setThreadCount(o.threads);
    std::vector<BackendRun> runs = warmUp(o, model, tokens, log);
    for (int repeat = 0; repeat < o.repeats; ++repeat) {
        const std::string tag = "repeat " + std::to_string(repeat + 1) + " ";
        for (auto& r : runs) {
            r.prefill.push_back(timePrefill(*r.net, tokens));
            r.decode.push_back(timeDecode(*r.decoder, tokens, o.decodeTokens));
            log(tag + r.name + ": prefill " + std::to_string(std::lround(r.prefill.back())) + " tok/s, decode " +
                std::to_string(std::lround(r.decode.back())) + " tok/s");
        }
        if (llmc) {
            runLlmcOnce(*llmc, o);
            log(tag + "llm.c: prefill " + std::to_string(std::lround(llmc->rates.back())) + " tok/s");
        }
    }

    nlohmann::json backends = nlohmann::json::array();
    for (const auto& r : runs)
        backends.push_back({{"attention", r.name},
                            {"prefill_tokens_per_s", rateSummary(r.prefill)},
                            {"decode_tokens_per_s", rateSummary(r.decode)},
                            {"peak_rss_after_warmup_MiB", r.peakAfterMiB}});
    nlohmann::json out{
        {"checkpoint", checkpoint.string()},
        {"random_weights", o.checkpoint.empty()},
        {"size", gpt2SizeName(c).empty() ? o.size : gpt2SizeName(c)},
        {"config", {{"layers", c.layers}, {"heads", c.heads}, {"d_model", c.dModel}, {"context", c.context}, {"vocab", c.vocabSize}}},
        {"parameters", model.weights.parameterCount()},
        {"load_seconds", loadSeconds},
        {"load_notes", notes},
        {"peak_rss_MiB", {{"before_load", rssStart}, {"after_load", rssLoaded}, {"end", peakRssMiB()}}},
        {"threads", threadCount()},
        {"prefill_tokens", o.prefillTokens},
        {"decode_tokens", o.decodeTokens},
        {"repeats", o.repeats},
        {"timing", "medians of interleaved repeats (imc backends, then llm.c, per repeat) on a possibly shared machine"},
        {"backends", backends}};
    if (llmc) compareWithLlmc(out, runs, *llmc, model, tokens);
    else out["llmc"] = {{"skipped", "no --llmc DIR given"}};
    return out;
}

}  // namespace imc::nn
