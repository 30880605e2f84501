// The optimized kernels: queries in blocks of one tile height, keys in tile-sized blocks, one
// Eigen product per block and array, every buffer allocated once per call before the loops.
#include "behavior/detail.hpp"
#include "behavior/gaincell_attention.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace imc::behavior {

namespace {

using Block = Matrix;  // [query block, key block] or [block, D], reused

// Everything a call prepares once: quantized inputs with gains, offsets and per-tile polynomial
// coefficients folded in, decay powers by distance, and the per-tile circuits.
struct Prepared {
    detail::WindowGeometry g;
    long D = 0;
    bool nonlinear = false;
    bool noisy = false;
    std::vector<TileCircuits> tiles;
    // Linear: Qs = gain Q, Kc = K - k0, Vc = gain (V - v0); the gain of S sits in Qs.
    // Nonlinear: Qs = pulse_scale Q, Kp[i] = D_i^K(tile) (K - off(tile))^i, Vp[i] likewise, i = 1..3.
    Matrix Qs, Qraw;
    Matrix Kp[3], Vp[3];
    Eigen::VectorXf Q_rowsum;       // nonlinear: sum_d Qs, for the i = 0 term
    Matrix Qs2, K_var, V_var;       // noise: Qs^2 and the per-cell variance of each stored level
    std::vector<float> decay[4];    // decay[i][m] = exp(-i r m)
    std::uint64_t key_S = 0, key_A = 0;
    double pulse_scale = 1.0;
};

Prepared prepare(const GainCellModel& model, const AttentionOptions& options, const Variability& variability,
                 HeadIndex head, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v) {
    Prepared p;
    p.g = detail::makeGeometry(model, options, q.rows(), k.rows(), q.cols(), k.cols(), v.cols(), v.rows());
    p.D = q.cols();
    p.nonlinear = options.model == ArrayModel::Nonlinear;
    p.pulse_scale = detail::pulseFullScale(model, options);
    if (p.nonlinear) model.polynomial();  // throws when absent
    const ArrayArchitecture& arch = model.architecture();
    const auto& g = p.g;
    for (long t = 0; t < g.physical_tiles; ++t)
        p.tiles.push_back(drawTileCircuits(model, variability, head, static_cast<int>(t)));

    // Float with a multiply by 1/step: the same levels as quantizeUniform except for values
    // lying within float rounding of a boundary between two levels.
    auto quantized = [&](ConstMatrixRef x, const UniformQuantizer& quantizer) {
        Matrix y = x;
        if (!options.quantize_inputs) return y;
        const float lo = static_cast<float>(quantizer.lo), hi = static_cast<float>(quantizer.hi);
        const float step = static_cast<float>(quantizer.step()), inv_step = 1.0f / step;
        y = y.unaryExpr([=](float value) {
            const float index = static_cast<float>(static_cast<int>((std::clamp(value, lo, hi) - lo) * inv_step + 0.5f));
            return std::min(hi, lo + index * step);
        });
        return y;
    };
    p.Qraw = quantized(q, arch.query);
    const Matrix Kq = quantized(k, arch.key), Vq = quantized(v, arch.value);

    if (!p.nonlinear) {
        const auto& lin = options.linear;
        p.Qs = static_cast<float>(lin.gain) * p.Qraw;
        p.Kp[0] = Kq.array() - static_cast<float>(lin.K_offset_V);
        p.Vp[0] = static_cast<float>(lin.gain) * (Vq.array() - static_cast<float>(lin.V_offset_V)).matrix();
    } else {
        p.Qs = static_cast<float>(p.pulse_scale) * p.Qraw;
        p.Q_rowsum = p.Qs.rowwise().sum();
        for (int i = 0; i < 3; ++i) {
            p.Kp[i].resize(g.Tk, p.D);
            p.Vp[i].resize(g.Tk, p.D);
        }
        for (long row = 0; row < g.Tk; ++row) {
            const TileCircuits& c = p.tiles[static_cast<std::size_t>(g.tileOfKey(row))];
            for (long d = 0; d < p.D; ++d) {
                const double xk = Kq(row, d) - c.key_array.offset_V, xv = Vq(row, d) - c.value_array.offset_V;
                double pk = 1.0, pv = 1.0;
                for (int i = 0; i < 3; ++i) {
                    pk *= xk;
                    pv *= xv;
                    p.Kp[i](row, d) = static_cast<float>(c.key_array.D[static_cast<std::size_t>(i + 1)] * pk);
                    p.Vp[i](row, d) = static_cast<float>(c.value_array.D[static_cast<std::size_t>(i + 1)] * pv);
                }
            }
        }
        const ReadoutNoiseTable& noise = model.readoutNoise();
        p.noisy = variability.enabled && variability.readout_noise && !noise.empty();
        if (p.noisy) {
            p.Qs2 = p.Qs.array().square();
            p.K_var = Kq.unaryExpr([&](float x) { return static_cast<float>(std::pow(noise.at(x), 2)); });
            p.V_var = Vq.unaryExpr([&](float x) { return static_cast<float>(std::pow(noise.at(x), 2)); });
            p.key_S = detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseKey, head),
                                      variability.read_index);
            p.key_A = detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseValue, head),
                                      variability.read_index);
        }
    }
    const double r = detail::decayRate(model, options);
    for (int i = 0; i < 4; ++i) {
        p.decay[i].resize(static_cast<std::size_t>(g.Tk));
        for (long m = 0; m < g.Tk; ++m) p.decay[i][static_cast<std::size_t>(m)] = static_cast<float>(std::exp(-i * r * double(m)));
    }
    return p;
}

