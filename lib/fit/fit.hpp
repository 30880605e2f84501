#pragma once
// imc::fit: turns measured or simulated samples into behavioral-model parameters, and reads and
// writes the one fits-file format of the project (see fits/README.md). Everything here is a pure
// function of its inputs except readCsv, readFit and writeFit.
#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imc::fit {

// ---------------------------------------------------------------- linear least squares

struct LinearLeastSquaresFit {
    Eigen::VectorXd coefficients;
    Eigen::VectorXd residuals;  // target - design * coefficients
    double rmse = 0.0;
    double r2 = 0.0;            // 1 - SS_res / SS_tot (SS_tot about the mean of the target)
    Eigen::Index rank = 0;      // numerical rank of the column-scaled design matrix
    bool full_rank() const { return rank == coefficients.size(); }
};

// Column-pivoted QR on the column-scaled design; rank_tolerance is relative to the largest pivot.
LinearLeastSquaresFit fitLinearLeastSquares(const Eigen::MatrixXd& design, const Eigen::VectorXd& target,
                                            double rank_tolerance = 1e-10);

// ---------------------------------------------------------------- gain-cell polynomial (paper eq. 4)

// C[i][j] multiplies Q * (K - K_offset)^i * V_in^j; only i + j <= 3 are used (10 coefficients).
using GainCellCoefficients = std::array<std::array<double, 4>, 4>;

struct GainCellPolyFit {
    // true: all ten C_ij were fitted. false: V_in took a single value (or varied by < 0.1 %), only
    // the per-power sums D_i = sum_j C_ij V_in^j are identifiable and `coefficients` holds those.
    // Two or three distinct V_in levels are refused (std::invalid_argument): the C_0_j need four.
    bool identifiable = false;
    std::map<std::string, double> coefficients;  // "C_i_j" (identifiable) or "D_i" (not)
    GainCellCoefficients C{};                    // valid when identifiable
    std::array<double, 4> D{};                   // per-power sums at V_in_V (always filled)
    double K_offset_V = 0.0;
    double V_in_V = 0.0;                         // the V_in the sums D refer to (mean V_in)
    std::size_t distinct_V_in = 0;
    double rmse = 0.0;
    double r2 = 0.0;
    std::size_t n = 0;
    std::string note;                            // why the model is reduced, empty otherwise
};

GainCellPolyFit fitGainCellPolynomial(std::span<const double> Q, std::span<const double> K,
                                      std::span<const double> S, std::span<const double> V_in,
                                      double K_offset_V);

// D_i = sum_j C_ij V_in^j, for comparing a full fit (or published C_ij) with a single-V_in fit.
std::array<double, 4> gainCellPerPowerSums(const GainCellCoefficients& C, double V_in);

// The gain-cell polynomial at the array's fixed read voltage, in per-power form:
// S = Q sum_{i=0..3} D_i (K - offset_V)^i, in the units of the record it came from (fC with Q in
// ns for ours). The one evaluation of eq. 4 shared by the characterization (SPICE against the
// model) and the behavioral model the transformer runs.
struct GainCellPolynomial {
    std::array<double, 4> D{};
    double offset_V = 0.0;
    double operator()(double Q, double K) const {
        const double d = K - offset_V;
        return Q * (D[0] + d * (D[1] + d * (D[2] + d * D[3])));
    }
};

// From a gaincell-poly record's coefficients (see fits/README.md): the ten C_i_j folded at
// V_in_V (required then), or D_0..D_3 as given; a D form whose own "V_in" differs from a given
// V_in_V is refused. Throws FitsFormatError naming `source` and the key.
GainCellPolynomial gainCellPolynomial(const std::map<std::string, double>& coefficients,
                                      std::optional<double> V_in_V, const std::string& source);

// S for one cell with the full C_ij model: the per-power sums at V_in, evaluated as above.
double evaluateGainCellPolynomial(const GainCellCoefficients& C, double Q, double K, double V_in,
                                  double K_offset_V);

// ---------------------------------------------------------------- distributions

struct Interval {
    double lo = 0.0;
    double hi = 0.0;
};

// Mean (0 for no samples) and sample standard deviation (divides by n - 1; 0 below 2 samples) of
// repeated measurements: draws, arrays, Monte-Carlo samples. Summed in order, so results are stable.
double sampleMean(std::span<const double> x);
double sampleStd(std::span<const double> x);

// Lognormal: ln(x) ~ Normal(mu, sigma). sigma is the MLE (divides by n); mu_ci uses Student t with
// n-1 degrees of freedom, sigma_ci the chi-square interval of the variance. KS statistic and p-value
// are computed against the fitted distribution, which makes the p-value conservative (too large).
struct LognormalFit {
    double mu = 0.0;
    double sigma = 0.0;
    Interval mu_ci;
    Interval sigma_ci;
    double confidence = 0.95;
    double ks_D = 0.0;
    double ks_p = 0.0;
    std::size_t n = 0;
};

