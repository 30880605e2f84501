#pragma once
// imc::behavior: the behavioral gain-cell attention of paper 002 for one head and one array step.
// Two models share one set of kernels:
//   linear    ("gaincell-linear"): S = g Q (K - k0)^T, the hardware's ideal intermediate model;
//   nonlinear ("gaincell"):        S = sum_i D_i Q (K - K_offset)^i (the fitted gain-cell polynomial),
// both with quantized inputs, HardSigmoid charge-to-pulse instead of softmax, a causal sliding
// window, the capacitor decay mask, 64-token sub-tiles read out separately and summed digitally.
// Every device number comes from fits files (lib/behavior/README.md lists the keys read).
#include "fit/fit.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imc::behavior {

// Same layout as imc::nn::Matrix: a row is a token, so backends can pass their blocks unchanged.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;
using MatrixRef = Eigen::Ref<Matrix>;

// ---------------------------------------------------------------- quantizers

// Round-to-nearest onto `levels` evenly spaced values spanning [lo, hi], clamping first; a value
// halfway between two levels goes to the upper one. Inline: kernels call it per element.
// Training uses the straight-through estimator: the backward pass treats it as the identity.
inline double quantizeUniform(double x, double lo, double hi, int levels) {
    const double step = (hi - lo) / (levels - 1);
    // The argument is >= 0, so truncation is floor (and avoids a libm call without SSE4.1).
    const double index = static_cast<double>(static_cast<long long>((std::clamp(x, lo, hi) - lo) / step + 0.5));
    return std::min(hi, lo + index * step);
}

struct UniformQuantizer {
    int levels = 0;  // >= 2
    double lo = 0.0;
    double hi = 0.0;
    double step() const { return (hi - lo) / (levels - 1); }
    double operator()(double x) const { return quantizeUniform(x, lo, hi, levels); }
};

// ---------------------------------------------------------------- circuit laws (normalized)

// First-array charge-to-pulse (eq. 3 with an offset), as a fraction of T_max:
// phi(S) = clamp((S - offset) / S_sat, 0, 1). S_sat = T_max / slope of a fitted HardSigmoid.
struct HardSigmoidPulse {
    double offset = 0.0;
    double S_sat = 1.0;
    double operator()(double S) const;
    // d phi / d S: 1 / S_sat strictly inside the linear region, 0 elsewhere.
    double derivative(double S) const;
};

// Second-array signed charge-to-pulse, as a fraction of T_max: r(x) = sign(x) clamp((|x| - offset) / S_sat, 0, 1).
struct SignedReadout {
    double offset = 0.0;
    double S_sat = 1.0;
    double operator()(double x) const;
    double derivative(double x) const;
};

// Gain-cell polynomial at the array's fixed V_in, in per-power form:
// out = pulse * sum_{i=0..3} D[i] * (stored - offset_V)^i, D_i = sum_j C_i_j V_in^j (eq. 4);
// the one the characterization checks against SPICE (lib/fit).
using GainCellPolynomial = imc::fit::GainCellPolynomial;

// Per-cell readout noise at a full-length pulse, interpolated linearly in the stored level.
struct ReadoutNoiseTable {
    std::vector<double> levels_V;  // ascending
    std::vector<double> std;       // in the polynomial's output unit
    bool empty() const { return levels_V.empty(); }
    double at(double stored_V) const;  // clamped to the end values outside the table
};

// ---------------------------------------------------------------- the model loaded from fits

enum class ArrayModel { Linear, Nonlinear };

struct ArrayArchitecture {
    UniformQuantizer query;   // pulse widths as a fraction of T_max
    UniformQuantizer key;     // stored voltages (V)
    UniformQuantizer value;   // stored voltages (V)
    UniformQuantizer output;  // per-tile signed readout, fraction of T_max
    int tile_size = 0;        // keys per sub-tile (array columns)
    // A full-length pulse in the polynomial's Q unit: gaincell-array "pulse_full_scale_ns" when
    // the polynomial takes Q in ns (15 for T_max = 15 ns), 1 (key absent) when it takes Q in [0, 1].
    double pulse_full_scale = 1.0;
    std::optional<double> V_in_V;           // read voltage of the cells
    std::optional<double> step_latency_s;   // delta_t: latency of one layer's attention step
};

// One fits record's coefficients and their device-to-device spread (absolute std per name).
struct CoefficientSet {
    std::string source;  // file, for messages
    std::map<std::string, double> mean;
    std::map<std::string, double> std;
};

