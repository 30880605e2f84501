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
    // Gain of the linear model's arrays in S units per (pulse fraction x volt). <= 0: the
    // fitted cell's linearization D_1 x pulse_full_scale, in the units the charge-to-pulse fits
    // expect; > 0: that gain (1 is the bare dot product Q K^T).
    double linearGain = 0.0;
};

// The linear model used by "gaincell-linear": ideal dot products S = gain Q (K - K_offset)^T and
// A = gain phi (V - K_offset) with the same charge-to-pulse laws as the nonlinear model.
// gain <= 0 takes behavior::cellLinearization (D_1 at a full-length pulse, so S comes out in
// the unit the charge-to-pulse fits were made in); gain > 0 replaces it.
behavior::LinearArray linearArrayFor(const behavior::GainCellModel& model, double gain = 0.0);

class GainCellAttention final : public AttentionBackend {
public:
    // Loads the fits of options.fitsDir (throws naming the directory and file on errors).
    GainCellAttention(behavior::ArrayModel arrayModel, const GainCellBackendOptions& options);
    GainCellAttention(behavior::ArrayModel arrayModel, std::shared_ptr<const behavior::GainCellModel> model,
                      const GainCellBackendOptions& options);
    ~GainCellAttention() override;

    std::string name() const override;
    // No tape: the backward recomputes the forward of the tile it differentiates.
    // Decode-shaped calls (fewer queries than keys) keep each head's stored keys and values
    // between calls, as the arrays do, and write only the rows that changed (memory: about 8
    // head_dim floats per token and head); the results are bit-identical to a call without them,
    // so threads and call order do not matter.
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override;
    // The caller's cache holds the head's arrays (behavior::StoredArrays): a step writes its new
    // rows only, with no comparison and no lock, and single-query steps run hand-written kernels.
    std::unique_ptr<AttentionCache> makeCache(const HeadSite& site) const override;
    // Throws std::invalid_argument when `cache` was made by another kind of backend.
    void decode(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                AttentionCache* cache) const override;
    // Straight-through: quantizers are the identity. The linear model gets its exact gradient
    // otherwise. The nonlinear model gets the gradient of its linearization (gain D_1, offset
    // K_offset, same window, decay, clamps and tiles) at the same inputs: the polynomial's D_0,
    // D_2 and D_3 terms are left out of the backward, as the quantizers are.
    void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                  const AttentionTape& tape, MatrixRef dq, MatrixRef dk, MatrixRef dv) const override;

    const behavior::GainCellModel& model() const { return *model_; }
    const behavior::AttentionOptions& arrayOptions() const { return array_; }
    behavior::Variability variabilityFor(const HeadSite& site) const;

private:
    struct StoredHeads;  // per (layer, head) key/value caches

    std::shared_ptr<const behavior::GainCellModel> model_;
    GainCellBackendOptions options_;
    behavior::AttentionOptions array_;      // the forward model
    behavior::AttentionOptions surrogate_;  // the linear model the backward differentiates
    std::unique_ptr<StoredHeads> stored_;
};

// fits/ of the source tree when it holds the gain-cell fits (gaincell-array.json); otherwise the
// paper's model written by behavior::writePaperModelFits into a folder under the temp directory
// (said once on stderr), so the backends run before the SPICE fits exist.
std::string defaultFitsDirectory();

// Registers "gaincell-linear" and "gaincell" with these options (explicit, because registration
// objects inside a static library are dropped by the linker). Later calls replace the options.
void registerGainCellBackends(const GainCellBackendOptions& options);

}  // namespace imc::nn
