#include "nn/ops.hpp"

#include "nn/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace imc::nn::ops {
namespace {

// Chunk sizes fix the order of every floating-point operation, whatever the thread count.
constexpr Eigen::Index kRowChunk = 64;
constexpr Eigen::Index kColumnChunk = 64;

int chunkCount(Eigen::Index size, Eigen::Index chunk) { return static_cast<int>((size + chunk - 1) / chunk); }

// Runs fn(begin, count) over fixed chunks of [0, size).
template <typename Fn>
void forChunks(Eigen::Index size, Eigen::Index chunk, Fn&& fn) {
    parallelFor(chunkCount(size, chunk), [&](int task) {
        const Eigen::Index begin = task * chunk;
        fn(begin, std::min(chunk, size - begin));
    });
}

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

}  // namespace

void embeddingForward(Matrix& out, std::span<const int> tokens, int seqLen, const Matrix& wte, const Matrix& wpe) {
    const auto n = static_cast<Eigen::Index>(tokens.size());
    out.resize(n, wte.cols());
    forChunks(n, kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        for (Eigen::Index row = begin; row < begin + count; ++row)
            out.row(row) = wte.row(tokens[row]) + wpe.row(row % seqLen);
    });
}

void embeddingBackward(Matrix& dwte, Matrix& dwpe, const Matrix& dout, std::span<const int> tokens, int seqLen) {
    // Serial: several rows may scatter into the same token's gradient.
    for (Eigen::Index row = 0; row < dout.rows(); ++row) {
        dwte.row(tokens[row]) += dout.row(row);
        dwpe.row(row % seqLen) += dout.row(row);
    }
}

void layerNormForward(Matrix& out, Vector& mean, Vector& rstd, const Matrix& in, const Matrix& weight,
                      const Matrix& bias) {
    const Eigen::Index n = in.rows(), c = in.cols();
    out.resize(n, c);
    mean.resize(n);
    rstd.resize(n);
    forChunks(n, kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        for (Eigen::Index row = begin; row < begin + count; ++row) {
            const float mu = in.row(row).mean();
            const float var = (in.row(row).array() - mu).square().mean();
            const float r = 1.0f / std::sqrt(var + 1e-5f);
            mean[row] = mu;
            rstd[row] = r;
            out.row(row) = (((in.row(row).array() - mu) * r) * weight.row(0).array() + bias.row(0).array()).matrix();
        }
    });
}

void layerNormBackward(Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout, const Matrix& in,
                       const Vector& mean, const Vector& rstd, const Matrix& weight) {
    const Eigen::Index n = in.rows(), c = in.cols();
    forChunks(n, kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        Eigen::ArrayXf normalized(c), dnorm(c);
        for (Eigen::Index row = begin; row < begin + count; ++row) {
            normalized = (in.row(row).array().transpose() - mean[row]) * rstd[row];
            dnorm = dout.row(row).array().transpose() * weight.row(0).array().transpose();
            const float dnormMean = dnorm.mean();
            const float dnormDotNormalized = (dnorm * normalized).mean();
            din.row(row).array() += ((dnorm - dnormMean - normalized * dnormDotNormalized) * rstd[row]).transpose();
        }
    });
    // Parameter gradients reduce over rows; split by columns to keep the row order fixed.
    forChunks(c, kColumnChunk, [&](Eigen::Index begin, Eigen::Index count) {
        for (Eigen::Index row = 0; row < n; ++row) {
            auto normalized = (in.row(row).segment(begin, count).array() - mean[row]) * rstd[row];
            dweight.row(0).segment(begin, count).array() += dout.row(row).segment(begin, count).array() * normalized;
            dbias.row(0).segment(begin, count) += dout.row(row).segment(begin, count);
        }
    });
}

void linearForward(Matrix& out, const Matrix& in, const Matrix& weight, const Matrix& bias) {
    out.resize(in.rows(), weight.cols());
    forChunks(in.rows(), kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        auto rows = out.middleRows(begin, count);
        rows.noalias() = in.middleRows(begin, count) * weight;
        rows.rowwise() += bias.row(0);
    });
}