class GainCellModel {
public:
    // Reads every *.json fits file in `fits_dir` (imc::fit::readFitsFolder) and picks the records by
    // their `model`: "gaincell-array" (required), "c2p-relu" (required), "c2p-signed" (required),
    // "gaincell-poly" (required by the nonlinear model only), "retention" (optional; no decay
    // without it). Other models are ignored.
    // Throws std::runtime_error naming the directory, file and key on anything missing or wrong.
    static GainCellModel load(const std::string& fits_dir);

    const ArrayArchitecture& architecture() const { return architecture_; }
    bool hasPolynomial() const { return polynomial_.has_value(); }
    // Mean (no variability) circuit laws.
    const GainCellPolynomial& polynomial() const;  // throws when the directory had no gaincell-poly
    const HardSigmoidPulse& pulse() const { return pulse_; }
    const SignedReadout& readout() const { return readout_; }
    std::optional<double> retention_tau_s() const { return tau_s_; }
    const ReadoutNoiseTable& readoutNoise() const { return noise_; }

    // With variability enabled, the records `array_model` draws from (c2p-relu and c2p-signed;
    // the nonlinear model also gaincell-poly) must give some spread: throws std::runtime_error
    // naming each file and the keys looked for (spread.coefficient_std, spread.readout_noise)
    // when none does, instead of silently running the mean model.
    void requireSpread(ArrayModel array_model) const;

    // Delta_t / tau = L * delta_t / tau per token step (eq. 5); 0 without a retention fit.
    double decayPerStep(int layers) const;

    // Spread-aware coefficient sets, used by the device-to-device draws.
    const std::optional<CoefficientSet>& polynomialCoefficients() const { return poly_set_; }
    const CoefficientSet& pulseCoefficients() const { return pulse_set_; }
    const CoefficientSet& readoutCoefficients() const { return readout_set_; }

    // Circuit laws from (possibly perturbed) coefficient sets; throw naming the source file.
    GainCellPolynomial polynomialFrom(const std::map<std::string, double>& coefficients) const;
    static HardSigmoidPulse pulseFrom(const CoefficientSet& set, const std::map<std::string, double>& coefficients);
    static SignedReadout readoutFrom(const CoefficientSet& set, const std::map<std::string, double>& coefficients);

private:
    ArrayArchitecture architecture_;
    std::optional<GainCellPolynomial> polynomial_;
    std::optional<CoefficientSet> poly_set_;
    std::optional<double> poly_V_in_V_;  // V_in folded into D_i when the record gives the full C_i_j
    CoefficientSet pulse_set_, readout_set_;
    HardSigmoidPulse pulse_;
    SignedReadout readout_;
    std::optional<double> tau_s_;
    ReadoutNoiseTable noise_;
};

// Writes the paper's published model as fits files into `dir` (created if needed):
// gaincell-array.json, c2p-relu.json, c2p-signed.json, retention.json and gaincell-poly.json.
// The paper does not print its C_i_j; the polynomial written is a labelled example set.
void writePaperModelFits(const std::string& dir);

// ---------------------------------------------------------------- one head's array step

// The ideal array of the linear model: S = gain Q (K - K_offset)^T, A = gain (phi)(V - V_offset).
// Model choices rather than device numbers; the defaults are the paper's S = Q K^T, and
// cellLinearization() gives the one that matches a fitted cell.
struct LinearArray {
    double gain = 1.0;
    double K_offset_V = 0.0;
    double V_offset_V = 0.0;
};

// The linear model of the fitted cell, in the units its charge-to-pulse fits expect: gain =
// D_1 x pulse_full_scale (the first-order term at a full-length pulse, e.g. fC per V), offsets
// K_offset. Without a polynomial: gain pulse_full_scale, offsets the middle of the K and V ranges.
LinearArray cellLinearization(const GainCellModel& model);

struct AttentionOptions {
    ArrayModel model = ArrayModel::Linear;
    long window = 0;            // M: key t' is seen by query t when t - M < t' <= t; 0 = whole prefix
    int layers = 1;             // L in Delta_t = L * delta_t
    bool decay = true;          // apply the retention decay mask (needs a retention fit)
    bool quantize_inputs = true;
    bool quantize_output = true;
    // Pulse length in the polynomial's Q unit at a full-length pulse; <= 0 takes the fits'
    // ArrayArchitecture::pulse_full_scale. Nonlinear model only (the linear gain includes it).
    double pulse_full_scale = 0.0;
    LinearArray linear;
};

struct HeadIndex {
    int layer = 0;
    int head = 0;
};

