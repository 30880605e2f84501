#pragma once
// Multi-level 1T1R RRAM cells in SPICE (netlists/models/rram): program-and-verify, retention
// relaxation and read noise drawn in C++ and written into the decks as literals; isolated device
// reads per level, 64-row columns read by an ADC model, and the per-level fits ("rram-levels")
// the behavioral HyFlexPIM layers read. Every simulation runs through runSweep.
#include "characterize/study.hpp"
#include "circuits/cell.hpp"
#include "fit/fit.hpp"
#include "netlist/netlist.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imc::characterize {

// Time between programming and reading, as the Wan et al. (Nature 2022) relaxation data is given.
enum class Retention { OneSecond, OneDay, TwoDays };
Retention parseRetention(const std::string& text);  // "1s", "1day", "2day"
const char* toString(Retention r);                  // "1s", "1day", "2day"
double retentionTime_s(Retention r);

// Standard deviation of the conductance relaxation after `r` at target G_target_S, for a device
// whose largest level is G_max_S: the 4th-order polynomial in G_target / G_max that IBM aihwkit's
// ReRamWan2022NoiseModel fitted to Wan et al. (Nature 2022), in uS for a 40 uS window, scaled in
// proportion to G_max (the same relative spread for a wider window).
double wanRelaxationStd_S(double G_target_S, double G_max_S, Retention r);

// The cell, its levels and every variability source.
struct RramLevelsSpec {
    circuits::CellSpec cell;                  // roles bl, wl, sl (default: builtin rram1t1r)
    std::string conductanceParam = "G";       // the instance parameter holding the element conductance, S
    std::string mismatchParam = "dvt";        // access-device threshold mismatch, V (empty: none)
    int levels = 4;                           // 2 (SLC) or 4 (2-bit MLC), equally spaced in G
    double R_on_Ohm = 6e3, onOff = 150;       // the paper's device: G_on = 1/R_on, G_off = G_on / onOff
    double read_V = 0.2, wordLine_V = 0.9;    // bit line at read_V, selected word line at wordLine_V
    double accessW_m = 500e-9, accessL_m = 32e-9;
    double A_vt_Vm = 1.2e-9;                  // Pelgrom coefficient, 1.2 mV um (as the gain cell)
    // Program-and-verify: G = G_target exp(programSigma z), z ~ N(0,1), re-drawn while
    // |G - G_target| > verifyWindow_lsb G_lsb, at most verifyCap attempts (the last one is kept).
    double programSigma = 0.10, verifyWindow_lsb = 0.10;
    int verifyCap = 20;
    Retention retention = Retention::OneDay;
    double readNoise_rel = 0.01;              // additive read noise per read, std as a fraction of G_on
    double G_floor_S = 1e-9;                  // relaxation and noise never take G below this
    int devicesPerLevel = 2048, devicesPerJob = 512;
    int rows = 64, columnReads = 256, columnsPerJob = 32;
    double wire_Ohm = 1.0;                    // per cell pitch, on the bit line and on the source line
    double inputDensity = 0.5;                // probability that an input bit (word line) is 1
    int adcBits = 0;                          // 0: the paper's ceil(log2 rows) + bits_per_cell - 1
    std::uint64_t seed = 1;

    double G_on_S() const { return 1.0 / R_on_Ohm; }
    double G_off_S() const { return G_on_S() / onOff; }
    double G_lsb_S() const { return (G_on_S() - G_off_S()) / (levels - 1); }
    double G_target_S(int level) const { return G_off_S() + level * G_lsb_S(); }
    int bitsPerCell() const;
    int effectiveAdcBits() const;
    void validate() const;  // std::invalid_argument naming the field
};

// The builtin cell, roles bl wl sl.
RramLevelsSpec defaultRramSpec(int levels);

struct ProgrammedCell {
    double G_S = 0;      // after program-and-verify and relaxation
    int attempts = 0;
    bool verified = false;
};
// Draws for device `device` of experiment `sample`: each from its own stream, so a value depends
// only on (seed, sample, device) and the read index.
ProgrammedCell programCell(const RramLevelsSpec& spec, int level, std::uint64_t sample, std::uint64_t device);
double readConductance_S(const RramLevelsSpec& spec, double G_programmed_S, std::uint64_t sample, std::uint64_t device,
                         std::uint64_t read);
double accessMismatch_V(const RramLevelsSpec& spec, std::uint64_t sample, std::uint64_t device);

// Isolated devices: device k between the read node and its own 0 V source vdev<k> (its current),
// word line at wordLine_V.
netlist::Circuit buildRramDeviceRead(const RramLevelsSpec& spec, const std::vector<double>& G_S, const std::vector<double>& dvt_V);

// One column of `rows` cells: bit line driven at read_V from row 0 through wire_Ohm per pitch,
// source line to a 0 V source vsl<c> (the virtual ground) after row rows-1; word line r at
// wordLine_V when input[r] is 1, else 0 V. accessResistor_Ohm replaces each access transistor by
// a resistor (rows with input 0 are then left open), for checking the wiring against a nodal solve.
struct RramColumn {
    std::vector<int> level, input;
    std::vector<double> G_S, dvt_V;
};
netlist::Circuit buildRramColumns(const RramLevelsSpec& spec, const std::vector<RramColumn>& columns,
                                  std::optional<double> accessResistor_Ohm = std::nullopt);
RramColumn drawRramColumn(const RramLevelsSpec& spec, std::uint64_t column);

struct RramLevelStats {
    double target_S = 0, mean_S = 0, std_S = 0, elementMean_S = 0, sigmaEta = 0;
    double compression = 0;  // 1 - mean(G_read) / mean(G_element)
    fit::GaussianFit gaussian;
    std::optional<fit::LognormalFit> lognormal;
};

// A column ADC: code = clamp(round((I - n_on offsetPerRow_A) / lsb_A), 0, max code), against the
// ideal integer sum of input bit x level.
struct AdcOutcome {
    double offsetPerRow_A = 0, lsb_A = 0;
    double clipRate = 0, codeErrorRate = 0, meanAbsError_lsb = 0;
    nlohmann::json toJson() const;
};

struct RramLevelsReport {
    RramLevelsSpec spec;
    std::vector<RramLevelStats> level;
    double sigmaEta = 0, level0StdLsb = 0, ber = 0, ser = 0, berGauss = 0, serGauss = 0;
    double meanAttempts = 0, verifyFailRate = 0, flooredRate = 0;
    // columns
    std::size_t columnReads = 0;
    AdcOutcome adcDevice;  // calibrated on the isolated-device level means
    AdcOutcome adcColumn;  // calibrated by least squares on the column reads (includes the wires' IR drop)
    int adcMaxCode = 0, fullScaleSum = 0;
    std::filesystem::path devicesDir, columnsDir;
    std::string ngspiceVersion, netlistHash;
    nlohmann::json toJson() const;
    fit::FitRecord toFit(const std::string& command) const;  // model "rram-levels"
};

// Reads devicesPerLevel devices per level, then columnReads columns (calibrated from the device
// reads), and reduces both.
RramLevelsReport runRramLevels(const RramLevelsSpec& spec, const RunSpec& base);

}  // namespace imc::characterize