// The key blocks one query block reads, grouped by the physical tile that stores them.
template <typename Visit>
void forEachTileGroup(const detail::WindowGeometry& g, long i0, long rows, Visit&& visit) {
    const long t_lo = g.offset + i0, t_hi = g.offset + i0 + rows - 1;
    const long key_lo = std::max(0L, t_lo - g.window + 1);
    const long block_lo = key_lo / g.tile, block_hi = t_hi / g.tile;
    if (!g.wraps) {
        for (long b = block_lo; b <= block_hi; ++b) visit(b, b, b + 1, 1L);
        return;
    }
    const long stride = g.physical_tiles;
    for (long first = block_lo; first <= std::min(block_hi, block_lo + stride - 1); ++first) {
        const long count = (block_hi - first) / stride + 1;
        visit(first % stride, first, first + (count - 1) * stride + 1, stride);
    }
}

// Buffers of one call, sized for a full tile of queries and keys.
struct Workspace {
    Block T[3], W[4];   // first-array products per power; second-array weights per power
    Block N;            // noise variance of S
    Block acc, acc_var; // per-tile second-array charge and its noise variance, [rows, D]
    Eigen::VectorXf W0_rowsum;
    std::vector<char> row_read;  // rows that saw a key of the current tile
    Workspace(long tile, long D) {
        for (auto& m : T) m.resize(tile, tile);
        for (auto& m : W) m.resize(tile, tile);
        N.resize(tile, tile);
        acc.resize(tile, D);
        acc_var.resize(tile, D);
        W0_rowsum.resize(tile);
        row_read.resize(static_cast<std::size_t>(tile));
    }
};

