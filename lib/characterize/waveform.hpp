#pragma once
// Measurements on sampled waveforms, the "measure" step of every study: pure functions of the
// vectors a simulation returned (time or sweep variable rising), testable without ngspice.
#include <Eigen/Dense>

#include <cstddef>
#include <string>
#include <vector>

namespace imc::characterize {

// Trapezoid integral of y(t) over [t0, t1], interpolating at the ends (exact for piecewise-linear y).
double integrateWindow(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0, double t1);
// Linear interpolation of y at time t0, clamped to the first and last sample outside the record.
double valueAt(const Eigen::VectorXd& t, const Eigen::VectorXd& y, double t0);
// Linear interpolation of y at time `at`; NaN outside the record (a measurement that did not happen).
double sampleAt(const std::vector<double>& t, const std::vector<double>& y, double at);
// Index of the first sample with t >= at (t.size() when none).
std::size_t firstIndexAtOrAfter(const std::vector<double>& t, double at);
// y where x crosses `at` upwards (resp. downwards) within samples [from, to); NaN if it never does.
double interpolateRising(const std::vector<double>& x, const std::vector<double>& y, double at, std::size_t from = 0,
                         std::size_t to = std::string::npos);
double interpolateFalling(const std::vector<double>& x, const std::vector<double>& y, double at, std::size_t from = 0,
                          std::size_t to = std::string::npos);

}  // namespace imc::characterize
