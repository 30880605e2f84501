#include "characterize/memristor.hpp"
#include "characterize/waveform.hpp"

#include "circuits/cell.hpp"
#include "netlist/netlist.hpp"
#include "report/plot.hpp"
#include "variability/variability.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <numbers>
#include <stdexcept>

namespace imc::characterize {

namespace fs = std::filesystem;
using netlist::formatSI;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> toStd(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

circuits::CellSpec withParams(circuits::CellSpec cell, const std::map<std::string, std::string>& params) {
    for (const auto& [k, v] : params) cell.params[k] = v;
    return cell;
}

double get(const Row& r, const std::string& key) {
    auto it = r.values.find(key);
    return it == r.values.end() ? kNaN : it->second;
}

std::string stateName(bool lrs) { return lrs ? "lrs" : "hrs"; }

}  // namespace

RunSpec subRun(const RunSpec& base, const std::string& name) {
    RunSpec r = base;
    r.name = name;
    if (!base.outDir.empty()) r.outDir = base.outDir / name;
    return r;
}

// ---------------------------------------------------------------- cells

MemristorCell parseMemristorCell(const std::string& text) {
    if (text == "self-selective" || text == "selfsel") return MemristorCell::SelfSelective;
    if (text == "linear" || text == "ohmic") return MemristorCell::Linear;
    throw std::invalid_argument("cell '" + text + "' is unknown (self-selective, linear)");
}

const char* toString(MemristorCell cell) { return cell == MemristorCell::SelfSelective ? "self-selective" : "linear"; }

circuits::CellSpec memristorCellSpec(MemristorCell cell) {
    return circuits::builtinCell(cell == MemristorCell::SelfSelective ? "selfsel" : "ohmic");
}

double selfSelectiveCurrent_A(double V, double x, const SelfSelectiveParameters& p, double sGoff, double sGon) {
    const double vs2 = p.Vs_V * p.Vs_V;
    auto ramp = [&](double u) { return 0.5 * (u + std::sqrt(u * u + vs2)); };
    const double rp0 = ramp(-p.Vh_pos_V), rn0 = ramp(p.Vh_neg_V);
    const double graw = (ramp(V - p.Vh_pos_V) - rp0) - p.Kneg * (ramp(p.Vh_neg_V - V) - rn0);
    const double gr = ramp(p.Vread_V - p.Vh_pos_V) - rp0;
    const double gsat = p.Icc_A * gr / (p.Gon_S * p.Vread_V);
    const double scale = p.Vread_V / gr * (1 + gr / gsat);
    const double a0 = sGoff * p.Goff_S * scale, a1 = (sGon * p.Gon_S - sGoff * p.Goff_S) * scale;
    return p.Gplat_S * V + (a0 + a1 * x) * graw / (1 + std::abs(graw) / gsat);
}

double holdVoltage_V(const std::vector<double>& V, const std::vector<double>& I_A, double Gplat_S, bool positive) {
    // Samples on one side of 0 V, ordered outward.
    std::vector<std::pair<double, double>> side;
    for (std::size_t k = 0; k < V.size() && k < I_A.size(); ++k)
        if ((positive ? V[k] : -V[k]) > 1e-3) side.emplace_back(std::abs(V[k]), std::abs(I_A[k]));
    std::stable_sort(side.begin(), side.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double prevV = 0, prevRatio = 1;
    for (const auto& [v, i] : side) {
        const double ratio = i / (Gplat_S * v);
        if (ratio >= 10) {
            const double at = prevV == 0 ? v : prevV + (v - prevV) * (10 - prevRatio) / (ratio - prevRatio);
            return positive ? at : -at;
        }
        prevV = v, prevRatio = ratio;
    }
    return kNaN;
}

// ---------------------------------------------------------------- I-V loop, switching, read disturb

namespace {

enum IvJob { StaticHrs = 0, StaticLrs = 1, Loop = 2, Disturb = 3, Write = 4 };

constexpr double kLoopRate_V_per_s = 0.2e6, kLoopStop_V = 5.0, kLoopSeries_Ohm = 1e3;
constexpr double kReadStart_s = 1e-6, kReadEdge_s = 20e-9, kReadWidth_s = 1e-6, kReadPeriod_s = 2e-6;
constexpr int kDisturbReads = 100;
constexpr double kWriteWidth_s = 10e-6, kWriteGap_s = 2e-6, kWrite_V = 4.0;
constexpr int kWrites = 5;

double loopLeg_s() { return kLoopStop_V / kLoopRate_V_per_s; }
double writeFinalReadStart_s() { return 3e-6 + kWrites * (kWriteWidth_s + kWriteGap_s); }

netlist::Circuit singleCellDeck(const std::string& title, const std::map<std::string, std::string>& params, bool series) {
    using namespace netlist;
    const auto cell = circuits::builtinCell("selfsel");
    Circuit c(title);
    cell.includeInto(c);
    c.add(cell.instance("cell", {{"top", series ? "a" : "in"}, {"bottom", "0"}}, params));
    if (series) c.add(Resistor{"s", "in", "a", Resistance(kLoopSeries_Ohm)});
    return c;
}

std::vector<PlannedJob> ivJobs() {
    using namespace netlist;
    std::vector<PlannedJob> jobs;
    auto push = [&](IvJob kind, const std::string& id, Circuit c, std::vector<std::string> vectors) {
        PlannedJob j;
        j.sim.id = id;
        j.sim.deck = writeDeck(c);
        j.sim.vectors = std::move(vectors);
        j.point = {{"kind", double(kind)}};
        jobs.push_back(std::move(j));
    };
    for (int lrs = 0; lrs < 2; ++lrs) {
        // dyn=0: a .dc point beyond the thresholds would otherwise be the rate equation's steady state.
        auto c = singleCellDeck(std::string("self-selective static I-V, ") + (lrs ? "LRS" : "HRS"),
                                {{"x0", lrs ? "1" : "0"}, {"dyn", "0"}}, false);
        c.add(VoltageSource{"in", "in", "0", Dc{0.0}});
        c.analysis(DcSweep{"vin", -5, 5, 0.01});
        push(lrs ? StaticLrs : StaticHrs, std::string("iv_static_") + stateName(lrs), c, {"v(in)", "i(vin)"});
    }
    {
        const double T = loopLeg_s();
        auto c = singleCellDeck("self-selective quasi-DC loop 0 -> +5 -> 0 -> -5 -> 0 V at 0.2 V/us", {{"x0", "0"}}, true);
        c.add(VoltageSource{"in", "in", "0", Pwl{{{Time(0), 0}, {Time(T), kLoopStop_V}, {Time(2 * T), 0}, {Time(3 * T), -kLoopStop_V},
                                                  {Time(4 * T), 0}}}});
        c.option("method", "gear");
        c.analysis(TranAnalysis{Time(20e-9), Time(4 * T), Time(0), Time(20e-9), true});
        push(Loop, "iv_loop", c, {"time", "v(a)", "i(vin)"});
    }
    {
        auto c = singleCellDeck("self-selective read disturb: 100 reads at 3 V from x = 0.3", {{"x0", "0.3"}}, false);
        c.add(VoltageSource{"in", "in", "0",
                            Pulse{0, 3.0, Time(kReadStart_s), Time(kReadEdge_s), Time(kReadEdge_s), Time(kReadWidth_s),
                                  Time(kReadPeriod_s)}});
        c.option("method", "gear");
        c.analysis(TranAnalysis{Time(20e-9), Time(kReadStart_s + kDisturbReads * kReadPeriod_s), Time(0), Time(100e-9), true});
        push(Disturb, "iv_read_disturb", c, {"time", "i(vin)"});
    }
    {
        // read, five 4 V writes, read
        std::vector<std::pair<Time, double>> pts{{Time(0), 0}};
        auto level = [&](double start, double width, double v) {
            pts.push_back({Time(start), 0}), pts.push_back({Time(start + kReadEdge_s), v});
            pts.push_back({Time(start + kReadEdge_s + width), v}), pts.push_back({Time(start + 2 * kReadEdge_s + width), 0});
        };
        level(kReadStart_s, kReadWidth_s, 3.0);
        for (int w = 0; w < kWrites; ++w) level(3e-6 + w * (kWriteWidth_s + kWriteGap_s), kWriteWidth_s, kWrite_V);
        level(writeFinalReadStart_s(), kReadWidth_s, 3.0);
        auto c = singleCellDeck("self-selective: read, five 10 us writes at 4 V, read, from x = 0.3", {{"x0", "0.3"}}, false);
        c.add(VoltageSource{"in", "in", "0", Pwl{pts}});
        c.option("method", "gear");
        c.analysis(TranAnalysis{Time(20e-9), Time(writeFinalReadStart_s() + 2e-6), Time(0), Time(100e-9), true});
        push(Write, "iv_write", c, {"time", "i(vin)"});
    }
    return jobs;
}

}  // namespace

IvReport characterizeSelfSelective(const RunSpec& base) {
    const SelfSelectiveParameters p;
    auto loopWave = std::make_shared<std::pair<std::vector<double>, std::vector<double>>>();
    auto staticWave = std::make_shared<std::map<int, std::pair<std::vector<double>, std::vector<double>>>>();
    const std::vector<std::string> columns = {
        "plateau_1V_A", "plateau_2V_A", "hold_pos_V", "hold_neg_V", "i_3V_A", "i_5V_A", "i_m5V_A",
        "loop_hold_rising_V", "loop_hold_negative_V", "loop_5V_A", "loop_m5V_A", "loop_max_A", "loop_onoff_3V",
        "read_first_A", "read_last_A", "read_before_A", "read_after_A"};
    const Measure measure = [=](const PlannedJob& job, const spice::SimResult& r) {
        std::vector<std::pair<std::string, double>> out;
        const int kind = int(job.point[0].second);
        if (kind == StaticHrs || kind == StaticLrs) {
            const auto V = toStd(r.vec("v(in)"));
            auto I = toStd(-r.vec("i(vin)"));
            (*staticWave)[kind] = {V, I};
            out = {{"plateau_1V_A", interpolateRising(V, I, 1.0)}, {"plateau_2V_A", interpolateRising(V, I, 2.0)},
                   {"hold_pos_V", holdVoltage_V(V, I, p.Gplat_S, true)}, {"hold_neg_V", holdVoltage_V(V, I, p.Gplat_S, false)},
                   {"i_3V_A", interpolateRising(V, I, 3.0)}, {"i_5V_A", I.back()}, {"i_m5V_A", I.front()}};
        } else if (kind == Loop) {
            const auto t = toStd(r.vec("time")), V = toStd(r.vec("v(a)"));
            const auto I = toStd(-r.vec("i(vin)"));
            *loopWave = {V, I};
            const double T = loopLeg_s();
            const std::size_t k1 = firstIndexAtOrAfter(t, T), k2 = firstIndexAtOrAfter(t, 2 * T), k3 = firstIndexAtOrAfter(t, 3 * T);
            const std::vector<double> riseV(V.begin(), V.begin() + k1), riseI(I.begin(), I.begin() + k1);
            const std::vector<double> negV(V.begin() + k2, V.begin() + k3), negI(I.begin() + k2, I.begin() + k3);
            double peak = 0;
            for (double i : I) peak = std::max(peak, std::abs(i));
            out = {{"loop_hold_rising_V", holdVoltage_V(riseV, riseI, p.Gplat_S, true)},
                   {"loop_hold_negative_V", holdVoltage_V(negV, negI, p.Gplat_S, false)},
                   {"loop_5V_A", sampleAt(t, I, T)}, {"loop_m5V_A", sampleAt(t, I, 3 * T)}, {"loop_max_A", peak},
                   {"loop_onoff_3V", interpolateFalling(V, I, 3.0, k1, k2) / interpolateRising(V, I, 3.0, 0, k1)}};
        } else if (kind == Disturb) {
            const auto t = toStd(r.vec("time"));
            const auto I = toStd(-r.vec("i(vin)"));
            const double mid = kReadStart_s + kReadEdge_s + kReadWidth_s / 2;
            out = {{"read_first_A", sampleAt(t, I, mid)}, {"read_last_A", sampleAt(t, I, mid + (kDisturbReads - 1) * kReadPeriod_s)}};
        } else {
            const auto t = toStd(r.vec("time"));
            const auto I = toStd(-r.vec("i(vin)"));
            out = {{"read_before_A", sampleAt(t, I, kReadStart_s + kReadEdge_s + kReadWidth_s / 2)},
                   {"read_after_A", sampleAt(t, I, writeFinalReadStart_s() + kReadEdge_s + kReadWidth_s / 2)}};
        }
        return out;
    };
    RunSpec run = subRun(base, "memristor-iv");
    run.parameters = {{"cell", "selfsel"}, {"loop_rate_V_per_s", kLoopRate_V_per_s}, {"loop_series_Ohm", kLoopSeries_Ohm},
                      {"disturb_reads", kDisturbReads}, {"write_V", kWrite_V}, {"writes", kWrites}};
    const auto summary = runSweep(ivJobs(), columns, measure, run);
    if (summary.failed) throw std::runtime_error("memristor I-V: " + std::to_string(summary.failed) + " job(s) failed, see " + summary.dir.string());
    IvReport rep;
    for (const auto& row : summary.rows) {
        switch (int(get(row, "kind"))) {
            case StaticHrs:
                rep.plateauHrsAt1V_A = get(row, "plateau_1V_A"), rep.plateauHrsAt2V_A = get(row, "plateau_2V_A");
                rep.holdHrsPositive_V = get(row, "hold_pos_V"), rep.holdHrsNegative_V = get(row, "hold_neg_V");
                rep.hrsAt3V_A = get(row, "i_3V_A");
                break;
            case StaticLrs:
                rep.plateauLrsAt1V_A = get(row, "plateau_1V_A");
                rep.holdLrsPositive_V = get(row, "hold_pos_V"), rep.holdLrsNegative_V = get(row, "hold_neg_V");
                rep.lrsAt3V_A = get(row, "i_3V_A"), rep.lrsAt5V_A = get(row, "i_5V_A"), rep.lrsAtMinus5V_A = get(row, "i_m5V_A");
                break;
            case Loop:
                rep.loopHoldRising_V = get(row, "loop_hold_rising_V"), rep.loopHoldNegative_V = get(row, "loop_hold_negative_V");
                rep.loopAt5V_A = get(row, "loop_5V_A"), rep.loopAtMinus5V_A = get(row, "loop_m5V_A");
                rep.loopMaxCurrent_A = get(row, "loop_max_A"), rep.loopOnOffAt3V = get(row, "loop_onoff_3V");
                break;
            case Disturb:
                rep.readDisturbRelative = get(row, "read_last_A") / get(row, "read_first_A") - 1;
                break;
            case Write:
                rep.writeGain = get(row, "read_after_A") / get(row, "read_before_A");
                break;
        }
    }
    rep.onOffAt3V = rep.lrsAt3V_A / rep.hrsAt3V_A;
    rep.loopV = loopWave->first, rep.loopI_A = loopWave->second;
    rep.dir = summary.dir, rep.ngspiceVersion = summary.ngspiceVersion, rep.netlistHash = summary.netlistHash;
    // Waveforms exist only when the jobs ran now; a reused folder keeps its earlier plot.
    if (!rep.loopV.empty()) {
        std::vector<report::Series> series{{"loop, 0.2 V/us", rep.loopV, {}, report::Series::Style::Lines}};
        for (double i : rep.loopI_A) series[0].y.push_back(std::max(std::abs(i), 1e-14));
        for (const auto& [kind, wave] : *staticWave) {
            report::Series s{kind == StaticLrs ? "LRS, x=1" : "HRS, x=0", wave.first, {}, report::Series::Style::Lines};
            for (double i : wave.second) s.y.push_back(std::max(std::abs(i), 1e-14));
            series.push_back(std::move(s));
        }
        report::plotXY(rep.dir / "iv_loop.png", {"self-selective cell: I-V", "V (top - bottom), V", "|I|, A", false, true}, series);
    }
    return rep;
}

nlohmann::json IvReport::toJson() const {
    auto pair = [](double measured, nlohmann::json target) { return nlohmann::json{{"measured", measured}, {"target", target}}; };
    return {
        {"plateau_hrs_1V_A", pair(plateauHrsAt1V_A, "several pA below V_h (model Gplat*V = 2 pA at 1 V)")},
        {"plateau_hrs_2V_A", pair(plateauHrsAt2V_A, "several pA (4 pA at 2 V)")},
        {"plateau_lrs_1V_A", pair(plateauLrsAt1V_A, "several pA, state-independent")},
        {"hold_positive_V", pair(holdHrsPositive_V, 2.5)},
        {"hold_negative_V", pair(holdHrsNegative_V, -2.0)},
        {"hold_positive_lrs_V", pair(holdLrsPositive_V, 2.5)},
        {"hold_negative_lrs_V", pair(holdLrsNegative_V, -2.0)},
        {"hrs_3V_A", pair(hrsAt3V_A, "0.125 nS x 3 V = 0.375 nA (+ plateau 6 pA)")},
        {"lrs_3V_A", pair(lrsAt3V_A, "2 nS x 3 V = 6 nA (chosen LRS)")},
        {"on_off_3V", pair(onOffAt3V, 15.8)},
        {"lrs_5V_A", pair(lrsAt5V_A, "a few tens of nA")},
        {"lrs_minus5V_A", pair(lrsAtMinus5V_A, "of the order of -10 nA")},
        {"loop_hold_rising_V", pair(loopHoldRising_V, 2.5)},
        {"loop_hold_negative_V", pair(loopHoldNegative_V, -2.0)},
        {"loop_5V_A", pair(loopAt5V_A, "tens of nA, self-compliant")},
        {"loop_minus5V_A", pair(loopAtMinus5V_A, "of the order of -10 nA (reset under way)")},
        {"loop_max_current_A", pair(loopMaxCurrent_A, "tens of nA")},
        {"loop_on_off_3V", pair(loopOnOffAt3V, "counterclockwise set loop: > 1")},
        {"read_disturb_relative", pair(readDisturbRelative, 0.0)},
        {"write_gain_5x4V", pair(writeGain, "> 1 (4 V write programs the cell)")},
        {"results", dir.string()},
        {"ngspice_version", ngspiceVersion},
    };
}

// ---------------------------------------------------------------- sneak paths

DataPattern parseDataPattern(const std::string& text) {
    if (text == "worst") return DataPattern::Worst;
    if (text == "best") return DataPattern::Best;
    if (text == "random") return DataPattern::Random;
    throw std::invalid_argument("data pattern '" + text + "' is unknown (worst, best, random)");
}

const char* toString(DataPattern pattern) {
    switch (pattern) {
        case DataPattern::Worst: return "worst";
        case DataPattern::Best: return "best";
        case DataPattern::Random: return "random";
    }
    return "?";
}

nlohmann::json SneakResult::toJson() const {
    return {{"cell", toString(c.cell)},
            {"size", std::to_string(c.rows) + "x" + std::to_string(c.cols)},
            {"scheme", circuits::toString(c.scheme)},
            {"pattern", toString(c.pattern)},
            {"read_V", c.readVoltage_V},
            {"wire_Ohm", c.wireResistance_Ohm},
            {"read_margin", readMargin},
            {"sneak_fraction_lrs_read", sneakFractionLrs},
            {"sneak_fraction_hrs_read", sneakFractionHrs},
            {"i_cell_lrs_A", cellLrs_A},
            {"i_column_lrs_A", columnLrs_A},
            {"i_cell_hrs_A", cellHrs_A},
            {"i_column_hrs_A", columnHrs_A},
            {"ok", ok}};
}

std::vector<SneakResult> runSneakStudy(const std::vector<SneakCase>& cases, const RunSpec& base, RunSummary* summaryOut) {
    std::vector<PlannedJob> jobs;
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const SneakCase& c = cases[k];
        const bool selfSel = c.cell == MemristorCell::SelfSelective;
        // Linear cell: the self-selective cell's own conductances (its Gon and Goff defaults).
        const std::string stateParam = selfSel ? "x0" : "G";
        const circuits::CellSpec reference = memristorCellSpec(MemristorCell::SelfSelective);
        const double lrsValue = selfSel ? 1.0 : netlist::parseSI(reference.defaults.at("Gon"));
        const double hrsValue = selfSel ? 0.0 : netlist::parseSI(reference.defaults.at("Goff"));
        for (int lrs = 0; lrs < 2; ++lrs) {
            circuits::MemristorCrossbarSpec s;
            s.cell = withParams(memristorCellSpec(c.cell), c.cellParams);
            if (selfSel && !s.cell.params.count("dyn")) s.cell.params["dyn"] = "0";  // reads: state frozen at x0
            s.rows = c.rows, s.cols = c.cols;
            s.scheme = c.scheme;
            s.readVoltage_V = c.readVoltage_V;
            s.wireResistance_Ohm = c.wireResistance_Ohm;
            Eigen::MatrixXd state(c.rows, c.cols);
            for (int i = 0; i < c.rows; ++i)
                for (int j = 0; j < c.cols; ++j) {
                    bool on = c.pattern == DataPattern::Worst;
                    if (c.pattern == DataPattern::Random)
                        on = variability::drawDeviceToDevice(variability::Distribution::uniform(0, 1), c.seed,
                                                             std::uint64_t(c.rows) * 100000 + std::uint64_t(c.cols),
                                                             std::uint64_t(i * c.cols + j)) < 0.5;
                    state(i, j) = on ? lrsValue : hrsValue;
                }
            state(s.selectedRow, circuits::selectedColumn(s)) = lrs ? lrsValue : hrsValue;
            s.cellParams[stateParam] = state;
            PlannedJob j;
            j.sim.id = "sneak" + std::to_string(k) + "_" + toString(c.cell) + "_" + std::to_string(c.rows) + "x" +
                       std::to_string(c.cols) + "_" + circuits::toString(c.scheme) + "_" + toString(c.pattern) + "_sel" + stateName(lrs);
            j.sim.deck = netlist::writeDeck(circuits::buildMemristorCrossbar(s));
            j.sim.vectors = {circuits::selectedCellCurrentVector(), circuits::senseCurrentVector(circuits::selectedColumn(s))};
            j.point = {{"case", double(k)}, {"selected_lrs", double(lrs)}};
            jobs.push_back(std::move(j));
        }
    }
    const Measure measure = [](const PlannedJob& job, const spice::SimResult& r) {
        return std::vector<std::pair<std::string, double>>{{"i_cell_A", r.vec(job.sim.vectors[0])[0]},
                                                           {"i_column_A", r.vec(job.sim.vectors[1])[0]}};
    };
    RunSpec run = base;
    if (run.name.empty()) run.name = "memristor-sneak";
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : cases) list.push_back({{"cell", toString(c.cell)}, {"rows", c.rows}, {"cols", c.cols},
                                                {"scheme", circuits::toString(c.scheme)}, {"pattern", toString(c.pattern)},
                                                {"read_V", c.readVoltage_V}, {"wire_Ohm", c.wireResistance_Ohm}, {"params", c.cellParams}});
    run.parameters = {{"cases", list}};
    const auto summary = runSweep(jobs, {"i_cell_A", "i_column_A"}, measure, run);
    std::vector<SneakResult> out(cases.size());
    std::vector<int> okCount(cases.size(), 0);
    for (std::size_t k = 0; k < cases.size(); ++k) out[k].c = cases[k];
    for (const auto& row : summary.rows) {
        if (!row.ok) continue;
        const auto k = std::size_t(get(row, "case"));
        auto& res = out[k];
        (get(row, "selected_lrs") > 0.5 ? res.cellLrs_A : res.cellHrs_A) = get(row, "i_cell_A");
        (get(row, "selected_lrs") > 0.5 ? res.columnLrs_A : res.columnHrs_A) = get(row, "i_column_A");
        ++okCount[k];
    }
    for (std::size_t k = 0; k < cases.size(); ++k) {
        auto& r = out[k];
        r.ok = okCount[k] == 2;
        if (!r.ok) continue;
        r.sneakFractionLrs = (r.columnLrs_A - r.cellLrs_A) / r.columnLrs_A;
        r.sneakFractionHrs = (r.columnHrs_A - r.cellHrs_A) / r.columnHrs_A;
        r.readMargin = (r.columnLrs_A - r.columnHrs_A) / r.columnLrs_A;
    }
    if (summaryOut) *summaryOut = summary;
    return out;
}

