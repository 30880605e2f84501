#pragma once
// The one family of random numbers in imc, portable and fully specified here so that numbers do not
// depend on the standard library's distributions or on the machine:
//   mix64 / combine   derive keys from seeds and indices (SplitMix64 finalizer, bijective)
//   normalAt          a standard normal that is a pure function of (key, counter): no state, so a
//                     draw does not depend on the order or the thread it is made in
//   SplitMix64        a small sequential generator (training, sampling, synthetic inputs)
//   Stream            (variability.hpp) the keyed xoshiro256** stream of the Monte-Carlo decks
#include <cmath>
#include <cstdint>

namespace imc::variability {

// SplitMix64 finalizer of x + golden ratio: a bijective mix, so distinct inputs give unrelated values.
inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// A key derived from a key and one more index.
inline std::uint64_t combine(std::uint64_t key, std::uint64_t value) { return mix64(key ^ mix64(value)); }

// 53 random bits in [0, 1).
inline double unitClosedOpen(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }
// 53 random bits in (0, 1): never 0, so log() in Box-Muller stays finite.
inline double unitOpen(std::uint64_t bits) { return (double(bits >> 11) + 0.5) * 0x1.0p-53; }

// A standard normal that is a pure function of (key, counter): counter-based, no generator state.
inline double normalAt(std::uint64_t key, std::uint64_t counter) {
    const std::uint64_t a = combine(key, 2 * counter), b = combine(key, 2 * counter + 1);
    return std::sqrt(-2.0 * std::log(unitOpen(a))) * std::cos(6.283185307179586 * unitOpen(b));
}

// Sequential SplitMix64: the i-th output is mix64(seed + i * golden ratio).
class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        const std::uint64_t out = mix64(state_);
        state_ += 0x9e3779b97f4a7c15ULL;
        return out;
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return unitClosedOpen(next()); }
    // Uniform integer in [0, n); the modulo bias is negligible for the small n used here.
    std::uint64_t below(std::uint64_t n) { return next() % n; }
    // Standard normal (Box-Muller, one value per call for simplicity).
    double normal() {
        const double u1 = 1.0 - uniform();  // (0, 1]
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    std::uint64_t state_;
};

}  // namespace imc::variability
