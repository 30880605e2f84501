#pragma once
// imc::exporter: fitted behavioral models (fits files, lib/fit) written in the formats other
// tools read: ngspice subcircuits and Monte-Carlo parameters (spice-model), NeuroSim's device
// parameters with the per-state table, CrossSim's DeviceParameters JSON and an aihwkit-style
// programming-noise polynomial. Every writer is a pure function of the records; loadFits and
// the command are the only I/O. A model a format cannot express is an ExportError naming the
// file and the model.
#include "fit/fit.hpp"

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::exporter {

struct ExportError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Format { SpiceModel, NeuroSim, CrossSim, Aihwkit };
Format parseFormat(const std::string& name);  // "spice-model", "neurosim", "crosssim", "aihwkit"
std::string formatName(Format format);

// One fits file, or every *.json of a folder (sorted by name). Errors name the file.
std::vector<fit::FitRecord> loadFits(const std::filesystem::path& fileOrFolder);

// The text of the exported file. spice-model takes every record it can express (a folder of
// fits gives one library, models it has no subcircuit for are skipped with a comment; a single
// record it cannot express is an error); the device formats take exactly one device record.
std::string exportFits(const std::vector<fit::FitRecord>& records, Format format);

// ---------------------------------------------------------------- spice-model pieces

// Subcircuit names of the exported library.
inline constexpr const char* kGainCellSubckt = "imc_gaincell";
inline constexpr const char* kReluReadoutSubckt = "imc_c2p_relu";
inline constexpr const char* kSignedReadoutSubckt = "imc_c2p_signed";

// true when spice-model has a writer for the record's model.
bool spiceExpressible(const fit::FitRecord& record);
// The subcircuit(s) and .param cards of one record (throws ExportError when not expressible).
std::string spiceModel(const fit::FitRecord& record);

// ---------------------------------------------------------------- device states

// Conductance states of a device as a table: what NeuroSim, CrossSim and aihwkit describe.
struct DeviceState {
    double G_mean_S = 0;
    double G_std_S = 0;
    std::optional<double> G_target_S;  // the programmed target, when the fit has one
};
struct DeviceStates {
    std::string source, model;
    std::vector<DeviceState> states;  // ascending conductance
    std::optional<double> read_V;
    std::optional<double> time_s;  // read time after programming, when the fit states one
};
// From a record whose model describes conductance states (lognormal, gaussian, lognormal-cycle
// at cycle 1, rram-levels); ExportError naming the file and the model otherwise.
DeviceStates deviceStates(const fit::FitRecord& record);

std::string neurosimTable(const DeviceStates& states);
std::string crosssimDeviceJson(const DeviceStates& states);
std::string aihwkitNoiseJson(const DeviceStates& states);

// Least-squares polynomial sigma(g) = sum_k c_k (g / g_max)^k of degree min(n - 1, 4) through
// the states' (G_mean, G_std), in uS (aihwkit's unit). c_0 first.
std::vector<double> programmingNoisePolynomial_uS(const DeviceStates& states, double g_max_uS);

}  // namespace imc::exporter