// ---------------------------------------------------------------- variability

ConductanceVariability ConductanceVariability::load(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read memristor variability file " + file.string());
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(file.string() + ": not valid JSON: " + e.what());
    }
    auto fail = [&](const std::string& key, const std::string& why) -> double {
        throw std::runtime_error(file.string() + ": key '" + key + "': " + why);
    };
    if (!doc.is_object() || doc.value("format", "") != "imc-memristor-variability") fail("format", "must be \"imc-memristor-variability\"");
    if (doc.value("version", nlohmann::json()) != nlohmann::json(1)) fail("version", "this imc reads version 1");
    auto number = [&](const std::string& key) {
        if (!doc.contains(key) || !doc[key].is_number()) return fail(key, "must be a number");
        const double v = doc[key].get<double>();
        if (!(v >= 0)) fail(key, "must be >= 0");
        return v;
    };
    ConductanceVariability v;
    v.Goff_S = number("G_off_S");
    v.sigma0 = number("sigma_0");
    v.sigmaPerDecade = number("sigma_per_decade");
    v.deviceFraction = number("device_fraction");
    if (!(v.Goff_S > 0)) fail("G_off_S", "must be > 0");
    if (v.deviceFraction > 1) fail("device_fraction", "must be within [0, 1]");
    return v;
}

