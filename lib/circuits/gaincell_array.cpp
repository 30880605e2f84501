#include "circuits/gaincell_array.hpp"

#include "variability/variability.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace imc::circuits {
namespace fs = std::filesystem;
using namespace imc::netlist;

namespace {

std::string idx(std::size_t i) { return std::to_string(i); }

// Ideal logic pulse from `start`, 50 % width `width` (edges of `edge` included). One pulse: an
// explicit long period, since ngspice repeats a PULSE without one within the run.
Waveform pulse(double low, double high, double start_s, double width_s, double edge_s) {
    if (width_s <= 0) return Dc{low};
    return Pulse{low, high, Time(start_s), Time(edge_s), Time(edge_s), Time(std::max(width_s - edge_s, edge_s)), Time(1.0)};
}

std::string firstParam(const CellSpec& cell, const std::string& name) {
    if (auto it = cell.params.find(name); it != cell.params.end()) return it->second;
    if (auto it = cell.defaults.find(name); it != cell.defaults.end()) return it->second;
    return {};
}

// Includes of every cell of a deck, once each, in first-seen order.
void includeAll(Circuit& c, const std::vector<fs::path>& files) {
    std::set<std::string> seen;
    for (const auto& f : files)
        if (seen.insert(f.string()).second) c.include(f.string());
}

void checkArray(const GainCellArraySpec& s) {
    if (s.rows < 1 || s.cols < 1) throw std::invalid_argument("gain-cell array: rows and cols must be >= 1");
    if (int(s.stored_V.size()) != s.rows || int(s.codes.size()) != s.rows)
        throw std::invalid_argument("gain-cell array: stored_V and codes need one entry per row");
    for (const auto& r : s.stored_V)
        if (int(r.size()) != s.cols) throw std::invalid_argument("gain-cell array: stored_V rows need one value per column");
    for (int c : s.codes)
        if (c < 0 || c >= s.levels) throw std::invalid_argument("gain-cell array: PWM code outside 0..levels-1");
    if (!s.params.empty() && (int(s.params.size()) != s.rows || int(s.params[0].size()) != s.cols))
        throw std::invalid_argument("gain-cell array: params must be [rows][cols] or empty");
}

const InstanceParams& cellParams(const GainCellArraySpec& s, int i, int j) {
    static const InstanceParams none;
    return s.params.empty() ? none : s.params[std::size_t(i)][std::size_t(j)];
}

// The built-in cell's storage node starts at 0 V (.ic): its .op value is set by leakage alone,
// which does not always converge (mismatch, V_in < K), and the written level then does not
// depend on it. The same in the cell bench and the arrays, so their write errors agree.
void holdStorageNode(Circuit& c, const CellSpec& cell, const std::string& instance) {
    if (cell.subckt == "gaincell") c.initialCondition(instance + ".sn", Voltage(0.0));
}

// Solver options of every gain-cell deck: 1 Tohm from each node to ground and gmin 0.1 nS
// (45 pA at 0.45 V, 1e-5 of a read current): without them the .op of some mismatched arrays
// does not converge.
void robustOptions(Circuit& c) {
    c.option("klu");
    c.option("rshunt", "1e12");
    c.option("gmin", "1e-10");
}

// Array decks only: device bypass (a MOSFET whose terminal voltages moved less than the
// tolerances since its last evaluation reuses it). The arrays are device-evaluation bound.
void arraySpeedOptions(Circuit& c) { c.option("bypass", "1"); }

CellSpec readoutCell(ArrayReadout r) { return builtinCell(r == ArrayReadout::Signed ? "c2p_signed" : "c2p_relu"); }

// Supplies, reset and conversion window shared by both array forms.
void addArrayControls(Circuit& c, const GainCellArraySpec& s, const ArrayTiming& t) {
    c.add(VoltageSource{"dd", "vdd", "0", Dc{s.vdd_V}});
    c.add(VoltageSource{"in", "vin", "0", Dc{s.V_in_V}});
    c.add(VoltageSource{"rst", "rst", "0",
                        Pwl{{{Time(0), s.vdd_V}, {Time(t.resetRelease_s), s.vdd_V}, {Time(t.resetRelease_s + 50e-12), 0.0}}}});
    c.add(VoltageSource{"conv", "conv", "0", pulse(0, s.vdd_V, t.convStart_s, s.readoutParams.Tmax_s, 50e-12)});
}

// Bit line j: cell rows at bl<i>_<j>, wire element i from bl<i>_<j> to bl<i+1>_<j>, probe, readout.
void addBitLine(Circuit& c, const GainCellArraySpec& s, int j) {
    const std::string J = idx(std::size_t(j));
    for (int i = 0; i < s.rows; ++i) {
        const std::string a = "bl" + idx(std::size_t(i)) + "_" + J, b = "bl" + idx(std::size_t(i + 1)) + "_" + J;
        c.add(Resistor{"b" + idx(std::size_t(i)) + "_" + J, a, b, Resistance(s.wire_R_ohm)});
        c.add(Capacitor{"b" + idx(std::size_t(i)) + "_" + J, a, "0", Capacitance(s.wire_C_F), std::nullopt});
    }
    c.add(VoltageSource{"probe" + J, "bl" + idx(std::size_t(s.rows)) + "_" + J, "in" + J, Dc{0}});
    const CellSpec ro = readoutCell(s.readout);
    std::map<std::string, std::string> nodes = {{"in", "in" + J},   {"out", "out" + J}, {"conv", "conv"},
                                                {"rst", "rst"},     {"vdd", "vdd"},     {"vss", "0"},
                                                {"sign", "sgn" + J}, {"outb", "outb" + J}};
    c.add(ro.instance("ro" + J, nodes, s.readoutParams.asParams(), "nc_ro" + J));
}

std::map<std::string, std::string> cellNodes(const std::string& wbl, const std::string& we, const std::string& web,
                                             const std::string& pwm, const std::string& pwmb, const std::string& bl,
                                             const std::string& vdd) {
    return {{"wbl", wbl}, {"we", we}, {"web", web}, {"pwm", pwm}, {"pwmb", pwmb}, {"bl", bl}, {"vdd", vdd}, {"vss", "0"}};
}

}  // namespace

