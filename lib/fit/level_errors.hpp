#pragma once
// imc::fit level errors: symbol and bit error rates of a multi-level cell read by a nearest-level
// decision, for the multiplicative model of the HyFlexPIM public code (w (1 + eta)) and for
// measured per-level Gaussian reads. Pure functions.
#include <span>

namespace imc::fit {

// A cell with `levels` equally spaced levels w = 0..levels-1 (unit step) read as w (1 + eta),
// eta ~ Normal(0, sigma_eta), decided by the nearest level (thresholds at half steps); levels
// used with equal probability, natural binary code of w (ceil(log2 levels) bits).
// Throws std::invalid_argument for levels < 2 or a negative or non-finite sigma_eta.
double multiplicativeSymbolErrorRate(int levels, double sigma_eta);
double multiplicativeBitErrorRate(int levels, double sigma_eta);
// Inverse of multiplicativeBitErrorRate (monotone, solved by bisection); throws std::invalid_argument
// naming the value when ber is outside what the model can produce ([0, its limit as sigma -> inf)).
double sigmaEtaForBitErrorRate(int levels, double ber);

// Gaussian-tail error rates for measured per-level means/stds (any spacing), thresholds at midpoints.
// Level i (its natural binary code is i) reads Normal(mean[i], std[i]); means strictly increasing,
// std >= 0 (0: a deterministic read). Throws std::invalid_argument on bad input, naming the level.
double gaussianSymbolErrorRate(std::span<const double> mean, std::span<const double> std);
double gaussianBitErrorRate(std::span<const double> mean, std::span<const double> std);

}  // namespace imc::fit
