#include "fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace imc::fit {
namespace {

struct DecayParameters {
    double V_inf, V0, tau;
};

double decayModel(const DecayParameters& p, double t) { return p.V_inf + (p.V0 - p.V_inf) * std::exp(-t / p.tau); }

double sumSquaredResiduals(const DecayParameters& p, std::span<const double> t, std::span<const double> V) {
    double sse = 0.0;
    for (std::size_t k = 0; k < t.size(); ++k) {
        const double r = V[k] - decayModel(p, t[k]);
        sse += r * r;
    }
    return sse;
}

// For a fixed tau the model is linear in (V_inf, V0): solving that exactly at each tau of a
// logarithmic grid gives a starting point that does not depend on the user's guess.
DecayParameters bestOnTauGrid(std::span<const double> t, std::span<const double> V, std::optional<double> V_inf_fixed,
                              double tau_lo, double tau_hi, int points) {
    DecayParameters best{0, 0, tau_lo};
    double best_sse = std::numeric_limits<double>::infinity();
    const Eigen::Index n = Eigen::Index(t.size());
    for (int g = 0; g < points; ++g) {
        const double tau = tau_lo * std::pow(tau_hi / tau_lo, double(g) / double(points - 1));
        DecayParameters p{0, 0, tau};
        if (V_inf_fixed) {
            double num = 0.0, den = 0.0;
            for (Eigen::Index k = 0; k < n; ++k) {
                const double e = std::exp(-t[k] / tau);
                num += e * (V[k] - *V_inf_fixed);
                den += e * e;
            }
            if (!(den > 0.0)) continue;
            p.V_inf = *V_inf_fixed;
            p.V0 = *V_inf_fixed + num / den;
        } else {
            Eigen::MatrixXd design(n, 2);
            Eigen::VectorXd target(n);
            for (Eigen::Index k = 0; k < n; ++k) {
                const double e = std::exp(-t[k] / tau);
                design(k, 0) = 1.0 - e;
                design(k, 1) = e;
                target[k] = V[k];
            }
            const LinearLeastSquaresFit ls = fitLinearLeastSquares(design, target);
            if (!ls.full_rank()) continue;
            p.V_inf = ls.coefficients[0];
            p.V0 = ls.coefficients[1];
        }
        const double sse = sumSquaredResiduals(p, t, V);
        if (sse < best_sse) {
            best_sse = sse;
            best = p;
        }
    }
    if (!std::isfinite(best_sse)) throw std::invalid_argument("fitExponentialDecay: no tau on the search grid fits the data");
    return best;
}

}  // namespace