// ---------------------------------------------------------------- Monte-Carlo

InstanceParams drawGainCellMismatch(const CellSpec& cell, const GainCellMismatch& mismatch, std::uint64_t seed,
                                    std::uint64_t sample, std::uint64_t device) {
    // (threshold parameter, width parameter, length parameter) of the six transistors.
    static const std::vector<std::array<const char*, 3>> devices = {
        {"dvt_wn", "Wwn", "Lwn"}, {"dvt_wp", "Wwp", "Lwp"}, {"dvt_rn", "Wrn", "Lrn"},
        {"dvt_rp", "Wrp", "Lrp"}, {"dvt_gn", "Wgn", "Lgn"}, {"dvt_gp", "Wgp", "Lgp"}};
    InstanceParams out;
    std::uint64_t stream = 0;
    for (const auto& [dvt, w, l] : devices) {
        ++stream;
        const std::string W = firstParam(cell, w), L = firstParam(cell, l);
        if (firstParam(cell, dvt).empty() || W.empty() || L.empty()) continue;
        const double sigma = variability::pelgromSigma(mismatch.A_vt_Vm, parseSI(W), parseSI(L));
        const double v = variability::drawDeviceToDevice(variability::Distribution::normal(0, sigma),
                                                         variability::mix64(seed ^ variability::mix64(stream)), sample, device);
        out[dvt] = formatSI(v);
    }
    const std::string cs = firstParam(cell, "Cs");
    if (!cs.empty() && mismatch.Cs_sigma_rel > 0) {
        const double nominal = parseSI(cs);
        const double v = variability::drawDeviceToDevice(
            variability::Distribution::normal(nominal, nominal * mismatch.Cs_sigma_rel),
            variability::mix64(seed ^ variability::mix64(100)), sample, device);
        out["Cs"] = formatSI(std::max(v, 0.1 * nominal));
    }
    return out;
}

// ---------------------------------------------------------------- single cells

double CellReadBench::windowEnd_s() const {
    const double longest = Q_s.empty() ? 0.0 : *std::max_element(Q_s.begin(), Q_s.end());
    return readStart_s + longest + settle_s;
}

