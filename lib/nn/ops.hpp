#pragma once
// The layers of the transformer, one forward and one backward function each. N = batch * seqLen
// tokens, C = d_model. Backward functions add into parameter gradients and overwrite or add into
// the input gradient as stated. Work is split into fixed-size chunks, so any thread count gives
// bit-identical results.
#include "nn/attention.hpp"

#include <span>

namespace imc::nn::ops {

using Vector = Eigen::VectorXf;

// out[n] = wte[token[n]] + wpe[n % seqLen]. out: [N, C]
void embeddingForward(Matrix& out, std::span<const int> tokens, int seqLen, const Matrix& wte, const Matrix& wpe);
// dwte[token[n]] += dout[n]; dwpe[n % seqLen] += dout[n]
void embeddingBackward(Matrix& dwte, Matrix& dwpe, const Matrix& dout, std::span<const int> tokens, int seqLen);

// out = (in - mean) * rstd * weight + bias, per row. in, out: [N, C]; mean, rstd: [N]
void layerNormForward(Matrix& out, Vector& mean, Vector& rstd, const Matrix& in, const Matrix& weight,
                      const Matrix& bias);
// din += d/din; dweight, dbias += ...
void layerNormBackward(Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout, const Matrix& in,
                       const Vector& mean, const Vector& rstd, const Matrix& weight);

// out = in * weight + bias. in: [N, I], weight: [I, O], bias: [1, O], out: [N, O]
void linearForward(Matrix& out, const Matrix& in, const Matrix& weight, const Matrix& bias);
// din = dout * weight^T (overwrites); dweight += in^T * dout; dbias += column sums of dout
void linearBackward(Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout, const Matrix& in,
                    const Matrix& weight);

// GPT-2's tanh approximation of GELU, elementwise. [N, 4C]
void geluForward(Matrix& out, const Matrix& in);
void geluBackward(Matrix& din, const Matrix& dout, const Matrix& in);  // din overwritten

// Multi-head causal attention over `batch` sequences. qkv: [N, 3C] (q | k | v, head h at columns
// h*headDim of each third), out: [N, C]. tapes: [batch * heads] (nullptr: inference).
// scalars: [layer heads] or empty (identity).
void attentionForward(Matrix& out, const Matrix& qkv, int batch, int seqLen, int heads, int layer,
                      const AttentionBackend& backend, std::span<const HeadScalars> scalars,
                      std::vector<AttentionTape>* tapes);
// dqkv overwritten. [N, 3C]
void attentionBackward(Matrix& dqkv, const Matrix& dout, const Matrix& qkv, int batch, int seqLen, int heads,
                       int layer, const AttentionBackend& backend, std::span<const HeadScalars> scalars,
                       const std::vector<AttentionTape>& tapes);

// Tied output head: logits = in * wte^T. in: [N, C], wte: [V, C], logits: [N, V]
void logitsForward(Matrix& logits, const Matrix& in, const Matrix& wte);
// din = dlogits * wte (overwrites); dwte += dlogits^T * in
void logitsBackward(Matrix& din, Matrix& dwte, const Matrix& dlogits, const Matrix& in, const Matrix& wte);

// Mean cross-entropy over rows whose target >= 0. logits: [N, V]; when dlogits is non-null it
// receives d(mean loss)/d(logits), [N, V].
double crossEntropy(const Matrix& logits, std::span<const int> targets, Matrix* dlogits);

}  // namespace imc::nn::ops