ExponentialDecayFit fitExponentialDecay(std::span<const double> t_s, std::span<const double> V,
                                        std::optional<double> V_inf_fixed_V) {
    const std::size_t n = t_s.size();
    if (V.size() != n)
        throw std::invalid_argument("fitExponentialDecay: t has " + std::to_string(n) + " samples but V has " +
                                    std::to_string(V.size()));
    const std::size_t parameter_count = V_inf_fixed_V ? 2 : 3;
    if (n < parameter_count + 1)
        throw std::invalid_argument("fitExponentialDecay: need at least " + std::to_string(parameter_count + 1) +
                                    " samples, got " + std::to_string(n));
    for (std::size_t k = 0; k < n; ++k)
        if (!std::isfinite(t_s[k]) || !std::isfinite(V[k]))
            throw std::invalid_argument("fitExponentialDecay: sample " + std::to_string(k) + " is not finite");
    if (V_inf_fixed_V && !std::isfinite(*V_inf_fixed_V))
        throw std::invalid_argument("fitExponentialDecay: fixed V_inf is not finite");
    const auto [t_min, t_max] = std::minmax_element(t_s.begin(), t_s.end());
    const double span_s = *t_max - *t_min;
    if (!(span_s > 0.0)) throw std::invalid_argument("fitExponentialDecay: all samples have the same time");

    // Six decades around the time span: faster decays leave no sample on the slope, slower ones
    // (with V_inf free) cannot be told apart from a straight line.
    const double tau_lo = span_s * 1e-3;
    const double tau_hi = span_s * (V_inf_fixed_V ? 1e6 : 1e3);
    const int grid_points = 241;
    DecayParameters p = bestOnTauGrid(t_s, V, V_inf_fixed_V, tau_lo, tau_hi, grid_points);
    if (p.tau <= tau_lo * 1.0001)
        throw std::invalid_argument("fitExponentialDecay: the decay is faster than the sampling (tau < " +
                                    std::to_string(tau_lo) + " s)");
    if (!V_inf_fixed_V && p.tau >= tau_hi * 0.9999)
        throw std::invalid_argument(
            "fitExponentialDecay: tau is much longer than the time span, so tau and V_inf cannot be separated; "
            "fix V_inf");

    // Levenberg-Marquardt on (V_inf, V0, tau), or (V0, tau) with V_inf fixed.
    const bool free_asymptote = !V_inf_fixed_V;
    const Eigen::Index m = Eigen::Index(parameter_count);
    double sse = sumSquaredResiduals(p, t_s, V);
    double damping = 1e-3;
    Eigen::MatrixXd J(static_cast<Eigen::Index>(n), m);
    Eigen::VectorXd r(static_cast<Eigen::Index>(n));
    auto linearize = [&](const DecayParameters& q) {
        for (std::size_t k = 0; k < n; ++k) {
            const double e = std::exp(-t_s[k] / q.tau);
            Eigen::Index c = 0;
            if (free_asymptote) J(Eigen::Index(k), c++) = 1.0 - e;
            J(Eigen::Index(k), c++) = e;
            J(Eigen::Index(k), c) = (q.V0 - q.V_inf) * e * t_s[k] / (q.tau * q.tau);
            r[Eigen::Index(k)] = V[k] - decayModel(q, t_s[k]);
        }
    };
    int iterations = 0;
    for (; iterations < 200; ++iterations) {
        linearize(p);
        const Eigen::MatrixXd H = J.transpose() * J;
        const Eigen::VectorXd g = J.transpose() * r;
        bool improved = false;
        while (damping < 1e12) {
            Eigen::MatrixXd A = H;
            A.diagonal() += damping * H.diagonal();
            const Eigen::VectorXd step = A.ldlt().solve(g);
            DecayParameters trial = p;
            Eigen::Index c = 0;
            if (free_asymptote) trial.V_inf += step[c++];
            trial.V0 += step[c++];
            trial.tau += step[c];
            const double trial_sse = trial.tau > 0.0 ? sumSquaredResiduals(trial, t_s, V)
                                                     : std::numeric_limits<double>::infinity();
            if (trial_sse <= sse) {
                const double relative_gain = (sse - trial_sse) / std::max(sse, 1e-300);
                p = trial;
                sse = trial_sse;
                damping = std::max(damping / 10.0, 1e-12);
                improved = relative_gain > 1e-14;
                break;
            }
            damping *= 10.0;
        }
        if (!improved) break;
    }

    ExponentialDecayFit fit;
    fit.V0_V = p.V0;
    fit.V_inf_V = p.V_inf;
    fit.tau_s = p.tau;
    fit.V_inf_fixed = !free_asymptote;
    fit.n = n;
    fit.iterations = iterations;
    fit.rmse = std::sqrt(sse / double(n));
    double V_mean = 0.0;
    for (double v : V) V_mean += v;
    V_mean /= double(n);
    double ss_tot = 0.0;
    for (double v : V) ss_tot += (v - V_mean) * (v - V_mean);
    fit.r2 = ss_tot > 0.0 ? 1.0 - sse / ss_tot : 1.0;

    // Standard error of tau from the Gauss-Newton covariance s^2 (J^T J)^-1.
    linearize(p);
    if (n > parameter_count) {
        const Eigen::MatrixXd H = J.transpose() * J;
        Eigen::FullPivLU<Eigen::MatrixXd> lu(H);
        if (lu.isInvertible()) {
            const double variance_scale = sse / double(n - parameter_count);
            const double var_tau = variance_scale * lu.inverse()(m - 1, m - 1);
            fit.tau_stderr_s = var_tau > 0.0 ? std::sqrt(var_tau) : 0.0;
        }
    }
    return fit;
}

}  // namespace imc::fit