Circuit cellReadCircuit(const CellSpec& cell, const CellReadBench& b) {
    if (b.K_V.size() != b.Q_s.size()) throw std::invalid_argument("cell read bench: K_V and Q_s differ in length");
    if (!b.params.empty() && b.params.size() != b.K_V.size())
        throw std::invalid_argument("cell read bench: params must be empty or one per cell");
    Circuit c("gain-cell read bench: " + std::to_string(b.K_V.size()) + " cells, V_in " + formatSI(b.V_in_V) + " V");
    cell.includeInto(c);
    c.add(VoltageSource{"we", "we", "0", pulse(0, b.vdd_V, b.writeStart_s, b.writeWidth_s, 50e-12)});
    c.add(VoltageSource{"web", "web", "0", pulse(b.vdd_V, 0, b.writeStart_s, b.writeWidth_s, 50e-12)});
    for (std::size_t k = 0; k < b.K_V.size(); ++k) {
        const std::string K = idx(k);
        c.add(VoltageSource{"wbl" + K, "wbl" + K, "0", Dc{b.K_V[k]}});
        c.add(VoltageSource{"bl" + K, "bl" + K, "0", Dc{b.bitLine_V}});
        c.add(VoltageSource{"in" + K, "vin" + K, "0", Dc{b.V_in_V}});
        c.add(VoltageSource{"pwm" + K, "pwm" + K, "0", pulse(0, b.vdd_V, b.readStart_s, b.Q_s[k], b.edge_s)});
        c.add(VoltageSource{"pwmb" + K, "pwmb" + K, "0", pulse(b.vdd_V, 0, b.readStart_s, b.Q_s[k], b.edge_s)});
        c.add(cell.instance("c" + K, cellNodes("wbl" + K, "we", "web", "pwm" + K, "pwmb" + K, "bl" + K, "vin" + K),
                            b.params.empty() ? InstanceParams{} : b.params[k]));
    }
    robustOptions(c);
    for (std::size_t k = 0; k < b.K_V.size(); ++k) holdStorageNode(c, cell, "xc" + idx(k));
    c.analysis(TranAnalysis{Time(10e-12), Time(b.windowEnd_s()), Time(0), Time(b.maxStep_s), false});
    return c;
}

std::vector<std::string> cellReadVectors(const CellReadBench& b) {
    std::vector<std::string> v{"time"};
    for (std::size_t k = 0; k < b.K_V.size(); ++k) v.push_back("i(vbl" + idx(k) + ")"), v.push_back("i(vin" + idx(k) + ")");
    return v;
}

Circuit retentionCircuit(const CellSpec& cell, const RetentionBench& b) {
    if (b.K_V.size() != b.dvtw_V.size()) throw std::invalid_argument("retention bench: K_V and dvtw_V differ in length");
    Circuit c("gain-cell retention bench");
    cell.includeInto(c);
    c.add(VoltageSource{"dd", "vdd", "0", Dc{b.vdd_V}});
    c.add(VoltageSource{"bl", "bl", "0", Dc{b.bitLine_V}});
    c.add(VoltageSource{"pwm", "pwm", "0", Dc{0}});
    c.add(VoltageSource{"pwmb", "pwmb", "0", Dc{b.vdd_V}});
    for (std::size_t k = 0; k < b.K_V.size(); ++k) {
        const std::string K = idx(k);
        const bool boosted = b.dvtw_V[k] > 0;
        const double hi = boosted ? b.boost_V : b.vdd_V, lo = boosted ? b.vdd_V - b.boost_V : 0.0;
        c.add(VoltageSource{"we" + K, "we" + K, "0", pulse(0, hi, b.writeStart_s, b.writeWidth_s, 50e-12)});
        c.add(VoltageSource{"web" + K, "web" + K, "0", pulse(b.vdd_V, lo, b.writeStart_s, b.writeWidth_s, 50e-12)});
        // The write bit line holds K through the write, then parks at park_V.
        const double end = b.writeStart_s + b.writeWidth_s;
        c.add(VoltageSource{"wbl" + K, "wbl" + K, "0",
                            Pwl{{{Time(0), b.K_V[k]}, {Time(end + 0.5e-9), b.K_V[k]}, {Time(end + 0.7e-9), b.park_V}}}});
        InstanceParams p = k < b.params.size() ? b.params[k] : InstanceParams{};
        p["dvtw"] = formatSI(b.dvtw_V[k]);
        c.add(cell.instance("c" + K, cellNodes("wbl" + K, "we" + K, "web" + K, "pwm", "pwmb", "bl", "vdd"), p));
    }
    c.option("klu");
    c.analysis(TranAnalysis{Time(10e-12), Time(b.stop_s), Time(0), Time(b.maxStep_s), false});
    return c;
}

