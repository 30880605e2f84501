#include "characterize/rram.hpp"

#include "characterize/memristor.hpp"  // subRun
#include "fit/level_errors.hpp"
#include "variability/variability.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace imc::characterize {

namespace fs = std::filesystem;
using netlist::formatSI;
using nlohmann::json;

namespace {

// Streams of the variability sources (Purpose::User + k), beside D2D (programming attempts),
// Readout (read noise).
constexpr auto kRelaxationStream = variability::Purpose(std::uint64_t(variability::Purpose::User) + 1);
constexpr auto kMismatchStream = variability::Purpose(std::uint64_t(variability::Purpose::User) + 2);
constexpr auto kColumnDataStream = variability::Purpose(std::uint64_t(variability::Purpose::User) + 3);

// Experiments: isolated devices and column cells never share a stream.
constexpr std::uint64_t kDeviceSample = 0, kColumnSample = 1;

std::string nm(const char* prefix, int a) { return prefix + std::to_string(a); }
std::string nm(const char* prefix, int a, int b) { return prefix + std::to_string(a) + "_" + std::to_string(b); }

// A fits record as a plain JSON value, for nesting one inside another's spread.
json recordJson(const fit::FitRecord& r) { return json::parse(fit::toJson(r).dump()); }

double get(const Row& r, const std::string& key) {
    auto it = r.values.find(key);
    if (it == r.values.end()) throw std::runtime_error("rram: results row " + r.job + " has no column " + key);
    return it->second;
}

}  // namespace

Retention parseRetention(const std::string& text) {
    if (text == "1s") return Retention::OneSecond;
    if (text == "1day") return Retention::OneDay;
    if (text == "2day") return Retention::TwoDays;
    throw std::invalid_argument("retention '" + text + "' is unknown (1s, 1day, 2day)");
}

const char* toString(Retention r) {
    switch (r) {
        case Retention::OneSecond: return "1s";
        case Retention::OneDay: return "1day";
        case Retention::TwoDays: return "2day";
    }
    return "?";
}

double retentionTime_s(Retention r) {
    switch (r) {
        case Retention::OneSecond: return 1.0;
        case Retention::OneDay: return 86400.0;
        case Retention::TwoDays: return 172800.0;
    }
    return 0;
}

double wanRelaxationStd_S(double G_target_S, double G_max_S, Retention r) {
    // Coefficients c0..c4 (uS) of sum c_i x^i, x = G / G_max, for a 40 uS window (Wan et al. 2022
    // as fitted in aihwkit's ReRamWan2022NoiseModel).
    static constexpr double kPoly[3][5] = {{0.348, 16.030, -43.853, 45.393, -16.815},
                                           {0.701, 22.086, -50.773, 47.095, -16.458},
                                           {0.782, 20.274, -43.507, 37.062, -11.934}};
    const double* c = kPoly[int(r)];
    const double x = G_target_S / G_max_S;
    double s_uS = 0, p = 1;
    for (int i = 0; i < 5; ++i, p *= x) s_uS += c[i] * p;
    return std::max(s_uS, 0.0) * 1e-6 * (G_max_S / 40e-6);
}

int RramLevelsSpec::bitsPerCell() const { return std::bit_width(unsigned(levels - 1)); }

int RramLevelsSpec::effectiveAdcBits() const {
    if (adcBits > 0) return adcBits;
    return std::bit_width(unsigned(rows - 1)) + bitsPerCell() - 1;  // ceil(log2 rows) + w - 1
}

