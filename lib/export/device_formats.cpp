// Conductance-state tables and the device formats of NeuroSim, CrossSim and aihwkit. Each
// format is one small function of a DeviceStates table; each fits model that describes states is
// one small function turning its record into that table.
#include "export/export.hpp"
#include "fit/fit.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace imc::exporter {

namespace {

using nlohmann::ordered_json;

std::string where(const std::string& source, const std::string& model) {
    return (source.empty() ? std::string("fits record") : source) + " (model '" + model + "')";
}

std::string shortest(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// A lognormal conductance as one state: the mean and standard deviation of G itself.
DeviceState lognormalState(double mu, double sigma) {
    const double mean = std::exp(mu + 0.5 * sigma * sigma);
    return {mean, mean * std::sqrt(std::expm1(sigma * sigma)), std::nullopt};
}

// rram-levels: levels, G_mean_<k>_S, G_std_<k>_S (G_target_<k>_S optional), read_V.
DeviceStates rramLevels(const fit::FitRecord& r) {
    DeviceStates d;
    const int n = int(std::lround(r.coefficient("levels")));
    for (int k = 0; k < n; ++k) {
        const std::string K = std::to_string(k);
        DeviceState s{r.coefficient("G_mean_" + K + "_S"), r.coefficient("G_std_" + K + "_S"), std::nullopt};
        if (r.coefficients.count("G_target_" + K + "_S")) s.G_target_S = r.coefficient("G_target_" + K + "_S");
        d.states.push_back(s);
    }
    if (r.coefficients.count("read_V")) d.read_V = r.coefficient("read_V");
    if (const auto it = r.validity.find("retention_s"); it != r.validity.end()) d.time_s = it->second.first;
    return d;
}

void requireStates(const DeviceStates& d, std::size_t atLeast, const char* format, const char* why) {
    if (d.states.size() < atLeast)
        throw ExportError(where(d.source, d.model) + ": " + format + " needs at least " + std::to_string(atLeast) +
                          " conductance states (" + why + "); this model describes " + std::to_string(d.states.size()));
}

// log2 of the number of states (at least 2, a power of two), for cellBit / cell_bits.
int bitsPerCell(const DeviceStates& d, const char* format, const char* why) {
    requireStates(d, 2, format, why);
    const std::size_t n = d.states.size();
    if ((n & (n - 1)) != 0)
        throw ExportError(where(d.source, d.model) + ": " + format + " stores bits per cell, so it needs 2^k states; this model has " +
                          std::to_string(n));
    int bits = 0;
    while ((std::size_t(1) << bits) < n) ++bits;
    return bits;
}

}  // namespace

DeviceStates deviceStates(const fit::FitRecord& r) {
    DeviceStates d;
    if (r.model == "rram-levels") {
        d = rramLevels(r);
    } else if (r.model == "lognormal" || r.model == "lognormal-cycle") {
        const double sigma = r.model == "lognormal" ? r.coefficient("sigma") : r.coefficient("sigma_0");  // cycle 1
        d.states.push_back(lognormalState(r.coefficient("mu"), sigma));
        if (r.units.count("mu") && r.units.at("mu") != "ln(S)")
            throw ExportError(where(r.source, r.model) + ": units.mu is '" + r.units.at("mu") + "'; a conductance needs ln(S)");
    } else if (r.model == "gaussian") {
        const auto u = r.units.find("mean");
        if (u == r.units.end() || u->second != "S")
            throw ExportError(where(r.source, r.model) + ": a conductance state needs units.mean = \"S\"");
        if (r.coefficient("mean") <= 0)
            throw ExportError(where(r.source, r.model) + ": mean " + shortest(r.coefficient("mean")) +
                              " S is not a positive conductance (a difference of two devices is not a device state)");
        d.states.push_back({r.coefficient("mean"), r.coefficient("std"), std::nullopt});
    } else {
        throw ExportError(where(r.source, r.model) +
                          ": not a table of conductance states (device formats read rram-levels, lognormal, "
                          "lognormal-cycle, gaussian); " +
                          (r.model == "gaincell-poly" ? "the gain cell is a signed current source, use --to spice-model"
                                                      : "use --to spice-model"));
    }
    d.source = r.source, d.model = r.model;
    std::sort(d.states.begin(), d.states.end(), [](const DeviceState& a, const DeviceState& b) { return a.G_mean_S < b.G_mean_S; });
    for (const auto& s : d.states)
        if (!(s.G_mean_S > 0) || !(s.G_std_S >= 0))
            throw ExportError(where(d.source, d.model) + ": state with G_mean " + shortest(s.G_mean_S) + " S, G_std " +
                              shortest(s.G_std_S) + " S is not a conductance state");
    return d;
}

// NeuroSim (DNN_NeuroSim V1.4, Inference_pytorch): inference.py reads --cellBit, --onoffratio and
// --vari, NeuroSIM/Param.cpp resistanceOn/resistanceOff and readVoltage. NeuroSim multiplies each
// weight digit w by 1 + N(0, vari), so a state's vari is G_std / (G_mean - G_mean_0) (w = 0 gets
// none); the header gives their RMS over states 1.. and the table every state.
std::string neurosimTable(const DeviceStates& d) {
    const int bits = bitsPerCell(d, "neurosim", "on/off ratio and cellBit");
    const std::size_t n = d.states.size();
    const double g0 = d.states.front().G_mean_S;
    auto vari = [&](const DeviceState& st) { return st.G_std_S / (st.G_mean_S - g0); };
    double ms = 0;
    for (std::size_t k = 1; k < n; ++k) ms += vari(d.states[k]) * vari(d.states[k]) / double(n - 1);
    const double gOn = d.states.back().G_mean_S;
    std::string s = "# imc export --to neurosim: " + where(d.source, d.model) + "\n";
    s += "# DNN_NeuroSim V1.4 inference.py: --cellBit " + std::to_string(bits) + " --onoffratio " + shortest(gOn / g0) +
         " --vari " + shortest(std::sqrt(ms)) + "\n";
    s += "# NeuroSIM/Param.cpp: resistanceOn = " + shortest(1 / gOn) + "; resistanceOff = " + shortest(1 / g0) + ";";
    if (d.read_V) s += " readVoltage = " + shortest(*d.read_V) + ";";
    s += "\n# vari of state k >= 1: G_std / (G_mean_k - G_mean_0) (NeuroSim scales the weight digit by 1 + N(0, vari));\n"
         "# --vari is their RMS. State 0's spread is additive (G_std_0), which NeuroSim has no term for.\n";
    s += fit::csvLine({"state", "G_mean_S", "G_std_S", "std_over_mean", "R_mean_ohm", "vari"}) + "\n";
    for (std::size_t k = 0; k < n; ++k) {
        const auto& st = d.states[k];
        s += fit::csvLine({std::to_string(k), shortest(st.G_mean_S), shortest(st.G_std_S), shortest(st.G_std_S / st.G_mean_S),
                           shortest(1 / st.G_mean_S), k == 0 ? std::string("0") : shortest(vari(st))}) +
             "\n";
    }
    return s;
}

// CrossSim (simulator/parameters/xbar_parameters.py, DeviceParameters and WeightErrorParameters):
// Rmin/Rmax in ohm, cell_bits, Vread in V; programming_error as NormalProportionalDevice
// (magnitude = sigma / G_target) or NormalIndependentDevice (magnitude = sigma / G_max),
// whichever predicts the states' sigma better. The fitted spread includes read noise.
std::string crosssimDeviceJson(const DeviceStates& d) {
    const int bits = bitsPerCell(d, "crosssim", "Rmin and Rmax");
    const std::size_t n = d.states.size();
    const double gMax = d.states.back().G_mean_S;
    double prop = 0, indep = 0;
    for (const auto& s : d.states) prop += s.G_std_S / s.G_mean_S / double(n), indep += s.G_std_S / gMax / double(n);
    double errProp = 0, errIndep = 0;
    for (const auto& s : d.states) {
        errProp += std::pow(prop * s.G_mean_S - s.G_std_S, 2);
        errIndep += std::pow(indep * gMax - s.G_std_S, 2);
    }
    const bool proportional = errProp <= errIndep;
    ordered_json dev;
    dev["cell_bits"] = bits;
    dev["Rmin"] = 1 / gMax;
    dev["Rmax"] = 1 / d.states.front().G_mean_S;
    if (d.read_V) dev["Vread"] = *d.read_V;
    dev["infinite_on_off_ratio"] = false;
    dev["read_noise"] = {{"enable", false}, {"model", "IdealDevice"}, {"magnitude", 0}};
    dev["programming_error"] = {{"enable", true},
                                {"model", proportional ? "NormalProportionalDevice" : "NormalIndependentDevice"},
                                {"magnitude", proportional ? prop : indep}};
    dev["drift_error"] = {{"enable", false}, {"model", "IdealDevice"}, {"magnitude", 0}};
    ordered_json doc;
    doc["xbar"]["device"] = dev;
    return doc.dump(2) + "\n";
}

std::vector<double> programmingNoisePolynomial_uS(const DeviceStates& d, double g_max_uS) {
    const Eigen::Index n = Eigen::Index(d.states.size()), degree = std::min<Eigen::Index>(n - 1, 4);
    Eigen::MatrixXd A(n, degree + 1);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        const double x = d.states[std::size_t(i)].G_mean_S * 1e6 / g_max_uS;
        for (Eigen::Index k = 0; k <= degree; ++k) A(i, k) = std::pow(x, double(k));
        y(i) = d.states[std::size_t(i)].G_std_S * 1e6;
    }
    const auto f = fit::fitLinearLeastSquares(A, y);
    return {f.coefficients.data(), f.coefficients.data() + f.coefficients.size()};
}