void linearBackward(Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout, const Matrix& in,
                    const Matrix& weight) {
    din.resize(in.rows(), in.cols());
    const int rowTasks = chunkCount(in.rows(), kRowChunk);
    const int columnTasks = chunkCount(weight.cols(), kColumnChunk);
    // One parallel region for both products: din by token rows, dweight by output columns.
    parallelFor(rowTasks + columnTasks, [&](int task) {
        if (task < rowTasks) {
            const Eigen::Index begin = task * kRowChunk, count = std::min(kRowChunk, in.rows() - begin);
            din.middleRows(begin, count).noalias() = dout.middleRows(begin, count) * weight.transpose();
        } else {
            const Eigen::Index begin = (task - rowTasks) * kColumnChunk;
            const Eigen::Index count = std::min(kColumnChunk, weight.cols() - begin);
            dweight.middleCols(begin, count).noalias() += in.transpose() * dout.middleCols(begin, count);
            dbias.row(0).segment(begin, count) += dout.middleCols(begin, count).colwise().sum();
        }
    });
}

void geluForward(Matrix& out, const Matrix& in) {
    out.resize(in.rows(), in.cols());
    forChunks(in.rows(), kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        auto x = in.middleRows(begin, count).array();
        out.middleRows(begin, count).array() =
            0.5f * x * (1.0f + (kGeluScale * (x + kGeluCubic * x.cube())).tanh());
    });
}

void geluBackward(Matrix& din, const Matrix& dout, const Matrix& in) {
    din.resize(in.rows(), in.cols());
    forChunks(in.rows(), kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        auto x = in.middleRows(begin, count).array();
        auto d = din.middleRows(begin, count).array();
        // d first holds tanh(...), then the gradient: coefficient-wise, so no temporary is needed.
        d = (kGeluScale * (x + kGeluCubic * x.cube())).tanh();
        d = dout.middleRows(begin, count).array() *
            (0.5f * (1.0f + d) + 0.5f * x * (1.0f - d.square()) * kGeluScale * (1.0f + 3.0f * kGeluCubic * x.square()));
    });
}

namespace {

// q' = a q + b on a head's block, or the block itself when the scalar is the identity.
Matrix scaled(const Eigen::Block<const Matrix>& block, const AffineScalar& s) {
    return ((block.array() * s.a) + s.b).matrix();
}

}  // namespace

void attentionForward(Matrix& out, const Matrix& qkv, int batch, int seqLen, int heads, int layer,
                      const AttentionBackend& backend, std::span<const HeadScalars> scalars,
                      std::vector<AttentionTape>* tapes) {
    const Eigen::Index c = qkv.cols() / 3, headDim = c / heads;
    out.resize(qkv.rows(), c);
    if (tapes) tapes->resize(static_cast<std::size_t>(batch) * heads);
    parallelFor(batch * heads, [&](int task) {
        const int b = task / heads, h = task % heads;
        const Eigen::Index row = Eigen::Index(b) * seqLen;
        const auto q = qkv.block(row, h * headDim, seqLen, headDim);          // [T, d]
        const auto k = qkv.block(row, c + h * headDim, seqLen, headDim);      // [T, d]
        const auto v = qkv.block(row, 2 * c + h * headDim, seqLen, headDim);  // [T, d]
        auto o = out.block(row, h * headDim, seqLen, headDim);               // [T, d]
        AttentionTape* tape = tapes ? &(*tapes)[task] : nullptr;
        const HeadSite site{layer, h};
        if (scalars.empty() || scalars[h].isIdentity()) {
            backend.forward(site, q, k, v, o, tape);
            return;
        }
        const HeadScalars& s = scalars[h];
        backend.forward(site, scaled(q, s.q), scaled(k, s.k), scaled(v, s.v), o, tape);
        o = ((o.array() * s.out.a) + s.out.b).matrix();
    });
}