void RramLevelsSpec::validate() const {
    auto fail = [](const std::string& field, const std::string& what) { throw std::invalid_argument("rram: " + field + " " + what); };
    if (levels != 2 && levels != 4) fail("levels", "must be 2 or 4, got " + std::to_string(levels));
    if (!(R_on_Ohm > 0) || !(onOff > 1)) fail("R_on_Ohm/onOff", "must be > 0 and > 1");
    if (!(read_V > 0) || !(wordLine_V > 0)) fail("read_V/wordLine_V", "must be > 0");
    if (!(programSigma >= 0) || !(verifyWindow_lsb > 0) || verifyCap < 1) fail("program-and-verify", "needs sigma >= 0, window > 0, cap >= 1");
    if (!(readNoise_rel >= 0)) fail("readNoise_rel", "must be >= 0");
    if (devicesPerLevel < 2 || devicesPerJob < 1) fail("devicesPerLevel", "must be >= 2 (and devicesPerJob >= 1)");
    if (rows < 1 || columnReads < 0 || columnsPerJob < 1) fail("rows/columnReads", "must be >= 1 / >= 0");
    if (!(wire_Ohm > 0)) fail("wire_Ohm", "must be > 0");
    if (!(inputDensity >= 0 && inputDensity <= 1)) fail("inputDensity", "must lie in [0, 1]");
    if (conductanceParam.empty()) fail("conductanceParam", "must name the cell's conductance parameter");
    cell.validate({"bl", "wl", "sl"});
}

RramLevelsSpec defaultRramSpec(int levels) {
    RramLevelsSpec s;
    s.cell = circuits::builtinCell("rram1t1r");
    s.levels = levels;
    return s;
}

ProgrammedCell programCell(const RramLevelsSpec& spec, int level, std::uint64_t sample, std::uint64_t device) {
    const double target = spec.G_target_S(level), window = spec.verifyWindow_lsb * spec.G_lsb_S();
    variability::Stream attempts({spec.seed, variability::Purpose::DeviceToDevice, sample, device, 0});
    ProgrammedCell c;
    for (c.attempts = 1; c.attempts <= spec.verifyCap; ++c.attempts) {
        c.G_S = target * std::exp(spec.programSigma * attempts.normal());
        if (std::abs(c.G_S - target) <= window) {
            c.verified = true;
            break;
        }
    }
    c.attempts = std::min(c.attempts, spec.verifyCap);
    variability::Stream relax({spec.seed, kRelaxationStream, sample, device, 0});
    c.G_S += wanRelaxationStd_S(target, spec.G_on_S(), spec.retention) * relax.normal();
    c.G_S = std::max(c.G_S, spec.G_floor_S);
    return c;
}

double readConductance_S(const RramLevelsSpec& spec, double G_programmed_S, std::uint64_t sample, std::uint64_t device,
                         std::uint64_t read) {
    variability::Stream noise({spec.seed, variability::Purpose::Readout, sample, device, read});
    return std::max(G_programmed_S + spec.readNoise_rel * spec.G_on_S() * noise.normal(), spec.G_floor_S);
}

double accessMismatch_V(const RramLevelsSpec& spec, std::uint64_t sample, std::uint64_t device) {
    if (spec.mismatchParam.empty() || spec.A_vt_Vm == 0) return 0;
    variability::Stream s({spec.seed, kMismatchStream, sample, device, 0});
    return s.normal(0, variability::pelgromSigma(spec.A_vt_Vm, spec.accessW_m, spec.accessL_m));
}

namespace {
std::map<std::string, std::string> cellParams(const RramLevelsSpec& spec, double G_S, double dvt_V) {
    std::map<std::string, std::string> p{{spec.conductanceParam, formatSI(G_S)}};
    if (!spec.mismatchParam.empty()) p[spec.mismatchParam] = formatSI(dvt_V);
    return p;
}
}  // namespace

netlist::Circuit buildRramDeviceRead(const RramLevelsSpec& spec, const std::vector<double>& G_S, const std::vector<double>& dvt_V) {
    using namespace netlist;
    if (G_S.size() != dvt_V.size()) throw std::invalid_argument("rram device read: one mismatch per device");
    Circuit c("isolated " + spec.cell.subckt + " cells read at " + formatSI(spec.read_V) + " V, word line " + formatSI(spec.wordLine_V) + " V");
    c.comment("device k: bit line rd -> cell -> vdev<k> (0 V) -> ground; i(vdev<k>) is its read current");
    spec.cell.includeInto(c);
    c.add(VoltageSource{"read", "rd", "0", Dc{spec.read_V}});
    c.add(VoltageSource{"wl", "won", "0", Dc{spec.wordLine_V}});
    for (int k = 0; k < int(G_S.size()); ++k) {
        c.add(spec.cell.instance(nm("d", k), {{"bl", "rd"}, {"wl", "won"}, {"sl", nm("s", k)}}, cellParams(spec, G_S[k], dvt_V[k])));
        c.add(VoltageSource{nm("dev", k), nm("s", k), "0", Dc{0.0}});
    }
    c.option("klu");
    c.analysis(OpAnalysis{});
    return c;
}