// aihwkit (src/aihwkit/inference/noise/reram.py, ReRamWan2022NoiseModel): coeff_dic maps the
// inference time in s to [c_0, c_1, ...] in uS, sigma_prog(g) = sum_k c_k (g / g_max)^k, with g_max
// and coeff_g_max_reference in uS.
std::string aihwkitNoiseJson(const DeviceStates& d) {
    requireStates(d, 1, "aihwkit", "a programming-noise sigma");
    const double gMax_uS = d.states.back().G_mean_S * 1e6;
    const auto c = programmingNoisePolynomial_uS(d, gMax_uS);
    const double t = d.time_s.value_or(1.0);
    ordered_json doc;
    doc["noise_model"] = "ReRamWan2022NoiseModel";
    doc["g_max"] = gMax_uS;
    doc["coeff_g_max_reference"] = gMax_uS;
    doc["coeff_dic"] = ordered_json::object();
    doc["coeff_dic"][shortest(t)] = c;
    doc["units"] = {{"g_max", "uS"}, {"coeff_g_max_reference", "uS"}, {"coeff_dic", "uS; keys: t_inference in s"}};
    ordered_json states = ordered_json::array();
    for (const auto& s : d.states) states.push_back({{"g_uS", s.G_mean_S * 1e6}, {"sigma_uS", s.G_std_S * 1e6}});
    doc["fitted_states"] = states;
    doc["source"] = d.source;
    doc["model"] = d.model;
    return doc.dump(2) + "\n";
}

}  // namespace imc::exporter
