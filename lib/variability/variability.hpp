#pragma once
// Seeded random streams for Monte-Carlo. Every draw comes from a stream keyed by
// (seed, purpose, sample, device, cycle), so a value depends on those numbers only: the same seed
// gives bit-identical decks whatever the worker count or the order jobs run in.
// Device-to-device (D2D) values are drawn once per device and sample; cycle-to-cycle (C2C)
// values again for every cycle, each from its own stream.
#include "variability/random.hpp"

#include <cstdint>
#include <string>

namespace imc::variability {

// Elementary functions from +, -, *, / alone, so that a draw is the same bits on every machine:
// the C library's exp, log, sin and cos pick a code path for the processor they run on (with or
// without fused multiply-add), and their last bit may differ between the two. Within 2 ulp of
// the exact value (measured: log 0.8, exp 1.1, sin 1.8, cos 1.2; tested against long double).
// The library is compiled with -ffp-contract=off and without -march=native
// (lib/variability/CMakeLists.txt), so the compiler fuses nothing.
double log(double x);
double exp(double x);
// sin(2 pi t) and cos(2 pi t), the angle given in turns so that its reduction is exact.
void sinCosTurns(double t, double& sin_out, double& cos_out);

enum class Purpose : std::uint64_t { DeviceToDevice = 1, CycleToCycle = 2, Readout = 3, Simulator = 4, User = 16 };

struct StreamKey {
    std::uint64_t seed = 0;
    Purpose purpose = Purpose::DeviceToDevice;
    std::uint64_t sample = 0;
    std::uint64_t device = 0;
    std::uint64_t cycle = 0;
};

// xoshiro256** generator, seeded by mixing the key; portable and fully specified here, so
// numbers do not depend on the standard library's distribution implementations.
class Stream {
public:
    explicit Stream(const StreamKey& key);
    std::uint64_t next();
    double uniform();                        // [0, 1) with 53 random bits
    double uniform(double lo, double hi);    // [lo, hi)
    double normal();                         // standard normal (Box-Muller, both halves used)
    double normal(double mean, double sigma);
    double lognormal(double mu, double sigma);  // exp(N(mu, sigma))

private:
    std::uint64_t s_[4];
    bool haveSpare_ = false;
    double spare_ = 0;
};

// A distribution as written in job files and plans.
struct Distribution {
    enum class Kind { Fixed, Normal, Lognormal, Uniform };
    Kind kind = Kind::Fixed;
    double a = 0;  // Fixed: value; Normal: mean; Lognormal: mu (of log); Uniform: low
    double b = 0;  // Normal: sigma; Lognormal: sigma (of log); Uniform: high
    double draw(Stream& s) const;
    std::string describe() const;
    static Distribution fixed(double v) { return {Kind::Fixed, v, 0}; }
    static Distribution normal(double mean, double sigma) { return {Kind::Normal, mean, sigma}; }
    static Distribution lognormal(double mu, double sigma) { return {Kind::Lognormal, mu, sigma}; }
    static Distribution uniform(double lo, double hi) { return {Kind::Uniform, lo, hi}; }
};

// One device-to-device draw for (seed, sample, device).
double drawDeviceToDevice(const Distribution& d, std::uint64_t seed, std::uint64_t sample, std::uint64_t device);
// One cycle-to-cycle draw for (seed, sample, device, cycle).
double drawCycleToCycle(const Distribution& d, std::uint64_t seed, std::uint64_t sample, std::uint64_t device,
                        std::uint64_t cycle);

// Pelgrom mismatch: sigma(dVth) = A_vt / sqrt(W L); A_vt in V*m, W and L in m.
double pelgromSigma(double A_vt_Vm, double W_m, double L_m);

// The seed ngspice's own generator gets for one job (for `setseed`), from the run seed and the
// job's index: positive 31-bit.
int simulatorSeed(std::uint64_t seed, std::uint64_t jobIndex);

}  // namespace imc::variability
