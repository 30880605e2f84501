#include "fit/level_errors.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::fit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Upper tail P(Z > z) of the standard normal, accurate far into both tails.
double upperTail(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

// P(lo < X < hi) for X ~ Normal(mean, std); computed from the tail on the side away from the mean
// so that probabilities near 1e-15 keep their digits.
double intervalProbability(double lo, double hi, double mean, double std) {
    if (std == 0.0) return (mean > lo && mean <= hi) ? 1.0 : 0.0;
    const double zlo = (lo - mean) / std, zhi = (hi - mean) / std;
    if (zlo >= 0.0) return upperTail(zlo) - upperTail(zhi);
    if (zhi <= 0.0) return upperTail(-zhi) - upperTail(-zlo);
    return 1.0 - upperTail(-zlo) - upperTail(zhi);
}

struct ErrorRates {
    double symbol = 0.0;
    double bit = 0.0;
};

// Sums the off-diagonal confusion P(decide j | level i) (not 1 - diagonal, which loses small rates).
ErrorRates nearestLevelErrors(std::span<const double> mean, std::span<const double> std) {
    const std::size_t L = mean.size();
    const int bits = std::bit_width(L - 1);
    std::vector<double> threshold(L + 1);
    threshold.front() = -kInf;
    threshold.back() = kInf;
    for (std::size_t j = 1; j < L; ++j) threshold[j] = 0.5 * (mean[j - 1] + mean[j]);
    ErrorRates r;
    for (std::size_t i = 0; i < L; ++i)
        for (std::size_t j = 0; j < L; ++j) {
            if (i == j) continue;
            const double p = intervalProbability(threshold[j], threshold[j + 1], mean[i], std[i]);
            r.symbol += p;
            r.bit += p * std::popcount(i ^ j);
        }
    r.symbol /= double(L);
    r.bit /= double(L) * bits;
    return r;
}

ErrorRates multiplicative(int levels, double sigma_eta) {
    if (levels < 2) throw std::invalid_argument("levels must be >= 2, got " + std::to_string(levels));
    if (!(sigma_eta >= 0.0) || !std::isfinite(sigma_eta)) {
        std::ostringstream msg;
        msg << "sigma_eta must be finite and >= 0, got " << sigma_eta;
        throw std::invalid_argument(msg.str());
    }
    std::vector<double> mean(levels), std(levels);
    for (int w = 0; w < levels; ++w) {
        mean[w] = w;
        std[w] = w * sigma_eta;
    }
    return nearestLevelErrors(mean, std);
}

}  // namespace

double multiplicativeSymbolErrorRate(int levels, double sigma_eta) { return multiplicative(levels, sigma_eta).symbol; }

double multiplicativeBitErrorRate(int levels, double sigma_eta) { return multiplicative(levels, sigma_eta).bit; }

double sigmaEtaForBitErrorRate(int levels, double ber) {
    // As sigma -> inf every level w >= 1 reads at +-inf with probability 1/2 each: the supremum.
    double limit = 0.0;
    for (int w = 1; w < levels; ++w)
        limit += 0.5 * (std::popcount(unsigned(w)) + std::popcount(unsigned(w ^ (levels - 1))));
    if (levels >= 2) limit /= double(levels) * std::bit_width(unsigned(levels - 1));
    if (!(ber >= 0.0 && ber < limit)) {
        std::ostringstream msg;
        msg << "bit error rate " << ber << " is outside what " << levels
            << " levels with multiplicative noise can produce: [0, " << limit << ")";
        throw std::invalid_argument(msg.str());
    }
    if (ber == 0.0) return 0.0;
    double lo = 0.0, hi = 1.0;
    while (multiplicativeBitErrorRate(levels, hi) < ber) hi *= 2.0;
    for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        (multiplicativeBitErrorRate(levels, mid) < ber ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

namespace {
void checkLevels(std::span<const double> mean, std::span<const double> std) {
    if (mean.size() != std.size())
        throw std::invalid_argument("level means (" + std::to_string(mean.size()) + ") and stds (" +
                                    std::to_string(std.size()) + ") differ in count");
    if (mean.size() < 2) throw std::invalid_argument("need at least 2 levels, got " + std::to_string(mean.size()));
    for (std::size_t i = 0; i < mean.size(); ++i) {
        std::ostringstream msg;
        if (!std::isfinite(mean[i])) msg << "level " << i << ": mean " << mean[i] << " is not finite";
        else if (!(std[i] >= 0.0) || !std::isfinite(std[i])) msg << "level " << i << ": std " << std[i] << " must be finite and >= 0";
        else if (i > 0 && !(mean[i] > mean[i - 1]))
            msg << "level " << i << ": mean " << mean[i] << " is not above level " << i - 1 << "'s " << mean[i - 1];
        if (!msg.str().empty()) throw std::invalid_argument(msg.str());
    }
}
}  // namespace

double gaussianSymbolErrorRate(std::span<const double> mean, std::span<const double> std) {
    checkLevels(mean, std);
    return nearestLevelErrors(mean, std).symbol;
}

double gaussianBitErrorRate(std::span<const double> mean, std::span<const double> std) {
    checkLevels(mean, std);
    return nearestLevelErrors(mean, std).bit;
}

}  // namespace imc::fit
