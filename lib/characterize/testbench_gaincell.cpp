// Job-file testbenches of the gain-cell hardware: "gaincell", "charge-to-pulse" and "array". They
// wrap a user's cell with the same generators and reductions as `imc characterize gaincell`,
// `c2p-relu`/`c2p-signed` and `gaincell-array` (characterize/gaincell.hpp).
#include "characterize/gaincell.hpp"
#include "characterize/testbenches.hpp"
#include "datadir/datadir.hpp"
#include "netlist/netlist.hpp"

namespace imc::characterize::testbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void onlySweeps(const Job& job, const std::vector<std::string>& allowed) {
    for (const auto& [k, v] : job.sweeps)
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
            throw JobError(job.file.string() + ": key 'sweep." + k + "': testbench " + job.kind + " sweeps only " + list);
        }
}

void onlyFits(const Job& job, const std::vector<std::string>& allowed) {
    for (const auto& f : job.fits)
        if (std::find(allowed.begin(), allowed.end(), f) == allowed.end())
            throw JobError(job.file.string() + ": key 'fits': testbench " + job.kind + " does not make \"" + f + "\"");
}

GainCellRunOptions runOptions(const Job& job, const JobRunOptions& options) {
    GainCellRunOptions o;
    o.outDir = options.outDir;
    o.workers = options.workers;
    o.force = options.force;
    o.progress = options.progress;
    o.command = "imc characterize " + job.file.string();
    return o;
}

// Copies a record into <results>/fits/<job>-<fit>.json, the place every job kind writes to.
fs::path writeJobFit(const Job& job, const fs::path& runDir, const std::string& fitName, fit::FitRecord record) {
    record.provenance.generator += " (job " + job.name + ")";
    record.provenance.parameters = job.document;
    const fs::path dir = runDir / "fits";
    fs::create_directories(dir);
    const fs::path p = dir / (job.name + "-" + fitName + ".json");
    fit::writeFit(p.string(), record);
    return p;
}

}  // namespace

std::vector<std::string> gainCellRoles() { return {"wbl", "we", "web", "pwm", "pwmb", "bl", "vdd", "vss"}; }
std::vector<std::string> chargeToPulseRoles() { return {"in", "out", "conv", "rst", "vdd", "vss"}; }
std::vector<std::string> chargeToPulseOptionalRoles() { return {"sign"}; }

JobOutcome runGainCell(const Job& job, const JobRunOptions& options) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "K_offset_V", "nominal_V_in_V", "bit_line_V", "vdd_V"});
    onlySweeps(job, {"K", "Q", "V_in"});
    onlyFits(job, {"gaincell-poly"});
    GainCellSweep sw;
    sw.name = job.name;
    sw.cell = job.cell;
    for (int k = 0; k < 8; ++k) sw.K_V.push_back(0.9 * k / 7.0);
    sw.Q_s = {0.0, 5e-9, 10e-9, 15e-9};
    sw.nominal_V_in_V = tb.quantity("nominal_V_in_V", 0.9);
    sw.V_in_V = {sw.nominal_V_in_V};
    if (job.sweeps.count("K")) sw.K_V = job.sweeps.at("K");
    if (job.sweeps.count("Q")) sw.Q_s = job.sweeps.at("Q");
    if (job.sweeps.count("V_in")) sw.V_in_V = job.sweeps.at("V_in");
    for (double q : sw.Q_s)
        if (q < 0 || q > 1e-6)
            throw JobError(job.file.string() + ": key 'sweep.Q': pulse widths are in seconds (0 .. 1u), got " + netlist::formatSI(q));
    sw.K_offset_V = tb.quantity("K_offset_V", 0.45);
    sw.bench.bitLine_V = tb.quantity("bit_line_V", 0.45);
    sw.bench.vdd_V = tb.quantity("vdd_V", 0.9);
    sw.samples = job.samples;
    sw.seed = job.seed;
    const Job copy = job;
    sw.params = [copy](std::uint64_t sample) { return drawInstanceParams(copy, sample, 0); };
    sw.parameters = job.document;
    const GainCellResult r = characterizeGainCell(sw, runOptions(job, options));
    JobOutcome out;
    out.run = r.run;
    out.report = r.report;
    for (const auto& f : job.fits) out.fitFiles.push_back(writeJobFit(job, r.run.dir, f, r.fullRecord ? *r.fullRecord : r.record));
    return out;
}

