#include "characterize/testbenches.hpp"

#include "fit/fit.hpp"
#include "netlist/netlist.hpp"
#include "report/plot.hpp"

#include <cmath>

namespace imc::characterize::testbench {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> resistiveCellRoles() { return {"top", "bottom"}; }

namespace {

// One .op job per sample and bias: a self-contained deck with the drawn parameters written in (pure).
std::vector<PlannedJob> planResistiveCell(const Job& job, const std::vector<double>& volts) {
    std::vector<PlannedJob> jobs;
    for (int s = 0; s < job.samples; ++s)
        for (std::size_t b = 0; b < volts.size(); ++b) {
            netlist::Circuit c(job.name + " resistive-cell sample " + std::to_string(s) + " V=" + netlist::formatSI(volts[b]));
            job.cell.includeInto(c);
            c.add(netlist::VoltageSource{"bias", "top", "0", netlist::Dc{volts[b]}});
            c.add(job.cell.instance("dut", {{"top", "top"}, {"bottom", "0"}}, drawInstanceParams(job, std::uint64_t(s), 0)));
            c.analysis(netlist::OpAnalysis{});
            PlannedJob pj;
            pj.sim.id = job.name + "_s" + std::to_string(s) + "_V" + netlist::formatSI(volts[b]);
            pj.sim.deck = netlist::writeDeck(c);
            pj.sim.vectors = {"i(vbias)"};
            pj.point = {{"sample", s}, {"V", volts[b]}};
            jobs.push_back(std::move(pj));
        }
    return jobs;
}

// I-V curves of the first few samples, for a look at the cell's nonlinearity.
void plotCurrentVoltage(const Job& job, const RunSummary& run) {
    std::vector<report::Series> curves;
    for (int s = 0; s < std::min(job.samples, 8); ++s) {
        report::Series c{"sample " + std::to_string(s), {}, {}, report::Series::Style::LinesPoints};
        std::vector<std::pair<double, double>> pts;
        for (const auto& row : run.rows)
            if (row.ok && row.values.at("sample") == s) pts.emplace_back(row.values.at("V"), row.values.at("I_A"));
        std::sort(pts.begin(), pts.end());
        for (const auto& [v, i] : pts) c.x.push_back(v), c.y.push_back(i);
        curves.push_back(std::move(c));
    }
    report::plotXY(run.dir / "iv.png", {job.name + ": I-V of " + job.cell.subckt, "V (V)", "I (A)"}, curves);
}

// The fits the job asks for, of the conductances at the read bias, with provenance; their summary
// goes into the report.
void writeConductanceFits(const Job& job, double read_V, const std::vector<double>& g, JobOutcome& out) {
    fit::FitProvenance prov;
    prov.generator = "imc characterize (job " + job.name + ", testbench resistive-cell)";
    prov.parameters = job.document;
    prov.netlist_sha256 = out.run.netlistHash;
    prov.seed = job.seed;
    prov.samples = std::uint64_t(job.samples);
    prov.ngspice_version = out.run.ngspiceVersion;
    prov.created_utc = fit::currentUtcTimestamp();
    prov.command = "imc characterize " + job.file.string();
    const fs::path fitsDir = out.run.dir / "fits";
    for (const auto& f : job.fits) {
        if (g.size() < 2)
            throw JobError(job.file.string() + ": key 'fits': " + f + " needs at least 2 successful samples, " +
                           std::to_string(g.size()) + " succeeded");
        fit::FitRecord rec;
        // Degenerate samples (all equal, say) are the job's problem to name, not a fit to write.
        auto fitted = [&](auto&& fitter) {
            try {
                return fitter(g);
            } catch (const std::invalid_argument& e) {
                throw JobError(job.file.string() + ": key 'fits': " + f + " of the conductance at " + netlist::formatSI(read_V) +
                               " V: " + e.what());
            }
        };
        if (f == "lognormal") {
            const auto l = fitted([](const std::vector<double>& x) { return fit::fitLognormal(x); });
            rec = fit::lognormalRecord(l, "S");
            rec.description = "conductance of " + job.cell.subckt + " at " + netlist::formatSI(read_V) + " V: ln(G/S) ~ N(mu, sigma)";
            out.report["lognormal"] = {{"mu", l.mu}, {"sigma", l.sigma}, {"mu_ci", {l.mu_ci.lo, l.mu_ci.hi}},
                                       {"sigma_ci", {l.sigma_ci.lo, l.sigma_ci.hi}}, {"ks_p", l.ks_p}, {"n", l.n}};
            std::vector<report::Series> pdf(1);
            pdf[0].label = "fitted lognormal";
            const auto [lo, hi] = std::minmax_element(g.begin(), g.end());
            for (int i = 0; i <= 200; ++i) {
                const double x = *lo + (*hi - *lo) * i / 200.0;
                const double z = (std::log(x) - l.mu) / l.sigma;
                pdf[0].x.push_back(x), pdf[0].y.push_back(std::exp(-0.5 * z * z) / (x * l.sigma * std::sqrt(2 * M_PI)));
            }
            report::plotHistogram(out.run.dir / "conductance-lognormal.png",
                                  {job.name + ": conductance at " + netlist::formatSI(read_V) + " V", "G (S)", "density"}, g,
                                  30, pdf);
        } else if (f == "gaussian") {
            const auto n = fitted([](const std::vector<double>& x) { return fit::fitGaussian(x); });
            rec = fit::gaussianRecord(n, "S");
            rec.description = "conductance of " + job.cell.subckt + " at " + netlist::formatSI(read_V) + " V: G ~ N(mean, std)";
            out.report["gaussian"] = {{"mean", n.mean}, {"std", n.std}, {"ks_p", n.ks_p}, {"n", n.n}};
        } else {
            throw JobError(job.file.string() + ": key 'fits': testbench resistive-cell makes \"lognormal\" or \"gaussian\", not \"" + f + "\"");
        }
        rec.provenance = prov;
        rec.validity["V_V"] = {read_V, read_V};
        fs::create_directories(fitsDir);
        const fs::path p = fitsDir / (job.name + "-" + f + ".json");
        fit::writeFit(p.string(), rec);
        out.fitFiles.push_back(p);
    }
}

}  // namespace

JobOutcome runResistiveCell(const Job& job, const JobRunOptions& options) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "read_V"});
    const double read_V = tb.quantity("read_V", 0.2);
    if (read_V == 0) tb.failKey("read_V", "must not be 0 (G = I/V)");
    for (const auto& [k, v] : job.sweeps)
        if (k != "V") throw JobError(job.file.string() + ": key 'sweep." + k + "': testbench resistive-cell sweeps only \"V\"");
    std::vector<double> volts = job.sweeps.count("V") ? job.sweeps.at("V") : std::vector<double>{read_V};
    if (std::find(volts.begin(), volts.end(), read_V) == volts.end()) volts.push_back(read_V);
    for (double v : volts)
        if (v == 0) throw JobError(job.file.string() + ": key 'sweep.V': 0 V gives no conductance; leave it out");

    const std::vector<PlannedJob> jobs = planResistiveCell(job, volts);
    const Measure measure = [](const PlannedJob& j, const spice::SimResult& r) {
        const double v = j.point[1].second;
        const double i = -r.vec("i(vbias)")[0];  // the source's branch current flows into its + node
        return std::vector<std::pair<std::string, double>>{{"I_A", i}, {"G_S", i / v}};
    };
    JobOutcome out;
    out.run = runSweep(jobs, {"I_A", "G_S"}, measure, runSpecFor(job, options));

    if (volts.size() > 1) plotCurrentVoltage(job, out.run);

    std::vector<double> g;
    for (const auto& row : out.run.rows)
        if (row.ok && row.values.at("V") == read_V) g.push_back(row.values.at("G_S"));
    out.report = {{"results", out.run.dir.string()}, {"samples", job.samples}, {"failed", out.run.failed},
                  {"read_V", read_V}, {"conductance_S", {{"median", 0.0}, {"n", g.size()}}}};
    if (!g.empty()) {
        auto sorted = g;
        std::sort(sorted.begin(), sorted.end());
        out.report["conductance_S"]["median"] = sorted[sorted.size() / 2];
    }
    writeConductanceFits(job, read_V, g, out);
    return out;
}

}  // namespace imc::characterize::testbench
