#pragma once
// A rows x cols matrix of standard normal entries from the engine's seeded generator.
#include "lsh/lsh.hpp"
#include "nn/random.hpp"

inline imc::lsh::Matrix randomMatrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
    imc::nn::Rng rng(seed);
    imc::lsh::Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}
