#include "fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace imc::fit {
namespace {

struct Breakpoints {
    double x0, x1;  // offset and saturation point
};

// With both breakpoints fixed the model is slope * (clamp(x, x0, x1) - x0): linear in slope alone.
double profileSlope(std::span<const double> x, std::span<const double> T, Breakpoints b, double* sse) {
    double gt = 0.0, gg = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        const double g = std::clamp(x[k], b.x0, b.x1) - b.x0;
        gt += g * T[k];
        gg += g * g;
    }
    if (!(gg > 0.0)) {
        *sse = std::numeric_limits<double>::infinity();
        return 0.0;
    }
    const double slope = gt / gg;
    double s = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        const double r = T[k] - slope * (std::clamp(x[k], b.x0, b.x1) - b.x0);
        s += r * r;
    }
    *sse = s;
    return slope;
}

struct Candidate {
    double slope, offset, T_max, sse;
};

double sseOf(std::span<const double> x, std::span<const double> T, const Candidate& c) {
    double s = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        const double r = T[k] - std::clamp(c.slope * (x[k] - c.offset), 0.0, c.T_max);
        s += r * r;
    }
    return s;
}

// Given which samples are off, on the slope and saturated, the three parameters decouple: a line
// through the sloped samples and the mean of the saturated ones. Re-partitioning with the new
// parameters and repeating reaches the exact optimum from a nearby grid point.
Candidate refineByPartition(std::span<const double> x, std::span<const double> T, Candidate c) {
    double x_max = *std::max_element(x.begin(), x.end());
    for (int iteration = 0; iteration < 50; ++iteration) {
        const double x_sat = c.offset + c.T_max / c.slope;
        double n1 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, n2 = 0, s2 = 0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            if (x[k] <= c.offset) continue;
            if (x[k] >= x_sat) {
                n2 += 1;
                s2 += T[k];
            } else {
                n1 += 1;
                sx += x[k];
                sy += T[k];
                sxx += x[k] * x[k];
                sxy += x[k] * T[k];
            }
        }
        const double det = n1 * sxx - sx * sx;
        if (n1 < 2 || !(det > 0.0)) return c;
        const double slope = (n1 * sxy - sx * sy) / det;
        const double intercept = (sy - slope * sx) / n1;
        if (!(slope > 0.0)) return c;
        Candidate next{slope, -intercept / slope, 0.0, 0.0};
        // Without saturated samples T_max is only bounded below by the largest sloped value.
        next.T_max = n2 > 0 ? s2 / n2 : slope * (x_max - next.offset);
        if (!(next.T_max > 0.0)) return c;
        next.sse = sseOf(x, T, next);
        if (!(next.sse < c.sse)) return c;
        const bool converged = std::abs(next.sse - c.sse) <= 1e-15 * std::max(c.sse, 1e-300);
        c = next;
        if (converged) break;
    }
    return c;
}

HardSigmoidFit fitUnsigned(std::span<const double> x, std::span<const double> T, const char* what) {
    const std::size_t n = x.size();
    if (T.size() != n)
        throw std::invalid_argument(std::string(what) + ": x has " + std::to_string(n) + " samples but T has " +
                                    std::to_string(T.size()));
    if (n < 4) throw std::invalid_argument(std::string(what) + ": need at least 4 samples, got " + std::to_string(n));
    for (std::size_t k = 0; k < n; ++k)
        if (!std::isfinite(x[k]) || !std::isfinite(T[k]))
            throw std::invalid_argument(std::string(what) + ": sample " + std::to_string(k) + " is not finite");
    const auto [lo_it, hi_it] = std::minmax_element(x.begin(), x.end());
    const double x_lo = *lo_it, x_hi = *hi_it, span = x_hi - x_lo;
    if (!(span > 0.0)) throw std::invalid_argument(std::string(what) + ": all x are equal");

    // Coarse grid over both breakpoints. The offset may lie below the data (extrapolated) and the
    // saturation point above it (no saturation seen).
    const int grid = 81;
    Candidate best{0, 0, 0, std::numeric_limits<double>::infinity()};
    for (int a = 0; a < grid; ++a) {
        const double x0 = x_lo + span * (-1.0 + 2.01 * a / (grid - 1));
        for (int b = 0; b < grid; ++b) {
            const double x1 = x_lo + span * (1.01 * b / (grid - 1));
            if (!(x1 > x0)) continue;
            double sse = 0.0;
            const double slope = profileSlope(x, T, {x0, x1}, &sse);
            if (slope > 0.0 && sse < best.sse) best = {slope, x0, slope * (x1 - x0), sse};
        }
    }
    if (!std::isfinite(best.sse))
        throw std::invalid_argument(std::string(what) + ": T does not increase with x anywhere");
    best = refineByPartition(x, T, best);

    HardSigmoidFit fit;
    fit.slope_s_per_x = best.slope;
    fit.offset_x = best.offset;
    fit.T_max_s = best.T_max;
    fit.n = n;
    // A sample sitting exactly on a breakpoint (to rounding) does not show the flat part beyond it.
    const double margin = 1e-9 * span;
    fit.offset_observed = x_lo < best.offset - margin;
    fit.saturation_observed = x_hi > best.offset + best.T_max / best.slope + margin;
    fit.rmse = std::sqrt(best.sse / double(n));
    double mean = 0.0;
    for (double v : T) mean += v;
    mean /= double(n);
    double ss_tot = 0.0;
    for (double v : T) ss_tot += (v - mean) * (v - mean);
    fit.r2 = ss_tot > 0.0 ? 1.0 - best.sse / ss_tot : 1.0;
    return fit;
}

}  // namespace

HardSigmoidFit fitHardSigmoid(std::span<const double> x, std::span<const double> T_s) {
    return fitUnsigned(x, T_s, "fitHardSigmoid");
}

HardSigmoidFit fitSignedHardSigmoid(std::span<const double> x, std::span<const double> T_signed_s) {
    if (x.size() != T_signed_s.size())
        throw std::invalid_argument("fitSignedHardSigmoid: x has " + std::to_string(x.size()) +
                                    " samples but T has " + std::to_string(T_signed_s.size()));
    // Folding negative inputs onto positive ones turns the signed model into the unsigned one.
    std::vector<double> magnitude(x.size()), width(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
        magnitude[k] = std::abs(x[k]);
        width[k] = x[k] < 0.0 ? -T_signed_s[k] : T_signed_s[k];
    }
    HardSigmoidFit fit = fitUnsigned(magnitude, width, "fitSignedHardSigmoid");
    fit.is_signed = true;
    // Folding leaves the residuals unchanged but not the variance of T, so R^2 uses the signed data.
    double mean = 0.0;
    for (double v : T_signed_s) mean += v;
    mean /= double(T_signed_s.size());
    double ss_tot = 0.0;
    for (double v : T_signed_s) ss_tot += (v - mean) * (v - mean);
    const double sse = fit.rmse * fit.rmse * double(fit.n);
    fit.r2 = ss_tot > 0.0 ? 1.0 - sse / ss_tot : 1.0;
    return fit;
}

double evaluateHardSigmoid(const HardSigmoidFit& fit, double x) {
    if (!fit.is_signed) return std::clamp(fit.slope_s_per_x * (x - fit.offset_x), 0.0, fit.T_max_s);
    const double width = std::clamp(fit.slope_s_per_x * (std::abs(x) - fit.offset_x), 0.0, fit.T_max_s);
    return x < 0.0 ? -width : width;
}

}  // namespace imc::fit
