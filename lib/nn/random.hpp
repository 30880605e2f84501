#pragma once
// Training, sampling and synthetic weights draw from the project's one portable generator, so they
// are reproducible from their seed everywhere.
#include "variability/random.hpp"

namespace imc::nn {

using Rng = variability::SplitMix64;

}  // namespace imc::nn