netlist::Circuit buildRramColumns(const RramLevelsSpec& spec, const std::vector<RramColumn>& columns,
                                  std::optional<double> accessResistor_Ohm) {
    using namespace netlist;
    Circuit c(std::to_string(columns.size()) + " columns of " + std::to_string(spec.rows) + " " + spec.cell.subckt + " cells");
    c.comment("column c: rd -> bit line (wire per row) -> cells -> source line (wire per row) -> vsl<c> (0 V virtual ground)");
    if (!accessResistor_Ohm) spec.cell.includeInto(c);
    c.add(VoltageSource{"read", "rd", "0", Dc{spec.read_V}});
    c.add(VoltageSource{"wl", "won", "0", Dc{spec.wordLine_V}});
    const Resistance wire(spec.wire_Ohm);
    for (int j = 0; j < int(columns.size()); ++j) {
        const RramColumn& col = columns[std::size_t(j)];
        if (int(col.G_S.size()) != spec.rows || int(col.input.size()) != spec.rows || int(col.dvt_V.size()) != spec.rows)
            throw std::invalid_argument("rram column " + std::to_string(j) + ": needs " + std::to_string(spec.rows) + " cells and inputs");
        for (int r = 0; r < spec.rows; ++r) {
            c.add(Resistor{nm("b", j, r), r == 0 ? std::string("rd") : nm("b", j, r - 1), nm("b", j, r), wire});
            c.add(Resistor{nm("s", j, r), nm("s", j, r), r + 1 < spec.rows ? nm("s", j, r + 1) : nm("g", j), wire});
            if (accessResistor_Ohm) {
                if (!col.input[std::size_t(r)]) continue;
                c.add(Resistor{nm("m", j, r), nm("b", j, r), nm("d", j, r), Resistance(1.0 / col.G_S[std::size_t(r)])});
                c.add(Resistor{nm("a", j, r), nm("d", j, r), nm("s", j, r), Resistance(*accessResistor_Ohm)});
            } else {
                const std::string gate = col.input[std::size_t(r)] ? "won" : "0";
                c.add(spec.cell.instance(nm("c", j, r), {{"bl", nm("b", j, r)}, {"wl", gate}, {"sl", nm("s", j, r)}},
                                         cellParams(spec, col.G_S[std::size_t(r)], col.dvt_V[std::size_t(r)])));
            }
        }
        c.add(VoltageSource{nm("sl", j), nm("g", j), "0", Dc{0.0}});
    }
    c.option("klu");
    c.analysis(OpAnalysis{});
    return c;
}

RramColumn drawRramColumn(const RramLevelsSpec& spec, std::uint64_t column) {
    variability::Stream data({spec.seed, kColumnDataStream, kColumnSample, column, 0});
    RramColumn col;
    for (int r = 0; r < spec.rows; ++r) {
        const std::uint64_t device = column * std::uint64_t(spec.rows) + std::uint64_t(r);
        const int level = std::min(int(data.uniform() * spec.levels), spec.levels - 1);
        col.level.push_back(level);
        col.input.push_back(data.uniform() < spec.inputDensity ? 1 : 0);
        col.G_S.push_back(readConductance_S(spec, programCell(spec, level, kColumnSample, device).G_S, kColumnSample, device, 0));
        col.dvt_V.push_back(accessMismatch_V(spec, kColumnSample, device));
    }
    return col;
}

// ---------------------------------------------------------------- the sweeps

