#include "characterize/rram.hpp"
#include "characterize/testbenches.hpp"

namespace imc::characterize::testbench {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> multiLevelCellRoles() { return {"bl", "wl", "sl"}; }

namespace {

// "variability": {"program_and_verify": {...}, "relaxation": {...}, "read_noise": {...},
// "access_mismatch": {...}}: every source must say where its numbers come from ("source").
void parseVariability(const JobNode& v, RramLevelsSpec& s) {
    v.allowOnly({"program_and_verify", "relaxation", "read_noise", "access_mismatch"});
    auto stated = [&](const std::string& key) {
        const JobNode n = v.at(key);
        if (n.text("source").empty()) n.failKey("source", "must say where the numbers come from");
        return n;
    };
    const JobNode pv = stated("program_and_verify");
    pv.allowOnly({"sigma", "window_lsb", "iteration_cap", "source"});
    s.programSigma = pv.number("sigma", s.programSigma);
    s.verifyWindow_lsb = pv.number("window_lsb", s.verifyWindow_lsb);
    s.verifyCap = int(pv.number("iteration_cap", s.verifyCap));
    const JobNode rel = stated("relaxation");
    rel.allowOnly({"model", "retention", "source"});
    if (rel.text("model", "wan2022") != "wan2022") rel.failKey("model", "must be \"wan2022\" (the one relaxation model implemented)");
    try {
        s.retention = parseRetention(rel.text("retention", "1day"));
    } catch (const std::invalid_argument& e) {
        rel.failKey("retention", e.what());
    }
    const JobNode rn = stated("read_noise");
    rn.allowOnly({"std_rel_G_on", "source"});
    s.readNoise_rel = rn.number("std_rel_G_on", s.readNoise_rel);
    if (v.has("access_mismatch")) {
        const JobNode am = stated("access_mismatch");
        am.allowOnly({"param", "A_vt_Vm", "W_m", "L_m", "source"});
        s.mismatchParam = am.text("param", s.mismatchParam);
        s.A_vt_Vm = am.quantity("A_vt_Vm", s.A_vt_Vm);
        s.accessW_m = am.quantity("W_m", s.accessW_m);
        s.accessL_m = am.quantity("L_m", s.accessL_m);
    } else {
        s.mismatchParam.clear();
    }
}

RramLevelsSpec parseSettings(const Job& job) {
    const JobNode tb(job.testbench, job.file.string(), "testbench");
    tb.allowOnly({"kind", "levels", "conductance_param", "R_on_Ohm", "on_off", "read_V", "word_line_V", "devices_per_level",
                  "devices_per_job", "rows", "column_reads", "columns_per_job", "wire_Ohm", "input_density", "adc_bits", "variability"});
    RramLevelsSpec s;
    s.cell = job.cell;
    s.seed = job.seed;
    s.levels = int(tb.number("levels", 4));
    s.conductanceParam = tb.text("conductance_param", s.conductanceParam);
    if (!job.cell.defaults.count(s.conductanceParam))
        tb.failKey("conductance_param", "subcircuit " + job.cell.subckt + " has no parameter '" + s.conductanceParam + "'");
    s.R_on_Ohm = tb.quantity("R_on_Ohm", s.R_on_Ohm);
    s.onOff = tb.number("on_off", s.onOff);
    s.read_V = tb.quantity("read_V", s.read_V);
    s.wordLine_V = tb.quantity("word_line_V", s.wordLine_V);
    s.devicesPerLevel = int(tb.number("devices_per_level", s.devicesPerLevel));
    s.devicesPerJob = int(tb.number("devices_per_job", s.devicesPerJob));
    s.rows = int(tb.number("rows", s.rows));
    s.columnReads = int(tb.number("column_reads", s.columnReads));
    s.columnsPerJob = int(tb.number("columns_per_job", s.columnsPerJob));
    s.wire_Ohm = tb.quantity("wire_Ohm", s.wire_Ohm);
    s.inputDensity = tb.number("input_density", s.inputDensity);
    s.adcBits = int(tb.number("adc_bits", 0));
    parseVariability(tb.at("variability"), s);
    if (!s.mismatchParam.empty() && !job.cell.defaults.count(s.mismatchParam))
        tb.failKey("variability.access_mismatch.param", "subcircuit " + job.cell.subckt + " has no parameter '" + s.mismatchParam + "'");
    try {
        s.validate();
    } catch (const std::invalid_argument& e) {
        tb.fail(e.what());
    }
    return s;
}

}  // namespace

JobOutcome runMultiLevelCell(const Job& job, const JobRunOptions& options) {
    if (!job.sweeps.empty()) throw JobError(job.file.string() + ": key 'sweep': testbench multilevel-cell takes no sweeps");
    if (!job.vary.empty())
        throw JobError(job.file.string() + ": key 'montecarlo.vary': testbench multilevel-cell draws its variability from "
                       "'testbench.variability'");
    for (const auto& f : job.fits)
        if (f != "rram-levels") throw JobError(job.file.string() + ": key 'fits': testbench multilevel-cell makes \"rram-levels\", not \"" + f + "\"");
    const RramLevelsSpec spec = parseSettings(job);
    const RramLevelsReport rep = runRramLevels(spec, runSpecFor(job, options));  // its seed and parameters are the spec's
    JobOutcome out;
    out.report = rep.toJson();
    out.report["job"] = job.name;
    for (const auto& f : job.fits) {
        fit::FitRecord rec = rep.toFit("imc characterize " + job.file.string());
        rec.provenance.generator = "imc characterize (job " + job.name + ", testbench multilevel-cell)";
        rec.provenance.extra["job"] = job.document;
        const fs::path dir = rep.devicesDir.parent_path() / (job.name + "-fits");
        fs::create_directories(dir);
        const fs::path p = dir / (job.name + "-" + f + ".json");
        fit::writeFit(p.string(), rec);
        out.fitFiles.push_back(p);
    }
    return out;
}

}  // namespace imc::characterize::testbench
