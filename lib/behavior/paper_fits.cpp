// The published model of paper 002 written as fits files: the only place in lib/behavior that
// holds device numbers, so the model code itself stays free of them.
#include "behavior/gaincell_attention.hpp"
#include "fit/fit.hpp"

#include <filesystem>
#include <string>

namespace imc::behavior {

namespace {

imc::fit::FitRecord paperRecord(const std::string& model, const std::string& description, const std::string& origin) {
    imc::fit::FitRecord record;
    record.model = model;
    record.description = description;
    record.provenance.generator = "imc::behavior::writePaperModelFits";
    record.provenance.created_utc = imc::fit::currentUtcTimestamp();
    record.provenance.extra = {{"origin", origin}};
    return record;
}

}  // namespace

void writePaperModelFits(const std::string& dir) {
    std::filesystem::create_directories(dir);
    const auto path = [&](const std::string& name) { return (std::filesystem::path(dir) / name).string(); };

    // Architecture: 4-bit pulse generators, 3-bit DACs writing 0..0.9 V, 16-level counters with a
    // sign bit, 64 x 64 arrays, V_in = 0.9 V, delta_t = 65 ns per layer (002, Methods).
    auto array = paperRecord("gaincell-array",
                             "Quantizers (levels, range), sub-tile size, read voltage and per-layer latency of the "
                             "gain-cell attention arrays",
                             "paper 002, Methods: 'Hardware-based neural network simulations' and timing");
    array.coefficients = {{"Q_levels", 16},   {"Q_min", 0.0},    {"Q_max", 1.0},     {"K_levels", 8},
                          {"K_min_V", 0.0},   {"K_max_V", 0.9},  {"V_levels", 8},    {"V_min_V", 0.0},
                          {"V_max_V", 0.9},   {"out_levels", 32}, {"out_min", -1.0}, {"out_max", 1.0},
                          {"tile_size", 64},  {"V_in_V", 0.9},   {"step_latency_s", 65e-9}};
    array.units = {{"K_min_V", "V"}, {"K_max_V", "V"}, {"V_min_V", "V"}, {"V_max_V", "V"},
                   {"V_in_V", "V"},  {"step_latency_s", "s"}};
    imc::fit::writeFit(path("gaincell-array.json"), array);

    // First-array charge-to-pulse: phi(S) = clamp(S / 80, 0, 1) with S in the polynomial's
    // microampere-scale unit and the pulse as a fraction of T_max = 15 ns.
    auto relu = paperRecord("c2p-relu", "phi = clamp((S - offset) / S_sat, 0, 1), a fraction of T_max (eq. 3)",
                            "paper 002 eq. 3; S_sat from the paper's public simulation code");
    relu.coefficients = {{"S_sat", 80.0}, {"offset", 0.0}, {"T_max_s", 15e-9}};
    relu.units = {{"S_sat", "uA (Q normalized)"}, {"offset", "uA (Q normalized)"}, {"T_max_s", "s"}};
    // Illustrative readout spread (1 % of S_sat for both), so that variability also varies the
    // linear model, which draws nothing else; the paper gives none.
    relu.spread = {{"coefficient_std", {{"S_sat", 0.8}, {"offset", 0.8}}}};
    relu.provenance.extra["note"] = "spread values are illustrative, not Monte-Carlo results";
    imc::fit::writeFit(path("c2p-relu.json"), relu);

    // Second array: each tile's charge scaled by 1/40 and clamped to [-1, 1] before its counter.
    auto signed_readout = paperRecord("c2p-signed", "r = sign(x) clamp((|x| - offset) / S_sat, 0, 1)",
                                      "paper 002 Results 2.1; the 1/40 scale from the paper's public simulation code");
    signed_readout.coefficients = {{"S_sat", 40.0}, {"offset", 0.0}, {"T_max_s", 15e-9}};
    signed_readout.units = relu.units;
    signed_readout.spread = {{"coefficient_std", {{"S_sat", 0.4}, {"offset", 0.4}}}};
    signed_readout.provenance.extra["note"] = relu.provenance.extra["note"];
    imc::fit::writeFit(path("c2p-signed.json"), signed_readout);

    // tau = 5 ms; with 12 layers and 65 ns per layer, Delta_t / tau = 1.56e-4 per token step.
    auto retention = paperRecord("retention", "V(t) = V_inf + (V0 - V_inf) exp(-t / tau)",
                                 "paper 002 Methods eq. 5-6: tau = 5 ms");
    retention.coefficients = {{"tau_s", 5e-3}};
    retention.units = {{"tau_s", "s"}};
    imc::fit::writeFit(path("retention.json"), retention);

    // EXAMPLE coefficients: the paper fits its C_i_j at V_in = 0.9 V only but does not print
    // them. These give a push-pull cell current that is odd-dominated around K_offset = 0.45 V
    // and about 1.7 uA at full scale, so phi saturates near 47 full-scale cells as in the paper.
    auto poly = paperRecord("gaincell-poly",
                            "EXAMPLE (not the published values): S = sum_i sum_j C_i_j Q (K - K_offset)^i V_in^j",
                            "example set; paper 002 eq. 4 form, its C_i_j are not given in the text");
    poly.coefficients = {{"C_0_0", 0.02}, {"C_0_1", 0.03}, {"C_0_2", 0.0}, {"C_0_3", 0.0}, {"C_1_0", 0.6},
                         {"C_1_1", 2.7},  {"C_1_2", 0.0},  {"C_2_0", -0.2}, {"C_2_1", -0.2}, {"C_3_0", 1.5},
                         {"K_offset", 0.45}};
    poly.units = {{"K_offset", "V"}};
    for (const auto& [name, value] : poly.coefficients)
        if (name.rfind("C_", 0) == 0) {
            const int power = (name[2] - '0') + (name[4] - '0');
            poly.units[name] = power == 0 ? "uA" : "uA/V^" + std::to_string(power);
        }
    poly.validity = {{"Q", {0.0, 1.0}}, {"K_V", {0.0, 0.9}}, {"V_in_V", {0.9, 0.9}}};
    poly.spread = {{"coefficient_std", {{"C_1_0", 0.012}, {"C_1_1", 0.054}, {"C_3_0", 0.03}, {"K_offset", 0.005}}},
                   {"readout_noise", {{"levels", {0.0, 0.1286, 0.2571, 0.3857, 0.5143, 0.6429, 0.7714, 0.9}},
                                      {"std", {0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02}}}}};
    poly.provenance.extra["note"] = "spread values are illustrative, not Monte-Carlo results";
    imc::fit::writeFit(path("gaincell-poly.json"), poly);
}

}  // namespace imc::behavior
