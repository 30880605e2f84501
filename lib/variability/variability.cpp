#include "variability/variability.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace imc::variability {

namespace {
// ln 2 split so that k * kLn2Hi is exact for |k| < 2^20 (kLn2Hi has 33 significant bits).
constexpr double kLn2Hi = 0x1.62e42fee00000p-1;
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
constexpr double kInvLn2 = 0x1.71547652b82fep+0;
constexpr double kTwoPi = 0x1.921fb54442d18p+2;

constexpr double inverseFactorial(int n) {
    double f = 1;
    for (int i = 2; i <= n; ++i) f *= i;  // exact up to 22!
    return 1.0 / f;
}
}  // namespace

double log(double x) {
    if (std::isnan(x) || x < 0) return std::numeric_limits<double>::quiet_NaN();
    if (x == 0) return -std::numeric_limits<double>::infinity();
    if (std::isinf(x)) return x;
    // x = 2^k m with m in [sqrt(1/2), sqrt(2)); frexp and ldexp are exact.
    int k = 0;
    double m = std::frexp(x, &k);
    if (m < 0x1.6a09e667f3bcdp-1) m *= 2, --k;
    // log(1 + f) = 2 atanh(s), s = f / (2 + f): f stays exact and only the small corrections
    // (f^2 / 2 and the series in s^2, |s| < 0.172) carry rounding.
    const double f = m - 1;
    const double s = f / (2 + f);
    const double z = s * s;
    double R = 2.0 / 21;
    for (int n = 9; n >= 1; --n) R = R * z + 2.0 / (2 * n + 1);
    R *= z;
    const double hfsq = 0.5 * f * f;
    const double dk = k;
    return dk * kLn2Hi + (f - (hfsq - (s * (hfsq + R) + dk * kLn2Lo)));
}

double exp(double x) {
    if (std::isnan(x)) return x;
    if (x > 709.782712893384) return std::numeric_limits<double>::infinity();
    if (x < -745.1332191019412) return 0.0;
    // x = k ln 2 + r with |r| <= ln(2) / 2 (Cody and Waite: r_hi exact), then Taylor to r^14.
    const double k = std::floor(x * kInvLn2 + 0.5);
    const double rHi = x - k * kLn2Hi;
    const double rLo = k * kLn2Lo;
    const double r = rHi - rLo;
    double p = inverseFactorial(14);
    for (int n = 13; n >= 1; --n) p = p * r + inverseFactorial(n);
    p = p * r + 1;
    return std::ldexp(p, int(k));
}

void sinCosTurns(double t, double& sin_out, double& cos_out) {
    if (!std::isfinite(t)) {
        sin_out = cos_out = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    // t = q/4 + f, |f| <= 1/8: 4 t is exact and so is t - q/4, so the angle is reduced exactly.
    const double q = std::floor(4 * t + 0.5);
    const double f = t - 0.25 * q;
    const double theta = kTwoPi * f;  // |theta| <= pi/4
    const double z = theta * theta;
    double ps = -inverseFactorial(19);  // sin: theta + theta^3 (-1/3! + z (1/5! ...))
    for (int n = 17; n >= 3; n -= 2) ps = ps * z + ((n / 2) % 2 ? -inverseFactorial(n) : inverseFactorial(n));
    const double sinTheta = theta + theta * z * ps;
    double pc = inverseFactorial(20);  // cos: 1 - z/2 + z^2 (1/4! - z (1/6! ...))
    for (int n = 18; n >= 4; n -= 2) pc = pc * z + ((n / 2) % 2 ? -inverseFactorial(n) : inverseFactorial(n));
    const double hz = 0.5 * z;
    const double w = 1 - hz;
    const double cosTheta = w + (((1 - w) - hz) + z * (z * pc));
    // The quadrant, from q mod 4 (q is an integer well inside int64 for any t whose f is exact).
    const auto quadrant = int(std::fmod(q, 4.0) + (q < 0 ? 4 : 0)) & 3;
    switch (quadrant) {
        case 0: sin_out = sinTheta, cos_out = cosTheta; break;
        case 1: sin_out = cosTheta, cos_out = -sinTheta; break;
        case 2: sin_out = -sinTheta, cos_out = -cosTheta; break;
        default: sin_out = -cosTheta, cos_out = sinTheta; break;
    }
}

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
    // sqrt is correctly rounded everywhere; log, sin and cos are this library's own (see the header).
    const double r = std::sqrt(-2.0 * log(u1));
    double s = 0, c = 0;
    sinCosTurns(u2, s, c);
    spare_ = r * s;
    haveSpare_ = true;
    return r * c;
}

double Stream::normal(double mean, double sigma) { return mean + sigma * normal(); }

double Stream::lognormal(double mu, double sigma) { return exp(normal(mu, sigma)); }

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