namespace {

json specParameters(const RramLevelsSpec& s) {
    return {{"cell", s.cell.subckt},
            {"levels", s.levels},
            {"R_on_Ohm", s.R_on_Ohm},
            {"on_off", s.onOff},
            {"read_V", s.read_V},
            {"word_line_V", s.wordLine_V},
            {"access_W_m", s.accessW_m},
            {"access_L_m", s.accessL_m},
            {"variability",
             {{"program_and_verify", {{"distribution", "lognormal around the target, median G_target"}, {"sigma", s.programSigma},
                                      {"window_lsb", s.verifyWindow_lsb}, {"iteration_cap", s.verifyCap},
                                      {"source", "assumption: a verify window of +-10 % of a level step"}}},
              {"relaxation", {{"retention", toString(s.retention)}, {"retention_s", retentionTime_s(s.retention)},
                              {"model", "additive Gaussian, std = (G_on / 40 uS) * poly(G_target / G_on) uS"},
                              {"source", "Wan et al., Nature 608, 504 (2022), as fitted by IBM aihwkit ReRamWan2022NoiseModel"}}},
              {"read_noise", {{"std_rel_G_on", s.readNoise_rel}, {"per", "read"},
                              {"source", "aihwkit's suggested short-term read noise, about 1 % of the range, additive"}}},
              {"access_mismatch", {{"param", s.mismatchParam}, {"A_vt_Vm", s.A_vt_Vm},
                                   {"source", "Pelgrom, sigma = A_vt / sqrt(W L), A_vt as for the gain cell"}}},
              {"G_floor_S", s.G_floor_S}}},
            {"devices_per_level", s.devicesPerLevel},
            {"rows", s.rows},
            {"column_reads", s.columnReads},
            {"wire_Ohm", s.wire_Ohm},
            {"input_density", s.inputDensity},
            {"adc_bits", s.effectiveAdcBits()}};
}

struct DeviceReads {
    std::vector<std::vector<double>> read_S, element_S;  // per level
    double attempts = 0, unverified = 0, floored = 0, count = 0;
    RunSummary run;
};

DeviceReads readDevices(const RramLevelsSpec& spec, const RunSpec& base) {
    std::vector<PlannedJob> jobs;
    int widest = 0;
    for (int level = 0; level < spec.levels; ++level)
        for (int first = 0; first < spec.devicesPerLevel; first += spec.devicesPerJob) {
            const int count = std::min(spec.devicesPerJob, spec.devicesPerLevel - first);
            std::vector<double> G, dvt;
            for (int k = 0; k < count; ++k) {
                const std::uint64_t device = std::uint64_t(level) * std::uint64_t(spec.devicesPerLevel) + std::uint64_t(first + k);
                G.push_back(readConductance_S(spec, programCell(spec, level, kDeviceSample, device).G_S, kDeviceSample, device, 0));
                dvt.push_back(accessMismatch_V(spec, kDeviceSample, device));
            }
            PlannedJob j;
            j.sim.id = "devices_l" + std::to_string(level) + "_d" + std::to_string(first);
            j.sim.deck = netlist::writeDeck(buildRramDeviceRead(spec, G, dvt));
            for (int k = 0; k < count; ++k) j.sim.vectors.push_back("i(vdev" + std::to_string(k) + ")");
            j.point = {{"level", double(level)}, {"first_device", double(first)}, {"devices", double(count)}};
            jobs.push_back(std::move(j));
            widest = std::max(widest, count);
        }
    const std::vector<std::string> columns = deviceCurrentColumns(widest);
    const Measure measure = measureDeviceCurrents;
    DeviceReads d;
    d.run = runSweep(jobs, columns, measure, subRun(base, base.name + "-devices"));
    if (d.run.failed) throw std::runtime_error("rram devices: " + std::to_string(d.run.failed) + " job(s) failed, see " + d.run.dir.string());
    d.read_S.resize(std::size_t(spec.levels)), d.element_S.resize(std::size_t(spec.levels));
    for (const auto& row : d.run.rows) {
        const int level = int(get(row, "level")), first = int(get(row, "first_device")), count = int(get(row, "devices"));
        for (int k = 0; k < count; ++k) {
            const std::uint64_t device = std::uint64_t(level) * std::uint64_t(spec.devicesPerLevel) + std::uint64_t(first + k);
            const ProgrammedCell p = programCell(spec, level, kDeviceSample, device);
            d.read_S[std::size_t(level)].push_back(get(row, "i_dev" + std::to_string(k) + "_A") / spec.read_V);
            d.element_S[std::size_t(level)].push_back(readConductance_S(spec, p.G_S, kDeviceSample, device, 0));
            d.attempts += p.attempts, d.unverified += !p.verified, d.floored += p.G_S <= spec.G_floor_S, d.count += 1;
        }
    }
    return d;
}

void reduceLevels(const DeviceReads& d, RramLevelsReport& rep) {
    const RramLevelsSpec& spec = rep.spec;
    std::vector<double> mean, std;
    for (int i = 0; i < spec.levels; ++i) {
        const auto& g = d.read_S[std::size_t(i)];
        RramLevelStats s;
        s.target_S = spec.G_target_S(i);
        s.gaussian = fit::fitGaussian(g);
        if (std::all_of(g.begin(), g.end(), [](double x) { return x > 0; })) s.lognormal = fit::fitLognormal(g);
        s.mean_S = s.gaussian.mean, s.std_S = s.gaussian.std;
        // Ratio of means: a per-device ratio is dominated by floored devices, whose read is mostly gate leakage.
        double elem = 0;
        for (double e : d.element_S[std::size_t(i)]) elem += e;
        s.elementMean_S = elem / double(g.size());
        s.compression = 1 - s.mean_S / s.elementMean_S;
        if (i > 0) s.sigmaEta = s.std_S / (s.target_S - spec.G_target_S(0));
        rep.level.push_back(s);
        mean.push_back(s.mean_S), std.push_back(s.std_S);
    }
    double pooled = 0;
    for (int i = 1; i < spec.levels; ++i) pooled += rep.level[std::size_t(i)].sigmaEta * rep.level[std::size_t(i)].sigmaEta;
    rep.sigmaEta = std::sqrt(pooled / (spec.levels - 1));
    rep.level0StdLsb = rep.level[0].std_S / spec.G_lsb_S();
    rep.serGauss = fit::gaussianSymbolErrorRate(mean, std);
    rep.berGauss = fit::gaussianBitErrorRate(mean, std);
    // Empirical: each read decided by the nearest measured level mean.
    double symbolErrors = 0, bitErrors = 0, n = 0;
    for (int i = 0; i < spec.levels; ++i)
        for (double g : d.read_S[std::size_t(i)]) {
            int j = 0;
            while (j + 1 < spec.levels && g > 0.5 * (mean[std::size_t(j)] + mean[std::size_t(j + 1)])) ++j;
            symbolErrors += j != i, bitErrors += std::popcount(unsigned(i ^ j)), n += 1;
        }
    rep.ser = symbolErrors / n;
    rep.ber = bitErrors / (n * spec.bitsPerCell());
    rep.meanAttempts = d.attempts / d.count, rep.verifyFailRate = d.unverified / d.count, rep.flooredRate = d.floored / d.count;
}

void readColumns(const RramLevelsSpec& spec, const RunSpec& base, RramLevelsReport& rep) {
    rep.adcMaxCode = (1 << spec.effectiveAdcBits()) - 1;
    rep.fullScaleSum = spec.rows * (spec.levels - 1);
    if (spec.columnReads == 0) return;
    std::vector<PlannedJob> jobs;
    for (int first = 0; first < spec.columnReads; first += spec.columnsPerJob) {
        const int count = std::min(spec.columnsPerJob, spec.columnReads - first);
        PlannedJob j;
        j.sim.id = "columns_" + std::to_string(first);
        j.makeDeck = [spec, first, count] {
            std::vector<RramColumn> cols;
            for (int c = 0; c < count; ++c) cols.push_back(drawRramColumn(spec, std::uint64_t(first + c)));
            return netlist::writeDeck(buildRramColumns(spec, cols));
        };
        for (int c = 0; c < count; ++c) j.sim.vectors.push_back("i(vsl" + std::to_string(c) + ")");
        j.point = {{"first_column", double(first)}, {"columns", double(count)}};
        jobs.push_back(std::move(j));
    }
    std::vector<std::string> names;
    for (int c = 0; c < std::min(spec.columnsPerJob, spec.columnReads); ++c) names.push_back("i_col" + std::to_string(c) + "_A");
    const Measure measure = [](const PlannedJob& job, const spice::SimResult& r) {
        std::vector<std::pair<std::string, double>> out;
        for (std::size_t c = 0; c < job.sim.vectors.size(); ++c) out.emplace_back("i_col" + std::to_string(c) + "_A", r.vec(job.sim.vectors[c])[0]);
        return out;
    };
    const RunSummary run = runSweep(jobs, names, measure, subRun(base, base.name + "-columns"));
    if (run.failed) throw std::runtime_error("rram columns: " + std::to_string(run.failed) + " job(s) failed, see " + run.dir.string());
    rep.columnsDir = run.dir;
    struct Read { double I_A; int on, ideal; };
    std::vector<Read> reads;
    for (const auto& row : run.rows) {
        const int first = int(get(row, "first_column")), count = int(get(row, "columns"));
        for (int c = 0; c < count; ++c) {
            const RramColumn col = drawRramColumn(spec, std::uint64_t(first + c));
            Read rd{get(row, "i_col" + std::to_string(c) + "_A"), 0, 0};
            for (int r = 0; r < spec.rows; ++r) rd.on += col.input[std::size_t(r)], rd.ideal += col.input[std::size_t(r)] * col.level[std::size_t(r)];
            reads.push_back(rd);
        }
    }
    rep.columnReads = reads.size();
    // An ADC with a per-active-row offset and a code step: code = clamp(round((I - on offset) / lsb)).
    auto adc = [&](double offset_A, double lsb_A, AdcOutcome& out) {
        out.offsetPerRow_A = offset_A, out.lsb_A = lsb_A;
        double clipped = 0, errors = 0, absError = 0;
        for (const Read& rd : reads) {
            const long raw = std::lround((rd.I_A - rd.on * offset_A) / lsb_A);
            const long code = std::clamp(raw, 0L, long(rep.adcMaxCode));
            const long expect = std::min(rd.ideal, rep.adcMaxCode);
            clipped += raw > rep.adcMaxCode, errors += code != expect, absError += double(std::labs(code - expect));
        }
        const double n = double(reads.size());
        out.clipRate = clipped / n, out.codeErrorRate = errors / n, out.meanAbsError_lsb = absError / n;
    };
    // Calibrated on the isolated-device means (ignores the wires' IR drop).
    const double g0 = rep.level.front().mean_S, step = (rep.level.back().mean_S - g0) / (spec.levels - 1);
    adc(g0 * spec.read_V, step * spec.read_V, rep.adcDevice);
    // Calibrated on the columns themselves: least squares I = offset on + lsb ideal (known test patterns).
    Eigen::MatrixXd design(Eigen::Index(reads.size()), 2);
    Eigen::VectorXd current(Eigen::Index(reads.size()));
    for (Eigen::Index k = 0; k < design.rows(); ++k)
        design(k, 0) = reads[std::size_t(k)].on, design(k, 1) = reads[std::size_t(k)].ideal, current[k] = reads[std::size_t(k)].I_A;
    const auto ls = fit::fitLinearLeastSquares(design, current);
    if (ls.full_rank() && ls.coefficients[1] > 0) adc(ls.coefficients[0], ls.coefficients[1], rep.adcColumn);
    else rep.adcColumn = rep.adcDevice;
}

}  // namespace

