// Job-file testbenches of the gain-cell hardware: "gaincell", "charge-to-pulse" and "array". They
// wrap a user's cell with the same generators and reductions as `imc characterize gaincell`,
// `c2p-relu`/`c2p-signed` and `gaincell-array` (characterize/gaincell.hpp).
#include "characterize/gaincell.hpp"
#include "characterize/testbenches.hpp"
#include "datadir/datadir.hpp"
#include "netlist/netlist.hpp"

#include <cmath>
#include <optional>

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

// What every gain-cell kind returns: the run, its report and the job's fits written from `record`.
JobOutcome outcomeOf(const Job& job, const RunSummary& run, const nlohmann::json& report, const fit::FitRecord& record) {
    JobOutcome out;
    out.run = run;
    out.report = report;
    for (const auto& f : job.fits) out.fitFiles.push_back(writeJobFit(job, run.dir, f, record));
    return out;
}

}  // namespace

std::vector<std::string> gainCellRoles() { return {"wbl", "we", "web", "pwm", "pwmb", "bl", "vdd", "vss"}; }
std::vector<std::string> chargeToPulseRoles() { return {"in", "out", "conv", "rst", "vdd", "vss"}; }
std::vector<std::string> chargeToPulseOptionalRoles() { return {"sign"}; }

JobOutcome runGainCell(const Job& job, const JobRunOptions& options) {
    const GainCellResult r = characterizeGainCell(gainCellSweepFromJob(job), runOptions(job, options));
    return outcomeOf(job, r.run, r.report, r.fullRecord ? *r.fullRecord : r.record);
}

JobOutcome runChargeToPulse(const Job& job, const JobRunOptions& options) {
    const ChargeToPulseResult r = characterizeChargeToPulse(chargeToPulseSweepFromJob(job), runOptions(job, options));
    return outcomeOf(job, r.run, r.report, r.record);
}

JobOutcome runRetention(const Job& job, const JobRunOptions& options) {
    const RetentionResult r = characterizeRetention(retentionSweepFromJob(job), runOptions(job, options));
    return outcomeOf(job, r.run, r.report, r.record);
}

JobOutcome runGainCellArray(const Job& job, const JobRunOptions& options) {
    const ArrayResult r = characterizeArray(arrayCharacterizationFromJob(job), runOptions(job, options));
    RunSummary run;
    run.dir = r.dir;
    return outcomeOf(job, run, r.report, r.record);
}

}  // namespace imc::characterize::testbench

namespace imc::characterize {
namespace fs = std::filesystem;
using nlohmann::json;

GainCellSweep gainCellSweepFromJob(const Job& job) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "K_offset_V", "nominal_V_in_V", "bit_line_V", "vdd_V"});
    testbench::onlySweeps(job, {"K", "Q", "V_in"});
    testbench::onlyFits(job, {"gaincell-poly"});
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
    return sw;
}

ChargeToPulseSweep chargeToPulseSweepFromJob(const Job& job) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    // S_sat_per_sqrt_row_fC: the sizing rule for other bit-line lengths (builtinReadoutJob).
    tb.allowOnly({"kind", "T_max_s", "bit_line_F", "vdd_V", "S_sat_per_sqrt_row_fC"});
    testbench::onlySweeps(job, {"Q_in", "Q_in_rel_Ssat"});
    const bool isSigned = job.cell.roles.count("sign") > 0;
    testbench::onlyFits(job, {isSigned ? "c2p-signed" : "c2p-relu"});
    if (job.sweeps.count("Q_in") && job.sweeps.count("Q_in_rel_Ssat"))
        throw JobError(job.file.string() + ": key 'sweep': give the charges either as Q_in (C) or as Q_in_rel_Ssat, not both");
    ChargeToPulseSweep sw;
    sw.name = job.name;
    sw.readout = job.cell;
    sw.isSigned = isSigned;
    for (int k = 0; k <= 20; ++k) sw.Q_in_C.push_back((isSigned ? -400e-15 : -100e-15) + (isSigned ? 800e-15 : 500e-15) * k / 20.0);
    if (job.sweeps.count("Q_in")) sw.Q_in_C = job.sweeps.at("Q_in");
    if (job.sweeps.count("Q_in_rel_Ssat")) {
        // Charges as fractions of the readout's own full scale (its Ssat parameter).
        const auto Ssat = cellNumericValue(job.cell, "Ssat");
        if (!Ssat) throw JobError(job.file.string() + ": key 'sweep.Q_in_rel_Ssat': the cell has no numeric Ssat parameter");
        sw.Q_in_C.clear();
        for (double f : job.sweeps.at("Q_in_rel_Ssat")) sw.Q_in_C.push_back(*Ssat * f);
    }
    // The conversion window of the bench follows the readout's own Tmax unless the job sets it.
    sw.bench.Tmax_s = tb.quantity("T_max_s", cellNumericValue(job.cell, "Tmax").value_or(15e-9));
    sw.bench.bitLine_F = tb.quantity("bit_line_F", 100e-15);
    sw.bench.vdd_V = tb.quantity("vdd_V", 0.9);
    sw.bench.isSigned = isSigned;
    sw.samples = job.samples;
    sw.seed = job.seed;
    const Job copy = job;
    sw.params = [copy](std::uint64_t sample) { return drawInstanceParams(copy, sample, 0); };
    sw.parameters = job.document;
    return sw;
}

