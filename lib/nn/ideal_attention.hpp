#pragma once
// The exact causal softmax attention, optimized, plus a naive kernel kept as its reference.
#include "nn/attention.hpp"

namespace imc::nn {

class IdealAttention final : public AttentionBackend {
public:
    std::string name() const override { return "ideal"; }
    // tape buffer 0: the probabilities P [Tq, Tk] (zero above the causal diagonal).
    void forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                 AttentionTape* tape) const override;
    void backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout,
                  const AttentionTape& tape, MatrixRef dq, MatrixRef dk, MatrixRef dv) const override;
};

// Straight loops in double precision, one query at a time; same contract as IdealAttention::forward.
Matrix idealAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v);

}  // namespace imc::nn
