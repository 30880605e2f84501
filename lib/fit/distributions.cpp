#include "fit/fit.hpp"

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>

namespace imc::fit {
namespace {

struct NormalSummary {
    double mean = 0.0;
    double sum_squares = 0.0;  // sum of squared deviations from the mean
    std::size_t n = 0;
};

// Neumaier's compensated sum: the rounding error of each addition is carried along, so the sum
// of n values is exact to about one rounding whatever n (a naive sum drifts by ~n * eps).
double compensatedSum(const std::vector<double>& values) {
    double sum = 0.0, carry = 0.0;
    for (double v : values) {
        const double t = sum + v;
        carry += std::abs(sum) >= std::abs(v) ? (sum - t) + v : (v - t) + sum;
        sum = t;
    }
    return sum + carry;
}

// Mean by a compensated sum, corrected once more by the mean deviation (the "corrected two-pass"
// algorithm), then the squared deviations in a second compensated pass: avoids the cancellation of
// sum(x^2) - n*mean^2, and n identical values give exactly zero spread.
NormalSummary summarize(const std::vector<double>& values) {
    NormalSummary s;
    s.n = values.size();
    s.mean = compensatedSum(values) / double(s.n);
    std::vector<double> work(values.size());
    std::transform(values.begin(), values.end(), work.begin(), [&](double v) { return v - s.mean; });
    s.mean += compensatedSum(work) / double(s.n);
    std::transform(values.begin(), values.end(), work.begin(), [&](double v) { return (v - s.mean) * (v - s.mean); });
    s.sum_squares = compensatedSum(work);
    return s;
}

double normalCdf(double x, double mean, double std) {
    return 0.5 * std::erfc(-(x - mean) / (std * std::numbers::sqrt2));
}

double ksStatisticAgainstNormal(std::vector<double> values, double mean, double std) {
    std::sort(values.begin(), values.end());
    const double n = double(values.size());
    double D = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double F = normalCdf(values[i], mean, std);
        D = std::max({D, double(i + 1) / n - F, F - double(i) / n});
    }
    return D;
}

void checkConfidence(double confidence) {
    if (!(confidence > 0.0 && confidence < 1.0))
        throw std::invalid_argument("confidence must lie in (0, 1), got " + std::to_string(confidence));
}

void checkSamples(std::span<const double> samples, const char* what, bool positive) {
    if (samples.size() < 2)
        throw std::invalid_argument(std::string(what) + ": need at least 2 samples, got " + std::to_string(samples.size()));
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const double v = samples[i];
        if (!std::isfinite(v) || (positive && !(v > 0.0))) {
            std::ostringstream msg;
            msg << what << ": sample " << i << " is " << v
                << (positive ? "; lognormal samples must be finite and > 0" : "; samples must be finite");
            throw std::invalid_argument(msg.str());
        }
    }
}

struct NormalEstimate {
    double mean, std;
    Interval mean_ci, std_ci;
    double ks_D, ks_p;
};

NormalEstimate estimateNormal(const std::vector<double>& values, double confidence) {
    const NormalSummary s = summarize(values);
    // A spread below a few roundings of the values is no spread: report it, do not fit it.
    double largest = 0.0;
    for (double v : values) largest = std::max(largest, std::abs(v));
    const double rounding = 4.0 * std::numeric_limits<double>::epsilon() * largest;
    if (!(s.sum_squares > 0.0) || std::sqrt(s.sum_squares / double(s.n)) <= rounding)
        throw std::invalid_argument("all " + std::to_string(s.n) +
                                    " samples are equal (to rounding); the spread is zero, no distribution to fit");
    const double dof = double(s.n - 1);
    const double alpha = 1.0 - confidence;
    const boost::math::students_t t_dist(dof);
    const boost::math::chi_squared chi2_dist(dof);
    const double t = boost::math::quantile(boost::math::complement(t_dist, alpha / 2));
    const double unbiased_std = std::sqrt(s.sum_squares / dof);
    const double half_width = t * unbiased_std / std::sqrt(double(s.n));

    NormalEstimate e{};
    e.mean = s.mean;
    e.std = std::sqrt(s.sum_squares / double(s.n));
    e.mean_ci = {s.mean - half_width, s.mean + half_width};
    e.std_ci = {std::sqrt(s.sum_squares / boost::math::quantile(boost::math::complement(chi2_dist, alpha / 2))),
                std::sqrt(s.sum_squares / boost::math::quantile(chi2_dist, alpha / 2))};
    e.ks_D = ksStatisticAgainstNormal(values, e.mean, e.std);
    e.ks_p = ksPValue(e.ks_D, s.n);
    return e;
}

}  // namespace