// First array for one block (rows i0.., keys s0..): S, phi, the second-array weights
// W[i] = phi alpha^i (times the pulse scale in the nonlinear model), the trace, row_read.
void firstArrayBlock(const Prepared& p, const TileCircuits& c, Workspace& w, long i0, long rows, long s0, long cols,
                     HeadTrace* trace) {
    const auto& g = p.g;
    const auto Qb = p.Qs.middleRows(i0, rows);
    if (!p.nonlinear) {
        w.T[0].topLeftCorner(rows, cols).noalias() = Qb * p.Kp[0].middleRows(s0, cols).transpose();
    } else {
        for (int i = 0; i < 3; ++i)
            w.T[i].topLeftCorner(rows, cols).noalias() = Qb * p.Kp[i].middleRows(s0, cols).transpose();
        if (p.noisy)
            w.N.topLeftCorner(rows, cols).noalias() =
                p.Qs2.middleRows(i0, rows) * p.K_var.middleRows(s0, cols).transpose();
    }
    const float D0 = static_cast<float>(c.key_array.D[0]);
    // The pulse law in float, inlined: this loop touches every score of the head.
    const float offset = static_cast<float>(c.pulse.offset), inv_sat = static_cast<float>(1.0 / c.pulse.S_sat);
    const float pulse_scale = static_cast<float>(p.pulse_scale);
    const int used_lo = p.nonlinear ? 0 : 1, used_hi = p.nonlinear ? 3 : 1;
    for (long a = 0; a < rows; ++a) {
        const long t = g.offset + i0 + a;
        // Keys of this block inside the window of t: columns [lo, hi).
        const long lo = std::clamp(t - g.window + 1 - s0, 0L, cols), hi = std::clamp(t + 1 - s0, 0L, cols);
        for (int i = used_lo; i <= used_hi; ++i) {
            w.W[i].row(a).head(lo).setZero();
            w.W[i].row(a).segment(hi, cols - hi).setZero();
        }
        if (lo >= hi) continue;
        w.row_read[static_cast<std::size_t>(a)] = 1;
        const float* d1 = p.decay[1].data() + (t - s0);  // d1[-b] = alpha(t, s0 + b)
        const float* d2 = p.decay[2].data() + (t - s0);
        const float* d3 = p.decay[3].data() + (t - s0);
        for (long b = lo; b < hi; ++b) {
            float s, phi;
            if (!p.nonlinear) {
                s = w.T[0](a, b) * d1[-b];
                phi = std::clamp((s - offset) * inv_sat, 0.0f, 1.0f);
                w.W[1](a, b) = phi * d1[-b];
            } else {
                s = D0 * p.Q_rowsum(i0 + a) + w.T[0](a, b) * d1[-b] + w.T[1](a, b) * d2[-b] + w.T[2](a, b) * d3[-b];
                if (p.noisy) {
                    const long tp = s0 + b;
                    s += static_cast<float>(std::sqrt(double(w.N(a, b))) *
                                            detail::normalAt(p.key_S, (static_cast<std::uint64_t>(t) << 32) |
                                                                          static_cast<std::uint64_t>(tp)));
                }
                phi = std::clamp((s - offset) * inv_sat, 0.0f, 1.0f);
                const float pulse = phi * pulse_scale;
                w.W[0](a, b) = pulse;
                w.W[1](a, b) = pulse * d1[-b];
                w.W[2](a, b) = pulse * d2[-b];
                w.W[3](a, b) = pulse * d3[-b];
            }
            if (trace) {
                trace->S(i0 + a, s0 + b) = s;
                trace->phi(i0 + a, s0 + b) = phi;
            }
        }
    }
}

// Second array for one block: adds its charge (and noise variance) to the tile accumulators.
void secondArrayBlock(const Prepared& p, Workspace& w, long rows, long s0, long cols) {
    auto acc = w.acc.topRows(rows);
    if (!p.nonlinear) {
        acc.noalias() += w.W[1].topLeftCorner(rows, cols) * p.Vp[0].middleRows(s0, cols);
        return;
    }
    for (int i = 1; i <= 3; ++i) acc.noalias() += w.W[i].topLeftCorner(rows, cols) * p.Vp[i - 1].middleRows(s0, cols);
    w.W0_rowsum.head(rows) += w.W[0].topLeftCorner(rows, cols).rowwise().sum();
    if (p.noisy) {
        w.T[0].topLeftCorner(rows, cols) = w.W[0].topLeftCorner(rows, cols).array().square();
        w.acc_var.topRows(rows).noalias() += w.T[0].topLeftCorner(rows, cols) * p.V_var.middleRows(s0, cols);
    }
}

