#pragma once
// Characterizations of the gain-cell attention hardware (issue 3): the cell's charge surface and
// its third-order polynomial (paper 002 eq. 4), storage-node retention, the two charge-to-pulse
// readouts (eq. 3) and whole arrays compared against the behavioral model assembled from those
// fits. Every simulation runs through runSweep (worker pool, results folder, resume); the
// functions below plan the jobs, reduce the results, fit, plot and build fits records.
// Units: S in fC, Q in ns, K and V_in in V, pulse widths in s; the charge-to-pulse input x is the
// bit-line charge in fC, so the polynomial's output feeds the HardSigmoid unchanged.
#include "characterize/job.hpp"
#include "characterize/study.hpp"
#include "circuits/cell.hpp"
#include "circuits/gaincell_array.hpp"
#include "fit/fit.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace imc::characterize {

// Where a characterization writes: results/<name>-<hash> (or outDir/<sweep>) and, when fitsOut is
// set, its fits file(s) there as well (the shipped defaults live in fits/).
struct GainCellRunOptions {
    std::filesystem::path outDir;
    std::filesystem::path fitsOut;
    int workers = 0;
    bool force = false;
    bool progress = true;
    std::string command;  // for provenance
};

// Per-sample instance parameters of the cell under test (Monte-Carlo draws as literal numbers).
using SampleParams = std::function<circuits::InstanceParams(std::uint64_t sample)>;


// ---------------------------------------------------------------- gain cell

struct GainCellSweep {
    std::string name = "gaincell";
    circuits::CellSpec cell;
    std::vector<double> K_V, Q_s, V_in_V;
    int samples = 1;
    std::uint64_t seed = 1;
    SampleParams params;           // empty: the cell's defaults in every sample
    double K_offset_V = 0.45, nominal_V_in_V = 0.9;
    circuits::CellReadBench bench;  // timing and levels; K_V, Q_s, params are filled per deck
    nlohmann::json parameters = nlohmann::json::object();
};

struct GainCellPoint {
    int sample = 0;
    double K_V = 0, Q_ns = 0, V_in_V = 0, S_fC = 0, E_supply_fJ = 0;
};

struct GainCellResult {
    RunSummary run;
    std::vector<GainCellPoint> points;
    std::optional<fit::GainCellPolyFit> full;   // all V_in (the ten C_i_j), when >= 4 levels
    fit::GainCellPolyFit nominal;               // V_in = nominal only: the per-power sums D_i
    std::vector<fit::GainCellPolyFit> perSample;  // nominal-V_in fit of each Monte-Carlo sample
    std::map<std::string, double> coefficientStd;  // std of the per-sample D_i
    fit::FitRecord record;                      // gaincell-poly at the nominal V_in (the array's)
    std::optional<fit::FitRecord> fullRecord;   // gaincell-poly with the C_i_j
    nlohmann::json report;
};

GainCellResult characterizeGainCell(const GainCellSweep& sweep, const GainCellRunOptions& options);

// The sweep a job file of testbench kind "gaincell" describes (netlists/gaincell.job.json is the
// built-in cell's: K at the 8 DAC levels, Q = 0, 5, 10, 15 ns, V_in = 0.45 .. 0.9 V, Pelgrom
// mismatch per sample). Errors name the file and key.
GainCellSweep gainCellSweepFromJob(const Job& job);

// ---------------------------------------------------------------- retention

struct RetentionResult {
    RunSummary run;
    struct Trace {
        double K_V = 0, dvtw_V = 0;
        int sample = 0;
        fit::ExponentialDecayFit fit;
        double tau_e_s = 0;           // time for V_sn - park to fall to 1/e of its start (NaN if never)
        double halfStep_s = 0;        // time to lose 64.3 mV (half a 3-bit step)
    };
    std::vector<Trace> traces;
    fit::FitRecord record;  // tau of the standard write gate at K = 0.9 V (the shortest)
    nlohmann::json report;
};
// Storage-node decay after a write, one cell per case (stored K, write-gate threshold shift dvtw)
// and sample; the record is the first case's (the standard write gate at the highest K).
struct RetentionSweep {
    std::string name = "retention";
    circuits::CellSpec cell;
    std::vector<double> K_V, dvtw_V;  // one per case
    int samples = 1;
    std::uint64_t seed = 1;
    std::function<circuits::InstanceParams(std::uint64_t sample, std::uint64_t device)> params;  // device = case
    nlohmann::json paper = nlohmann::json::object();  // "tau_s": the paper's retention
    nlohmann::json parameters = nlohmann::json::object();
};
RetentionResult characterizeRetention(const RetentionSweep& sweep, const GainCellRunOptions& options);
// The sweep of a job file of testbench kind "retention" (netlists/retention.job.json is imc's own).
RetentionSweep retentionSweepFromJob(const Job& job);

