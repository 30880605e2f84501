// spice-model: fitted behavioral models as ngspice 46 subcircuits (B-sources) and Monte-Carlo
// .param cards. The gain cell and the readouts keep the ports of netlists/models/gaincell/, so an
// exported cell drops into every testbench and array generator of lib/circuits.
#include "export/export.hpp"
#include "netlist/netlist.hpp"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>

namespace imc::exporter {

namespace {

using netlist::formatSI;

std::string where(const fit::FitRecord& r) {
    return (r.source.empty() ? std::string("fits record") : r.source) + " (model '" + r.model + "')";
}

// 1e-15 for "fC", 1e-9 for "ns": a unit is an SI prefix and the expected base unit.
double unitScale(const fit::FitRecord& r, const std::string& key, const std::string& base) {
    const auto it = r.units.find(key);
    if (it == r.units.end())
        throw ExportError(where(r) + ": units." + key + " is missing; spice-model needs it to write SI quantities");
    static const std::map<std::string, double> prefix{{"", 1.0}, {"m", 1e-3}, {"u", 1e-6}, {"n", 1e-9}, {"p", 1e-12}, {"f", 1e-15}, {"a", 1e-18}};
    const std::string& u = it->second;
    if (u.size() >= base.size() && u.compare(u.size() - base.size(), base.size(), base) == 0) {
        const auto p = prefix.find(u.substr(0, u.size() - base.size()));
        if (p != prefix.end()) return p->second;
    }
    throw ExportError(where(r) + ": units." + key + " is '" + u + "'; spice-model reads a prefixed '" + base + "'");
}

std::string header(const fit::FitRecord& r) {
    std::string s = "* ---- " + where(r) + "\n";
    if (!r.description.empty()) s += "* " + r.description + "\n";
    if (!r.provenance.command.empty()) s += "* made by: " + r.provenance.command + "\n";
    for (const auto& [k, v] : r.validity)
        s += "* fitted range: " + k + " in [" + formatSI(v.first) + ", " + formatSI(v.second) + "]\n";
    return s;
}

// The cell current in A as an expression of K = v(sn,vss) (and V_in = v(vdd,vss) for the C_i_j form).
std::string gainCellCurrent(const fit::FitRecord& r) {
    const double toAmpere = unitScale(r, "S", "C") / unitScale(r, "Q", "s");
    const double k0 = r.coefficient("K_offset");
    const std::string d = "(v(sn,vss)-" + formatSI(k0) + ")";
    std::string poly;
    auto term = [&](double c, int i, int j) {
        if (c == 0) return;
        poly += (poly.empty() ? "" : " + ") + std::string("(") + formatSI(c) + ")";
        for (int p = 0; p < i; ++p) poly += "*" + d;
        for (int p = 0; p < j; ++p) poly += "*v(vdd,vss)";
    };
    if (r.coefficients.count("C_0_0")) {
        for (int i = 0; i <= 3; ++i)
            for (int j = 0; i + j <= 3; ++j) term(r.coefficient("C_" + std::to_string(i) + "_" + std::to_string(j)), i, j);
    } else {
        for (int i = 0; i <= 3; ++i) term(r.coefficient("D_" + std::to_string(i)), i, 0);
    }
    if (poly.empty()) poly = "0";
    return formatSI(toAmpere) + "*(" + poly + ")";
}

std::string gainCell(const fit::FitRecord& r) {
    const bool perPower = !r.coefficients.count("C_0_0");
    std::string s = header(r);
    s += "* I(bl -> vss) = g(pwm) * S/Q, K = v(sn): the fitted charge per pulse time as a current while the\n"
         "* PWM word line is high (g = v(pwm)/vhi, clamped to [0, 1]); the write gate is a switch of\n"
         "* conductance Gw to the storage capacitor Cs while we is high. The storage node decays towards Vinf\n"
         "* with time constant tau (default: none; the retention fit's .param cards give the fitted values).\n";
    if (perPower)
        s += "* Per-power form D_i: valid at V_in = " + formatSI(r.coefficient("V_in")) +
             " V only (the vdd port does not enter the current).\n";
    s += std::string(".subckt ") + kGainCellSubckt + " wbl we web pwm pwmb bl vdd vss\n+ Cs=200f Gw=1m vhi=0.9 tau=1e30 Vinf=0.45\n";
    s += "CSN sn vss {Cs}\nRSN sn vss 1e15\n";
    s += "BL sn vss I = {Cs/tau}*(v(sn,vss)-{Vinf})\n";
    s += "BW wbl sn I = {Gw}*v(wbl,sn)*min(max(v(we,vss)/{vhi},0),1)\n";
    s += "BR bl vss I = min(max(v(pwm,vss)/{vhi},0),1)*" + gainCellCurrent(r) + "\n";
    s += std::string(".ends ") + kGainCellSubckt + "\n";
    return s;
}

// Pulse width in ns as an expression of the integrated charge xq (in the fit's x unit).
std::string pulseWidth_ns(const fit::FitRecord& r, const std::string& xq) {
    if (r.coefficients.count("slope_s_per_x")) {
        const double slope_ns = r.coefficient("slope_s_per_x") * 1e9, off = r.coefficient("offset_x");
        const double tmax_ns = r.coefficient("T_max_s") * 1e9;
        return "min(max(" + formatSI(slope_ns) + "*(" + xq + "-(" + formatSI(off) + ")),0)," + formatSI(tmax_ns) + ")";
    }
    const double ssat = r.coefficient("S_sat"), off = r.coefficients.count("offset") ? r.coefficient("offset") : 0.0;
    return "min(max((" + xq + "-(" + formatSI(off) + "))/" + formatSI(ssat) + ",0),1)*{Tmax}*1e9";
}

std::string readout(const fit::FitRecord& r, bool isSigned) {
    const double unit = unitScale(r, "x", "C");
    std::string s = header(r);
    s += "* The bit line is held at Vref; the charge the cells draw, x, is integrated while rst is low\n"
         "* (node xq = x in the fit's unit / 1000). When conv rises a 1 V/ns ramp starts and out is high\n"
         "* while the ramp is below the fitted width T(x)";
    s += isSigned ? " = clamp(slope (|x| - offset), 0, T_max); sgn = x > 0.\n" : " = clamp(slope (x - offset), 0, T_max).\n";
    const std::string name = isSigned ? kSignedReadoutSubckt : kReluReadoutSubckt;
    s += ".subckt " + name + (isSigned ? " in out outb sgn conv rst vdd vss\n" : " in out outb conv rst vdd vss\n");
    s += "+ Vref=0.45 Tmax=15n Rout=100\n";
    s += "VR vr vss {Vref}\nVIN in vr 0\n";
    s += "CQ xq vss " + formatSI(1e3 * unit) + "\n";
    s += "BQ vss xq I = -i(VIN)\n";
    s += "BQR xq vss I = 1m*v(xq,vss)*0.5*(1+tanh((v(rst,vss)-0.5*v(vdd,vss))/0.02))\n";
    s += "BCG cg vss V = 0.5*(1+tanh((v(conv,vss)-0.5*v(vdd,vss))/0.02))\n";
    s += "CT tn vss 1p\nBT vss tn I = 1m*v(cg,vss)\nBTR tn vss I = 1*v(tn,vss)*(1-v(cg,vss))\n";
    const std::string x = isSigned ? "abs(1000*v(xq,vss))" : "1000*v(xq,vss)";
    s += "BW w vss V = " + pulseWidth_ns(r, x) + "\n";
    s += "BEN en vss V = v(cg,vss)*0.5*(1+tanh((v(w,vss)-v(tn,vss))/0.002))\n";
    s += "BOUT o1 vss V = v(vdd,vss)*v(en,vss)\nROUT o1 out {Rout}\n";
    s += "BOB o2 vss V = v(vdd,vss)*(1-v(en,vss))\nROB o2 outb {Rout}\n";
    if (isSigned) s += "BSG s1 vss V = v(vdd,vss)*0.5*(1+tanh(v(xq,vss)/1u))\nRSG s1 sgn {Rout}\n";
    s += ".ends " + name + "\n";
    return s;
}

// The conductance draws: top-level .param cards (one draw per simulator run) and a two-terminal
// subcircuit whose instance parameter draws per instance (ngspice evaluates subcircuit
// parameters per instance).
std::string conductance(const fit::FitRecord& r, const std::string& prefix) {
    std::string s = header(r), draw, doc;
    if (r.model == "lognormal") {
        const double mu = r.coefficient("mu"), sigma = r.coefficient("sigma");
        s += ".param " + prefix + "_mu=" + formatSI(mu) + " " + prefix + "_sigma=" + formatSI(sigma) + "\n";
        draw = "exp(agauss(" + prefix + "_mu," + prefix + "_sigma,1))";
        doc = "ln(G / 1 S) ~ Normal(mu, sigma)";
    } else if (r.model == "gaussian") {
        const double mean = r.coefficient("mean"), sd = r.coefficient("std");
        s += ".param " + prefix + "_mean=" + formatSI(mean) + " " + prefix + "_std=" + formatSI(sd) + "\n";
        draw = "agauss(" + prefix + "_mean," + prefix + "_std,1)";
        doc = "G ~ Normal(mean, std) (a signed conductance: a VCCS, not a resistor)";
    } else {  // lognormal-cycle
        s += ".param " + prefix + "_mu=" + formatSI(r.coefficient("mu")) + " " + prefix + "_sigma_0=" + formatSI(r.coefficient("sigma_0")) +
             " " + prefix + "_sigma_per_decade=" + formatSI(r.coefficient("sigma_per_decade")) + "\n";
        draw = "exp(agauss(" + prefix + "_mu," + prefix + "_sigma_0+" + prefix + "_sigma_per_decade*log10(cycle),1))";
        doc = "ln(G / 1 S) ~ Normal(mu, sigma_0 + sigma_per_decade log10(cycle)), cycle >= 1";
    }
    s += "* " + doc + "; units S. One draw per run: {" + prefix + "_draw}; one per instance: X... a b " + prefix + "\n";
    const bool cycle = r.model == "lognormal-cycle";
    const std::string firstCycle = cycle ? "exp(agauss(" + prefix + "_mu," + prefix + "_sigma_0,1))" : draw;
    s += ".param " + prefix + "_draw={" + firstCycle + "}\n";
    s += ".subckt " + prefix + " a b" + (cycle ? " cycle=1" : "") + "\n.param g={" + draw + "}\n";
    s += "G1 a b a b {g}\n.ends " + prefix + "\n";
    return s;
}

// The storage-node decay V(t) = V_inf + (V0 - V_inf) exp(-t / tau) as parameters of imc_gaincell.
std::string retention(const fit::FitRecord& r, const std::string& prefix) {
    std::string s = header(r);
    s += ".param " + prefix + "_tau_s=" + formatSI(r.coefficient("tau_s")) + " " + prefix + "_V_inf_V=" + formatSI(r.coefficient("V_inf_V")) +
         "\n";
    s += "* use: X... " + std::string(kGainCellSubckt) + " tau={" + prefix + "_tau_s} Vinf={" + prefix +
         "_V_inf_V} (the decay starts from the written K, not from the fit's V0)\n";
    return s;
}

// rram-levels: per-level Gaussian conductances, one subcircuit with the level as its parameter.
// A draw below 0 S is clamped to 0 (level 0's spread can exceed its mean).
std::string rramLevels(const fit::FitRecord& r, const std::string& prefix) {
    const int n = int(std::lround(r.coefficient("levels")));
    std::string s = header(r), params = ".param", mean, sd;
    for (int k = n - 1; k >= 0; --k) {
        const std::string K = std::to_string(k);
        params += " " + prefix + "_G_mean_" + K + "=" + formatSI(r.coefficient("G_mean_" + K + "_S")) + " " + prefix + "_G_std_" + K + "=" +
                  formatSI(r.coefficient("G_std_" + K + "_S"));
        mean = k == n - 1 ? prefix + "_G_mean_" + K : "(level==" + K + " ? " + prefix + "_G_mean_" + K + " : " + mean + ")";
        sd = k == n - 1 ? prefix + "_G_std_" + K : "(level==" + K + " ? " + prefix + "_G_std_" + K + " : " + sd + ")";
    }
    s += params + "\n";
    s += "* level k (0.." + std::to_string(n - 1) + ") reads G ~ Normal(G_mean_k, G_std_k) in S at the fit's read voltage, clamped at 0;\n"
         "* one draw per instance: X... a b " + prefix + " level=k\n";
    s += ".subckt " + prefix + " a b level=0\n.param gm={" + mean + "} gs={" + sd + "}\n.param g={max(agauss(gm,gs,1),0)}\n";
    s += "G1 a b a b {g}\n.ends " + prefix + "\n";
    return s;
}

// "memristor-hrs-lognormal.json" -> "imc_memristor_hrs_lognormal"
std::string subcktNameOf(const fit::FitRecord& r) {
    std::string stem = r.source.empty() ? r.model : std::filesystem::path(r.source).stem().string();
    std::string out = "imc_";
    for (char c : stem) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(static_cast<unsigned char>(c))) : '_';
    return out;
}

}  // namespace