std::vector<std::string> retentionVectors(const RetentionBench& b) {
    std::vector<std::string> v{"time"};
    for (std::size_t k = 0; k < b.K_V.size(); ++k) v.push_back("v(xc" + idx(k) + ".sn)");
    return v;
}

// ---------------------------------------------------------------- charge-to-pulse

InstanceParams ReadoutParams::asParams() const {
    return {{"Ssat", formatSI(Ssat_C)}, {"Cf", formatSI(Cf_F)}, {"Tmax", formatSI(Tmax_s)}, {"Vos", formatSI(Vos_V)}};
}

ReadoutParams readoutForFullScale(double Ssat_C) {
    ReadoutParams p;
    p.Ssat_C = Ssat_C;
    p.Cf_F = std::max(1e-12, std::round(p.Ssat_C / 0.3 * 1e13) / 1e13);  // to 0.1 pF
    return p;
}

ReadoutParams readoutForRows(int rows, double per_sqrt_row_fC) {
    return readoutForFullScale(std::round(per_sqrt_row_fC * std::sqrt(double(std::max(rows, 1)))) * 1e-15);
}

Circuit chargeToPulseCircuit(const CellSpec& ro, const ChargeToPulseBench& b) {
    if (!b.params.empty() && b.params.size() != b.Q_in_C.size())
        throw std::invalid_argument("charge-to-pulse bench: params must be empty or one per charge level");
    Circuit c(std::string("charge-to-pulse bench (") + (b.isSigned ? "signed" : "relu") + ")");
    ro.includeInto(c);
    c.add(VoltageSource{"dd", "vdd", "0", Dc{b.vdd_V}});
    c.add(VoltageSource{"rst", "rst", "0",
                        Pwl{{{Time(0), b.vdd_V}, {Time(b.integrateStart_s), b.vdd_V}, {Time(b.integrateStart_s + 50e-12), 0.0}}}});
    c.add(VoltageSource{"conv", "conv", "0", pulse(0, b.vdd_V, b.convStart_s, b.Tmax_s, 50e-12)});
    for (std::size_t k = 0; k < b.Q_in_C.size(); ++k) {
        const std::string K = idx(k);
        // Charge drawn from the bit line: a current pulse out of it into ground.
        c.add(CurrentSource{"q" + K, "bl" + K, "0",
                            Pulse{0, b.Q_in_C[k] / b.chargeWidth_s, Time(b.chargeStart_s), Time(10e-12), Time(10e-12),
                                  Time(b.chargeWidth_s - 10e-12), Time(1.0)}});
        c.add(Capacitor{"bl" + K, "bl" + K, "0", Capacitance(b.bitLine_F), std::nullopt});
        std::map<std::string, std::string> nodes = {{"in", "bl" + K}, {"out", "out" + K}, {"conv", "conv"}, {"rst", "rst"},
                                                    {"vdd", "vdd"},   {"vss", "0"},        {"sign", "sgn" + K}, {"outb", "outb" + K}};
        c.add(ro.instance("ro" + K, nodes, b.params.empty() ? InstanceParams{} : b.params[k], "nc" + K));
    }
    c.option("klu");
    c.analysis(TranAnalysis{Time(10e-12), Time(b.convEnd_s() + 1e-9), Time(0), Time(b.maxStep_s), false});
    return c;
}

std::vector<std::string> chargeToPulseVectors(const ChargeToPulseBench& b) {
    std::vector<std::string> v{"time"};
    for (std::size_t k = 0; k < b.Q_in_C.size(); ++k) {
        v.push_back("v(out" + idx(k) + ")");
        if (b.isSigned) v.push_back("v(sgn" + idx(k) + ")");
    }
    return v;
}

