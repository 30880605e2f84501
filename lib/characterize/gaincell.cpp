#include "characterize/gaincell.hpp"
#include "characterize/waveform.hpp"

#include "fit/fit.hpp"
#include "netlist/netlist.hpp"
#include "report/plot.hpp"
#include "variability/variability.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace imc::characterize {
namespace fs = std::filesystem;
using nlohmann::json;
using circuits::InstanceParams;

namespace {

RunSpec subRun(const std::string& name, const GainCellRunOptions& o, std::uint64_t seed, const json& parameters) {
    RunSpec s;
    s.name = name;
    if (!o.outDir.empty()) s.outDir = o.outDir / name;
    s.seed = seed;
    s.workers = o.workers;
    s.force = o.force;
    s.progress = o.progress;
    s.parameters = parameters;
    return s;
}

fit::FitProvenance provenance(const std::string& generator, const RunSummary& run, const json& parameters,
                              std::uint64_t seed, int samples, const GainCellRunOptions& o) {
    return fit::fitProvenance(generator, o.command, parameters, std::uint64_t(samples), seed, run.netlistHash,
                              run.ngspiceVersion);
}

// Writes `record` as <dir>/<file> and, when asked, into the fits folder too.
std::vector<fs::path> writeRecord(const fit::FitRecord& record, const fs::path& dir, const std::string& file,
                                  const GainCellRunOptions& o) {
    std::vector<fs::path> out;
    fs::create_directories(dir);
    fit::writeFit((dir / file).string(), record);
    out.push_back(dir / file);
    if (!o.fitsOut.empty()) {
        fs::create_directories(o.fitsOut);
        fit::writeFit((o.fitsOut / file).string(), record);
        out.push_back(o.fitsOut / file);
    }
    return out;
}

double mean(const std::vector<double>& v) { return fit::sampleMean(v); }
double stddev(const std::vector<double>& v) { return fit::sampleStd(v); }

// A number as a person writes it in a sentence (0.9, 0.45, 0.3).
std::string plain(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

std::string key(const std::string& base, std::size_t i) { return base + "_" + std::to_string(i); }

// "V<p>_<c>": built by appending (GCC 12 warns falsely on "V" + std::to_string(p)).
std::string probeKey(std::size_t p, std::size_t c) {
    std::string k = "V";
    k += std::to_string(p);
    return key(k, c);
}

}  // namespace

// ================================================================ gain cell

namespace {

// One deck per (sample, V_in) holding one independent cell per (K, Q) (pure).
std::vector<PlannedJob> planGainCellReads(const GainCellSweep& sw, const std::vector<double>& cellK, const std::vector<double>& cellQ) {
    const std::size_t nCells = cellK.size();
    std::vector<PlannedJob> jobs;
    for (int s = 0; s < sw.samples; ++s) {
        const InstanceParams p = sw.params ? sw.params(std::uint64_t(s)) : InstanceParams{};
        for (std::size_t v = 0; v < sw.V_in_V.size(); ++v) {
            circuits::CellReadBench b = sw.bench;
            b.K_V = cellK, b.Q_s = cellQ, b.V_in_V = sw.V_in_V[v];
            b.params.assign(nCells, p);
            PlannedJob pj;
            pj.sim.id = sw.name + "_s" + std::to_string(s) + "_vin" + netlist::formatSI(sw.V_in_V[v]);
            pj.sim.deck = netlist::writeDeck(circuits::cellReadCircuit(sw.cell, b));
            pj.sim.vectors = circuits::cellReadVectors(b);
            pj.point = {{"sample", s}, {"V_in_V", sw.V_in_V[v]}};
            jobs.push_back(std::move(pj));
        }
    }
    return jobs;
}

// The polynomial fits: over every V_in (eq. 4) when the sweep has enough of them, at the nominal
// V_in, and per Monte-Carlo sample at the nominal V_in for the coefficients' spread.
void fitGainCellPoints(const GainCellSweep& sw, GainCellResult& res) {
    auto fitOf = [&](auto keep) {
        std::vector<double> Q, K, S, V;
        for (const auto& p : res.points)
            if (keep(p)) Q.push_back(p.Q_ns), K.push_back(p.K_V), S.push_back(p.S_fC), V.push_back(p.V_in_V);
        return fit::fitGainCellPolynomial(Q, K, S, V, sw.K_offset_V);
    };
    const double nominal = sw.nominal_V_in_V;
    auto isNominal = [nominal](const GainCellPoint& p) { return std::abs(p.V_in_V - nominal) < 1e-9; };
    bool haveNominal = false;
    for (const auto& p : res.points) haveNominal |= isNominal(p);
    if (!haveNominal) throw std::runtime_error(sw.name + ": the sweep has no V_in = " + netlist::formatSI(nominal) + " V point");
    std::set<double> vins;
    for (const auto& p : res.points) vins.insert(p.V_in_V);
    if (vins.size() >= 4) res.full = fitOf([](const GainCellPoint&) { return true; });
    res.nominal = fitOf(isNominal);
    std::map<std::string, std::vector<double>> perCoefficient;
    if (sw.samples > 1)
        for (int s = 0; s < sw.samples; ++s) {
            res.perSample.push_back(fitOf([&](const GainCellPoint& p) { return p.sample == s && isNominal(p); }));
            for (const auto& [name, v] : res.perSample.back().coefficients) perCoefficient[name].push_back(v);
        }
    for (const auto& [name, v] : perCoefficient) res.coefficientStd[name] = stddev(v);

}

// The records: the nominal fit with its Monte-Carlo spread (per coefficient, and per stored level
// at the longest pulse, in the fC/ns the behavioral model reads), and the fit over every V_in.
void buildGainCellRecords(const GainCellSweep& sw, const GainCellRunOptions& o, GainCellResult& res) {
    const double nominal = sw.nominal_V_in_V;
    auto isNominal = [nominal](const GainCellPoint& p) { return std::abs(p.V_in_V - nominal) < 1e-9; };
    // Per-level output spread at the longest pulse (device to device, nominal V_in).
    const double Qmax_ns = *std::max_element(sw.Q_s.begin(), sw.Q_s.end()) * 1e9;
    json levels = json::array(), means = json::array(), stds = json::array();
    for (double k : sw.K_V) {
        std::vector<double> s;
        for (const auto& p : res.points)
            if (isNominal(p) && p.K_V == k && std::abs(p.Q_ns - Qmax_ns) < 1e-9) s.push_back(p.S_fC);
        levels.push_back(k), means.push_back(mean(s)), stds.push_back(stddev(s));
    }

    const auto [Kmin, Kmax] = std::minmax_element(sw.K_V.begin(), sw.K_V.end());
    const auto [Qmin, Qmax] = std::minmax_element(sw.Q_s.begin(), sw.Q_s.end());
    const auto prov = provenance("imc characterize gaincell (" + sw.cell.subckt + ")", res.run, sw.parameters, sw.seed,
                                 sw.samples, o);
    const fit::Range K_range{*Kmin, *Kmax}, Q_range{*Qmin * 1e9, *Qmax * 1e9};
    res.record = fit::gainCellPolyRecord(res.nominal, "fC", "ns", Q_range, K_range, {nominal, nominal});
    res.record.description = "S = Q * sum_i D_i (K - K_offset)^i at V_in = " + netlist::formatSI(nominal) +
                             " V (paper 002 eq. 4 folded at the array's read voltage, D_i = sum_j C_i_j V_in^j); S is the "
                             "bit-line charge in fC, Q the PWM pulse width in ns, K the stored voltage in V";
    res.record.spread = json::object();
    if (!res.coefficientStd.empty()) res.record.spread["coefficient_std"] = res.coefficientStd;
    // The behavioral model multiplies this per-cell spread by each read's pulse length in Q units,
    // so it is stored per ns of pulse (fC/ns): the spread of S at the longest pulse / its length.
    json noiseStd = json::array(), noiseMean = json::array();
    for (std::size_t k = 0; k < stds.size(); ++k)
        noiseStd.push_back(stds[k].get<double>() / Qmax_ns), noiseMean.push_back(means[k].get<double>() / Qmax_ns);
    res.record.spread["readout_noise"] = {
        {"levels", levels}, {"levels_unit", "V"}, {"std", noiseStd}, {"mean", noiseMean}, {"unit", "fC/ns"},
        {"Q_ns", Qmax_ns},
        {"meaning", "Monte-Carlo (device-to-device) standard deviation of one cell's S at Q_ns, divided by Q_ns, "
                    "per stored level"}};
    res.record.provenance = prov;
    if (res.full) {
        const auto [Vmin, Vmax] = std::minmax_element(sw.V_in_V.begin(), sw.V_in_V.end());
        fit::FitRecord f = fit::gainCellPolyRecord(*res.full, "fC", "ns", Q_range, K_range, {*Vmin, *Vmax});
        f.description = "S = sum_{i+j<=3} C_i_j Q (K - K_offset)^i V_in^j (paper 002 eq. 4), S in fC, Q in ns";
        f.provenance = prov;
        res.fullRecord = f;
    }

}

void plotGainCell(const GainCellSweep& sw, const GainCellResult& res) {
    const double nominal = sw.nominal_V_in_V;
    auto isNominal = [nominal](const GainCellPoint& p) { return std::abs(p.V_in_V - nominal) < 1e-9; };
    const double Qmax_ns = *std::max_element(sw.Q_s.begin(), sw.Q_s.end()) * 1e9;
    std::set<double> vins;
    for (const auto& p : res.points) vins.insert(p.V_in_V);
    // Plots: charge against K for each Q (nominal V_in, sample 0) with the fit; against K for each
    // V_in at the longest pulse; residuals of the nominal fit.
    const fit::GainCellPolynomial poly = fit::gainCellPolynomial(res.record.coefficients, nominal, res.record.source);
    std::vector<report::Series> fam, byVin, resid;
    for (double q : sw.Q_s) {
        report::Series pts{"SPICE Q = " + netlist::formatSI(q * 1e9) + " ns", {}, {}, report::Series::Style::Points};
        report::Series line{"fit Q = " + netlist::formatSI(q * 1e9) + " ns", {}, {}, report::Series::Style::Lines};
        for (const auto& p : res.points)
            if (p.sample == 0 && isNominal(p) && std::abs(p.Q_ns - q * 1e9) < 1e-9) pts.x.push_back(p.K_V), pts.y.push_back(p.S_fC);
        for (int k = 0; k <= 90; ++k) line.x.push_back(0.01 * k), line.y.push_back(poly(q * 1e9, 0.01 * k));
        fam.push_back(pts), fam.push_back(line);
    }
    for (double v : vins) {
        report::Series s{"V_in = " + netlist::formatSI(v) + " V", {}, {}, report::Series::Style::LinesPoints};
        for (const auto& p : res.points)
            if (p.sample == 0 && p.V_in_V == v && std::abs(p.Q_ns - Qmax_ns) < 1e-9) s.x.push_back(p.K_V), s.y.push_back(p.S_fC);
        byVin.push_back(s);
    }
    report::Series r{"S_SPICE - S_fit (all samples)", {}, {}, report::Series::Style::Points};
    for (const auto& p : res.points)
        if (isNominal(p)) r.x.push_back(p.K_V), r.y.push_back(p.S_fC - poly(p.Q_ns, p.K_V));
    resid.push_back(r);
    report::plotXY(res.run.dir / "charge-vs-K.png", {sw.name + ": bit-line charge, V_in = " + netlist::formatSI(nominal) + " V", "K (V)", "S (fC)"}, fam);
    report::plotXY(res.run.dir / "charge-vs-K-by-Vin.png", {sw.name + ": charge at Q = " + netlist::formatSI(Qmax_ns) + " ns", "K (V)", "S (fC)"}, byVin);
    report::plotXY(res.run.dir / "fit-residuals.png", {sw.name + ": residuals of the V_in = 0.9 V fit", "K (V)", "residual (fC)"}, resid);

}

// What `imc characterize gaincell --json` prints.
json gainCellReport(const GainCellSweep& sw, const GainCellResult& res, const std::vector<fs::path>& files) {
    const double nominal = sw.nominal_V_in_V;
    double Smin = 1e300, Smax = -1e300, Emax = 0;
    for (const auto& p : res.points)
        if (p.Q_ns > 0) {
            Smin = std::min(Smin, p.S_fC / p.Q_ns), Smax = std::max(Smax, p.S_fC / p.Q_ns);
            Emax = std::max(Emax, p.E_supply_fJ);
        }
    json fitsJson = json::array();
    for (const auto& f : files) fitsJson.push_back(f.string());
    json report = {{"results", res.run.dir.string()},
                  {"samples", sw.samples},
                  {"failed", res.run.failed},
                  {"points", res.points.size()},
                  {"mean_current_uA", {Smin, Smax}},
                  {"max_supply_energy_fJ", Emax},
                  {"vin_nominal", {{"V_in_V", nominal},
                                   {"coefficients", res.nominal.coefficients},
                                   {"rmse_fC", res.nominal.rmse},
                                   {"r2", res.nominal.r2},
                                   {"n", res.nominal.n},
                                   {"note", res.nominal.note}}},
                  {"coefficient_std", res.coefficientStd},
                  {"fits", fitsJson},
                  {"wall_s", res.run.wall_s}};
    if (res.full)
        report["full"] = {{"coefficients", res.full->coefficients}, {"rmse_fC", res.full->rmse}, {"r2", res.full->r2},
                              {"n", res.full->n}, {"distinct_V_in", res.full->distinct_V_in}};
    return report;
}

}  // namespace

GainCellResult characterizeGainCell(const GainCellSweep& sw, const GainCellRunOptions& o) {
    if (sw.K_V.empty() || sw.Q_s.empty() || sw.V_in_V.empty()) throw std::invalid_argument("gaincell sweep: K, Q and V_in need points");
    // One deck per (sample, V_in) holding one independent cell per (K, Q).
    std::vector<double> cellK, cellQ;
    for (double k : sw.K_V)
        for (double q : sw.Q_s) cellK.push_back(k), cellQ.push_back(q);
    const std::size_t nCells = cellK.size();
    const std::vector<PlannedJob> jobs = planGainCellReads(sw, cellK, cellQ);
    std::vector<std::string> columns;
    for (std::size_t c = 0; c < nCells; ++c) columns.push_back(key("S_fC", c)), columns.push_back(key("E_fJ", c));
    const circuits::CellReadBench timing = sw.bench;
    const double t1 = sw.bench.readStart_s + *std::max_element(sw.Q_s.begin(), sw.Q_s.end()) + sw.bench.settle_s;
    const Measure measure = [nCells, timing, t1](const PlannedJob& j, const spice::SimResult& r) {
        const auto& t = r.vec("time");
        const double vin = j.point[1].second;
        std::vector<std::pair<std::string, double>> out;
        for (std::size_t c = 0; c < nCells; ++c) {
            // Charge into the cell = minus the holder's branch current; energy = V_in x supply charge.
            const double q = -integrateWindow(t, r.vec("i(vbl" + std::to_string(c) + ")"), timing.windowStart_s(), t1);
            const double e = -vin * integrateWindow(t, r.vec("i(vin" + std::to_string(c) + ")"), timing.windowStart_s(), t1);
            out.emplace_back(key("S_fC", c), q * 1e15);
            out.emplace_back(key("E_fJ", c), e * 1e15);
        }
        return out;
    };
    GainCellResult res;
    res.run = runSweep(jobs, columns, measure, subRun(sw.name, o, sw.seed, sw.parameters));
    for (const auto& row : res.run.rows) {
        if (!row.ok) continue;
        for (std::size_t c = 0; c < nCells; ++c)
            res.points.push_back({int(row.values.at("sample")), cellK[c], cellQ[c] * 1e9, row.values.at("V_in_V"),
                                  row.values.at(key("S_fC", c)), row.values.at(key("E_fJ", c))});
    }
    if (res.points.empty()) throw std::runtime_error(sw.name + ": every simulation failed (see " + res.run.dir.string() + ")");

    fitGainCellPoints(sw, res);
    buildGainCellRecords(sw, o, res);

    plotGainCell(sw, res);

    std::vector<fs::path> files = writeRecord(res.record, res.run.dir, "gaincell-poly.json", o);
    if (res.fullRecord) {
        fs::create_directories(res.run.dir);
        fit::writeFit((res.run.dir / "gaincell-poly-full.json").string(), *res.fullRecord);
        files.push_back(res.run.dir / "gaincell-poly-full.json");
    }
    res.report = gainCellReport(sw, res, files);
    return res;
}

// ================================================================ retention

RetentionResult characterizeRetention(const RetentionSweep& sw, const GainCellRunOptions& o) {
    if (sw.K_V.empty() || sw.K_V.size() != sw.dvtw_V.size()) throw std::invalid_argument("retention sweep: K_V and dvtw_V need one entry per case");
    const circuits::CellSpec& cell = sw.cell;
    const int samples = sw.samples;
    const std::uint64_t seed = sw.seed;
    circuits::RetentionBench b;
    b.K_V = sw.K_V;
    b.dvtw_V = sw.dvtw_V;
    std::vector<PlannedJob> jobs;
    for (int s = 0; s < samples; ++s) {
        circuits::RetentionBench bs = b;
        for (std::size_t c = 0; c < b.K_V.size(); ++c) bs.params.push_back(sw.params ? sw.params(std::uint64_t(s), c) : InstanceParams{});
        PlannedJob pj;
        pj.sim.id = sw.name + "_s" + std::to_string(s);
        pj.sim.deck = netlist::writeDeck(circuits::retentionCircuit(cell, bs));
        pj.sim.vectors = circuits::retentionVectors(bs);
        pj.point = {{"sample", s}};
        jobs.push_back(std::move(pj));
    }
    static const std::vector<double> probe_s = {1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-2};
    const double t0 = b.writeStart_s + b.writeWidth_s + 1e-9;
    std::vector<std::string> columns;
    for (std::size_t c = 0; c < b.K_V.size(); ++c) {
        for (const char* n : {"tau_s", "V0_V", "Vinf_V", "rmse_V", "tau_e_s", "half_step_s"}) columns.push_back(key(n, c));
        for (std::size_t p = 0; p < probe_s.size(); ++p) columns.push_back(probeKey(p, c));
    }
    const double park = b.park_V;
    const Measure measure = [b, t0, park](const PlannedJob&, const spice::SimResult& r) {
        const auto& t = r.vec("time");
        std::vector<std::pair<std::string, double>> out;
        for (std::size_t c = 0; c < b.K_V.size(); ++c) {
            const auto& v = r.vec("v(xc" + std::to_string(c) + ".sn)");
            std::vector<double> tt, vv;
            for (Eigen::Index k = 0; k < t.size(); ++k)
                if (t[k] >= t0) tt.push_back(t[k] - t0), vv.push_back(v[k]);
            const auto f = fit::fitExponentialDecay(tt, vv);
            const double start = vv.front() - park;
            double tauE = std::nan(""), half = std::nan("");
            for (std::size_t k = 0; k < tt.size(); ++k) {
                if (std::isnan(half) && std::abs(vv[k] - vv.front()) >= 0.0643) half = tt[k];
                if (std::isnan(tauE) && std::abs(vv[k] - park) <= std::abs(start) / M_E) tauE = tt[k];
            }
            out.emplace_back(key("tau_s", c), f.tau_s);
            out.emplace_back(key("V0_V", c), f.V0_V);
            out.emplace_back(key("Vinf_V", c), f.V_inf_V);
            out.emplace_back(key("rmse_V", c), f.rmse);
            out.emplace_back(key("tau_e_s", c), std::isnan(tauE) ? -1.0 : tauE);
            out.emplace_back(key("half_step_s", c), std::isnan(half) ? -1.0 : half);
            for (std::size_t p = 0; p < probe_s.size(); ++p)
                out.emplace_back(probeKey(p, c), valueAt(t, v, t0 + probe_s[p]));
        }
        return out;
    };
    json parameters = sw.parameters;
    parameters["bench"] = {{"park_V", park}, {"stop_s", b.stop_s}, {"boost_V", b.boost_V}};
    RetentionResult res;
    res.run = runSweep(jobs, columns, measure, subRun(sw.name, o, seed, parameters));
    json traces = json::array();
    std::vector<report::Series> plot;
    std::vector<double> tauStandardHigh;
    for (const auto& row : res.run.rows) {
        if (!row.ok) continue;
        for (std::size_t c = 0; c < b.K_V.size(); ++c) {
            RetentionResult::Trace tr;
            tr.K_V = b.K_V[c], tr.dvtw_V = b.dvtw_V[c], tr.sample = int(row.values.at("sample"));
            tr.fit.tau_s = row.values.at(key("tau_s", c));
            tr.fit.V0_V = row.values.at(key("V0_V", c));
            tr.fit.V_inf_V = row.values.at(key("Vinf_V", c));
            tr.fit.rmse = row.values.at(key("rmse_V", c));
            tr.tau_e_s = row.values.at(key("tau_e_s", c));
            tr.halfStep_s = row.values.at(key("half_step_s", c));
            res.traces.push_back(tr);
            if (c == 0) tauStandardHigh.push_back(tr.fit.tau_s);
            const std::string label = std::string(tr.dvtw_V > 0 ? "high-Vth" : "standard") + " write, K = " + netlist::formatSI(tr.K_V) + " V";
            traces.push_back({{"write_gate", tr.dvtw_V > 0 ? "high-Vth (dvtw " + plain(tr.dvtw_V) + " V, boosted enables)" : std::string("standard")},
                              {"K_V", tr.K_V}, {"sample", tr.sample}, {"tau_fit_s", tr.fit.tau_s}, {"V0_V", tr.fit.V0_V},
                              {"V_inf_V", tr.fit.V_inf_V}, {"fit_rmse_V", tr.fit.rmse}, {"tau_e_s", tr.tau_e_s},
                              {"half_step_s", tr.halfStep_s}});
            if (tr.sample == 0) {
                report::Series pts{"SPICE " + label, {}, {}, report::Series::Style::Points};
                report::Series line{"fit " + label, {}, {}, report::Series::Style::Lines};
                for (std::size_t p = 0; p < probe_s.size(); ++p)
                    pts.x.push_back(probe_s[p]), pts.y.push_back(row.values.at(probeKey(p, c)));
                for (int k = 0; k <= 80; ++k) {
                    const double tk = 1e-6 * std::pow(10.0, 0.05 * k);
                    line.x.push_back(tk), line.y.push_back(tr.fit.V_inf_V + (tr.fit.V0_V - tr.fit.V_inf_V) * std::exp(-tk / tr.fit.tau_s));
                }
                plot.push_back(pts), plot.push_back(line);
            }
        }
    }
    if (tauStandardHigh.empty()) throw std::runtime_error("retention: every simulation failed (see " + res.run.dir.string() + ")");
    const std::string CsText = cell.params.count("Cs") ? cell.params.at("Cs") : cell.defaults.count("Cs") ? cell.defaults.at("Cs") : "";
    const std::string Cs = CsText.empty() ? std::string("?") : plain(netlist::parseSI(CsText) * 1e15) + " fF";
    report::PlotSpec ps{"storage-node decay after a write (Cs = " + Cs + ")", "time after the write (s)", "V_sn (V)"};
    ps.logX = true;
    report::plotXY(res.run.dir / "retention.png", ps, plot);

    const RetentionResult::Trace& nominalHigh = res.traces.front();
    res.record = fit::retentionRecord(nominalHigh.fit, {0.0, b.stop_s});
    res.record.description = "V(t) = V_inf + (V0 - V_inf) exp(-t / tau): storage node of the gain cell (Cs = " + Cs + ") "
                             "after writing K = " + plain(b.K_V.front()) + " V with the write gate shifted by " +
                             plain(b.dvtw_V.front()) + " V, write bit line parked at " + plain(park) +
                             " V; the first of the cases (all in spread.cases)";
    res.record.coefficients["tau_s"] = mean(tauStandardHigh);  // over the Monte-Carlo samples
    res.record.quality.r2.reset();                              // not kept per trace
    res.record.quality.n = std::uint64_t(tauStandardHigh.size());
    res.record.spread = {{"tau_std_s", stddev(tauStandardHigh)}, {"cases", traces},
                         {"paper_tau_s", sw.paper.value("tau_s", json(nullptr))},
                         {"note", "the PTM 32 nm card's gate tunnelling of the read nMOS limits retention at high K; "
                                  "tau scales with Cs (5 ms would need about 1.75 pF)"}};
    res.record.provenance = provenance("imc characterize retention (" + cell.subckt + ")", res.run, parameters, seed, samples, o);
    const auto files = writeRecord(res.record, res.run.dir, "retention.json", o);
    json fj = json::array();
    for (const auto& f : files) fj.push_back(f.string());
    res.report = {{"results", res.run.dir.string()}, {"tau_s", res.record.coefficients.at("tau_s")},
                  {"tau_std_s", stddev(tauStandardHigh)}, {"paper_tau_s", sw.paper.value("tau_s", json(nullptr))}, {"cases", traces}, {"fits", fj},
                  {"wall_s", res.run.wall_s}};
    return res;
}

// ================================================================ charge-to-pulse

namespace {

// Each Monte-Carlo sample is one readout circuit: its own HardSigmoid fit, per coefficient (and
// S_sat_fC) over the samples. Their spread is the device-to-device spread the model draws per tile.
std::map<std::string, std::vector<double>> perSampleReadoutFits(const ChargeToPulseSweep& sw, const RunSummary& run) {
    std::map<int, std::pair<std::vector<double>, std::vector<double>>> bySample;
    for (const auto& row : run.rows) {
        if (!row.ok) continue;
        auto& [x, T] = bySample[int(row.values.at("sample"))];
        for (std::size_t c = 0; c < sw.Q_in_C.size(); ++c)
            x.push_back(sw.Q_in_C[c] * 1e15), T.push_back(row.values.at(key("T_s", c)));
    }
    std::map<std::string, std::vector<double>> perSample;
    for (const auto& [sample, xT] : bySample) {
        const auto f = sw.isSigned ? fit::fitSignedHardSigmoid(xT.first, xT.second) : fit::fitHardSigmoid(xT.first, xT.second);
        perSample["slope_s_per_x"].push_back(f.slope_s_per_x);
        perSample["offset_x"].push_back(f.offset_x);
        perSample["T_max_s"].push_back(f.T_max_s);
        perSample["S_sat_fC"].push_back(f.T_max_s / f.slope_s_per_x);
    }
    return perSample;
}

}  // namespace

ChargeToPulseResult characterizeChargeToPulse(const ChargeToPulseSweep& sw, const GainCellRunOptions& o) {
    std::vector<PlannedJob> jobs;
    for (int s = 0; s < sw.samples; ++s) {
        circuits::ChargeToPulseBench b = sw.bench;
        b.isSigned = sw.isSigned;
        b.Q_in_C = sw.Q_in_C;
        if (sw.params) b.params.assign(sw.Q_in_C.size(), sw.params(std::uint64_t(s)));
        PlannedJob pj;
        pj.sim.id = sw.name + "_s" + std::to_string(s);
        pj.sim.deck = netlist::writeDeck(circuits::chargeToPulseCircuit(sw.readout, b));
        pj.sim.vectors = circuits::chargeToPulseVectors(b);
        pj.point = {{"sample", s}};
        jobs.push_back(std::move(pj));
    }
    const circuits::ChargeToPulseBench b0 = [&] {
        auto b = sw.bench;
        b.isSigned = sw.isSigned;
        b.Q_in_C = sw.Q_in_C;
        return b;
    }();
    std::vector<std::string> columns;
    for (std::size_t c = 0; c < sw.Q_in_C.size(); ++c) columns.push_back(key("T_s", c));
    const Measure measure = [b0](const PlannedJob&, const spice::SimResult& r) {
        const auto& t = r.vec("time");
        std::vector<std::pair<std::string, double>> out;
        for (std::size_t c = 0; c < b0.Q_in_C.size(); ++c) {
            // Width = integral of the normalized output over the window; sign from the latch at its end.
            Eigen::VectorXd o = r.vec("v(out" + std::to_string(c) + ")") / b0.vdd_V;
            double w = integrateWindow(t, o, b0.convStart_s - 0.5e-9, b0.convEnd_s() + 0.9e-9);
            if (b0.isSigned && valueAt(t, r.vec("v(sgn" + std::to_string(c) + ")"), b0.convEnd_s()) < 0.5 * b0.vdd_V) w = -w;
            out.emplace_back(key("T_s", c), w);
        }
        return out;
    };
    ChargeToPulseResult res;
    res.run = runSweep(jobs, columns, measure, subRun(sw.name, o, sw.seed, sw.parameters));
    std::vector<std::vector<double>> perLevel(sw.Q_in_C.size());
    for (const auto& row : res.run.rows) {
        if (!row.ok) continue;
        for (std::size_t c = 0; c < sw.Q_in_C.size(); ++c) {
            res.x_fC.push_back(sw.Q_in_C[c] * 1e15);
            res.width_s.push_back(row.values.at(key("T_s", c)));
            perLevel[c].push_back(row.values.at(key("T_s", c)));
        }
    }
    if (res.x_fC.empty()) throw std::runtime_error(sw.name + ": every simulation failed (see " + res.run.dir.string() + ")");
    res.fit = sw.isSigned ? fit::fitSignedHardSigmoid(res.x_fC, res.width_s) : fit::fitHardSigmoid(res.x_fC, res.width_s);
    json lv = json::array(), mn = json::array(), sd = json::array(), codeStd = json::array();
    double worstStd = 0;
    for (std::size_t c = 0; c < sw.Q_in_C.size(); ++c) {
        lv.push_back(sw.Q_in_C[c] * 1e15), mn.push_back(mean(perLevel[c])), sd.push_back(stddev(perLevel[c]));
        codeStd.push_back(stddev(perLevel[c]) / 1e-9);
        worstStd = std::max(worstStd, stddev(perLevel[c]));
    }
    res.readoutNoise = {{"levels", lv}, {"mean", mn}, {"std", sd}, {"std_codes", codeStd}, {"levels_unit", "fC"},
                        {"unit", "s"}, {"code_unit", "1 ns counter steps"}};
    const auto [xmin, xmax] = std::minmax_element(res.x_fC.begin(), res.x_fC.end());
    res.record = fit::chargeToPulseRecord(res.fit, "fC", {*xmin, *xmax});
    res.record.description = sw.isSigned
                                 ? "T = sign(x) clamp(slope (|x| - offset), 0, T_max): signed charge-to-pulse, x = bit-line charge in fC"
                                 : "T = clamp(slope (x - offset), 0, T_max): ReLU/HardSigmoid charge-to-pulse (paper 002 eq. 3), x = "
                                   "bit-line charge in fC; S_sat = T_max / slope";
    res.record.spread = {{"width_by_level", res.readoutNoise}};
    if (sw.samples > 1) {
        const auto perSample = perSampleReadoutFits(sw, res.run);
        json stdOf = json::object();
        for (const char* name : {"slope_s_per_x", "offset_x", "T_max_s"}) stdOf[name] = stddev(perSample.at(name));
        res.record.spread["coefficient_std"] = stdOf;
        res.record.spread["S_sat_std_fC"] = stddev(perSample.at("S_sat_fC"));
    }
    res.record.provenance = provenance("imc characterize " + sw.name, res.run, sw.parameters, sw.seed, sw.samples, o);

    std::vector<report::Series> plot;
    report::Series pts{"SPICE (all samples)", res.x_fC, res.width_s, report::Series::Style::Points};
    report::Series line{"HardSigmoid fit", {}, {}, report::Series::Style::Lines};
    for (int k = 0; k <= 200; ++k) {
        const double x = *xmin + (*xmax - *xmin) * k / 200.0;
        line.x.push_back(x), line.y.push_back(fit::evaluateHardSigmoid(res.fit, x));
    }
    plot.push_back(pts), plot.push_back(line);
    report::plotXY(res.run.dir / "transfer.png", {sw.name + ": pulse width against bit-line charge", "charge (fC)", "pulse width (s)"}, plot);
    const auto files = writeRecord(res.record, res.run.dir, sw.name + ".json", o);
    json fj = json::array();
    for (const auto& f : files) fj.push_back(f.string());
    res.report = {{"results", res.run.dir.string()},
                  {"samples", sw.samples},
                  {"slope_ps_per_fC", res.fit.slope_s_per_x * 1e12},
                  {"offset_fC", res.fit.offset_x},
                  {"T_max_s", res.fit.T_max_s},
                  {"S_sat_fC", res.fit.T_max_s / res.fit.slope_s_per_x},
                  {"rmse_s", res.fit.rmse},
                  {"r2", res.fit.r2},
                  {"worst_level_std_s", worstStd},
                  {"width_by_level", res.readoutNoise},
                  {"coefficient_std", res.record.spread.value("coefficient_std", json::object())},
                  {"fits", fj},
                  {"wall_s", res.run.wall_s}};
    return res;
}

// ================================================================ arrays

namespace {

struct ColumnOut {
    double S_fC = 0, width_s = 0;  // width signed for the signed readout
};

struct ArrayRun {
    std::vector<std::vector<ColumnOut>> columns;  // [sample][column]
    std::vector<double> E_cells_J, E_wordline_J;  // per sample, over the read window
    double wall_s = 0;
    std::string dir;
};

// Runs one array per sample (full deck, or one deck per column) and collects its outputs.
ArrayRun runArrays(const std::string& name, const circuits::CellSpec& cell, const std::vector<circuits::GainCellArraySpec>& specs,
                   bool columnForm, std::uint64_t seed, const GainCellRunOptions& o, const json& parameters) {
    const auto& s0 = specs.front();
    const bool isSigned = s0.readout == circuits::ArrayReadout::Signed;
    std::vector<PlannedJob> jobs;
    for (std::size_t s = 0; s < specs.size(); ++s) {
        if (columnForm) {
            for (int j = 0; j < s0.cols; ++j) {
                PlannedJob pj;
                pj.sim.id = name + "_s" + std::to_string(s) + "_c" + std::to_string(j);
                pj.sim.deck = netlist::writeDeck(circuits::gainCellColumnCircuit(cell, specs[s], j));
                pj.sim.vectors = circuits::arrayVectors(specs[s], {j}, true);
                pj.point = {{"sample", double(s)}, {"column", j}};
                jobs.push_back(std::move(pj));
            }
        } else {
            std::vector<int> all(std::size_t(s0.cols));
            for (int j = 0; j < s0.cols; ++j) all[std::size_t(j)] = j;
            PlannedJob pj;
            pj.sim.id = name + "_s" + std::to_string(s) + "_full";
            pj.sim.deck = netlist::writeDeck(circuits::gainCellArrayCircuit(cell, specs[s]));
            pj.sim.vectors = circuits::arrayVectors(specs[s], all, false);
            pj.point = {{"sample", double(s)}, {"column", -1}};
            jobs.push_back(std::move(pj));
        }
    }
    const circuits::ArrayTiming t = circuits::arrayTiming(s0, columnForm ? 1 : s0.cols);
    const int perJob = columnForm ? 1 : s0.cols;
    std::vector<std::string> columns;
    for (int j = 0; j < perJob; ++j) columns.push_back(key("S_fC", std::size_t(j))), columns.push_back(key("T_s", std::size_t(j)));
    columns.push_back("E_cells_J");
    columns.push_back("E_wordline_J");
    const double vdd = s0.vdd_V, vin = s0.V_in_V;
    const int rows = s0.rows;
    const Measure measure = [t, perJob, isSigned, vdd, vin, rows, columnForm](const PlannedJob& pj, const spice::SimResult& r) {
        const auto& time = r.vec("time");
        const double w0 = t.readStart_s - 0.5e-9, w1 = t.readEnd_s + 0.5e-9;
        std::vector<std::pair<std::string, double>> out;
        for (int k = 0; k < perJob; ++k) {
            const int j = columnForm ? int(pj.point[1].second) : k;
            const std::string J = std::to_string(j);
            const double q = -integrateWindow(time, r.vec("i(vprobe" + J + ")"), w0, t.convStart_s - 0.2e-9);
            Eigen::VectorXd o = r.vec("v(out" + J + ")") / vdd;
            double w = integrateWindow(time, o, t.convStart_s - 0.5e-9, t.convEnd_s + 0.9e-9);
            if (isSigned && valueAt(time, r.vec("v(sgn" + J + ")"), t.convEnd_s) < 0.5 * vdd) w = -w;
            out.emplace_back(key("S_fC", std::size_t(k)), q * 1e15);
            out.emplace_back(key("T_s", std::size_t(k)), w);
        }
        out.emplace_back("E_cells_J", -vin * integrateWindow(time, r.vec("i(vin)"), w0, w1));
        double ewl = 0;
        if (columnForm) {
            for (int i = 0; i < rows; ++i)
                for (const char* n : {"wl", "wlb"}) {
                    const std::string I = std::string(n) + std::to_string(i);
                    Eigen::VectorXd p = -r.vec("i(v" + I + ")").cwiseProduct(r.vec("v(" + I + ")"));
                    ewl += integrateWindow(time, p, w0, w1);
                }
        } else {
            ewl = -vdd * integrateWindow(time, r.vec("i(vdd)"), w0, w1);
        }
        out.emplace_back("E_wordline_J", ewl);
        return out;
    };
    RunSpec rs = subRun(name, o, seed, parameters);
    const RunSummary run = runSweep(jobs, columns, measure, rs);
    ArrayRun ar;
    ar.dir = run.dir.string();
    ar.wall_s = run.wall_s;
    ar.columns.assign(specs.size(), std::vector<ColumnOut>(std::size_t(s0.cols)));
    ar.E_cells_J.assign(specs.size(), 0.0);
    ar.E_wordline_J.assign(specs.size(), 0.0);
    for (const auto& row : run.rows) {
        if (!row.ok) throw std::runtime_error(name + ": simulation " + row.job + " failed: " + row.error);
        const auto s = std::size_t(row.values.at("sample"));
        for (int k = 0; k < perJob; ++k) {
            const int j = columnForm ? int(row.values.at("column")) : k;
            ar.columns[s][std::size_t(j)] = {row.values.at(key("S_fC", std::size_t(k))), row.values.at(key("T_s", std::size_t(k)))};
        }
        ar.E_cells_J[s] += row.values.at("E_cells_J");
        ar.E_wordline_J[s] += row.values.at("E_wordline_J");
    }
    return ar;
}

}  // namespace

namespace {

// First array: K at the 8 DAC levels, random PWM codes, Pelgrom mismatch per cell (pure).
// A level of a uniform DAC/PWM quantizer: lo + (hi - lo) code / (levels - 1).
double levelOf(const json& arch, const char* levels, const char* lo, const char* hi, std::uint64_t code) {
    const double L = arch.at(levels).get<double>(), a = arch.at(lo).get<double>(), b = arch.at(hi).get<double>();
    return a + (b - a) * double(code) / (L - 1);
}

std::uint64_t levelsOf(const json& arch, const char* key) { return std::uint64_t(arch.at(key).get<double>()); }

std::vector<circuits::GainCellArraySpec> planFirstArrays(const ArrayCharacterization& a) {
    const int R = a.rows, C = a.cols;
    const std::uint64_t nQ = levelsOf(a.architecture, "Q_levels"), nK = levelsOf(a.architecture, "K_levels");
    std::vector<circuits::GainCellArraySpec> first;
    for (int s = 0; s < a.samples; ++s) {
        variability::Stream st({a.seed, variability::Purpose::User, std::uint64_t(s), 1, 0});
        circuits::GainCellArraySpec sp;
        sp.rows = R, sp.cols = C;
        sp.V_in_V = a.architecture.at("V_in_V").get<double>();
        sp.readoutParams = builtinReadoutParams(false, R);
        sp.stored_V.assign(std::size_t(R), std::vector<double>(std::size_t(C)));
        sp.codes.assign(std::size_t(R), 0);
        if (a.mismatch) sp.params.assign(std::size_t(R), std::vector<InstanceParams>(std::size_t(C)));
        for (int i = 0; i < R; ++i) {
            sp.codes[std::size_t(i)] = int(st.next() % nQ);
            for (int j = 0; j < C; ++j) {
                sp.stored_V[std::size_t(i)][std::size_t(j)] = levelOf(a.architecture, "K_levels", "K_min_V", "K_max_V", st.next() % nK);
                if (a.mismatch) sp.params[std::size_t(i)][std::size_t(j)] = a.mismatch(std::uint64_t(s), std::uint64_t(i * C + j));
            }
        }
        first.push_back(std::move(sp));
    }
    return first;
}

// Second array (C rows = tokens, R columns): V at the DAC levels, word lines driven by the
// first array's SPICE pulses counted in 1 ns steps (pure).
std::vector<circuits::GainCellArraySpec> planSecondArrays(const ArrayCharacterization& a, const ArrayRun& r1) {
    const int R = a.rows, C = a.cols;
    const int maxCode = int(levelsOf(a.architecture, "Q_levels")) - 1;
    const std::uint64_t nV = levelsOf(a.architecture, "V_levels");
    std::vector<circuits::GainCellArraySpec> second;
    for (int s = 0; s < a.samples; ++s) {
        variability::Stream st({a.seed, variability::Purpose::User, std::uint64_t(s), 2, 0});
        circuits::GainCellArraySpec sp;
        sp.rows = C, sp.cols = R;
        sp.readout = circuits::ArrayReadout::Signed;
        sp.V_in_V = a.architecture.at("V_in_V").get<double>();
        sp.readoutParams = builtinReadoutParams(true, C);
        sp.stored_V.assign(std::size_t(C), std::vector<double>(std::size_t(R)));
        sp.codes.assign(std::size_t(C), 0);
        if (a.mismatch) sp.params.assign(std::size_t(C), std::vector<InstanceParams>(std::size_t(R)));
        for (int i = 0; i < C; ++i) {
            sp.codes[std::size_t(i)] = std::clamp(int(std::lround(r1.columns[std::size_t(s)][std::size_t(i)].width_s / sp.tclk_s)), 0, maxCode);
            for (int j = 0; j < R; ++j) {
                sp.stored_V[std::size_t(i)][std::size_t(j)] = levelOf(a.architecture, "V_levels", "V_min_V", "V_max_V", st.next() % nV);
                if (a.mismatch) sp.params[std::size_t(i)][std::size_t(j)] = a.mismatch(std::uint64_t(s), std::uint64_t(R * C + i * R + j));
            }
        }
        second.push_back(std::move(sp));
    }
    return second;
}

// SPICE against the model the transformer runs: the fitted polynomial summed along each bit line,
// then the readout's HardSigmoid; errors in fractions of T_max (pulse) and of S_sat (charge).
struct ModelComparison {
    std::vector<double> err1, err2, errS;
    report::Series sc1{"Q.K^T array, c2p-relu", {}, {}, report::Series::Style::Points};
    report::Series sc2{"phi.V array, c2p-signed", {}, {}, report::Series::Style::Points};
    report::Series scS{"bit-line charge, both arrays", {}, {}, report::Series::Style::Points};
};

ModelComparison compareWithModel(const std::vector<circuits::GainCellArraySpec>& first, const ArrayRun& r1,
                                 const std::vector<circuits::GainCellArraySpec>& second, const ArrayRun& r2,
                                 const fit::GainCellPolynomial& poly, const fit::HardSigmoidFit& relu,
                                 const fit::HardSigmoidFit& sgnd, double Tmax) {
    ModelComparison m;
    auto& errS = m.errS;
    auto& scS = m.scS;
    auto compare = [&](const std::vector<circuits::GainCellArraySpec>& specs, const ArrayRun& run, const fit::HardSigmoidFit& hs,
                       std::vector<double>& err, report::Series& sc) {
        for (std::size_t s = 0; s < specs.size(); ++s)
            for (int j = 0; j < specs[s].cols; ++j) {
                double S = 0;
                for (int i = 0; i < specs[s].rows; ++i)
                    S += poly(specs[s].codes[std::size_t(i)] * specs[s].tclk_s * 1e9, specs[s].stored_V[std::size_t(i)][std::size_t(j)]);
                const double Tm = fit::evaluateHardSigmoid(hs, S);
                const auto& got = run.columns[s][std::size_t(j)];
                err.push_back((got.width_s - Tm) / Tmax);
                errS.push_back((got.S_fC - S) / (specs[s].readoutParams.Ssat_C * 1e15));
                sc.x.push_back(Tm / Tmax), sc.y.push_back(got.width_s / Tmax);
                scS.x.push_back(S), scS.y.push_back(got.S_fC);
            }
    };
    compare(first, r1, relu, m.err1, m.sc1);
    compare(second, r2, sgnd, m.err2, m.sc2);
    return m;
}

// The other deck form (full array vs per-column decks) for sample 0 of the first array: column
// charges and widths side by side, to show the decomposition changes nothing.
json decompositionCheck(const ArrayCharacterization& a, const GainCellRunOptions& o, const json& params,
                        const std::vector<circuits::GainCellArraySpec>& first, const ArrayRun& r1, bool columnForm,
                        const std::string& tag, double Tmax) {
    const int C = a.cols;
    const std::vector<circuits::GainCellArraySpec> one{first.front()};
    const ArrayRun other = runArrays("gaincell-array-" + tag + "-qk-" + (columnForm ? "full" : "columns"), a.cell, one,
                                     !columnForm, a.seed, o, params);
    double dS = 0, dT = 0;
    json cols = json::array();
    for (int j = 0; j < C; ++j) {
        const auto& x = r1.columns[0][std::size_t(j)];
        const auto& y = other.columns[0][std::size_t(j)];
        dS = std::max(dS, std::abs(x.S_fC - y.S_fC));
        dT = std::max(dT, std::abs(x.width_s - y.width_s));
        cols.push_back({{"S_fC", {x.S_fC, y.S_fC}}, {"T_s", {x.width_s, y.width_s}}});
    }
    return {{"max_charge_diff_fC", dS}, {"max_width_diff_s", dT}, {"max_width_diff_fs", dT / Tmax}, {"columns", cols},
            {"order", columnForm ? "[columns, full]" : "[full, columns]"}, {"wall_s", other.wall_s}};
}

// The architecture record the behavioral model reads: the job's architecture, with this run's
// latency and error and the size of the arrays that were simulated.
fit::FitRecord gainCellArrayRecord(const ArrayCharacterization& a, double latency_s, const ArrayResult& res, std::size_t n,
                                   const std::string& tag) {
    fit::FitRecord record;
    record.model = "gaincell-array";
    record.description = "Quantizers, sub-tile size, read voltage and per-layer latency of the gain-cell attention arrays; Q "
                         "as a fraction of T_max = pulse_full_scale_ns (use it with the gaincell-poly fit in ns); validated "
                         "against SPICE on " + tag + " arrays";
    for (const auto& key : arrayArchitectureKeys()) record.coefficients[key] = a.architecture.at(key).get<double>();
    record.coefficients["step_latency_s"] = latency_s;
    record.units = {{"K_min_V", "V"}, {"K_max_V", "V"}, {"V_min_V", "V"}, {"V_max_V", "V"}, {"V_in_V", "V"},
                    {"step_latency_s", "s"}, {"pulse_full_scale_ns", "ns"}};
    record.quality.rmse = res.rmse_fs;
    record.quality.n = std::uint64_t(n);
    record.quality.extra = {{"rmse_unit", "fraction of T_max"}, {"max_err_fs", res.max_err_fs}, {"size", tag},
                            {"simulated_rows", a.rows}, {"simulated_cols", a.cols}};
    record.spread = {{"energy", res.report.at("energy")}};
    return record;
}

}  // namespace

ArrayResult characterizeArray(const ArrayCharacterization& a, const GainCellRunOptions& o) {
    const int R = a.rows, C = a.cols;
    const bool columnForm = a.form == ArrayCharacterization::Form::Columns ||
                            (a.form == ArrayCharacterization::Form::Auto && R * C > 64);
    const std::string tag = std::to_string(R) + "x" + std::to_string(C);

    // The readouts of this array size, characterized on the spot (behavioral, seconds): the
    // model's HardSigmoids then match the circuits the array uses.
    GainCellRunOptions sub = o;
    sub.fitsOut.clear();
    // One nominal readout each (sample 0 of the readouts' job files), sized for this array.
    const auto relu = characterizeChargeToPulse(chargeToPulseSweepFromJob(builtinReadoutJob(false, R, 1, a.seed)), sub);
    const auto sgnd = characterizeChargeToPulse(chargeToPulseSweepFromJob(builtinReadoutJob(true, C, 1, a.seed)), sub);

    const std::vector<circuits::GainCellArraySpec> first = planFirstArrays(a);
    json params = a.parameters;
    params["rows"] = R, params["cols"] = C, params["samples"] = a.samples, params["form"] = columnForm ? "columns" : "full";
    // The model the transformer runs, at the read voltage of the simulated arrays.
    const fit::GainCellPolynomial poly =
        fit::gainCellPolynomial(a.polynomial.coefficients, first.front().V_in_V, a.polynomial.source);
    const ArrayRun r1 = runArrays("gaincell-array-" + tag + "-qk", a.cell, first, columnForm, a.seed, o, params);

    const std::vector<circuits::GainCellArraySpec> second = planSecondArrays(a, r1);
    const ArrayRun r2 = runArrays("gaincell-array-" + tag + "-pv", a.cell, second, columnForm, a.seed, o, params);

    // The behavioral model: the fitted polynomial summed along each bit line, then the HardSigmoid.
    const double Tmax = first.front().readoutParams.Tmax_s;
    const ModelComparison cmp = compareWithModel(first, r1, second, r2, poly, relu.fit, sgnd.fit, Tmax);
    const auto& [err1, err2, errS, sc1, sc2, scS] = cmp;
    auto rms = [](const std::vector<double>& e) {
        double s = 0;
        for (double x : e) s += x * x;
        return e.empty() ? 0.0 : std::sqrt(s / double(e.size()));
    };
    auto maxAbs = [](const std::vector<double>& e) {
        double m = 0;
        for (double x : e) m = std::max(m, std::abs(x));
        return m;
    };
    std::vector<double> all = err1;
    all.insert(all.end(), err2.begin(), err2.end());

    ArrayResult res;
    res.dir = o.outDir.empty() ? fs::path("results") / ("gaincell-array-" + tag + "-seed" + std::to_string(a.seed)) : o.outDir;
    fs::create_directories(res.dir);
    report::Series diag{"y = x", {-1, 1}, {-1, 1}, report::Series::Style::Lines};
    report::plotXY(res.dir / "spice-vs-model.png", {"gain-cell arrays " + tag + ": pulse width, SPICE vs model", "model (fraction of T_max)", "SPICE (fraction of T_max)"},
                   {sc1, sc2, diag});
    if (!scS.x.empty()) {
        const auto [lo, hi] = std::minmax_element(scS.x.begin(), scS.x.end());
        report::Series d2{"y = x", {*lo, *hi}, {*lo, *hi}, report::Series::Style::Lines};
        report::plotXY(res.dir / "charge-spice-vs-model.png", {"gain-cell arrays " + tag + ": bit-line charge", "model (fC)", "SPICE (fC)"}, {scS, d2});
    }

    // Energy of one read step (cells' supply and word lines over the read window), per array.
    const circuits::ArrayTiming t1 = circuits::arrayTiming(first.front(), 1);
    const double E1 = (mean(r1.E_cells_J) + mean(r1.E_wordline_J));
    const double E2 = (mean(r2.E_cells_J) + mean(r2.E_wordline_J));
    double bl1 = 0, bl2 = 0;  // charge exchanged with the readout at 0.45 V, summed magnitude
    for (const auto& s : r1.columns)
        for (const auto& c : s) bl1 += 0.45 * std::abs(c.S_fC) * 1e-15 / double(r1.columns.size());
    for (const auto& s : r2.columns)
        for (const auto& c : s) bl2 += 0.45 * std::abs(c.S_fC) * 1e-15 / double(r2.columns.size());
    const double scaleTo64 = 4096.0 / double(R * C);
    // One attention step: reset, first read (longest pulse), conversion = second read, second
    // conversion; the timing of the decks, with the readouts' measured delays inside the windows.
    const double latency_s = (t1.readEnd_s - t1.resetRelease_s) + 1e-9 + Tmax + 1e-9 + Tmax;

    res.rmse_fs = rms(all);
    res.max_err_fs = maxAbs(all);
    res.report = {{"rmse_fs", res.rmse_fs},
                  {"max_err_fs", res.max_err_fs},
                  {"size", tag},
                  {"samples", a.samples},
                  {"form", columnForm ? "columns" : "full"},
                  {"full_scale", "T_max = 15 ns pulse width"},
                  {"qk", {{"rmse_fs", rms(err1)}, {"max_err_fs", maxAbs(err1)}, {"results", r1.dir}, {"wall_s", r1.wall_s}}},
                  {"pv", {{"rmse_fs", rms(err2)}, {"max_err_fs", maxAbs(err2)}, {"results", r2.dir}, {"wall_s", r2.wall_s}}},
                  {"charge_rmse_fs", rms(errS)},
                  {"charge_max_err_fs", maxAbs(errS)},
                  {"charge_full_scale_fC", {first.front().readoutParams.Ssat_C * 1e15, second.front().readoutParams.Ssat_C * 1e15}},
                  {"readout_fits", {{"relu", relu.report.at("results")}, {"signed", sgnd.report.at("results")},
                                    {"relu_S_sat_fC", relu.fit.T_max_s / relu.fit.slope_s_per_x},
                                    {"signed_S_sat_fC", sgnd.fit.T_max_s / sgnd.fit.slope_s_per_x}}},
                  {"energy", {{"qk_read_pJ", E1 * 1e12},
                              {"qk_cells_pJ", mean(r1.E_cells_J) * 1e12},
                              {"qk_wordlines_pJ", mean(r1.E_wordline_J) * 1e12},
                              {"qk_bitline_exchange_pJ", bl1 * 1e12},
                              {"pv_read_pJ", E2 * 1e12},
                              {"pv_cells_pJ", mean(r2.E_cells_J) * 1e12},
                              {"pv_wordlines_pJ", mean(r2.E_wordline_J) * 1e12},
                              {"pv_bitline_exchange_pJ", bl2 * 1e12},
                              {"per_dot_product_fJ", {E1 / C * 1e15, E2 / R * 1e15}},
                              {"per_token_per_head_16_tiles_pJ", {E1 * 16 * scaleTo64 * 1e12, E2 * 16 * scaleTo64 * 1e12}},
                              {"paper_per_token_per_head_pJ", a.paper.value("per_token_per_head_pJ", json(nullptr))},
                              {"readout", "behavioral charge-to-pulse circuits: their energy is not modelled"}}},
                  {"latency_s", latency_s},
                  {"paper_latency_s", a.paper.value("latency_s", json(nullptr))},
                  {"dir", res.dir.string()}};

    if (a.verifyDecomposition) res.report["decomposition_check"] = decompositionCheck(a, o, params, first, r1, columnForm, tag, Tmax);

    // The architecture record the behavioral model reads (with this run's latency).
    res.record = gainCellArrayRecord(a, latency_s, res, all.size(), tag);
    res.record.provenance =
        fit::fitProvenance("imc characterize gaincell-array", o.command, params, std::uint64_t(a.samples), a.seed);
    const auto files = writeRecord(res.record, res.dir, "gaincell-array.json", o);
    json fj = json::array();
    for (const auto& f : files) fj.push_back(f.string());
    res.report["fits"] = fj;
    std::ofstream(res.dir / "report.json") << res.report.dump(2) << "\n";
    return res;
}

}  // namespace imc::characterize
