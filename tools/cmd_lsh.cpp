// imc lsh collisions | letters | letters-sweep: the workloads of the memristor RP-LSH paper.
#include "cli.hpp"

#include "workloads/lsh.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace {

void print(const nlohmann::json& result, bool json, const char* summaryKey) {
    if (json) {
        std::printf("%s\n", result.dump().c_str());
        return;
    }
    std::printf("%s\n", result.dump(2).c_str());
    if (summaryKey && result.contains(summaryKey))
        std::printf("%s: %s\n", summaryKey, result.at(summaryKey).dump().c_str());
    if (result.contains("round_counts")) std::printf("%s\n", imc::lsh::lettersSummary(result).c_str());
}

void addLettersOptions(CLI::App& app, imc::lsh::LettersOptions& o) {
    app.add_option("--task", o.task,
                   "same: successor of the letter at t (the paper's literal task, the control); previous: "
                   "successor of the letter at t-1 (needed key at another position)")
        ->capture_default_str();
    app.add_option("--rp", o.rp, "Random projection at test: gaussian | memristor | passive")->capture_default_str();
    app.add_option("--buckets", o.buckets, "Buckets per round (even)")->capture_default_str();
    app.add_option("--fits", o.fitsPath,
                   "Fits file: lognormal / lognormal-cycle conductances (memristor) or passive-0t1r (passive); "
                   "default: fits/memristor-c2c.json");
    app.add_option("--min-length", o.minLength, "Shortest sequence")->capture_default_str();
    app.add_option("--max-length", o.maxLength, "Longest sequence")->capture_default_str();
    app.add_option("--steps", o.trainSteps, "Training steps")->capture_default_str();
    app.add_option("--train-attention", o.trainAttention,
                   "lsh (fresh Gaussian R per minibatch) | full; default: lsh for same, full for previous");
    app.add_option("--self", o.self,
                   "allow | exclude (Reformer rule: itself only without other targets); default: allow for same, "
                   "exclude for previous");
    app.add_option("--test-sequences", o.testSequences, "Test sequences")->capture_default_str();
    app.add_option("--arrays", o.arrays, "Independent arrays (R draws) tested")->capture_default_str();
    app.add_option("--seed", o.seed, "Seed of training, test set and arrays")->capture_default_str();
}

const imc::cli::CommandRegistration lettersRegistration{
    "lsh letters", "Letter-shift task with LSH attention on a memristor, Gaussian or passive RP", [](CLI::App& app) {
        auto options = std::make_shared<imc::lsh::LettersOptions>();
        auto json = std::make_shared<bool>(false);
        app.add_option("--attention", options->attention, "lsh | ideal (full attention)")->capture_default_str();
        app.add_option("--rounds", options->rounds, "Hashing rounds (union of their buckets)")->capture_default_str();
        addLettersOptions(app, *options);
        app.add_flag("--json", *json, "Print one JSON object");
        app.callback([options, json] { print(imc::lsh::runLettersWorkload(*options), *json, "accuracy"); });
    }};

const imc::cli::CommandRegistration sweepRegistration{
    "lsh letters-sweep", "Letter-shift accuracy for rounds 1..N and several bucket counts, memristor vs Gaussian RP",
    [](CLI::App& app) {
        auto options = std::make_shared<imc::lsh::LettersSweepOptions>();
        auto json = std::make_shared<bool>(false);
        app.add_option("--max-rounds", options->maxRounds, "Rounds 1..N")->capture_default_str();
        app.add_option("--bucket-counts", options->bucketCounts, "Bucket counts")->capture_default_str();
        addLettersOptions(app, options->base);
        app.add_flag("--json", *json, "Print one JSON object");
        app.callback([options, json] { print(imc::lsh::runLettersSweep(*options), *json, nullptr); });
    }};

const imc::cli::CommandRegistration collisionsRegistration{
    "lsh collisions", "P(same bucket) at angle theta: memristor and passive RP against Gaussian RP and 1 - theta/pi",
    [](CLI::App& app) {
        auto options = std::make_shared<imc::lsh::CollisionOptions>();
        auto json = std::make_shared<bool>(false);
        app.add_option("--dim", options->dim, "Vector dimension")->capture_default_str();
        app.add_option("--pairs", options->pairs, "Pairs per angle")->capture_default_str();
        app.add_option("--angles", options->anglesDeg, "Angles in degrees")->capture_default_str();
        app.add_option("--fits", options->fitsPath,
                       "Memristor conductance fits file (lognormal or lognormal-cycle); default: fits/memristor-c2c.json");
        app.add_option("--seed", options->seed, "Seed")->capture_default_str();
        app.add_flag("--json", *json, "Print one JSON object");
        app.callback([options, json] { print(imc::lsh::runCollisionStatistics(*options), *json, "max_abs_deviation"); });
    }};

}  // namespace