// ---------------------------------------------------------------- arrays

ArrayTiming arrayTiming(const GainCellArraySpec& s, int writeSlots) {
    ArrayTiming t;
    t.resetRelease_s = t.writeStart_s + (writeSlots - 1) * s.writeSlot_s + s.writeWidth_s + 2e-9;
    t.readStart_s = t.resetRelease_s + 1e-9;
    t.readEnd_s = t.readStart_s + (s.levels - 1) * s.tclk_s;
    t.convStart_s = t.readEnd_s + 1e-9;
    t.convEnd_s = t.convStart_s + s.readoutParams.Tmax_s;
    t.stop_s = t.convEnd_s + 1e-9;
    return t;
}

Circuit gainCellArrayCircuit(const CellSpec& cell, const GainCellArraySpec& s) {
    checkArray(s);
    const ArrayTiming t = arrayTiming(s, s.cols);
    Circuit c("gain-cell array " + std::to_string(s.rows) + "x" + std::to_string(s.cols) + ", full");
    std::vector<fs::path> files = cell.includes;
    files.push_back(modelsDir() / "ptm-32nm-hp.pm");
    files.push_back(modelsDir() / "gaincell" / "pwm.sub");
    for (const auto& f : readoutCell(s.readout).includes) files.push_back(f);
    includeAll(c, files);
    addArrayControls(c, s, t);
    for (int j = 0; j < s.cols; ++j) {
        const double start = t.writeStart_s + j * s.writeSlot_s;
        c.add(VoltageSource{"we" + idx(std::size_t(j)), "we" + idx(std::size_t(j)), "0", pulse(0, s.vdd_V, start, s.writeWidth_s, 50e-12)});
        c.add(VoltageSource{"web" + idx(std::size_t(j)), "web" + idx(std::size_t(j)), "0",
                            pulse(s.vdd_V, 0, start, s.writeWidth_s, 50e-12)});
    }
    for (int i = 0; i < s.rows; ++i) {
        const std::string I = idx(std::size_t(i));
        // Write bit line i steps through K[i][j] around slot j, then parks at 0.45 V.
        Pwl wbl;
        wbl.points.push_back({Time(0), 0.45});
        for (int j = 0; j < s.cols; ++j) {
            const double start = t.writeStart_s + j * s.writeSlot_s;
            const double v = s.stored_V[std::size_t(i)][std::size_t(j)];
            wbl.points.push_back({Time(start - 0.4e-9), v});
            wbl.points.push_back({Time(start + s.writeWidth_s + 0.4e-9), v});
        }
        wbl.points.push_back({Time(t.writeStart_s + (s.cols - 1) * s.writeSlot_s + s.writeWidth_s + 0.6e-9), 0.45});
        c.add(VoltageSource{"wbl" + I, "wbl" + I, "0", wbl});
        c.add(SubcktInstance{"drv" + I,
                             {"pwm" + I + "_0", "pwmb" + I + "_0", "vdd", "0"},
                             "pwmdrv",
                             {{"code", std::to_string(s.codes[std::size_t(i)])},
                              {"t0", formatSI(t.readStart_s)},
                              {"tclk", formatSI(s.tclk_s)},
                              {"vhi", formatSI(s.vdd_V)}}});
        for (int j = 0; j < s.cols; ++j) {
            const std::string a = I + "_" + idx(std::size_t(j)), b = I + "_" + idx(std::size_t(j + 1));
            c.add(Resistor{"w" + a, "pwm" + a, "pwm" + b, Resistance(s.wire_R_ohm)});
            c.add(Capacitor{"w" + a, "pwm" + b, "0", Capacitance(s.wire_C_F), std::nullopt});
            c.add(Resistor{"wb" + a, "pwmb" + a, "pwmb" + b, Resistance(s.wire_R_ohm)});
            c.add(Capacitor{"wb" + a, "pwmb" + b, "0", Capacitance(s.wire_C_F), std::nullopt});
            holdStorageNode(c, cell, "xc" + a);
            c.add(cell.instance("c" + a,
                                cellNodes("wbl" + I, "we" + idx(std::size_t(j)), "web" + idx(std::size_t(j)), "pwm" + b,
                                          "pwmb" + b, "bl" + a, "vin"),
                                cellParams(s, i, j)));
        }
    }
    for (int j = 0; j < s.cols; ++j) addBitLine(c, s, j);
    robustOptions(c);
    arraySpeedOptions(c);
    c.analysis(TranAnalysis{Time(10e-12), Time(t.stop_s), Time(0), Time(s.maxStep_s), false});
    return c;
}