// Completes the tile charge: the i = 0 term of the polynomial and the readout noise.
void finishTileCharge(const Prepared& p, const TileCircuits& c, Workspace& w, long i0, long rows, long tile) {
    if (!p.nonlinear) return;
    const float D0 = static_cast<float>(c.value_array.D[0]);
    for (long a = 0; a < rows; ++a) {
        w.acc.row(a).array() += D0 * w.W0_rowsum(a);
        if (!p.noisy) continue;
        const std::uint64_t key = detail::combine(detail::combine(p.key_A, static_cast<std::uint64_t>(p.g.offset + i0 + a)),
                                                  static_cast<std::uint64_t>(tile));
        for (long d = 0; d < p.D; ++d)
            w.acc(a, d) += static_cast<float>(std::sqrt(double(w.acc_var(a, d))) *
                                              detail::normalAt(key, static_cast<std::uint64_t>(d)));
    }
}

void resetTile(Workspace& w, long rows) {
    w.acc.topRows(rows).setZero();
    w.acc_var.topRows(rows).setZero();
    w.W0_rowsum.head(rows).setZero();
    std::fill(w.row_read.begin(), w.row_read.begin() + rows, char(0));
}

}  // namespace

void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q,
                              ConstMatrixRef k, ConstMatrixRef v, MatrixRef out, HeadTrace* trace) {
    const Prepared p = prepare(model, options, variability, head, q, k, v);
    const auto& g = p.g;
    if (out.rows() != g.Tq || out.cols() != p.D)
        throw std::invalid_argument("gain-cell attention: out must be [Tq, D]");
    if (trace) {
        trace->S.setZero(g.Tq, g.Tk);
        trace->phi.setZero(g.Tq, g.Tk);
    }
    const UniformQuantizer& output = model.architecture().output;
    out.setZero();
    Workspace w(g.tile, p.D);
    for (long i0 = 0; i0 < g.Tq; i0 += g.tile) {
        const long rows = std::min(g.tile, g.Tq - i0);
        forEachTileGroup(g, i0, rows, [&](long tile, long first, long end, long stride) {
            const TileCircuits& c = p.tiles[static_cast<std::size_t>(tile)];
            resetTile(w, rows);
            for (long b = first; b < end; b += stride) {
                const long s0 = b * g.tile, cols = std::min(g.tile, g.Tk - s0);
                firstArrayBlock(p, c, w, i0, rows, s0, cols, trace);
                secondArrayBlock(p, w, rows, s0, cols);
            }
            finishTileCharge(p, c, w, i0, rows, tile);
            // Each tile's signed charge-to-pulse and counter, then the digital adders.
            const float offset = static_cast<float>(c.readout.offset), inv_sat = static_cast<float>(1.0 / c.readout.S_sat);
            const float out_lo = static_cast<float>(output.lo), out_hi = static_cast<float>(output.hi);
            const float out_step = static_cast<float>(output.step()), out_inv_step = 1.0f / out_step;
            for (long a = 0; a < rows; ++a) {
                if (!w.row_read[static_cast<std::size_t>(a)]) continue;
                for (long d = 0; d < p.D; ++d) {
                    const float x = w.acc(a, d);
                    const float magnitude = std::clamp((std::abs(x) - offset) * inv_sat, 0.0f, 1.0f);
                    float y = x < 0.0f ? -magnitude : magnitude;
                    if (options.quantize_output)
                        y = std::min(out_hi, out_lo + static_cast<float>(static_cast<int>(
                                                          (std::clamp(y, out_lo, out_hi) - out_lo) * out_inv_step + 0.5f)) *
                                                          out_step);
                    out(i0 + a, d) += y;
                }
            }
        });
    }
}

