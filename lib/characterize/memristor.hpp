#pragma once
// Memristive crosspoint cells in SPICE (netlists/models/memristor): the self-selective cell's
// quasi-DC I-V loop, sneak paths in crossbars of self-selective and linear cells, device-to-device
// and cycle-to-cycle conductance variability, RP-LSH hashing in a crossbar, and the fits the
// behavioral LSH draws its projections from. Every simulation runs through runSweep (worker
// pool, results folder, resume); the functions below plan the jobs and reduce the results.
#include "characterize/study.hpp"
#include "circuits/cell.hpp"
#include "circuits/memristor_crossbar.hpp"
#include "fit/fit.hpp"

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace imc::characterize {

// ---------------------------------------------------------------- cells

enum class MemristorCell { SelfSelective, Linear };
MemristorCell parseMemristorCell(const std::string& text);  // "self-selective" (or "selfsel"), "linear" (or "ohmic")
const char* toString(MemristorCell cell);                   // "self-selective", "linear"
circuits::CellSpec memristorCellSpec(MemristorCell cell);

// The documented parameters of the self-selective model (selfsel.lib defaults, README.md).
struct SelfSelectiveParameters {
    double Goff_S = 0.125e-9, Gon_S = 2e-9, Gplat_S = 2e-12;
    double Vread_V = 3.0, Vh_pos_V = 2.5, Vh_neg_V = -2.0, Vs_V = 0.01, Kneg = 0.6, Icc_A = 100e-9;
};

// The self-selective conduction equation of selfsel.lib evaluated in C++ (state x frozen): an
// independent reference for the SPICE model, I in A at cell voltage V.
double selfSelectiveCurrent_A(double V, double x, const SelfSelectiveParameters& p = {}, double sGoff = 1, double sGon = 1);

// Hold voltage as the README defines it: the first voltage, going out from 0 V, where |I| reaches
// ten times the plateau current Gplat |V|; linear interpolation between samples. NaN when absent.
double holdVoltage_V(const std::vector<double>& V, const std::vector<double>& I_A, double Gplat_S, bool positive);

// ---------------------------------------------------------------- I-V loop, switching, read disturb

struct IvReport {
    // static curves (.dc, state frozen), HRS = x 0 and LRS = x 1
    double plateauHrsAt1V_A = 0, plateauHrsAt2V_A = 0, plateauLrsAt1V_A = 0;
    double holdHrsPositive_V = 0, holdHrsNegative_V = 0, holdLrsPositive_V = 0, holdLrsNegative_V = 0;
    double hrsAt3V_A = 0, lrsAt3V_A = 0, onOffAt3V = 0, lrsAt5V_A = 0, lrsAtMinus5V_A = 0;
    // quasi-DC loop 0 -> +5 -> 0 -> -5 -> 0 V at 0.2 V/us from the pristine HRS, 1 kohm in series
    double loopHoldRising_V = 0, loopHoldNegative_V = 0, loopAt5V_A = 0, loopAtMinus5V_A = 0, loopMaxCurrent_A = 0;
    double loopOnOffAt3V = 0;  // I(3 V) after the set half / before it
    std::vector<double> loopV, loopI_A;
    // 100 reads at 3 V from x = 0.3: relative change of the read current, last against first
    double readDisturbRelative = 0;
    // read current after five 10 us writes at 4 V over the one before
    double writeGain = 0;
    std::filesystem::path dir;
    std::string ngspiceVersion, netlistHash;
    nlohmann::json toJson() const;  // measured numbers beside the documented targets
};

// Runs the static sweeps, the loop, the read-disturb and the write decks (5 small jobs).
IvReport characterizeSelfSelective(const RunSpec& run);

// ---------------------------------------------------------------- sneak paths

enum class DataPattern { Worst, Best, Random };  // unselected cells: all LRS, all HRS, random half LRS
DataPattern parseDataPattern(const std::string& text);  // "worst", "best", "random"
const char* toString(DataPattern pattern);

struct SneakCase {
    MemristorCell cell = MemristorCell::SelfSelective;
    int rows = 16, cols = 16;
    circuits::BiasScheme scheme = circuits::BiasScheme::Third;
    DataPattern pattern = DataPattern::Worst;
    double readVoltage_V = 3.0;
    double wireResistance_Ohm = 10.0;
    std::uint64_t seed = 1;                         // Random pattern only
    std::map<std::string, std::string> cellParams;  // overrides for every instance (e.g. Vh_pos)
};

// Sneak fraction = (I_column - I_cell) / I_column of the selected column's sensed current;
// read margin = (I_column(selected LRS) - I_column(selected HRS)) / I_column(selected LRS).
struct SneakResult {
    SneakCase c;
    double cellLrs_A = 0, columnLrs_A = 0, cellHrs_A = 0, columnHrs_A = 0;
    double sneakFractionLrs = 0, sneakFractionHrs = 0, readMargin = 0;
    bool ok = false;
    nlohmann::json toJson() const;
};

// Two .op jobs per case (selected cell in HRS, in LRS), all through one sweep.
std::vector<SneakResult> runSneakStudy(const std::vector<SneakCase>& cases, const RunSpec& run, RunSummary* summary = nullptr);

// ---------------------------------------------------------------- variability

// HRS conductance after reset cycle n (n >= 1), the model the SPICE instances get via sGoff:
//   ln(G / Goff) = sigma(n) * (sqrt(f) z_device + sqrt(1 - f) e_device,n),   z, e ~ N(0, 1)
//   sigma(n)     = sigma_0 + sigma_per_decade * log10(n)
// z is drawn once per device (device-to-device), e again for every set/reset cycle
// (cycle-to-cycle). Goff is the median. The numbers, each with its source (the paper's one-reset
// spread; sigma_per_decade and f are assumptions), live in netlists/models/memristor/variability.json.
struct ConductanceVariability {
    double Goff_S = 0, sigma0 = 0, sigmaPerDecade = 0, deviceFraction = 0;
    double sigmaAtCycle(int cycle) const;
    double factor(std::uint64_t seed, std::uint64_t sample, std::uint64_t device, int cycle) const;  // sGoff
    // Reads a variability file (format "imc-memristor-variability" version 1); errors name the
    // file and the key. shipped(): the one beside the self-selective device model.
    static ConductanceVariability load(const std::filesystem::path& file);
    static ConductanceVariability shipped();
};

// ---------------------------------------------------------------- RP-LSH in SPICE

struct RpLshSpec {
    int rows = 16, cols = 2;  // cols even: one projection per adjacent column pair
    int vectors = 20;
    std::uint64_t seed = 1;
    int cycle = 1;
    double readVoltage_V = 3.0;  // a "1" input; a "0" is 0 V
    double wireResistance_Ohm = 10.0;
    ConductanceVariability variability = ConductanceVariability::shipped();
};

struct RpLshReport {
    Eigen::MatrixXd conductance_S;            // rows x cols, each device read alone at 3 V in SPICE
    Eigen::MatrixXi inputs;                   // vectors x rows, 0/1
    Eigen::MatrixXd projectionSpice_A;        // vectors x cols/2: I_col(2c) - I_col(2c+1) of the crossbar
    Eigen::MatrixXd projectionBehavioral_A;   // vectors x cols/2: V_read x^T (G[:,2c] - G[:,2c+1])
    std::vector<int> hashSpice, hashBehavioral;  // argmax([p; -p])
    double agreement = 0;
    double maxProjectionError = 0;  // max |p_spice - p_beh| / max |p_beh|
    std::filesystem::path dir;
    std::string ngspiceVersion, netlistHash;
    nlohmann::json toJson() const;
};

// hash = argmax([p; -p]) (index in [0, 2 * p.size())).
int hashOfProjection(const Eigen::VectorXd& p);

// One device-read job for the conductance map, one vmm .op per input vector.
RpLshReport runRpLsh(const RpLshSpec& spec, const RunSpec& run);

// ---------------------------------------------------------------- fits

struct MemristorFitsSpec {
    int samples = 4096;  // devices read for the D2D fit (pairs of them give the differences)
    std::uint64_t seed = 1;
    std::vector<int> cycles = {1, 2, 3, 5, 10, 20, 50, 100};
    int devicesPerCycle = 1024;
    int devicesPerJob = 1024;
    ConductanceVariability variability = ConductanceVariability::shipped();
    std::filesystem::path fitsDir = "fits";
    std::string command;  // for provenance
};

struct MemristorFitsReport {
    fit::LognormalFit hrs;     // ln(G / 1 S), G = I(3 V) / 3 V at cycle 1
    fit::GaussianFit diff;     // G_a - G_b of device pairs, S
    std::vector<std::pair<int, fit::LognormalFit>> perCycle;
    double mu = 0, sigma0 = 0, sigmaPerDecade = 0, sigmaFitRmse = 0;
    std::vector<std::filesystem::path> files;
    std::filesystem::path dir;
    nlohmann::json toJson() const;
};

// Reads the devices in SPICE, fits, writes fits/memristor-hrs-lognormal.json (model "lognormal"),
// memristor-diff-gaussian.json ("gaussian") and memristor-c2c.json ("lognormal-cycle": mu, sigma_0,
// sigma_per_decade, as lib/lsh reads it), and plots the histograms into the results folder.
MemristorFitsReport runMemristorFits(const MemristorFitsSpec& spec, const RunSpec& run);

// A RunSpec for one of several sweeps of a command: its own name and, when the caller gave a
// folder, a subfolder of it.
RunSpec subRun(const RunSpec& base, const std::string& name);

}  // namespace imc::characterize