double kolmogorovSurvival(double lambda) {
    if (!(lambda > 0.0)) return 1.0;
    // Two series of the same function; each converges in a handful of terms on its side of 1.18.
    if (lambda < 1.18) {
        const double pi2_over_8l2 = std::numbers::pi * std::numbers::pi / (8.0 * lambda * lambda);
        double cdf = 0.0;
        for (int k = 1; k < 100; ++k) {
            const double odd = 2.0 * k - 1.0;
            const double term = std::exp(-odd * odd * pi2_over_8l2);
            cdf += term;
            if (term < 1e-17 * cdf) break;
        }
        cdf *= std::sqrt(2.0 * std::numbers::pi) / lambda;
        return std::clamp(1.0 - cdf, 0.0, 1.0);
    }
    double survival = 0.0;
    for (int k = 1; k < 100; ++k) {
        const double term = std::exp(-2.0 * k * k * lambda * lambda);
        survival += (k % 2 == 1 ? 2.0 : -2.0) * term;
        if (term < 1e-17) break;
    }
    return std::clamp(survival, 0.0, 1.0);
}

double ksPValue(double D, std::size_t n) {
    if (n == 0) throw std::invalid_argument("ksPValue: n must be positive");
    const double root_n = std::sqrt(double(n));
    return kolmogorovSurvival((root_n + 0.12 + 0.11 / root_n) * D);
}

LognormalFit fitLognormal(std::span<const double> samples, double confidence) {
    checkConfidence(confidence);
    checkSamples(samples, "fitLognormal", true);
    std::vector<double> logs(samples.size());
    std::transform(samples.begin(), samples.end(), logs.begin(), [](double v) { return std::log(v); });
    NormalEstimate e;
    try {
        e = estimateNormal(logs, confidence);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string("fitLognormal: ") + error.what());
    }
    LognormalFit fit;
    fit.mu = e.mean;
    fit.sigma = e.std;
    fit.mu_ci = e.mean_ci;
    fit.sigma_ci = e.std_ci;
    fit.confidence = confidence;
    fit.ks_D = e.ks_D;
    fit.ks_p = e.ks_p;
    fit.n = samples.size();
    return fit;
}

GaussianFit fitGaussian(std::span<const double> samples, double confidence) {
    checkConfidence(confidence);
    checkSamples(samples, "fitGaussian", false);
    NormalEstimate e;
    try {
        e = estimateNormal(std::vector<double>(samples.begin(), samples.end()), confidence);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string("fitGaussian: ") + error.what());
    }
    GaussianFit fit;
    fit.mean = e.mean;
    fit.std = e.std;
    fit.mean_ci = e.mean_ci;
    fit.std_ci = e.std_ci;
    fit.confidence = confidence;
    fit.ks_D = e.ks_D;
    fit.ks_p = e.ks_p;
    fit.n = samples.size();
    return fit;
}

double sampleMean(std::span<const double> x) {
    double s = 0;
    for (double v : x) s += v;
    return x.empty() ? 0.0 : s / double(x.size());
}

double sampleStd(std::span<const double> x) {
    if (x.size() < 2) return 0.0;
    const double m = sampleMean(x);
    double s = 0;
    for (double v : x) s += (v - m) * (v - m);
    return std::sqrt(s / double(x.size() - 1));
}

}  // namespace imc::fit