void gainCellLinearBackward(const GainCellModel& model, const AttentionOptions& options,
                            const Variability& variability, HeadIndex head, ConstMatrixRef q,
                            ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout, MatrixRef dq,
                            MatrixRef dk, MatrixRef dv) {
    if (options.model != ArrayModel::Linear)
        throw std::invalid_argument("gain-cell attention: the straight-through backward covers the linear model only");
    const Prepared p = prepare(model, options, variability, head, q, k, v);
    const auto& g = p.g;
    if (dout.rows() != g.Tq || dout.cols() != p.D || dq.rows() != g.Tq || dq.cols() != p.D || dk.rows() != g.Tk ||
        dk.cols() != p.D || dv.rows() != g.Tk || dv.cols() != p.D)
        throw std::invalid_argument("gain-cell attention backward: gradient shapes do not match q, k, v");
    const float gain = static_cast<float>(options.linear.gain);
    dq.setZero();
    dk.setZero();
    dv.setZero();
    Workspace w(g.tile, p.D);
    Block dR(g.tile, p.D), dW(g.tile, g.tile);
    for (long i0 = 0; i0 < g.Tq; i0 += g.tile) {
        const long rows = std::min(g.tile, g.Tq - i0);
        forEachTileGroup(g, i0, rows, [&](long tile, long first, long end, long stride) {
            const TileCircuits& c = p.tiles[static_cast<std::size_t>(tile)];
            // Pass 1: the tile charge R, for the readout's derivative.
            resetTile(w, rows);
            for (long b = first; b < end; b += stride) {
                const long s0 = b * g.tile, cols = std::min(g.tile, g.Tk - s0);
                firstArrayBlock(p, c, w, i0, rows, s0, cols, nullptr);
                secondArrayBlock(p, w, rows, s0, cols);
            }
            // The output quantizer passes the gradient through; the readout clamp does not.
            for (long a = 0; a < rows; ++a)
                for (long d = 0; d < p.D; ++d)
                    dR(a, d) = w.row_read[static_cast<std::size_t>(a)]
                                   ? dout(i0 + a, d) * static_cast<float>(c.readout.derivative(w.acc(a, d)))
                                   : 0.0f;
            // Pass 2: per block, A = W Vc gives dW and dV; W = phi(S) alpha, S = (Qs Kc^T) alpha.
            for (long b = first; b < end; b += stride) {
                const long s0 = b * g.tile, cols = std::min(g.tile, g.Tk - s0);
                firstArrayBlock(p, c, w, i0, rows, s0, cols, nullptr);
                const auto W = w.W[1].topLeftCorner(rows, cols);
                const auto dRb = dR.topRows(rows);
                dv.middleRows(s0, cols).noalias() += gain * (W.transpose() * dRb);
                dW.topLeftCorner(rows, cols).noalias() = dRb * p.Vp[0].middleRows(s0, cols).transpose();
                auto dS = w.T[1].topLeftCorner(rows, cols);  // free in the linear model
                for (long a = 0; a < rows; ++a) {
                    const long t = g.offset + i0 + a;
                    for (long bb = 0; bb < cols; ++bb) {
                        const long tp = s0 + bb;
                        if (!g.inWindow(t, tp)) {
                            dS(a, bb) = 0.0f;
                            continue;
                        }
                        const float alpha = p.decay[1][static_cast<std::size_t>(t - tp)];
                        const float S = w.T[0](a, bb) * alpha;
                        // dL/d(Qs Kc^T) = dW alpha phi'(S) alpha.
                        dS(a, bb) = dW(a, bb) * alpha * static_cast<float>(c.pulse.derivative(S)) * alpha;
                    }
                }
                dq.middleRows(i0, rows).noalias() += gain * (dS * p.Kp[0].middleRows(s0, cols));
                dk.middleRows(s0, cols).noalias() += dS.transpose() * p.Qs.middleRows(i0, rows);
            }
        });
    }
}

}  // namespace imc::behavior
