#pragma once
// The linear-layer interface every backend implements (dense, SVD-factorized, hybrid SLC/MLC
// RRAM), as AttentionBackend is for attention. A backend sees one static weight matrix of one
// block at a time: c_attn (W_Q | W_K | W_V), the attention projection and both MLP matrices.
// Embeddings and the tied head stay digital and never pass through it.
#include "nn/attention.hpp"

#include <array>
#include <string>
#include <vector>

namespace imc::nn {

enum class LinearKind { Qkv = 0, AttnProj = 1, Fc = 2, FcProj = 3 };
inline constexpr int kLinearKinds = 4;

struct LinearSite {
    int layer = 0;
    LinearKind kind = LinearKind::Qkv;
    int index() const { return layer * kLinearKinds + static_cast<int>(kind); }  // layer-major
};

// GPT-2 tensor prefix of the site, e.g. "h.0.attn.c_attn".
std::string linearSiteName(const LinearSite& site);

// What a forward keeps for its backward: the same reusable buffers as attention's.
using LinearTape = AttentionTape;

// A trainable tensor a backend owns besides the model's weights (the SVD factors).
struct BackendParameter {
    std::string name;
    Matrix* value;
    Matrix* grad;
};

class LinearBackend {
public:
    virtual ~LinearBackend() = default;
    virtual std::string name() const = 0;

    // out = in W + b at `site`. weight [I, O] and bias [1, O] are the model's tensors there;
    // factorized backends use their own factors instead of `weight`. in: [N, I], out: [N, O].
    // tape: null for inference, else filled for backward().
    virtual void forward(const LinearSite& site, const Matrix& in, const Matrix& weight, const Matrix& bias,
                         Matrix& out, LinearTape* tape) const = 0;

    // din = d/d in (overwritten); dbias += column sums of dout; dweight += in^T dout for dense,
    // or the backend's own parameter gradients (see parameters()) for factorized backends.
    // Calls for one backward pass come one at a time, in reverse layer order.
    virtual void backward(const LinearSite& site, Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout,
                          const Matrix& in, const Matrix& weight, const LinearTape& tape) const = 0;

    // Tensors to optimize besides the model's (empty: the model's weights are the parameters).
    virtual std::vector<BackendParameter> parameters() { return {}; }
};

// Today's layers: ops::linearForward / linearBackward on the model's weight (bit-identical).
const LinearBackend& denseLinearBackend();

}  // namespace imc::nn