JobOutcome runChargeToPulse(const Job& job, const JobRunOptions& options) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "T_max_s", "bit_line_F", "vdd_V"});
    onlySweeps(job, {"Q_in"});
    const bool isSigned = job.cell.roles.count("sign") > 0;
    onlyFits(job, {isSigned ? "c2p-signed" : "c2p-relu"});
    ChargeToPulseSweep sw;
    sw.name = job.name;
    sw.readout = job.cell;
    sw.isSigned = isSigned;
    for (int k = 0; k <= 20; ++k) sw.Q_in_C.push_back((isSigned ? -400e-15 : -100e-15) + (isSigned ? 800e-15 : 500e-15) * k / 20.0);
    if (job.sweeps.count("Q_in")) sw.Q_in_C = job.sweeps.at("Q_in");
    sw.bench.Tmax_s = tb.quantity("T_max_s", 15e-9);
    sw.bench.bitLine_F = tb.quantity("bit_line_F", 100e-15);
    sw.bench.vdd_V = tb.quantity("vdd_V", 0.9);
    sw.samples = job.samples;
    sw.seed = job.seed;
    const Job copy = job;
    sw.params = [copy](std::uint64_t sample) { return drawInstanceParams(copy, sample, 0); };
    sw.parameters = job.document;
    const ChargeToPulseResult r = characterizeChargeToPulse(sw, runOptions(job, options));
    JobOutcome out;
    out.run = r.run;
    out.report = r.report;
    for (const auto& f : job.fits) out.fitFiles.push_back(writeJobFit(job, r.run.dir, f, r.record));
    return out;
}

JobOutcome runGainCellArray(const Job& job, const JobRunOptions& options) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "rows", "cols", "form", "fits_dir", "mismatch"});
    onlySweeps(job, {});
    onlyFits(job, {"gaincell-array"});
    ArrayCharacterization a;
    a.rows = int(tb.number("rows", 8));
    a.cols = int(tb.number("cols", 8));
    if (a.rows < 1 || a.cols < 1) tb.fail("rows and cols must be >= 1");
    const std::string form = tb.text("form", "auto");
    if (form == "full") a.form = ArrayCharacterization::Form::Full;
    else if (form == "columns") a.form = ArrayCharacterization::Form::Columns;
    else if (form != "auto") tb.failKey("form", "must be auto, full or columns");
    // The polynomial of the model: a gaincell-poly fit in fits_dir (default: the shipped fits/).
    fs::path fitsDir = dataPath("fits");
    if (tb.has("fits_dir")) {
        fitsDir = fs::path(tb.text("fits_dir"));
        if (fitsDir.is_relative()) fitsDir = fs::absolute(job.file).parent_path() / fitsDir;
    }
    if (!fs::is_directory(fitsDir)) tb.failKey("fits_dir", fitsDir.string() + " is not a directory");
    auto polynomial = fit::findFit(fitsDir.string(), "gaincell-poly");  // a broken file there is an error
    if (!polynomial) tb.failKey("fits_dir", "no gaincell-poly fit in " + fitsDir.string() + " (run imc characterize gaincell)");
    a.polynomial = std::move(*polynomial);
    a.cell = job.cell;
    a.samples = job.samples;
    a.seed = job.seed;
    a.mismatch = tb.has("mismatch") ? tb.json().at("mismatch").get<bool>() : true;
    a.parameters = job.document;
    const ArrayResult r = characterizeArray(a, runOptions(job, options));
    JobOutcome out;
    out.run.dir = r.dir;
    out.report = r.report;
    for (const auto& f : job.fits) out.fitFiles.push_back(writeJobFit(job, r.dir, f, r.record));
    return out;
}

}  // namespace imc::characterize::testbench