ConductanceVariability ConductanceVariability::shipped() {
    static const ConductanceVariability v = load(circuits::modelsDir() / "memristor" / "variability.json");
    return v;
}

double ConductanceVariability::sigmaAtCycle(int cycle) const {
    if (cycle < 1) throw std::invalid_argument("cycle numbers start at 1");
    return sigma0 + sigmaPerDecade * std::log10(double(cycle));
}

double ConductanceVariability::factor(std::uint64_t seed, std::uint64_t sample, std::uint64_t device, int cycle) const {
    const auto unit = variability::Distribution::normal(0, 1);
    const double z = variability::drawDeviceToDevice(unit, seed, sample, device);
    const double e = variability::drawCycleToCycle(unit, seed, sample, device, std::uint64_t(cycle));
    return std::exp(sigmaAtCycle(cycle) * (std::sqrt(deviceFraction) * z + std::sqrt(1 - deviceFraction) * e));
}

// ---------------------------------------------------------------- RP-LSH in SPICE

int hashOfProjection(const Eigen::VectorXd& p) {
    int best = 0;
    double bestValue = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < 2 * int(p.size()); ++k) {
        const double v = k < p.size() ? p[k] : -p[k - p.size()];
        if (v > bestValue) best = k, bestValue = v;
    }
    return best;
}