void attentionBackward(Matrix& dqkv, const Matrix& dout, const Matrix& qkv, int batch, int seqLen, int heads,
                       int layer, const AttentionBackend& backend, std::span<const HeadScalars> scalars,
                       const std::vector<AttentionTape>& tapes) {
    const Eigen::Index c = qkv.cols() / 3, headDim = c / heads;
    dqkv.resize(qkv.rows(), qkv.cols());
    parallelFor(batch * heads, [&](int task) {
        const int b = task / heads, h = task % heads;
        const Eigen::Index row = Eigen::Index(b) * seqLen;
        const auto q = qkv.block(row, h * headDim, seqLen, headDim);
        const auto k = qkv.block(row, c + h * headDim, seqLen, headDim);
        const auto v = qkv.block(row, 2 * c + h * headDim, seqLen, headDim);
        const auto dout_h = dout.block(row, h * headDim, seqLen, headDim);
        auto dq = dqkv.block(row, h * headDim, seqLen, headDim);
        auto dk = dqkv.block(row, c + h * headDim, seqLen, headDim);
        auto dv = dqkv.block(row, 2 * c + h * headDim, seqLen, headDim);
        const HeadSite site{layer, h};
        if (scalars.empty() || scalars[h].isIdentity()) {
            backend.backward(site, q, k, v, dout_h, tapes[task], dq, dk, dv);
            return;
        }
        // The backend saw the scaled inputs; chain through y = a x + b on each side.
        const HeadScalars& s = scalars[h];
        const Matrix scaledDout = dout_h * s.out.a;
        backend.backward(site, scaled(q, s.q), scaled(k, s.k), scaled(v, s.v), scaledDout, tapes[task], dq, dk, dv);
        dq *= s.q.a;
        dk *= s.k.a;
        dv *= s.v.a;
    });
}

void logitsForward(Matrix& logits, const Matrix& in, const Matrix& wte) {
    logits.resize(in.rows(), wte.rows());
    forChunks(in.rows(), kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        logits.middleRows(begin, count).noalias() = in.middleRows(begin, count) * wte.transpose();
    });
}

void logitsBackward(Matrix& din, Matrix& dwte, const Matrix& dlogits, const Matrix& in, const Matrix& wte) {
    din.resize(in.rows(), in.cols());
    const int rowTasks = chunkCount(in.rows(), kRowChunk);
    const int vocabTasks = chunkCount(wte.rows(), kColumnChunk);
    parallelFor(rowTasks + vocabTasks, [&](int task) {
        if (task < rowTasks) {
            const Eigen::Index begin = task * kRowChunk, count = std::min(kRowChunk, in.rows() - begin);
            din.middleRows(begin, count).noalias() = dlogits.middleRows(begin, count) * wte;
        } else {
            const Eigen::Index begin = (task - rowTasks) * kColumnChunk;
            const Eigen::Index count = std::min(kColumnChunk, wte.rows() - begin);
            dwte.middleRows(begin, count).noalias() += dlogits.middleCols(begin, count).transpose() * in;
        }
    });
}

double crossEntropy(const Matrix& logits, std::span<const int> targets, Matrix* dlogits) {
    const Eigen::Index n = logits.rows();
    std::vector<double> rowLoss(n, 0.0);
    std::size_t counted = 0;
    for (int t : targets) counted += t >= 0;
    const float inverseCount = counted ? 1.0f / static_cast<float>(counted) : 0.0f;
    if (dlogits) dlogits->resize(n, logits.cols());
    forChunks(n, kRowChunk, [&](Eigen::Index begin, Eigen::Index count) {
        Eigen::ArrayXf probs(logits.cols());
        for (Eigen::Index row = begin; row < begin + count; ++row) {
            const int target = targets[row];
            if (target < 0) {
                if (dlogits) dlogits->row(row).setZero();
                continue;
            }
            const float maxLogit = logits.row(row).maxCoeff();
            probs = (logits.row(row).array().transpose() - maxLogit).exp();
            const float total = probs.sum();
            rowLoss[row] = std::log(double(total)) - double(logits(row, target) - maxLogit);
            if (dlogits) {
                probs *= inverseCount / total;
                probs[target] -= inverseCount;
                dlogits->row(row) = probs.transpose().matrix();
            }
        }
    });
    double sum = 0;
    for (double l : rowLoss) sum += l;
    return counted ? sum / double(counted) : 0.0;
}

}  // namespace imc::nn::ops
