#include "characterize/waveform.hpp"

#include <algorithm>
#include <limits>

namespace imc::characterize {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double integrateWindow(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0, double t1) {
    double sum = 0;
    for (Eigen::Index k = 1; k < t.size(); ++k) {
        const double a = std::max(t[k - 1], t0), b = std::min(t[k], t1);
        if (b <= a) continue;
        const double dt = t[k] - t[k - 1];
        auto at = [&](double x) { return dt > 0 ? y[k - 1] + (y[k] - y[k - 1]) * (x - t[k - 1]) / dt : y[k]; };
        sum += 0.5 * (at(a) + at(b)) * (b - a);
    }
    return sum;
}

double valueAt(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0) {
    if (t.size() == 0) return 0;
    if (t0 <= t[0]) return y[0];
    for (Eigen::Index k = 1; k < t.size(); ++k)
        if (t[k] >= t0) {
            const double dt = t[k] - t[k - 1];
            return dt > 0 ? y[k - 1] + (y[k] - y[k - 1]) * (t0 - t[k - 1]) / dt : y[k];
        }
    return y[t.size() - 1];
}

std::size_t firstIndexAtOrAfter(const std::vector<double>& t, double at) {
    return std::size_t(std::lower_bound(t.begin(), t.end(), at) - t.begin());
}

double sampleAt(const std::vector<double>& t, const std::vector<double>& y, double at) {
    const std::size_t k = firstIndexAtOrAfter(t, at);
    if (k == 0 || k >= t.size()) return kNaN;
    return y[k - 1] + (y[k] - y[k - 1]) * (at - t[k - 1]) / (t[k] - t[k - 1]);
}

double interpolateRising(const std::vector<double>& x, const std::vector<double>& y, double at, std::size_t from,
                         std::size_t to) {
    to = std::min(to, x.size());
    for (std::size_t k = from + 1; k < to; ++k)
        if ((x[k - 1] <= at && x[k] >= at) && x[k] != x[k - 1])
            return y[k - 1] + (y[k] - y[k - 1]) * (at - x[k - 1]) / (x[k] - x[k - 1]);
    return kNaN;
}

double interpolateFalling(const std::vector<double>& x, const std::vector<double>& y, double at, std::size_t from,
                          std::size_t to) {
    to = std::min(to, x.size());
    for (std::size_t k = from + 1; k < to; ++k)
        if ((x[k - 1] >= at && x[k] <= at) && x[k] != x[k - 1])
            return y[k - 1] + (y[k] - y[k - 1]) * (at - x[k - 1]) / (x[k] - x[k - 1]);
    return kNaN;
}

}  // namespace imc::characterize