struct GaussianFit {
    double mean = 0.0;
    double std = 0.0;  // MLE
    Interval mean_ci;
    Interval std_ci;
    double confidence = 0.95;
    double ks_D = 0.0;
    double ks_p = 0.0;
    std::size_t n = 0;
};

// Throws std::invalid_argument on fewer than 2 samples, non-finite values, and (lognormal)
// non-positive values, naming the index of the first bad sample.
LognormalFit fitLognormal(std::span<const double> samples, double confidence = 0.95);
GaussianFit fitGaussian(std::span<const double> samples, double confidence = 0.95);

// P(K > lambda) for the asymptotic Kolmogorov distribution K = sup|B(t)| of a Brownian bridge.
double kolmogorovSurvival(double lambda);
// Two-sided one-sample KS p-value for statistic D and n samples, via Stephens' (1970) finite-n
// scaling lambda = (sqrt(n) + 0.12 + 0.11/sqrt(n)) D of the asymptotic distribution.
double ksPValue(double D, std::size_t n);

// ---------------------------------------------------------------- retention (capacitor leakage)

// V(t) = V_inf + (V0 - V_inf) exp(-t / tau).
struct ExponentialDecayFit {
    double V0_V = 0.0;
    double V_inf_V = 0.0;
    double tau_s = 0.0;
    double tau_stderr_s = 0.0;  // from the Gauss-Newton covariance, 0 if undetermined
    bool V_inf_fixed = false;
    double rmse = 0.0;
    double r2 = 0.0;
    std::size_t n = 0;
    int iterations = 0;
};

// t_s in seconds. V_inf_fixed_V pins the asymptote (use it when tau >> time span).
ExponentialDecayFit fitExponentialDecay(std::span<const double> t_s, std::span<const double> V,
                                        std::optional<double> V_inf_fixed_V = std::nullopt);

// ---------------------------------------------------------------- HardSigmoid (paper eq. 3)

// T(x) = clamp(slope * (x - offset), 0, T_max). Signed variant: T = sign(x) * clamp(slope * (|x| -
// offset), 0, T_max). x is in the caller's input unit; slope in seconds per x unit.
struct HardSigmoidFit {
    double slope_s_per_x = 0.0;
    double offset_x = 0.0;
    double T_max_s = 0.0;
    bool is_signed = false;
    bool offset_observed = true;      // some samples lie below the offset
    bool saturation_observed = true;  // some samples lie beyond the saturation point
    double rmse = 0.0;
    double r2 = 0.0;
    std::size_t n = 0;
};

HardSigmoidFit fitHardSigmoid(std::span<const double> x, std::span<const double> T_s);
HardSigmoidFit fitSignedHardSigmoid(std::span<const double> x, std::span<const double> T_signed_s);
double evaluateHardSigmoid(const HardSigmoidFit& fit, double x);

// ---------------------------------------------------------------- CSV input

struct CsvTable {
    std::string source;                    // file name used in messages
    bool has_header = false;
    std::vector<std::string> names;        // header names, or "col1", "col2", ... without header
    std::vector<std::vector<double>> columns;
    std::vector<std::size_t> line_of_row;  // 1-based file line of each data row

    std::size_t rows() const { return line_of_row.size(); }
    // Finds `name` exactly, or with a unit suffix: "Q" matches "Q_s", "Q_ns", "Q [fC]", "Q(ns)".
    std::optional<std::size_t> findColumn(std::string_view name) const;
    // Like findColumn but throws std::runtime_error naming the file and the columns present.
    const std::vector<double>& column(std::string_view name) const;
    // Unit suffix of the column matched by `name` ("ns" for "Q_ns"), empty if none.
    std::string unitOf(std::string_view name) const;
};

// Comma-, tab- or whitespace-separated; '#' starts a comment line; blank lines are skipped. The
// first line is a header when none of its fields is a number. Throws std::runtime_error
// "FILE:LINE: ..." on text, NaN, infinities, empty fields and ragged rows.
CsvTable parseCsv(std::string_view text, std::string source);
CsvTable readCsv(const std::string& path);

// ---------------------------------------------------------------- CSV output (the one writer)

// A field as written: quoted when it holds a comma, a quote or a line break (a line break becomes a
// space, so one row stays one line; a quote is doubled).
std::string csvField(std::string_view text);
// Fields through csvField, joined by commas, without the line end.
std::string csvLine(std::initializer_list<std::string_view> fields);
std::string csvLine(const std::vector<std::string>& fields);
// The fields of one line written by csvLine (quotes resolved); for tables with text columns, which
// parseCsv (numbers only) does not read.
std::vector<std::string> splitCsvLine(std::string_view line);

