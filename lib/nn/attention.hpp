#pragma once
// The attention interface every backend implements (ideal softmax, gain-cell analog models, LSH).
// A backend sees one head of one layer at a time, so hardware models can differ per layer/head.
#include <Eigen/Core>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace imc::nn {

// Row-major so a row is a token and a head's columns are a contiguous block of a row.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;

// y = a * x + b, applied elementwise.
struct AffineScalar {
    float a = 1.0f;
    float b = 0.0f;
    bool isIdentity() const { return a == 1.0f && b == 0.0f; }
};

// Per layer/head scalars on the attention inputs and output (the adaptation algorithm tunes
// these so a nonlinear hardware model reproduces the statistics of the linear one).
// The engine applies them around the backend call: q' = a q + b, ..., out = a_out * out' + b_out.
struct HeadScalars {
    AffineScalar q, k, v, out;
    bool isIdentity() const { return q.isIdentity() && k.isIdentity() && v.isIdentity() && out.isIdentity(); }
};

// Where in the network a backend call happens.
struct HeadSite {
    int layer = 0;
    int head = 0;
};

// What a forward pass keeps for its backward; each backend decides what its buffers hold.
// Buffers are reused across steps so training does not allocate in the steady state.
struct AttentionTape {
    std::vector<Matrix> buffers;
    Matrix& buffer(std::size_t index) {
        if (buffers.size() <= index) buffers.resize(index + 1);
        return buffers[index];
    }
};

// What a backend keeps of one head of one sequence between decode steps (for the gain-cell
// backends, the keys and values as written into the arrays). Made by the backend's makeCache(),
// owned by the caller's KV cache: one per (layer, head) and sequence, one caller at a time.
class AttentionCache {
public:
    virtual ~AttentionCache() = default;
};

class AttentionBackend {
public:
    virtual ~AttentionBackend() = default;

    virtual std::string name() const = 0;

    // One head over a causal sequence. k, v: [Tk, head_dim] for positions 0..Tk-1; q: [Tq, head_dim]
    // are the queries of the last Tq positions (Tq == Tk for prefill, Tq == 1 for a decode step),
    // so query i may attend to keys 0..Tk-Tq+i. Writes out: [Tq, head_dim].
    // If tape is non-null, stores what backward() needs. Must be safe to call concurrently.
    virtual void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                         MatrixRef out, AttentionTape* tape) const = 0;

    // A cache for decode() at `site`, empty for a new sequence; nullptr when the backend keeps
    // nothing between steps.
    virtual std::unique_ptr<AttentionCache> makeCache(const HeadSite& site) const {
        (void)site;
        return nullptr;
    }

    // A step that only appends, for callers whose KV cache knows it: q, k, v and out as in forward()
    // (tape-less), where rows of k and v that earlier decode() calls with this `cache` saw are
    // unchanged and the rest are new. The backend prepares the new rows only, without comparing
    // the old ones. Results equal forward()'s bit for bit. cache: from makeCache(site), or nullptr
    // (then this is forward()). The default calls forward().
    virtual void decode(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                        AttentionCache* cache) const {
        (void)cache;
        forward(site, q, k, v, out, nullptr);
    }

    // Gradients of the same call given dout: [Tq, head_dim]; overwrites dq, dk, dv.
    // Backends that are not differentiable may return a straight-through estimate.
    virtual void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                          ConstMatrixRef dout, const AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                          MatrixRef dv) const = 0;
};

// Backends by name. "ideal" is always registered; other stages register theirs at startup.
using AttentionFactory = std::function<std::unique_ptr<AttentionBackend>()>;
void registerAttentionBackend(const std::string& name, const std::string& description, AttentionFactory factory);
std::vector<std::string> attentionBackendNames();
std::string attentionBackendDescription(const std::string& name);
// Throws std::invalid_argument listing the known names when `name` is unknown.
std::unique_ptr<AttentionBackend> makeAttentionBackend(const std::string& name);

}  // namespace imc::nn
