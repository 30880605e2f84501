#pragma once
// Job files: a user's cell characterized end to end. A job names the cell (a subcircuit in a
// netlist file, its includes, the role of each port), the testbench imc wraps around it, the
// sweeps, the Monte-Carlo plan and the fits to make. One JSON schema, validated with errors that
// name the file and the key:
//
// {"format": "imc-job", "version": 1, "name": "my-resistor",
//  "cell": {"netlist": "cells/res.lib", "subckt": "myres", "includes": ["models/card.pm"],
//           "ports": {"top": "a", "bottom": "b"}, "params": {"R": "1k"}},
//  "testbench": {"kind": "resistive-cell", "read_V": 0.2},
//  "sweep": {"V": {"start": -0.5, "stop": 0.5, "points": 11}},
//  "montecarlo": {"samples": 200, "seed": 1,
//                 "vary": [{"param": "R", "distribution": "lognormal", "median": 1000, "sigma": 0.1}]},
//  "fits": ["lognormal"]}
//
// Paths are relative to the job file. The testbench kinds are listed by testbenchKinds().
#include "characterize/study.hpp"
#include "circuits/cell.hpp"
#include "variability/variability.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::characterize {

struct JobError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A JSON object read with its place in the file, so every error names the key:
// "job.json: key 'montecarlo.vary[0].sigma': must be >= 0".
class JobNode {
public:
    JobNode(const nlohmann::json& value, std::string file, std::string path);
    bool has(const std::string& key) const;
    JobNode at(const std::string& key) const;  // required
    JobNode at(std::size_t index) const;
    double number(const std::string& key) const;
    double number(const std::string& key, double fallback) const;
    std::string text(const std::string& key) const;
    std::string text(const std::string& key, const std::string& fallback) const;
    // Numbers as JSON numbers or SI strings ("1.5n").
    double quantity(const std::string& key) const;
    double quantity(const std::string& key, double fallback) const;
    std::vector<double> numbers(const std::string& key) const;
    std::size_t size() const;
    const nlohmann::json& json() const { return value_; }
    const std::string& path() const { return path_; }
    [[noreturn]] void fail(const std::string& message) const;
    [[noreturn]] void failKey(const std::string& key, const std::string& message) const;
    // Rejects keys outside `allowed` (catches typos such as "sampels").
    void allowOnly(const std::vector<std::string>& allowed) const;

private:
    std::string keyPath(const std::string& key) const;
    const nlohmann::json& value_;
    std::string file_, path_;
};

struct VariedParameter {
    std::string param;                      // subcircuit instance parameter
    variability::Distribution distribution;
    bool cycleToCycle = false;              // false: once per device (D2D); true: again per cycle
    std::uint64_t stream = 0;               // its draw stream ("stream", default: its place in the list, from 1)
};

struct Job {
    std::filesystem::path file;
    nlohmann::json document;
    std::string name;
    circuits::CellSpec cell;
    std::string kind;
    nlohmann::json testbench;                        // the kind's own settings
    std::map<std::string, std::vector<double>> sweeps;  // sweep variable -> points
    int samples = 1;
    std::uint64_t seed = 1;
    bool nominalSample0 = false;  // "nominal_sample0": sample 0 draws nothing (the nominal cell)
    std::vector<VariedParameter> vary;
    std::vector<std::string> fits;
    nlohmann::json paper = nlohmann::json::object();  // "paper": the source paper's numbers, printed beside ours
};

struct JobRunOptions {
    std::filesystem::path outDir;  // results and fits of this job (empty: results/<name>-<hash>)
    int workers = 0;
    bool force = false;
    bool progress = true;
};

struct JobOutcome {
    RunSummary run;
    nlohmann::json report;                      // what the command prints with --json
    std::vector<std::filesystem::path> fitFiles;  // written by this job
};

// Parses and validates a job file (the cell's subcircuit is looked up and its roles checked).
Job loadJob(const std::filesystem::path& file);
// The JSON document of a job file, for commands that adjust it (samples, seed) before parsing;
// errors name the file.
nlohmann::json readJobDocument(const std::filesystem::path& file);
// One of imc's own job files in netlists/ ("gaincell" -> netlists/gaincell.job.json), with the
// Monte-Carlo sample count and seed replaced when given (samples > 0, seed set).
Job loadBuiltinJob(const std::string& name, int samples = 0, std::optional<std::uint64_t> seed = std::nullopt,
                   const std::function<void(nlohmann::json&)>& adjust = {});
Job parseJob(const nlohmann::json& document, const std::filesystem::path& file);

// Runs the job's testbench: job list, simulations, measurements, fits, plots.
JobOutcome runJob(const Job& job, const JobRunOptions& options);

// The run settings of one job: named after it, seeded by it, into the options' folder and workers.
RunSpec runSpecFor(const Job& job, const JobRunOptions& options);

std::vector<std::string> testbenchKinds();

// A parameter of a cell as a number: the job's override, else the subcircuit's default (nullopt
// when it has neither or the value is an expression).
std::optional<double> cellNumericValue(const circuits::CellSpec& cell, const std::string& param);

// The parameter values of one instance for one sample (and cycle): the cell's fixed params and
// the varied ones drawn from (seed, sample, device, cycle). Literal numbers, as written to decks.
std::map<std::string, std::string> drawInstanceParams(const Job& job, std::uint64_t sample, std::uint64_t device,
                                                      std::uint64_t cycle = 0);

}  // namespace imc::characterize