nlohmann::json RpLshReport::toJson() const {
    return {{"size", std::to_string(conductance_S.rows()) + "x" + std::to_string(conductance_S.cols())},
            {"vectors", inputs.rows()},
            {"hash_agreement", agreement},
            {"hash_spice", hashSpice},
            {"hash_behavioral", hashBehavioral},
            {"max_projection_error", maxProjectionError},
            {"g_mean_S", conductance_S.mean()},
            {"results", dir.string()},
            {"ngspice_version", ngspiceVersion}};
}

RpLshReport runRpLsh(const RpLshSpec& spec, const RunSpec& base) {
    if (spec.rows < 1 || spec.cols < 2 || spec.cols % 2) throw std::invalid_argument("rp-lsh: needs rows >= 1 and an even number of columns");
    if (spec.vectors < 1) throw std::invalid_argument("rp-lsh: needs at least one input vector");
    const int R = spec.rows, C = spec.cols, devices = R * C;
    // Device-to-device factors of the array at the given cycle, one stream per device.
    Eigen::MatrixXd sGoff(R, C);
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) sGoff(i, j) = spec.variability.factor(spec.seed, 0, std::uint64_t(i * C + j), spec.cycle);
    sGoff *= spec.variability.Goff_S / SelfSelectiveParameters{}.Goff_S;
    // Binary inputs, half ones on average; an all-zero vector has no hash, so it gets one 1.
    Eigen::MatrixXi inputs(spec.vectors, R);
    for (int v = 0; v < spec.vectors; ++v) {
        variability::Stream s({spec.seed, variability::Purpose::User, std::uint64_t(v), 0, 0});
        for (int i = 0; i < R; ++i) inputs(v, i) = s.uniform() < 0.5 ? 1 : 0;
        if (inputs.row(v).sum() == 0) inputs(v, v % R) = 1;
    }
    auto cell = circuits::builtinCell("selfsel");
    cell.params = {{"x0", "0"}, {"dyn", "0"}};  // HRS after one reset; reads never move the state

    std::vector<PlannedJob> jobs;
    {
        circuits::DeviceReadSpec d;
        d.cell = cell;
        d.devices = devices;
        d.readVoltage_V = spec.readVoltage_V;
        d.cellParams["sGoff"] = Eigen::Map<const Eigen::VectorXd>(Eigen::MatrixXd(sGoff.transpose()).data(), devices);
        PlannedJob j;
        j.sim.id = "rplsh_map";
        j.sim.deck = netlist::writeDeck(circuits::buildDeviceRead(d));
        for (int k = 0; k < devices; ++k) j.sim.vectors.push_back(circuits::deviceCurrentVector(k));
        j.point = {{"vector", -1}};
        jobs.push_back(std::move(j));
    }
    for (int v = 0; v < spec.vectors; ++v) {
        circuits::MemristorCrossbarSpec s;
        s.cell = cell;
        s.rows = R, s.cols = C;
        s.scheme = circuits::BiasScheme::Vmm;
        s.wireResistance_Ohm = spec.wireResistance_Ohm;
        s.rowInput_V = inputs.row(v).transpose().cast<double>() * spec.readVoltage_V;
        s.cellParams["sGoff"] = sGoff;
        PlannedJob j;
        j.sim.id = "rplsh_v" + std::to_string(v);
        j.sim.deck = netlist::writeDeck(circuits::buildMemristorCrossbar(s));
        for (int c = 0; c < C; ++c) j.sim.vectors.push_back(circuits::senseCurrentVector(c));
        j.point = {{"vector", double(v)}};
        jobs.push_back(std::move(j));
    }
    std::vector<std::string> columns;
    for (int k = 0; k < devices; ++k) columns.push_back("i_dev" + std::to_string(k) + "_A");
    for (int c = 0; c < C; ++c) columns.push_back("i_col" + std::to_string(c) + "_A");
    const Measure measure = [devices, C](const PlannedJob& job, const spice::SimResult& r) {
        std::vector<std::pair<std::string, double>> out;
        if (job.point[0].second < 0)
            for (int k = 0; k < devices; ++k) out.emplace_back("i_dev" + std::to_string(k) + "_A", r.vec(job.sim.vectors[std::size_t(k)])[0]);
        else
            for (int c = 0; c < C; ++c) out.emplace_back("i_col" + std::to_string(c) + "_A", r.vec(job.sim.vectors[std::size_t(c)])[0]);
        return out;
    };
    RunSpec run = base;
    if (run.name.empty()) run.name = "memristor-rp-lsh";
    run.seed = spec.seed;
    run.parameters = {{"rows", R}, {"cols", C}, {"vectors", spec.vectors}, {"cycle", spec.cycle}, {"read_V", spec.readVoltage_V},
                      {"wire_Ohm", spec.wireResistance_Ohm}, {"Goff_S", spec.variability.Goff_S}, {"sigma_0", spec.variability.sigma0},
                      {"sigma_per_decade", spec.variability.sigmaPerDecade}, {"device_fraction", spec.variability.deviceFraction}};
    const auto summary = runSweep(jobs, columns, measure, run);
    if (summary.failed) throw std::runtime_error("rp-lsh: " + std::to_string(summary.failed) + " job(s) failed, see " + summary.dir.string());

    RpLshReport rep;
    rep.inputs = inputs;
    rep.conductance_S.resize(R, C);
    rep.projectionSpice_A.resize(spec.vectors, C / 2);
    for (const auto& row : summary.rows) {
        const int v = int(get(row, "vector"));
        if (v < 0) {
            for (int k = 0; k < devices; ++k) rep.conductance_S(k / C, k % C) = get(row, "i_dev" + std::to_string(k) + "_A") / spec.readVoltage_V;
        } else {
            for (int c = 0; c < C / 2; ++c)
                rep.projectionSpice_A(v, c) = get(row, "i_col" + std::to_string(2 * c) + "_A") - get(row, "i_col" + std::to_string(2 * c + 1) + "_A");
        }
    }
    // Behavioral random projection from the measured conductance map: R = G[:, 2c] - G[:, 2c+1].
    Eigen::MatrixXd Rproj(R, C / 2);
    for (int c = 0; c < C / 2; ++c) Rproj.col(c) = rep.conductance_S.col(2 * c) - rep.conductance_S.col(2 * c + 1);
    rep.projectionBehavioral_A = inputs.cast<double>() * spec.readVoltage_V * Rproj;
    int agree = 0;
    const double scale = rep.projectionBehavioral_A.cwiseAbs().maxCoeff();
    for (int v = 0; v < spec.vectors; ++v) {
        rep.hashSpice.push_back(hashOfProjection(rep.projectionSpice_A.row(v).transpose()));
        rep.hashBehavioral.push_back(hashOfProjection(rep.projectionBehavioral_A.row(v).transpose()));
        agree += rep.hashSpice.back() == rep.hashBehavioral.back();
    }
    rep.agreement = double(agree) / spec.vectors;
    rep.maxProjectionError = scale > 0 ? (rep.projectionSpice_A - rep.projectionBehavioral_A).cwiseAbs().maxCoeff() / scale : 0;
    rep.dir = summary.dir, rep.ngspiceVersion = summary.ngspiceVersion, rep.netlistHash = summary.netlistHash;

    report::plotHeatmap(rep.dir / "conductance_map.png",
                        {"HRS conductance map read at 3 V (" + std::to_string(R) + "x" + std::to_string(C) + ")", "column", "row"},
                        rep.conductance_S * 1e9, "G, nS");
    report::Series pts{"vector x pair", {}, {}, report::Series::Style::Points};
    for (Eigen::Index k = 0; k < rep.projectionSpice_A.size(); ++k)
        pts.x.push_back(rep.projectionBehavioral_A.data()[k] * 1e12), pts.y.push_back(rep.projectionSpice_A.data()[k] * 1e12);
    report::plotXY(rep.dir / "projection_spice_vs_behavioral.png",
                   {"RP-LSH projection: SPICE crossbar vs behavioral (same map)", "behavioral x^T dG V_read, pA", "SPICE I_a - I_b, pA"}, {pts});
    return rep;
}

