#pragma once
// Fits directories written by the tests themselves, so every device number a test uses is visible
// in the test and none comes from constants inside lib/behavior.
#include "behavior/gaincell_attention.hpp"
#include "fit/fit.hpp"

#include <filesystem>
#include <map>
#include <random>
#include <string>

namespace behavior_test {

struct ArraySpec {
    int Q_levels = 16, K_levels = 8, V_levels = 8, out_levels = 32;
    double Q_max = 1.0, K_max_V = 0.9, V_max_V = 0.9;
    int tile_size = 64;
    double V_in_V = 0.9;
    double step_latency_s = 1e-7;
    double pulse_full_scale_ns = 0.0;  // 0: not written
};

struct FitsSpec {
    ArraySpec array;
    double pulse_S_sat = 80.0, pulse_offset = 0.0;
    double readout_S_sat = 40.0, readout_offset = 0.0;
    double tau_s = 0.0;  // 0: no retention file
    std::map<std::string, double> poly;  // empty: no gaincell-poly file
    std::string poly_Q_unit;             // units["Q"] of the polynomial; empty: not written
    nlohmann::json poly_spread = nlohmann::json::object();
    nlohmann::json pulse_spread = nlohmann::json::object();
};

inline imc::fit::FitRecord record(const std::string& model, std::map<std::string, double> coefficients) {
    imc::fit::FitRecord r;
    r.model = model;
    r.coefficients = std::move(coefficients);
    return r;
}

// A fresh directory under the build tree, named after the test.
inline std::string freshDir(const std::string& name) {
    const auto dir = std::filesystem::path(IMC_BINARY_DIR) / "test-behavior" / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

inline std::string writeFits(const std::string& name, const FitsSpec& spec) {
    const std::string dir = freshDir(name);
    const ArraySpec& a = spec.array;
    auto array = record("gaincell-array", {{"Q_levels", a.Q_levels},
                                                 {"Q_min", 0.0},
                                                 {"Q_max", a.Q_max},
                                                 {"K_levels", a.K_levels},
                                                 {"K_min_V", 0.0},
                                                 {"K_max_V", a.K_max_V},
                                                 {"V_levels", a.V_levels},
                                                 {"V_min_V", 0.0},
                                                 {"V_max_V", a.V_max_V},
                                                 {"out_levels", a.out_levels},
                                                 {"out_min", -1.0},
                                                 {"out_max", 1.0},
                                                 {"tile_size", a.tile_size},
                                                 {"V_in_V", a.V_in_V},
                                                 {"step_latency_s", a.step_latency_s}});
    if (a.pulse_full_scale_ns > 0) array.coefficients["pulse_full_scale_ns"] = a.pulse_full_scale_ns;
    imc::fit::writeFit(dir + "/array.json", array);
    auto pulse = record("c2p-relu", {{"S_sat", spec.pulse_S_sat}, {"offset", spec.pulse_offset}});
    pulse.spread = spec.pulse_spread;
    imc::fit::writeFit(dir + "/pulse.json", pulse);
    imc::fit::writeFit(dir + "/readout.json",
                       record("c2p-signed", {{"S_sat", spec.readout_S_sat}, {"offset", spec.readout_offset}}));
    if (spec.tau_s > 0) imc::fit::writeFit(dir + "/retention.json", record("retention", {{"tau_s", spec.tau_s}}));
    if (!spec.poly.empty()) {
        auto poly = record("gaincell-poly", spec.poly);
        poly.spread = spec.poly_spread;
        if (!spec.poly_Q_unit.empty()) poly.units["Q"] = spec.poly_Q_unit;
        imc::fit::writeFit(dir + "/poly.json", poly);
    }
    return dir;
}

// A generic cubic: every power and every V_in power present, odd-dominated around 0.45 V.
inline std::map<std::string, double> cubicPolynomial() {
    return {{"C_0_0", 0.05}, {"C_0_1", 0.02}, {"C_0_2", -0.01}, {"C_0_3", 0.004}, {"C_1_0", 0.9},
            {"C_1_1", 2.1},  {"C_1_2", 0.3},  {"C_2_0", -0.35}, {"C_2_1", 0.1},   {"C_3_0", 1.8},
            {"K_offset", 0.45}};
}

inline imc::behavior::Matrix uniformMatrix(long rows, long cols, double lo, double hi, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(static_cast<float>(lo), static_cast<float>(hi));
    imc::behavior::Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    return m;
}

}  // namespace behavior_test