// Factor from `unit` to its SI base unit ("ns" -> 1e-9, "mV" -> 1e-3, "" -> 1); nullopt if unknown.
std::optional<double> siScale(std::string_view unit);

// ---------------------------------------------------------------- fits files

inline constexpr std::string_view kFitFormat = "imc-fit";
inline constexpr int kFitVersion = 1;

struct FitsFormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct FitQuality {
    std::optional<double> rmse;
    std::optional<double> r2;
    std::optional<std::uint64_t> n;
    nlohmann::json extra = nlohmann::json::object();  // further metrics, e.g. ks_p
};

struct FitProvenance {
    std::string generator;
    nlohmann::json parameters = nlohmann::json::object();
    std::string netlist_sha256;
    std::optional<std::uint64_t> seed;
    std::optional<std::uint64_t> samples;
    std::string ngspice_version;
    std::string created_utc;
    std::string command;
    nlohmann::json extra = nlohmann::json::object();  // keys not listed above, kept on round trip
};

struct FitRecord {
    std::string model;
    std::string description;
    std::map<std::string, double> coefficients;
    std::map<std::string, std::string> units;
    std::map<std::string, std::pair<double, double>> validity;  // [lo, hi] per input key
    FitQuality quality;
    nlohmann::json spread = nlohmann::json::object();           // free-form
    FitProvenance provenance;
    std::string source;  // path it was read from, for messages; not written

    // Throws FitsFormatError naming the file and the key when the coefficient is missing.
    double coefficient(const std::string& name) const;
    // false (and one warning per file and key on stderr) when value lies outside validity[name];
    // true when inside or when the file gives no range for that key.
    bool checkRange(const std::string& name, double value) const;
};

nlohmann::ordered_json toJson(const FitRecord& record);  // keys in the documented order
// source names the origin in error messages.
FitRecord fitFromJson(const nlohmann::json& document, const std::string& source);
void writeFit(const std::string& path, const FitRecord& record);
FitRecord readFit(const std::string& path);

// Every *.json file of `dir`, sorted by name, read strictly: a broken file is an error naming it
// (FitsFormatError), as is a `dir` that is not a directory.
std::vector<FitRecord> readFitsFolder(const std::string& dir);
// The record of `model` among `records` (read from `dir`, named in messages) or in `dir`;
// nullopt when none gives it, FitsFormatError naming both files when two do.
std::optional<FitRecord> findFit(const std::vector<FitRecord>& records, const std::string& model, const std::string& dir);
std::optional<FitRecord> findFit(const std::string& dir, const std::string& model);

// The fits record of a distribution fit, as fits/README.md documents it: model, coefficients,
// units (x in `unit`, e.g. "S"; empty: unknown), quality (n, ks_D, ks_p) and spread (confidence
// intervals). Callers add the description, validity and provenance.
FitRecord lognormalRecord(const LognormalFit& fit, const std::string& unit);
FitRecord gaussianRecord(const GaussianFit& fit, const std::string& unit);

// "2025-01-31T12:00:00Z", for provenance.created_utc.
std::string currentUtcTimestamp();

// ---------------------------------------------------------------- one record builder per model

using Range = std::pair<double, double>;  // [lo, hi]
Range rangeOf(std::span<const double> values);  // throws std::invalid_argument when empty

// The provenance of a fit made now (created_utc filled); SPICE runs add their seed, netlist hash
// and ngspice version.
FitProvenance fitProvenance(const std::string& generator, const std::string& command, const nlohmann::json& parameters,
                            std::optional<std::uint64_t> samples, std::optional<std::uint64_t> seed = std::nullopt,
                            const std::string& netlist_sha256 = "", const std::string& ngspice_version = "");

// gaincell-poly: the C_i_j (identifiable) or D_i with V_in, and K_offset; units from the units of
// S and Q ("" unknown); validity Q_<unit>, K_V and V_in_V over the ranges fitted; quality rmse (in
// S's unit), r2, n, identifiable. Callers add description details, spread and provenance.
FitRecord gainCellPolyRecord(const GainCellPolyFit& fit, const std::string& S_unit, const std::string& Q_unit, Range Q,
                             Range K_V, Range V_in_V);
// retention: tau_s, V0_V, V_inf_V; validity t_s; quality rmse (V), r2, n; spread tau_stderr_s.
FitRecord retentionRecord(const ExponentialDecayFit& fit, Range t_s);
// c2p-relu, or c2p-signed for a signed fit: slope_s_per_x, offset_x, T_max_s with x in x_unit;
// validity x_<unit>; quality rmse (s), r2, n, offset_observed, saturation_observed, S_sat_<unit>.
FitRecord chargeToPulseRecord(const HardSigmoidFit& fit, const std::string& x_unit, Range x);

}  // namespace imc::fit