// ---------------------------------------------------------------- fits

nlohmann::json MemristorFitsReport::toJson() const {
    nlohmann::json cyc = nlohmann::json::array();
    for (const auto& [n, f] : perCycle) cyc.push_back({{"cycle", n}, {"mu", f.mu}, {"sigma", f.sigma}, {"n", f.n}});
    std::vector<std::string> names;
    for (const auto& f : files) names.push_back(f.string());
    return {{"hrs_lognormal", {{"mu", hrs.mu}, {"sigma", hrs.sigma}, {"mu_ci", {hrs.mu_ci.lo, hrs.mu_ci.hi}},
                               {"sigma_ci", {hrs.sigma_ci.lo, hrs.sigma_ci.hi}}, {"ks_p", hrs.ks_p}, {"n", hrs.n},
                               {"median_S", std::exp(hrs.mu)}}},
            {"diff_gaussian", {{"mean", diff.mean}, {"std", diff.std}, {"mean_ci", {diff.mean_ci.lo, diff.mean_ci.hi}},
                               {"std_ci", {diff.std_ci.lo, diff.std_ci.hi}}, {"ks_p", diff.ks_p}, {"n", diff.n}}},
            {"c2c", {{"mu", mu}, {"sigma_0", sigma0}, {"sigma_per_decade", sigmaPerDecade}, {"rmse", sigmaFitRmse}, {"per_cycle", cyc}}},
            {"files", names},
            {"results", dir.string()}};
}

