#include "variability/variability.hpp"

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace imc::variability {

namespace {
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Stream::Stream(const StreamKey& key) {
    // Chain the key fields through the mixer so that nearby keys give unrelated states.
    std::uint64_t h = mix64(key.seed);
    h = mix64(h ^ static_cast<std::uint64_t>(key.purpose));
    h = mix64(h ^ key.sample);
    h = mix64(h ^ key.device);
    h = mix64(h ^ key.cycle);
    for (auto& s : s_) s = h = mix64(h);
}

std::uint64_t Stream::next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Stream::uniform() { return unitClosedOpen(next()); }

double Stream::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Stream::normal() {
    if (haveSpare_) {
        haveSpare_ = false;
        return spare_;
    }
    double u1 = 0;
    do u1 = uniform(); while (u1 <= 0);
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * std::numbers::pi * u2);
    haveSpare_ = true;
    return r * std::cos(2 * std::numbers::pi * u2);
}

double Stream::normal(double mean, double sigma) { return mean + sigma * normal(); }

double Stream::lognormal(double mu, double sigma) { return std::exp(normal(mu, sigma)); }

double Distribution::draw(Stream& s) const {
    switch (kind) {
        case Kind::Fixed: return a;
        case Kind::Normal: return s.normal(a, b);
        case Kind::Lognormal: return s.lognormal(a, b);
        case Kind::Uniform: return s.uniform(a, b);
    }
    throw std::logic_error("unknown distribution kind");
}

std::string Distribution::describe() const {
    std::ostringstream o;
    switch (kind) {
        case Kind::Fixed: o << "fixed(" << a << ")"; break;
        case Kind::Normal: o << "normal(mean=" << a << ", sigma=" << b << ")"; break;
        case Kind::Lognormal: o << "lognormal(mu=" << a << ", sigma=" << b << ")"; break;
        case Kind::Uniform: o << "uniform(" << a << ", " << b << ")"; break;
    }
    return o.str();
}

double drawDeviceToDevice(const Distribution& d, std::uint64_t seed, std::uint64_t sample, std::uint64_t device) {
    Stream s({seed, Purpose::DeviceToDevice, sample, device, 0});
    return d.draw(s);
}

double drawCycleToCycle(const Distribution& d, std::uint64_t seed, std::uint64_t sample, std::uint64_t device,
                        std::uint64_t cycle) {
    Stream s({seed, Purpose::CycleToCycle, sample, device, cycle});
    return d.draw(s);
}

double pelgromSigma(double A_vt_Vm, double W_m, double L_m) {
    if (W_m <= 0 || L_m <= 0) throw std::invalid_argument("pelgromSigma: W and L must be > 0");
    return A_vt_Vm / std::sqrt(W_m * L_m);
}

int simulatorSeed(std::uint64_t seed, std::uint64_t jobIndex) {
    Stream s({seed, Purpose::Simulator, jobIndex, 0, 0});
    return int(s.next() >> 34) + 1;  // 1 .. 2^30
}

}  // namespace imc::variability