Circuit gainCellColumnCircuit(const CellSpec& cell, const GainCellArraySpec& s, int column) {
    checkArray(s);
    if (column < 0 || column >= s.cols) throw std::invalid_argument("gain-cell column: index outside the array");
    const ArrayTiming t = arrayTiming(s, 1);
    const std::string J = idx(std::size_t(column));
    Circuit c("gain-cell array " + std::to_string(s.rows) + "x" + std::to_string(s.cols) + ", column " + J);
    std::vector<fs::path> files = cell.includes;
    for (const auto& f : readoutCell(s.readout).includes) files.push_back(f);
    includeAll(c, files);
    addArrayControls(c, s, t);
    c.add(VoltageSource{"we", "we", "0", pulse(0, s.vdd_V, t.writeStart_s, s.writeWidth_s, 50e-12)});
    c.add(VoltageSource{"web", "web", "0", pulse(s.vdd_V, 0, t.writeStart_s, s.writeWidth_s, 50e-12)});
    const double wordLineR = s.wire_R_ohm * (column + 1);
    for (int i = 0; i < s.rows; ++i) {
        const std::string I = idx(std::size_t(i)), a = I + "_" + J;
        const double width = s.codes[std::size_t(i)] * s.tclk_s;
        c.add(VoltageSource{"wbl" + I, "wbl" + I, "0", Dc{s.stored_V[std::size_t(i)][std::size_t(column)]}});
        c.add(VoltageSource{"wl" + I, "wl" + I, "0", pulse(0, s.vdd_V, t.readStart_s, width, s.edge_s)});
        c.add(VoltageSource{"wlb" + I, "wlb" + I, "0", pulse(s.vdd_V, 0, t.readStart_s, width, s.edge_s)});
        c.add(Resistor{"w" + a, "wl" + I, "pwm" + a, Resistance(wordLineR)});
        c.add(Capacitor{"w" + a, "pwm" + a, "0", Capacitance(s.wire_C_F), std::nullopt});
        c.add(Resistor{"wb" + a, "wlb" + I, "pwmb" + a, Resistance(wordLineR)});
        c.add(Capacitor{"wb" + a, "pwmb" + a, "0", Capacitance(s.wire_C_F), std::nullopt});
        holdStorageNode(c, cell, "xc" + a);
        c.add(cell.instance("c" + a, cellNodes("wbl" + I, "we", "web", "pwm" + a, "pwmb" + a, "bl" + a, "vin"),
                            cellParams(s, i, column)));
    }
    addBitLine(c, s, column);
    robustOptions(c);
    arraySpeedOptions(c);
    c.analysis(TranAnalysis{Time(10e-12), Time(t.stop_s), Time(0), Time(s.maxStep_s), false});
    return c;
}

std::vector<std::string> arrayVectors(const GainCellArraySpec& s, const std::vector<int>& columns, bool columnForm) {
    std::vector<std::string> v{"time", "i(vin)", "i(vdd)"};
    for (int j : columns) {
        v.push_back("i(vprobe" + idx(std::size_t(j)) + ")");
        v.push_back("v(out" + idx(std::size_t(j)) + ")");
        if (s.readout == ArrayReadout::Signed) v.push_back("v(sgn" + idx(std::size_t(j)) + ")");
    }
    if (columnForm)
        for (int i = 0; i < s.rows; ++i)
            for (const char* n : {"wl", "wlb"})
                v.push_back("i(v" + std::string(n) + idx(std::size_t(i)) + ")"), v.push_back("v(" + std::string(n) + idx(std::size_t(i)) + ")");
    return v;
}

}  // namespace imc::circuits