namespace {

// The device reads as independent jobs (pure): chunks of devices drawn for sample 0 (the D2D
// population after one reset) and for sample 1 at each cycle (the population followed over cycles).
std::vector<PlannedJob> planMemristorReads(const MemristorFitsSpec& spec, const circuits::CellSpec& cell, double Vread, int& widest) {
    // sample 0: the D2D population after one reset; sample 1: the population followed over cycles.
    struct Chunk { int sample, cycle, first, count; };
    std::vector<Chunk> chunks;
    for (int first = 0; first < spec.samples; first += spec.devicesPerJob)
        chunks.push_back({0, 1, first, std::min(spec.devicesPerJob, spec.samples - first)});
    for (int n : spec.cycles)
        for (int first = 0; first < spec.devicesPerCycle; first += spec.devicesPerJob)
            chunks.push_back({1, n, first, std::min(spec.devicesPerJob, spec.devicesPerCycle - first)});
    std::vector<PlannedJob> jobs;
    widest = 0;
    for (const auto& ch : chunks) {
        circuits::DeviceReadSpec d;
        d.cell = cell;
        d.devices = ch.count;
        d.readVoltage_V = Vread;
        Eigen::VectorXd s(ch.count);
        for (int k = 0; k < ch.count; ++k)
            s[k] = spec.variability.factor(spec.seed, std::uint64_t(ch.sample), std::uint64_t(ch.first + k), ch.cycle) *
                   spec.variability.Goff_S / SelfSelectiveParameters{}.Goff_S;
        d.cellParams["sGoff"] = s;
        PlannedJob j;
        j.sim.id = "devices_s" + std::to_string(ch.sample) + "_c" + std::to_string(ch.cycle) + "_d" + std::to_string(ch.first);
        j.sim.deck = netlist::writeDeck(circuits::buildDeviceRead(d));
        for (int k = 0; k < ch.count; ++k) j.sim.vectors.push_back(circuits::deviceCurrentVector(k));
        j.point = {{"sample", double(ch.sample)}, {"cycle", double(ch.cycle)}, {"first_device", double(ch.first)}, {"devices", double(ch.count)}};
        jobs.push_back(std::move(j));
        widest = std::max(widest, ch.count);
    }
    return jobs;
}

// Conductances from the read currents, then the fits: HRS lognormal (sample 0), differences of
// device pairs (Gaussian), and per-cycle lognormals with sigma linear in log10(cycle).
void fitMemristorReads(const RunSummary& summary, const MemristorFitsSpec& spec, double Vread, MemristorFitsReport& rep,
                       std::vector<double>& d2d, std::vector<double>& diffs) {
    d2d.assign(std::size_t(spec.samples), kNaN);
    std::map<int, std::vector<double>> byCycle;
    for (const auto& row : summary.rows) {
        const int sample = int(get(row, "sample")), cycle = int(get(row, "cycle")), first = int(get(row, "first_device"));
        const int count = int(get(row, "devices"));
        for (int k = 0; k < count; ++k) {
            const double g = get(row, "i_dev" + std::to_string(k) + "_A") / Vread;
            if (sample == 0) d2d[std::size_t(first + k)] = g;
            else byCycle[cycle].push_back(g);
        }
    }
    rep.dir = summary.dir;
    rep.hrs = fit::fitLognormal(d2d);
    diffs.clear();
    for (std::size_t k = 0; k + 1 < d2d.size(); k += 2) diffs.push_back(d2d[k] - d2d[k + 1]);
    rep.diff = fit::fitGaussian(diffs);
    Eigen::MatrixXd design(Eigen::Index(byCycle.size()), 2);
    Eigen::VectorXd sigmas(Eigen::Index(byCycle.size()));
    Eigen::Index r = 0;
    double muSum = 0;
    for (const auto& [n, g] : byCycle) {
        const auto f = fit::fitLognormal(g);
        rep.perCycle.emplace_back(n, f);
        design(r, 0) = 1, design(r, 1) = std::log10(double(n)), sigmas[r] = f.sigma;
        muSum += f.mu;
        ++r;
    }
    rep.mu = muSum / double(byCycle.size());
    if (byCycle.size() >= 2) {
        const auto ls = fit::fitLinearLeastSquares(design, sigmas);
        rep.sigma0 = ls.coefficients[0], rep.sigmaPerDecade = ls.coefficients[1], rep.sigmaFitRmse = ls.rmse;
    } else {
        rep.sigma0 = sigmas[0];
    }

}

// The three fits files, each with the run's provenance.
void writeMemristorFitsFiles(const MemristorFitsSpec& spec, const RunSpec& run, const RunSummary& summary,
                             const std::vector<double>& d2d, const std::vector<double>& diffs, MemristorFitsReport& rep) {
    auto provenance = [&](std::uint64_t samples) {
        fit::FitProvenance p;
        p.generator = "imc characterize memristor-fits";
        p.parameters = run.parameters;
        p.netlist_sha256 = summary.netlistHash;
        p.seed = spec.seed;
        p.samples = samples;
        p.ngspice_version = summary.ngspiceVersion;
        p.created_utc = fit::currentUtcTimestamp();
        p.command = spec.command;
        p.extra = {{"results", summary.dir.string()}};
        return p;
    };
    const auto [gmin, gmax] = std::minmax_element(d2d.begin(), d2d.end());
    fs::create_directories(spec.fitsDir);
    {
        fit::FitRecord f = fit::lognormalRecord(rep.hrs, "S");
        f.description = "HRS conductance of the self-selective cell after one reset, read at 3 V in SPICE (I/V, plateau "
                        "current included): ln(G / 1 S) ~ Normal(mu, sigma)";
        f.units["G_S"] = "S";
        f.validity = {{"G_S", {*gmin, *gmax}}};
        f.provenance = provenance(rep.hrs.n);
        rep.files.push_back(spec.fitsDir / "memristor-hrs-lognormal.json");
        fit::writeFit(rep.files.back().string(), f);
    }
    {
        fit::FitRecord f = fit::gaussianRecord(rep.diff, "S");
        f.description = "Difference G_a - G_b of two HRS devices (adjacent columns of one row), read at 3 V in SPICE: "
                        "the entries of the crossbar's random projection; x ~ Normal(mean, std)";
        const auto [dmin, dmax] = std::minmax_element(diffs.begin(), diffs.end());
        f.validity = {{"dG_S", {*dmin, *dmax}}};
        f.provenance = provenance(rep.diff.n);
        rep.files.push_back(spec.fitsDir / "memristor-diff-gaussian.json");
        fit::writeFit(rep.files.back().string(), f);
    }
    {
        fit::FitRecord f;
        f.model = "lognormal-cycle";
        f.description = "HRS conductance after n set/reset cycles, read at 3 V in SPICE: ln(G / 1 S) ~ Normal(mu, "
                        "sigma_0 + sigma_per_decade * log10(n)); per-cycle lognormal MLE, then least squares in log10(n)";
        f.coefficients = {{"mu", rep.mu}, {"sigma_0", rep.sigma0}, {"sigma_per_decade", rep.sigmaPerDecade}};
        f.units = {{"mu", "ln(S)"}, {"sigma_0", "ln(S)"}, {"sigma_per_decade", "ln(S) per decade of cycles"}};
        f.validity = {{"cycle", {double(spec.cycles.front()), double(*std::max_element(spec.cycles.begin(), spec.cycles.end()))}}};
        f.quality.rmse = rep.sigmaFitRmse;
        f.quality.n = rep.perCycle.size();
        nlohmann::json table = nlohmann::json::array();
        double worstKs = 1;
        for (const auto& [n, pf] : rep.perCycle) {
            table.push_back({{"cycle", n}, {"mu", pf.mu}, {"sigma", pf.sigma}, {"sigma_ci", {pf.sigma_ci.lo, pf.sigma_ci.hi}},
                             {"ks_p", pf.ks_p}, {"n", pf.n}});
            worstKs = std::min(worstKs, pf.ks_p);
        }
        f.quality.extra = {{"min_ks_p", worstKs}};
        f.spread = {{"per_cycle", table}, {"device_fraction_drawn", spec.variability.deviceFraction}};
        f.provenance = provenance(std::uint64_t(spec.devicesPerCycle) * spec.cycles.size());
        rep.files.push_back(spec.fitsDir / "memristor-c2c.json");
        fit::writeFit(rep.files.back().string(), f);
    }

}

// Histograms with their fitted densities, and the spread against cycles.
void plotMemristorFits(const MemristorFitsReport& rep, const std::vector<double>& d2d, const std::vector<double>& diffs) {
    const auto [gmin, gmax] = std::minmax_element(d2d.begin(), d2d.end());
    std::vector<double> gn;
    for (double g : d2d) gn.push_back(g * 1e9);
    report::Series pdf{"lognormal MLE", {}, {}, report::Series::Style::Lines};
    const double lo = *gmin * 1e9 * 0.9, hi = *gmax * 1e9 * 1.1;
    for (int k = 0; k <= 200; ++k) {
        const double x = lo + (hi - lo) * k / 200.0, lx = std::log(x * 1e-9);
        pdf.x.push_back(x);
        pdf.y.push_back(std::exp(-0.5 * std::pow((lx - rep.hrs.mu) / rep.hrs.sigma, 2)) / (x * rep.hrs.sigma * std::sqrt(2 * std::numbers::pi)));
    }
    report::plotHistogram(rep.dir / "hrs_histogram.png", {"HRS conductance after one reset, read at 3 V", "G, nS", "density"}, gn, 50, {pdf});
    std::vector<double> dp;
    for (double d : diffs) dp.push_back(d * 1e12);
    report::Series gpdf{"Gaussian MLE", {}, {}, report::Series::Style::Lines};
    const double m = rep.diff.mean * 1e12, s = rep.diff.std * 1e12;
    for (int k = 0; k <= 200; ++k) {
        const double x = m - 4 * s + 8 * s * k / 200.0;
        gpdf.x.push_back(x);
        gpdf.y.push_back(std::exp(-0.5 * std::pow((x - m) / s, 2)) / (s * std::sqrt(2 * std::numbers::pi)));
    }
    report::plotHistogram(rep.dir / "diff_histogram.png", {"conductance difference of device pairs", "G_a - G_b, pS", "density"}, dp, 50, {gpdf});
    report::Series meas{"per-cycle MLE", {}, {}, report::Series::Style::Points}, line{"sigma_0 + sigma_per_decade log10(n)", {}, {}, report::Series::Style::Lines};
    for (const auto& [n, pf] : rep.perCycle) {
        meas.x.push_back(n), meas.y.push_back(pf.sigma);
        line.x.push_back(n), line.y.push_back(rep.sigma0 + rep.sigmaPerDecade * std::log10(double(n)));
    }
    report::plotXY(rep.dir / "sigma_vs_cycle.png", {"spread of ln G against set/reset cycles", "cycle", "sigma of ln G", true, false}, {meas, line});
}

}  // namespace

