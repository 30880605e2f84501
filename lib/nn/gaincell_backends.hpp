#pragma once
// The gain-cell attention backends of paper 002 behind the engine's AttentionBackend interface:
//   "gaincell-linear": the intermediate hardware model (ideal linear dot products, HardSigmoid
//                      charge-to-pulse, quantizers, sliding window, sub-tiles, decay);
//   "gaincell":        the same circuits with the fitted gain-cell polynomial (eq. 7).
// Both read every device number from a fits directory through lib/behavior.
#include "behavior/gaincell_attention.hpp"
#include "nn/attention.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace imc::nn {

struct GainCellBackendOptions {
    std::string fitsDir;     // empty: defaultFitsDirectory()
    long windowTokens = 0;   // M; 0 = the whole prefix (the paper's M equals its sequence length)
    int layers = 1;          // L in Delta_t = L delta_t: the network's layer count
    bool variability = false;  // device-to-device draws per (seed, layer, head, tile) and readout noise
    std::uint64_t seed = 1;
    bool decay = true;       // capacitor-leakage mask (needs a retention fit)
    bool quantize = true;    // inputs and outputs; off only for gradient checks
    // Gain of the linear model's arrays in S units per (pulse fraction x volt); 0: D_1 of the
    // fitted polynomial (linearArrayFor).
    double linearGain = 0;
};

// The linear model used by "gaincell-linear": the first-order term of the fitted polynomial,
// S = D_1 Q (K - K_offset)^T and A = D_1 phi (V - K_offset), so both models share the units of
// S and the charge-to-pulse laws, and the nonlinear model differs only by the D_0, D_2, D_3 terms.
// Without a polynomial in the fits: gain 1 and offsets at the middle of the K and V ranges.
behavior::LinearArray linearArrayFor(const behavior::GainCellModel& model);

class GainCellAttention final : public AttentionBackend {
public:
    // Loads the fits of options.fitsDir (throws naming the directory and file on errors).
    GainCellAttention(behavior::ArrayModel arrayModel, const GainCellBackendOptions& options);
    GainCellAttention(behavior::ArrayModel arrayModel, std::shared_ptr<const behavior::GainCellModel> model,
                      const GainCellBackendOptions& options);

    std::string name() const override;
    // No tape: the backward recomputes the forward of the tile it differentiates.
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override;
    // Straight-through: quantizers are the identity. The linear model gets its exact gradient
    // otherwise. The nonlinear model gets the gradient of its linear surrogate (linearArrayFor,
    // same window, decay, clamps and tiles) evaluated at the same inputs: the polynomial's higher
    // powers are left out of the backward, as the quantizers are.
    void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                  const AttentionTape& tape, MatrixRef dq, MatrixRef dk, MatrixRef dv) const override;

    const behavior::GainCellModel& model() const { return *model_; }
    const behavior::AttentionOptions& arrayOptions() const { return array_; }
    behavior::Variability variabilityFor(const HeadSite& site) const;

private:
    std::shared_ptr<const behavior::GainCellModel> model_;
    GainCellBackendOptions options_;
    behavior::AttentionOptions array_;      // the forward model
    behavior::AttentionOptions surrogate_;  // the linear model the backward differentiates
};

// fits/ of the source tree when it holds the gain-cell fits (gaincell-array.json); otherwise the
// paper's model written by behavior::writePaperModelFits into a folder under the temp directory
// (said once on stderr), so the backends run before the SPICE fits exist.
std::string defaultFitsDirectory();

// Registers "gaincell-linear" and "gaincell" with these options (explicit, because registration
// objects inside a static library are dropped by the linker). Later calls replace the options.
void registerGainCellBackends(const GainCellBackendOptions& options);

}  // namespace imc::nn
