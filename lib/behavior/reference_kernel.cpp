// The specification of one head's array step, in plain loops and double precision. The optimized
// kernel must agree with it; tests compare the two.
#include "behavior/detail.hpp"
#include "behavior/gaincell_attention.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace imc::behavior {

Eigen::MatrixXd gainCellAttentionReference(const GainCellModel& model, const AttentionOptions& options,
                                           const Variability& variability, HeadIndex head,
                                           const Eigen::MatrixXd& q, const Eigen::MatrixXd& k,
                                           const Eigen::MatrixXd& v, Eigen::MatrixXd* S_out,
                                           Eigen::MatrixXd* phi_out) {
    const detail::WindowGeometry g =
        detail::makeGeometry(model, options, q.rows(), k.rows(), q.cols(), k.cols(), v.cols(), v.rows());
    const bool nonlinear = options.model == ArrayModel::Nonlinear;
    if (nonlinear) model.polynomial();  // throws when absent
    if (variability.enabled) model.requireSpread(options.model);
    const ArrayArchitecture& arch = model.architecture();
    const long D = q.cols();

    // Inputs as the DACs and pulse generators produce them.
    Eigen::MatrixXd Q = q, K = k, V = v;
    if (options.quantize_inputs) {
        Q = Q.unaryExpr([&](double x) { return arch.query(x); });
        K = K.unaryExpr([&](double x) { return arch.key(x); });
        V = V.unaryExpr([&](double x) { return arch.value(x); });
    }
    const double r = detail::decayRate(model, options);
    std::vector<TileCircuits> tiles;
    for (long p = 0; p < g.physical_tiles; ++p)
        tiles.push_back(drawTileCircuits(model, variability, head, static_cast<int>(p)));

    const ReadoutNoiseTable& noise = model.readoutNoise();
    const bool noisy = nonlinear && variability.enabled && variability.readout_noise && !noise.empty();
    const std::uint64_t key_S =
        detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseKey, head), variability.read_index);
    const std::uint64_t key_A =
        detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseValue, head), variability.read_index);
    const double pulse_scale = detail::pulseFullScale(model, options);
    const LinearArray& lin = options.linear;

    Eigen::MatrixXd S = Eigen::MatrixXd::Zero(g.Tq, g.Tk), P = Eigen::MatrixXd::Zero(g.Tq, g.Tk);
    Eigen::MatrixXd A = Eigen::MatrixXd::Zero(g.Tq, D);
    for (long i = 0; i < g.Tq; ++i) {
        const long t = g.offset + i;
        // First array: one bit-line charge per stored key, then the charge-to-pulse.
        for (long tp = 0; tp < g.Tk; ++tp) {
            if (!g.inWindow(t, tp)) continue;
            const TileCircuits& c = tiles[static_cast<std::size_t>(g.tileOfKey(tp))];
            const double alpha = std::exp(-r * double(t - tp));
            double s = 0.0;
            if (!nonlinear) {
                for (long d = 0; d < D; ++d) s += lin.gain * alpha * Q(i, d) * (K(tp, d) - lin.K_offset_V);
            } else {
                double variance = 0.0;
                for (long d = 0; d < D; ++d) {
                    const double pulse = pulse_scale * Q(i, d), x = K(tp, d) - c.key_array.offset_V;
                    for (int power = 0; power <= 3; ++power)
                        s += c.key_array.D[static_cast<std::size_t>(power)] * pulse * std::pow(x, power) *
                             std::pow(alpha, power);
                    if (noisy) variance += std::pow(pulse * noise.at(K(tp, d)), 2);
                }
                if (noisy)
                    s += std::sqrt(variance) *
                         detail::normalAt(key_S, (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(tp));
            }
            S(i, tp) = s;
            P(i, tp) = c.pulse(s);
        }
        // Second array: each physical tile integrates its own charge, is read out and quantized;
        // the digital adders sum the tiles. Tiles with no key in the window are not read.
        for (long p = 0; p < g.physical_tiles; ++p) {
            const TileCircuits& c = tiles[static_cast<std::size_t>(p)];
            bool any = false;
            std::vector<double> charge(static_cast<std::size_t>(D), 0.0), variance(static_cast<std::size_t>(D), 0.0);
            for (long tp = 0; tp < g.Tk; ++tp) {
                if (!g.inWindow(t, tp) || g.tileOfKey(tp) != p) continue;
                any = true;
                const double alpha = std::exp(-r * double(t - tp));
                for (long d = 0; d < D; ++d) {
                    const auto dd = static_cast<std::size_t>(d);
                    if (!nonlinear) {
                        charge[dd] += lin.gain * P(i, tp) * alpha * (V(tp, d) - lin.V_offset_V);
                    } else {
                        const double pulse = pulse_scale * P(i, tp), x = V(tp, d) - c.value_array.offset_V;
                        for (int power = 0; power <= 3; ++power)
                            charge[dd] += c.value_array.D[static_cast<std::size_t>(power)] * pulse * std::pow(x, power) *
                                          std::pow(alpha, power);
                        if (noisy) variance[dd] += std::pow(pulse * noise.at(V(tp, d)), 2);
                    }
                }
            }
            if (!any) continue;
            for (long d = 0; d < D; ++d) {
                const auto dd = static_cast<std::size_t>(d);
                double x = charge[dd];
                if (noisy)
                    x += std::sqrt(variance[dd]) *
                         detail::normalAt(detail::combine(detail::combine(key_A, static_cast<std::uint64_t>(t)),
                                                          static_cast<std::uint64_t>(p)),
                                          static_cast<std::uint64_t>(d));
                double y = c.readout(x);
                if (options.quantize_output) y = arch.output(y);
                A(i, d) += y;
            }
        }
    }
    if (S_out) *S_out = S;
    if (phi_out) *phi_out = P;
    return A;
}

}  // namespace imc::behavior