// ---------------------------------------------------------------- charge-to-pulse

struct ChargeToPulseSweep {
    std::string name = "c2p";
    circuits::CellSpec readout;
    bool isSigned = false;
    std::vector<double> Q_in_C;
    int samples = 1;
    std::uint64_t seed = 1;
    SampleParams params;  // per (sample): instance parameters of every readout of that sample
    circuits::ChargeToPulseBench bench;
    nlohmann::json parameters = nlohmann::json::object();
};

struct ChargeToPulseResult {
    RunSummary run;
    std::vector<double> x_fC, width_s;  // every (sample, level): input and signed pulse width
    fit::HardSigmoidFit fit;
    nlohmann::json readoutNoise;  // spread.width_by_level: {"levels": x_fC, "mean": [s], "std": [s]} across samples
    fit::FitRecord record;
    nlohmann::json report;
};

ChargeToPulseResult characterizeChargeToPulse(const ChargeToPulseSweep& sweep, const GainCellRunOptions& options);

// The sweep a job file of testbench kind "charge-to-pulse" describes; charges as Q_in (C) or as
// Q_in_rel_Ssat (fractions of the readout's Ssat parameter).
ChargeToPulseSweep chargeToPulseSweepFromJob(const Job& job);

// imc's readout job (netlists/c2p-relu.job.json, or c2p-signed) sized for `rows` cells per bit line
// (circuits::readoutForRows: relu for the first array, signed for the second) or, when
// fullScale_C > 0, for that saturation charge; `levels` > 0 replaces its number of charge levels.
// The parameters of that readout for `rows` cells (the sizing rule with the job's charge per sqrt(row)).
circuits::ReadoutParams builtinReadoutParams(bool isSigned, int rows);
Job builtinReadoutJob(bool isSigned, int rows, int samples = 0, std::optional<std::uint64_t> seed = std::nullopt,
                      double fullScale_C = 0.0, int levels = 0);

// ---------------------------------------------------------------- arrays

struct ArrayCharacterization {
    int rows = 8, cols = 8, samples = 1;
    std::uint64_t seed = 1;
    enum class Form { Auto, Full, Columns } form = Form::Auto;  // Auto: full up to 64 cells (8x8), columns above
    bool verifyDecomposition = false;  // also run the other form and compare column charges
    // Per-cell instance parameters of (sample, device); empty: nominal cells. Devices are numbered
    // row-major over the first array, then over the second.
    std::function<circuits::InstanceParams(std::uint64_t sample, std::uint64_t device)> mismatch;
    // The architecture the behavioral model reads (fits/gaincell-array.json): quantizer levels and
    // ranges, tile size, read voltage, pulse full scale; the job file's testbench.architecture.
    nlohmann::json architecture;
    nlohmann::json paper = nlohmann::json::object();  // the paper's numbers the report prints beside ours
    circuits::CellSpec cell;
    fit::FitRecord polynomial;  // gaincell-poly
    nlohmann::json parameters = nlohmann::json::object();
};

struct ArrayResult {
    nlohmann::json report;  // rmse_fs, max_err_fs, ... (printed by the command)
    std::filesystem::path dir;
    fit::FitRecord record;  // gaincell-array (architecture, latency)
    double rmse_fs = 0, max_err_fs = 0;
};

ArrayResult characterizeArray(const ArrayCharacterization& spec, const GainCellRunOptions& options);

// The arrays a job file of testbench kind "array" describes (netlists/gaincell-array.job.json is
// imc's own): size, form, the model's fits folder, mismatch from its montecarlo.vary, the
// architecture record. Errors name the file and key.
ArrayCharacterization arrayCharacterizationFromJob(const Job& job);

// The keys of testbench.architecture, each required.
const std::vector<std::string>& arrayArchitectureKeys();

}  // namespace imc::characterize