RramLevelsReport runRramLevels(const RramLevelsSpec& spec, const RunSpec& base) {
    spec.validate();
    RramLevelsReport rep;
    rep.spec = spec;
    RunSpec run = base;
    if (run.name.empty()) run.name = spec.levels == 2 ? "rram-slc" : "rram-mlc";
    run.seed = spec.seed;
    run.parameters = specParameters(spec);
    const DeviceReads d = readDevices(spec, run);
    rep.devicesDir = d.run.dir, rep.ngspiceVersion = d.run.ngspiceVersion, rep.netlistHash = d.run.netlistHash;
    reduceLevels(d, rep);
    readColumns(spec, run, rep);
    return rep;
}

// ---------------------------------------------------------------- report and fits

json AdcOutcome::toJson() const {
    return {{"offset_per_row_A", offsetPerRow_A}, {"lsb_A", lsb_A}, {"clip_rate", clipRate}, {"code_error_rate", codeErrorRate},
            {"mean_abs_code_error", meanAbsError_lsb}};
}

json RramLevelsReport::toJson() const {
    json levelsJson = json::array();
    for (std::size_t i = 0; i < level.size(); ++i) {
        const auto& s = level[i];
        levelsJson.push_back({{"level", i}, {"G_target_S", s.target_S}, {"G_element_mean_S", s.elementMean_S}, {"G_mean_S", s.mean_S},
                              {"G_std_S", s.std_S}, {"sigma_eta", s.sigmaEta}, {"compression", s.compression}, {"n", s.gaussian.n},
                              {"gaussian_ks_p", s.gaussian.ks_p}, {"lognormal_ks_p", s.lognormal ? json(s.lognormal->ks_p) : json()}});
    }
    return {{"levels", spec.levels},
            {"retention", toString(spec.retention)},
            {"per_level", levelsJson},
            {"sigma_eta", sigmaEta},
            {"level0_std_lsb", level0StdLsb},
            {"ber", ber},
            {"ser", ser},
            {"ber_gauss", berGauss},
            {"ser_gauss", serGauss},
            {"top_level_compression", level.back().compression},
            {"program_verify", {{"mean_attempts", meanAttempts}, {"unverified_rate", verifyFailRate}, {"floored_rate", flooredRate}}},
            {"columns", {{"reads", columnReads}, {"rows", spec.rows}, {"wire_Ohm", spec.wire_Ohm}, {"adc_bits", spec.effectiveAdcBits()},
                         {"adc_max_code", adcMaxCode}, {"full_scale_sum", fullScaleSum}, {"adc_clip_rate", adcColumn.clipRate},
                         {"code_error_rate", adcColumn.codeErrorRate}, {"input_density", spec.inputDensity},
                         {"adc_column_calibrated", adcColumn.toJson()}, {"adc_device_calibrated", adcDevice.toJson()},
                         {"column_gain", adcDevice.lsb_A > 0 ? adcColumn.lsb_A / adcDevice.lsb_A : 0.0}}},
            {"results", {{"devices", devicesDir.string()}, {"columns", columnsDir.string()}}},
            {"ngspice_version", ngspiceVersion}};
}