// Device-to-device draws per (seed, layer, head, array, tile) and per-read noise per
// (seed, layer, head, read_index, position): results never depend on thread count or call order.
struct Variability {
    bool enabled = false;          // false: the mean model
    std::uint64_t seed = 0;
    bool device_to_device = true;  // coefficient spread of the polynomial and charge-to-pulse circuits
    bool readout_noise = true;     // per-read cell noise (nonlinear model, needs a noise table)
    std::uint64_t read_index = 0;  // distinguishes repeated reads of the same head
};

// The circuits of one physical sub-tile: its K array and V array and their readouts.
struct TileCircuits {
    GainCellPolynomial key_array;
    GainCellPolynomial value_array;
    HardSigmoidPulse pulse;
    SignedReadout readout;
};

// The mean circuits when variability is off (or device_to_device is off), a seeded draw otherwise.
// The polynomials are left zero when the model has none (linear model only).
TileCircuits drawTileCircuits(const GainCellModel& model, const Variability& variability, HeadIndex head, int tile);

// Optional intermediate results, [Tq, Tk]; entries outside the window are 0 (no charge, no pulse).
struct HeadTrace {
    Matrix S;
    Matrix phi;
};

// One head: k, v [Tk, D]; q [Tq, D] are the queries of the last Tq positions (query i sits at
// position Tk - Tq + i). Writes out [Tq, D] = sum over tiles of quantize(readout(second array)).
// Throws std::invalid_argument on inconsistent shapes, or a window shorter than Tk that is not a
// multiple of the tile size (the circular buffer would not map onto whole tiles).
void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q,
                              ConstMatrixRef k, ConstMatrixRef v, MatrixRef out, HeadTrace* trace = nullptr);

// What one head's arrays hold between calls, for callers that decode token by token (the nn
// backends keep one per layer and head): the keys and values as written into the cells, so a call
// writes only the rows that changed since the last one. Opaque; not thread-safe (one caller at a time).
class StoredArrays {
public:
    StoredArrays();
    ~StoredArrays();
    StoredArrays(StoredArrays&&) noexcept;
    StoredArrays& operator=(StoredArrays&&) noexcept;
    long rowsWritten() const;  // rows prepared since construction

private:
    friend void gainCellAttentionForward(const GainCellModel&, const AttentionOptions&, const Variability&,
                                         HeadIndex, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, MatrixRef,
                                         StoredArrays&);
    friend void gainCellAttentionAppend(const GainCellModel&, const AttentionOptions&, const Variability&,
                                        HeadIndex, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, MatrixRef,
                                        StoredArrays&);
    struct Held;
    std::unique_ptr<Held> held_;
};

// gainCellAttentionForward with the rows held in `stored`: the same results, bit for bit.
void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                              ConstMatrixRef v, MatrixRef out, StoredArrays& stored);

// gainCellAttentionForward for a caller that only appends (a KV cache knows which rows are new):
// rows [0, rows held) of k and v are taken to be those `stored` saw in its earlier calls (not
// compared) and only the rows after them are written, so a decode step costs its own row plus the
// reads. Same results as gainCellAttentionForward, bit for bit. A `stored` used by the comparing
// overload above may continue here; the other way round starts it over. Throws
// std::invalid_argument when k has fewer rows than are held (that is not an append).
void gainCellAttentionAppend(const GainCellModel& model, const AttentionOptions& options,
                             const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                             ConstMatrixRef v, MatrixRef out, StoredArrays& stored);

// The same computation with plain loops in double precision, for tests and as the specification.
Eigen::MatrixXd gainCellAttentionReference(const GainCellModel& model, const AttentionOptions& options,
                                           const Variability& variability, HeadIndex head,
                                           const Eigen::MatrixXd& q, const Eigen::MatrixXd& k,
                                           const Eigen::MatrixXd& v, Eigen::MatrixXd* S = nullptr,
                                           Eigen::MatrixXd* phi = nullptr);

// Straight-through backward of the linear model (options.model must be Linear): the quantizers
// act as the identity (gradients are taken at the quantized inputs when quantize_inputs is on),
// the charge-to-pulse and readout clamps keep their exact derivatives (1 / S_sat inside the
// linear region). Overwrites dq [Tq, D], dk, dv [Tk, D] given dout [Tq, D]. Recomputes the forward.
void gainCellLinearBackward(const GainCellModel& model, const AttentionOptions& options,
                            const Variability& variability, HeadIndex head, ConstMatrixRef q,
                            ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout, MatrixRef dq,
                            MatrixRef dk, MatrixRef dv);

}  // namespace imc::behavior