bool spiceExpressible(const fit::FitRecord& r) {
    static const char* models[] = {"gaincell-poly", "c2p-relu", "hardsigmoid", "c2p-signed", "hardsigmoid-signed",
                                   "lognormal", "gaussian", "lognormal-cycle", "retention", "rram-levels"};
    for (const char* m : models)
        if (r.model == m) return true;
    return false;
}

std::string spiceModel(const fit::FitRecord& r) {
    if (r.model == "gaincell-poly") return gainCell(r);
    if (r.model == "c2p-relu" || r.model == "hardsigmoid") return readout(r, false);
    if (r.model == "c2p-signed" || r.model == "hardsigmoid-signed") return readout(r, true);
    if (r.model == "lognormal" || r.model == "gaussian" || r.model == "lognormal-cycle") return conductance(r, subcktNameOf(r));
    if (r.model == "retention") return retention(r, subcktNameOf(r));
    if (r.model == "rram-levels") return rramLevels(r, subcktNameOf(r));
    throw ExportError(where(r) + ": spice-model has no subcircuit for this model (it writes gaincell-poly, c2p-relu, "
                      "c2p-signed, hardsigmoid, hardsigmoid-signed, lognormal, gaussian, lognormal-cycle, retention, rram-levels)");
}

}  // namespace imc::exporter