MemristorFitsReport runMemristorFits(const MemristorFitsSpec& spec, const RunSpec& base) {
    if (spec.samples < 4 || spec.devicesPerCycle < 4 || spec.devicesPerJob < 1 || spec.cycles.empty())
        throw std::invalid_argument("memristor fits: needs >= 4 samples, >= 4 devices per cycle and at least one cycle");
    const double Vread = SelfSelectiveParameters{}.Vread_V;
    auto cell = circuits::builtinCell("selfsel");
    cell.params = {{"x0", "0"}, {"dyn", "0"}};
    int widest = 0;
    const std::vector<PlannedJob> jobs = planMemristorReads(spec, cell, Vread, widest);
    const std::vector<std::string> columns = deviceCurrentColumns(widest);
    const Measure measure = measureDeviceCurrents;
    RunSpec run = base;
    if (run.name.empty()) run.name = "memristor-fits";
    run.seed = spec.seed;
    const nlohmann::json model = {{"Goff_S", spec.variability.Goff_S}, {"sigma_0", spec.variability.sigma0},
                                  {"sigma_per_decade", spec.variability.sigmaPerDecade},
                                  {"device_fraction", spec.variability.deviceFraction}, {"read_V", Vread}, {"cell", "selfsel x0=0"}};
    run.parameters = {{"variability_model", model}, {"samples", spec.samples}, {"cycles", spec.cycles}, {"devices_per_cycle", spec.devicesPerCycle}};
    const auto summary = runSweep(jobs, columns, measure, run);
    if (summary.failed) throw std::runtime_error("memristor fits: " + std::to_string(summary.failed) + " job(s) failed, see " + summary.dir.string());

    MemristorFitsReport rep;
    std::vector<double> d2d, diffs;
    fitMemristorReads(summary, spec, Vread, rep, d2d, diffs);

    writeMemristorFitsFiles(spec, run, summary, d2d, diffs, rep);
    plotMemristorFits(rep, d2d, diffs);
    return rep;
}

}  // namespace imc::characterize
