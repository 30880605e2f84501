#pragma once
// Sweeps as job lists, run through the worker pool into a results folder.
//   job list (pure) -> decks saved under their sweep-point names -> simulator runs (the only I/O)
//   -> measurement (pure, in this process) -> results.csv + manifest.json
// A results folder is keyed by the hash of its decks and seed: running the same sweep again
// reuses it (unless forced); an interrupted run resumes with the jobs that have no row yet.
#include "spice/worker_pool.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace imc::sweep {

// One simulation of a sweep: its coordinates (sweep variables, sample index, seeds...) and its job.
struct PlannedJob {
    spice::SimJob sim;
    std::vector<std::pair<std::string, double>> point;
    // When set, the deck is built on demand and sim.deck is left empty: under MPI each rank
    // builds only its share (job i on rank i mod size, while MPI starts) and rank 0, which
    // needs every deck for the folder key and the saved decks, receives the others' share.
    // For job lists whose deck text is the expensive part (a crossbar's ten thousand cards).
    std::function<std::string()> makeDeck;
};

// Measurement: named numbers from one finished job (pure; may throw to mark the row failed).
using Measure = std::function<std::vector<std::pair<std::string, double>>(const PlannedJob&, const spice::SimResult&)>;

// Decks that read many devices at one operating point: column i_dev<k>_A holds the current of the
// job's k-th saved vector (the one measure both device studies use).
std::vector<std::string> deviceCurrentColumns(int devices);
std::vector<std::pair<std::string, double>> measureDeviceCurrents(const PlannedJob& job, const spice::SimResult& result);

struct RunSpec {
    std::string name;                     // "crossbar", "gaincell", ...
    std::filesystem::path resultsRoot = "results";
    std::filesystem::path outDir;         // empty: <resultsRoot>/<name>-<hash prefix>
    std::uint64_t seed = 1;
    int workers = 0;                      // 0: one per core
    double jobTimeout_s = 0;
    bool force = false;                   // ignore stored results
    bool progress = true;                 // progress lines on stderr
    bool saveDecks = true;
    nlohmann::json parameters = nlohmann::json::object();  // generator parameters, for provenance
};

struct Row {
    std::string job;
    bool ok = false;
    std::map<std::string, double> values;  // point coordinates and measurements
    double wall_s = 0;
    std::string error;
};

struct RunSummary {
    std::filesystem::path dir;
    std::vector<Row> rows;  // in job order
    std::size_t failed = 0, reused = 0, ran = 0;
    double wall_s = 0;
    std::string netlistHash, ngspiceVersion;
    nlohmann::json manifest;

    // The column `name` of the successful rows, in job order.
    std::vector<double> column(const std::string& name) const;
};

// Runs (or reuses, or resumes) a sweep. `columns` names the measured values in CSV order.
RunSummary runSweep(const std::vector<PlannedJob>& jobs, const std::vector<std::string>& columns,
                    const Measure& measure, const RunSpec& spec);

// Reads a results folder written by runSweep (manifest + CSV).
RunSummary readResults(const std::filesystem::path& dir);

// The hash that keys a sweep: every deck, pre-command and vector list, in job order, and the seed
// (decks built on demand are built for it).
std::string sweepHash(const std::vector<PlannedJob>& jobs, std::uint64_t seed);

// A progress printer for long runs: done/total, failures, elapsed, ETA; one line on stderr,
// rewritten in place on a terminal, every few seconds otherwise.
class ProgressLine {
public:
    explicit ProgressLine(std::string label);
    void update(const spice::Progress& p);
    void finish();

private:
    std::string label_;
    bool tty_;
    double lastPrint_s_ = -1;
    bool printed_ = false;
};

}  // namespace imc::sweep