fit::FitRecord RramLevelsReport::toFit(const std::string& command) const {
    fit::FitRecord f;
    f.model = "rram-levels";
    f.description = std::string(spec.levels == 2 ? "SLC" : "2-bit MLC") + " 1T1R RRAM cell (" + spec.cell.subckt +
                    ") read in SPICE after program-and-verify and " + toString(spec.retention) +
                    " relaxation, read noise included: per-level conductance G = I / V_read, error rates of a "
                    "nearest-level decision, and the 64-row column ADC";
    auto& c = f.coefficients;
    auto& u = f.units;
    c["levels"] = spec.levels, u["levels"] = "1";
    c["bits_per_cell"] = spec.bitsPerCell(), u["bits_per_cell"] = "bit";
    c["rows"] = spec.rows, u["rows"] = "1";
    c["adc_bits"] = spec.effectiveAdcBits(), u["adc_bits"] = "bit";
    c["read_V"] = spec.read_V, u["read_V"] = "V";
    c["G_lsb_S"] = spec.G_lsb_S(), u["G_lsb_S"] = "S";
    double sMin = 1e300, sMax = 0;
    for (std::size_t i = 0; i < level.size(); ++i) {
        const std::string k = std::to_string(i);
        c["G_target_" + k + "_S"] = level[i].target_S, u["G_target_" + k + "_S"] = "S";
        c["G_mean_" + k + "_S"] = level[i].mean_S, u["G_mean_" + k + "_S"] = "S";
        c["G_std_" + k + "_S"] = level[i].std_S, u["G_std_" + k + "_S"] = "S";
        if (i > 0) c["sigma_eta_" + k] = level[i].sigmaEta, u["sigma_eta_" + k] = "1";
        sMin = std::min(sMin, level[i].mean_S - 6 * level[i].std_S), sMax = std::max(sMax, level[i].mean_S + 6 * level[i].std_S);
    }
    c["sigma_eta"] = sigmaEta, u["sigma_eta"] = "1";
    c["level0_std_lsb"] = level0StdLsb, u["level0_std_lsb"] = "LSB";
    c["ber"] = ber, u["ber"] = "1";
    c["ser"] = ser, u["ser"] = "1";
    c["ber_gauss"] = berGauss, u["ber_gauss"] = "1";
    c["ser_gauss"] = serGauss, u["ser_gauss"] = "1";
    c["adc_clip_rate"] = adcColumn.clipRate, u["adc_clip_rate"] = "1";
    f.validity = {{"G_S", {std::max(sMin, 0.0), sMax}}, {"read_V", {spec.read_V, spec.read_V}},
                  {"retention_s", {retentionTime_s(spec.retention), retentionTime_s(spec.retention)}},
                  {"rows", {double(spec.rows), double(spec.rows)}}};
    f.quality.n = level.front().gaussian.n * level.size();
    double worstKs = 1;
    json perLevel = json::array();
    for (std::size_t i = 0; i < level.size(); ++i) {
        worstKs = std::min(worstKs, level[i].gaussian.ks_p);
        json entry = {{"level", i}, {"gaussian", recordJson(fit::gaussianRecord(level[i].gaussian, "S"))},
                      {"compression", level[i].compression}, {"G_element_mean_S", level[i].elementMean_S}};
        if (level[i].lognormal) entry["lognormal"] = recordJson(fit::lognormalRecord(*level[i].lognormal, "S"));
        perLevel.push_back(entry);
    }
    f.quality.extra = {{"min_gaussian_ks_p", worstKs}, {"column_reads", columnReads}};
    f.spread = {{"per_level", perLevel},
                {"top_level_compression", level.back().compression},
                {"top_level_compression_meaning", "1 - mean(G_read) / mean(G_element): the access transistor's series resistance"},
                {"program_verify", {{"mean_attempts", meanAttempts}, {"unverified_rate", verifyFailRate}, {"floored_rate", flooredRate}}},
                {"adc", {{"max_code", adcMaxCode}, {"full_scale_sum", fullScaleSum}, {"column_reads", columnReads},
                         {"wire_Ohm", spec.wire_Ohm}, {"input_density", spec.inputDensity},
                         {"column_calibrated", adcColumn.toJson()}, {"device_calibrated", adcDevice.toJson()},
                         {"adc_clip_rate_is", "column_calibrated.clip_rate: reads whose code exceeds max_code"}}}};
    f.provenance.generator = "imc characterize rram-mlc";
    f.provenance.parameters = specParameters(spec);
    f.provenance.netlist_sha256 = netlistHash;
    f.provenance.seed = spec.seed;
    f.provenance.samples = std::uint64_t(spec.devicesPerLevel) * std::uint64_t(spec.levels);
    f.provenance.ngspice_version = ngspiceVersion;
    f.provenance.created_utc = fit::currentUtcTimestamp();
    f.provenance.command = command;
    f.provenance.extra = {{"results", {{"devices", devicesDir.string()}, {"columns", columnsDir.string()}}},
                          {"retention", toString(spec.retention)}};
    return f;
}

}  // namespace imc::characterize
