// One builder per fits model (fits/README.md), used by `imc fit` and by the characterizations.
#include "fit/fit.hpp"

#include <algorithm>

namespace imc::fit {
namespace {

// "Q" with unit "ns" is the validity key "Q_ns"; without a unit it stays "Q".
std::string keyWithUnit(const std::string& name, const std::string& unit) { return unit.empty() ? name : name + "_" + unit; }

// Unit of D_i or C_i_j (power = i + j of K - K_offset and V_in): S per Q per V^power.
std::string powerUnit(const std::string& S_unit, const std::string& Q_unit, int power) {
    const std::string s = S_unit.empty() ? "[S]" : S_unit;
    const std::string q = Q_unit.empty() ? "[Q]" : Q_unit;
    if (power == 0) return s + "/" + q;
    return s + "/(" + q + "*V" + (power > 1 ? "^" + std::to_string(power) : "") + ")";
}

}  // namespace

Range rangeOf(std::span<const double> values) {
    if (values.empty()) throw std::invalid_argument("rangeOf: no values");
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {*lo, *hi};
}

FitProvenance fitProvenance(const std::string& generator, const std::string& command, const nlohmann::json& parameters,
                            std::optional<std::uint64_t> samples, std::optional<std::uint64_t> seed,
                            const std::string& netlist_sha256, const std::string& ngspice_version) {
    FitProvenance p;
    p.generator = generator;
    p.parameters = parameters;
    p.netlist_sha256 = netlist_sha256;
    p.seed = seed;
    p.samples = samples;
    p.ngspice_version = ngspice_version;
    p.created_utc = currentUtcTimestamp();
    p.command = command;
    return p;
}

FitRecord gainCellPolyRecord(const GainCellPolyFit& fit, const std::string& S_unit, const std::string& Q_unit, Range Q,
                             Range K_V, Range V_in_V) {
    FitRecord record;
    record.model = "gaincell-poly";
    record.description = fit.identifiable
                             ? "S = sum_i sum_j C_i_j * Q * (K - K_offset)^i * V_in^j (third order, 10 coefficients)"
                             : "S = sum_i D_i * Q * (K - K_offset)^i at the fixed V_in; " + fit.note;
    for (int i = 0; i <= 3; ++i) {
        if (!fit.identifiable) {
            const std::string name = "D_" + std::to_string(i);
            record.coefficients[name] = fit.D[std::size_t(i)];
            record.units[name] = powerUnit(S_unit, Q_unit, i);
            continue;
        }
        for (int j = 0; j <= 3 - i; ++j) {
            const std::string name = "C_" + std::to_string(i) + "_" + std::to_string(j);
            record.coefficients[name] = fit.C[std::size_t(i)][std::size_t(j)];
            record.units[name] = powerUnit(S_unit, Q_unit, i + j);
        }
    }
    record.coefficients["K_offset"] = fit.K_offset_V;
    record.units["K_offset"] = "V";
    if (!fit.identifiable) {
        record.coefficients["V_in"] = fit.V_in_V;
        record.units["V_in"] = "V";
    }
    if (!S_unit.empty()) record.units["S"] = S_unit;
    if (!Q_unit.empty()) record.units["Q"] = Q_unit;
    record.validity = {{keyWithUnit("Q", Q_unit), Q}, {"K_V", K_V}, {"V_in_V", V_in_V}};
    record.quality.rmse = fit.rmse;
    record.quality.r2 = fit.r2;
    record.quality.n = fit.n;
    record.quality.extra["identifiable"] = fit.identifiable;
    if (!S_unit.empty()) record.quality.extra["rmse_unit"] = S_unit;
    return record;
}

FitRecord retentionRecord(const ExponentialDecayFit& fit, Range t_s) {
    FitRecord record;
    record.model = "retention";
    record.description = "V(t) = V_inf + (V0 - V_inf) * exp(-t / tau)";
    record.coefficients = {{"tau_s", fit.tau_s}, {"V0_V", fit.V0_V}, {"V_inf_V", fit.V_inf_V}};
    record.units = {{"tau_s", "s"}, {"V0_V", "V"}, {"V_inf_V", "V"}};
    record.validity = {{"t_s", t_s}};
    record.quality.rmse = fit.rmse;
    record.quality.r2 = fit.r2;
    record.quality.n = fit.n;
    record.quality.extra = {{"rmse_unit", "V"}};
    record.spread = {{"tau_stderr_s", fit.tau_stderr_s}};
    return record;
}

FitRecord chargeToPulseRecord(const HardSigmoidFit& fit, const std::string& x_unit, Range x) {
    const std::string xu = x_unit.empty() ? "[x]" : x_unit;
    FitRecord record;
    record.model = fit.is_signed ? "c2p-signed" : "c2p-relu";
    record.description = fit.is_signed ? "T = sign(x) * clamp(slope * (|x| - offset), 0, T_max): signed charge-to-pulse"
                                       : "T = clamp(slope * (x - offset), 0, T_max): charge-to-pulse (paper 002 eq. 3); "
                                         "S_sat = T_max / slope";
    record.coefficients = {{"slope_s_per_x", fit.slope_s_per_x}, {"offset_x", fit.offset_x}, {"T_max_s", fit.T_max_s}};
    record.units = {{"slope_s_per_x", "s/" + xu}, {"offset_x", xu}, {"T_max_s", "s"}};
    if (!x_unit.empty()) record.units["x"] = x_unit;
    record.validity = {{keyWithUnit("x", x_unit), x}};
    record.quality.rmse = fit.rmse;
    record.quality.r2 = fit.r2;
    record.quality.n = fit.n;
    record.quality.extra = {{"rmse_unit", "s"},
                            {"offset_observed", fit.offset_observed},
                            {"saturation_observed", fit.saturation_observed},
                            {keyWithUnit("S_sat", x_unit), fit.T_max_s / fit.slope_s_per_x}};
    return record;
}

}  // namespace imc::fit