circuits::ReadoutParams builtinReadoutParams(bool isSigned, int rows) {
    const fs::path file = dataPath("netlists") / (isSigned ? "c2p-signed.job.json" : "c2p-relu.job.json");
    const json doc = readJobDocument(file);
    const json* perRow = doc.contains("testbench") ? &doc["testbench"] : nullptr;
    if (!perRow || !perRow->contains("S_sat_per_sqrt_row_fC") || !(*perRow)["S_sat_per_sqrt_row_fC"].is_number())
        throw JobError(file.string() + ": key 'testbench.S_sat_per_sqrt_row_fC': must be a number (fC)");
    return circuits::readoutForRows(rows, (*perRow)["S_sat_per_sqrt_row_fC"].get<double>());
}

Job builtinReadoutJob(bool isSigned, int rows, int samples, std::optional<std::uint64_t> seed, double fullScale_C, int levels) {
    // The readout sized for the bit line (S_sat and Cf by the sizing rule, its charge per sqrt(row)
    // from the job); the job's spreads are relative to these values and its charges fractions of
    // S_sat, so both follow.
    const circuits::ReadoutParams rp =
        fullScale_C > 0 ? circuits::readoutForFullScale(fullScale_C) : builtinReadoutParams(isSigned, rows);
    return loadBuiltinJob(isSigned ? "c2p-signed" : "c2p-relu", samples, seed, [&](json& doc) {
        for (const auto& [k, v] : rp.asParams()) doc["cell"]["params"][k] = v;
        if (levels > 0) doc["sweep"]["Q_in_rel_Ssat"]["points"] = levels;
    });
}

RetentionSweep retentionSweepFromJob(const Job& job) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "cases"});
    testbench::onlySweeps(job, {});
    testbench::onlyFits(job, {"retention"});
    RetentionSweep sw;
    sw.name = job.name;
    sw.cell = job.cell;
    // Each case: the stored K and the write gate's threshold shift (0: standard; > 0: high-Vth with
    // boosted enables).
    const JobNode cases = tb.at("cases");
    if (!cases.json().is_array() || cases.size() == 0) cases.fail("must list the cases, e.g. [{\"K_V\": 0.9, \"dvtw_V\": 0}]");
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const JobNode c = cases.at(i);
        c.allowOnly({"K_V", "dvtw_V"});
        sw.K_V.push_back(c.quantity("K_V"));
        sw.dvtw_V.push_back(c.quantity("dvtw_V", 0.0));
        if (sw.dvtw_V.back() < 0) c.failKey("dvtw_V", "must be >= 0");
    }
    sw.samples = job.samples;
    sw.seed = job.seed;
    const Job copy = job;
    sw.params = [copy](std::uint64_t sample, std::uint64_t device) { return drawInstanceParams(copy, sample, device); };
    sw.paper = job.paper;
    sw.parameters = job.document;
    return sw;
}

const std::vector<std::string>& arrayArchitectureKeys() {
    static const std::vector<std::string> keys = {"Q_levels", "Q_min",   "Q_max",  "K_levels",  "K_min_V",  "K_max_V",
                                                  "V_levels", "V_min_V", "V_max_V", "out_levels", "out_min", "out_max",
                                                  "tile_size", "V_in_V", "pulse_full_scale_ns"};
    return keys;
}

ArrayCharacterization arrayCharacterizationFromJob(const Job& job) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "rows", "cols", "form", "fits_dir", "mismatch", "architecture"});
    testbench::onlySweeps(job, {});
    testbench::onlyFits(job, {"gaincell-array"});
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
    // The architecture: every key, numbers, the level counts whole and >= 2.
    const JobNode arch = tb.at("architecture");
    arch.allowOnly(arrayArchitectureKeys());
    for (const auto& key : arrayArchitectureKeys()) {
        const double v = arch.number(key);
        if (key.find("levels") != std::string::npos && (v < 2 || v != std::floor(v))) arch.failKey(key, "must be a whole number >= 2");
        if (key == "tile_size" && (v < 1 || v != std::floor(v))) arch.failKey(key, "must be a whole number >= 1");
    }
    a.architecture = arch.json();
    a.paper = job.paper;
    a.cell = job.cell;
    a.samples = job.samples;
    a.seed = job.seed;
    if (tb.has("mismatch") && !tb.json().at("mismatch").is_boolean()) tb.failKey("mismatch", "must be true or false");
    if (!tb.has("mismatch") || tb.json().at("mismatch").get<bool>()) {
        const Job copy = job;
        a.mismatch = [copy](std::uint64_t sample, std::uint64_t device) { return drawInstanceParams(copy, sample, device); };
    }
    a.parameters = job.document;
    return a;
}

}  // namespace imc::characterize
