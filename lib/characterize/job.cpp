#include "characterize/job.hpp"

#include "characterize/testbenches.hpp"
#include "datadir/datadir.hpp"
#include "netlist/netlist.hpp"
#include "spice/deck_file.hpp"

#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <set>

namespace imc::characterize {
namespace fs = std::filesystem;
using nlohmann::json;

// ---- JobNode ----

JobNode::JobNode(const nlohmann::json& value, std::string file, std::string path)
    : value_(value), file_(std::move(file)), path_(std::move(path)) {}

std::string JobNode::keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void JobNode::fail(const std::string& message) const {
    throw JobError(file_ + ": key '" + (path_.empty() ? std::string("(top)") : path_) + "': " + message);
}

void JobNode::failKey(const std::string& key, const std::string& message) const {
    throw JobError(file_ + ": key '" + keyPath(key) + "': " + message);
}

bool JobNode::has(const std::string& key) const { return value_.is_object() && value_.contains(key); }

JobNode JobNode::at(const std::string& key) const {
    if (!value_.is_object()) fail("must be an object");
    if (!value_.contains(key)) failKey(key, "missing");
    return JobNode(value_.at(key), file_, keyPath(key));
}

JobNode JobNode::at(std::size_t index) const {
    if (!value_.is_array()) fail("must be a list");
    if (index >= value_.size()) fail("has no element " + std::to_string(index));
    return JobNode(value_.at(index), file_, path_ + "[" + std::to_string(index) + "]");
}

std::size_t JobNode::size() const {
    if (!value_.is_array() && !value_.is_object()) fail("must be a list or an object");
    return value_.size();
}

double JobNode::quantity(const std::string& key) const {
    const auto& v = at(key).json();
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
        try {
            return netlist::parseSI(v.get<std::string>());
        } catch (const std::exception& e) {
            failKey(key, e.what());
        }
    }
    failKey(key, "must be a number (or a string such as \"1.5n\"), got " + v.dump());
}

double JobNode::quantity(const std::string& key, double fallback) const { return has(key) ? quantity(key) : fallback; }

double JobNode::number(const std::string& key) const {
    const auto& v = at(key).json();
    if (!v.is_number()) failKey(key, "must be a number, got " + v.dump());
    return v.get<double>();
}

double JobNode::number(const std::string& key, double fallback) const { return has(key) ? number(key) : fallback; }

std::string JobNode::text(const std::string& key) const {
    const auto& v = at(key).json();
    if (!v.is_string()) failKey(key, "must be a string, got " + v.dump());
    return v.get<std::string>();
}

std::string JobNode::text(const std::string& key, const std::string& fallback) const {
    return has(key) ? text(key) : fallback;
}

std::vector<double> JobNode::numbers(const std::string& key) const {
    const JobNode n = at(key);
    std::vector<double> out;
    if (n.json().is_array()) {
        for (std::size_t i = 0; i < n.json().size(); ++i) {
            const auto& v = n.json()[i];
            if (v.is_number()) out.push_back(v.get<double>());
            else if (v.is_string()) {
                try {
                    out.push_back(netlist::parseSI(v.get<std::string>()));
                } catch (const std::exception& e) {
                    n.failKey(std::to_string(i), e.what());
                }
            } else n.at(i).fail("must be a number");
        }
    } else if (n.json().is_object()) {
        n.allowOnly({"start", "stop", "points"});
        const double a = n.quantity("start"), b = n.quantity("stop");
        const double p = n.number("points");
        if (p < 1 || p != std::floor(p)) n.failKey("points", "must be a whole number >= 1");
        for (int i = 0; i < int(p); ++i) out.push_back(p == 1 ? a : a + (b - a) * i / (p - 1));
    } else {
        n.fail("must be a list of numbers or {\"start\", \"stop\", \"points\"}");
    }
    if (out.empty()) n.fail("holds no points");
    return out;
}

void JobNode::allowOnly(const std::vector<std::string>& allowed) const {
    if (!value_.is_object()) fail("must be an object");
    for (const auto& [k, v] : value_.items())
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
            failKey(k, "unknown key (expected one of: " + list + ")");
        }
}

// ---- parsing ----

namespace {

struct Kind {
    std::vector<std::string> (*roles)();
    JobOutcome (*run)(const Job&, const JobRunOptions&);
    std::vector<std::string> (*optionalRoles)() = nullptr;  // roles a cell may bind but need not
};

const std::map<std::string, Kind>& kinds() {
    static const std::map<std::string, Kind> k = {
        {"resistive-cell", {&testbench::resistiveCellRoles, &testbench::runResistiveCell}},
        {"gaincell", {&testbench::gainCellRoles, &testbench::runGainCell}},
        {"charge-to-pulse", {&testbench::chargeToPulseRoles, &testbench::runChargeToPulse, &testbench::chargeToPulseOptionalRoles}},
        {"array", {&testbench::gainCellRoles, &testbench::runGainCellArray}},
        {"retention", {&testbench::gainCellRoles, &testbench::runRetention}},
        {"multilevel-cell", {&testbench::multiLevelCellRoles, &testbench::runMultiLevelCell}},
    };
    return k;
}

}  // namespace

std::optional<double> cellNumericValue(const circuits::CellSpec& cell, const std::string& param) {
    std::string text;
    if (auto it = cell.params.find(param); it != cell.params.end()) text = it->second;
    else if (auto d = cell.defaults.find(param); d != cell.defaults.end()) text = d->second;
    if (text.empty()) return std::nullopt;
    try {
        return netlist::parseSI(text);
    } catch (const std::exception&) {
        return std::nullopt;  // an expression such as {W*2}: not a number the job can vary around
    }
}

namespace {

double cellNumber(const JobNode& n, const circuits::CellSpec& cell, const std::string& key, const std::string& param) {
    const auto v = cellNumericValue(cell, param);
    if (!v) n.failKey(key, "subcircuit " + cell.subckt + " has no numeric value of '" + param + "' to use");
    return *v;
}

// A normal's sigma: "sigma" (absolute) or "sigma_rel" (a fraction of the mean).
double normalSigma(const JobNode& n, double mean) {
    if (n.has("sigma") == n.has("sigma_rel")) n.fail("a normal needs exactly one of 'sigma' or 'sigma_rel' (a fraction of the mean)");
    if (n.has("sigma")) {
        const double sigma = n.quantity("sigma");
        if (sigma < 0) n.failKey("sigma", "must be >= 0");
        return sigma;
    }
    const double rel = n.number("sigma_rel");
    if (rel < 0) n.failKey("sigma_rel", "must be >= 0");
    return std::abs(mean) * rel;
}

// Distributions; a normal's mean defaults to the cell's own value of the parameter, and a
// "pelgrom" threshold shift is normal(0, A_vt / sqrt(W L)) with W and L read from the cell.
variability::Distribution parseDistribution(const JobNode& n, const circuits::CellSpec& cell, const std::string& param) {
    const std::string kind = n.text("distribution");
    const std::vector<std::string> common = {"param", "distribution", "kind", "stream"};
    auto allow = [&](std::vector<std::string> extra) {
        extra.insert(extra.end(), common.begin(), common.end());
        n.allowOnly(extra);
    };
    if (kind == "lognormal") {
        allow({"median", "mu", "sigma"});
        if (n.has("median") == n.has("mu")) n.fail("a lognormal needs exactly one of 'median' (value) or 'mu' (of its log)");
        const double sigma = n.number("sigma");
        if (sigma < 0) n.failKey("sigma", "must be >= 0");
        double mu = 0;
        if (n.has("median")) {
            const double median = n.quantity("median");
            if (!(median > 0)) n.failKey("median", "must be > 0");
            mu = std::log(median);
        } else {
            mu = n.number("mu");
        }
        return variability::Distribution::lognormal(mu, sigma);
    }
    if (kind == "normal") {
        allow({"mean", "sigma", "sigma_rel"});
        const double mean = n.has("mean") ? n.quantity("mean") : cellNumber(n, cell, "param", param);
        return variability::Distribution::normal(mean, normalSigma(n, mean));
    }
    if (kind == "pelgrom") {
        allow({"A_vt_Vm", "W", "L"});
        const double A = n.number("A_vt_Vm");
        if (!(A >= 0)) n.failKey("A_vt_Vm", "must be >= 0 (V m; 1.2 mV um is 1.2e-9)");
        const double W = cellNumber(n, cell, "W", n.text("W")), L = cellNumber(n, cell, "L", n.text("L"));
        if (!(W > 0) || !(L > 0)) n.fail("the device's W and L must be > 0");
        return variability::Distribution::normal(0, variability::pelgromSigma(A, W, L));
    }
    if (kind == "uniform") {
        allow({"low", "high"});
        const double lo = n.quantity("low"), hi = n.quantity("high");
        if (!(hi >= lo)) n.failKey("high", "must be >= low");
        return variability::Distribution::uniform(lo, hi);
    }
    n.failKey("distribution", "must be one of lognormal, normal, pelgrom, uniform (got \"" + kind + "\")");
}

}  // namespace

std::vector<std::string> testbenchKinds() {
    std::vector<std::string> out;
    for (const auto& [k, v] : kinds()) out.push_back(k);
    return out;
}

namespace {

// The cell: its netlist and includes (refused when they could run commands, unless trusted), the
// port roles the testbench kind needs, and parameter overrides.
void parseCell(const JobNode& root, const Kind& kind, const fs::path& file, Job& job) {
    const fs::path base = fs::absolute(file).parent_path();
    auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? fs::path(p) : (base / p).lexically_normal(); };
    const JobNode cell = root.at("cell");
    cell.allowOnly({"netlist", "subckt", "includes", "ports", "params"});
    const fs::path netlistFile = resolve(cell.text("netlist"));
    if (!fs::exists(netlistFile)) cell.failKey("netlist", "no such file: " + netlistFile.string());
    if (!fs::is_regular_file(netlistFile)) cell.failKey("netlist", "not a regular file: " + netlistFile.string());
    std::vector<fs::path> includes;
    if (cell.has("includes")) {
        const JobNode inc = cell.at("includes");
        for (std::size_t i = 0; i < inc.size(); ++i) {
            if (!inc.json()[i].is_string()) inc.at(i).fail("must be a path");
            const fs::path p = resolve(inc.json()[i].get<std::string>());
            if (!fs::exists(p)) inc.at(i).fail("no such file: " + p.string());
            if (!fs::is_regular_file(p)) inc.at(i).fail("not a regular file: " + p.string());
            includes.push_back(p);
        }
    }
    if (root.has("trust_netlist") && !root.json()["trust_netlist"].is_boolean()) root.failKey("trust_netlist", "must be true or false");
    if (!(root.has("trust_netlist") && root.json()["trust_netlist"].get<bool>())) {
        // A cell is a subcircuit from someone else: what would make ngspice run commands is refused.
        std::vector<fs::path> cellFiles = includes;
        cellFiles.push_back(netlistFile);
        try {
            spice::refuseDeckHazards(cellFiles, "a cell netlist from a job runs as a plain subcircuit; write \"trust_netlist\": true in " +
                                                    file.string() + " to run its commands");
        } catch (const spice::DeckError& e) {
            throw JobError(e.what());
        }
    }
    std::map<std::string, std::string> roles;
    const JobNode ports = cell.at("ports");
    if (!ports.json().is_object()) ports.fail("must map each port role to a port of the subcircuit");
    for (const auto& [role, port] : ports.json().items()) {
        if (!port.is_string()) ports.failKey(role, "must name a port of the subcircuit");
        roles[role] = port.get<std::string>();
    }
    try {
        job.cell = circuits::cellFromFile(netlistFile, cell.text("subckt"), roles, includes);
        job.cell.validate(kind.roles());
    } catch (const circuits::CellError& e) {
        cell.fail(e.what());
    }
    auto expected = kind.roles();
    if (kind.optionalRoles)
        for (const auto& r : kind.optionalRoles()) expected.push_back(r);
    for (const auto& [role, port] : roles)
        if (std::find(expected.begin(), expected.end(), role) == expected.end()) {
            std::string list;
            for (const auto& r : expected) list += (list.empty() ? "" : ", ") + r;
            ports.failKey(role, "testbench " + job.kind + " has no port role '" + role + "' (roles: " + list + ")");
        }
    if (cell.has("params")) {
        const JobNode params = cell.at("params");
        if (!params.json().is_object()) params.fail("must map parameter names to values");
        for (const auto& [k, v] : params.json().items()) {
            if (v.is_number()) job.cell.params[k] = netlist::formatSI(v.get<double>());
            else if (v.is_string()) job.cell.params[k] = v.get<std::string>();
            else params.failKey(k, "must be a number or a string");
        }
    }

}

// Monte-Carlo: sample count, seed, and the parameters drawn device to device or cycle to cycle.
void parseMonteCarlo(const JobNode& mc, Job& job) {
    mc.allowOnly({"samples", "seed", "nominal_sample0", "vary"});
    const double samples = mc.number("samples", 1);
    if (samples < 1 || samples != std::floor(samples)) mc.failKey("samples", "must be a whole number >= 1");
    job.samples = int(samples);
    const double seed = mc.number("seed", 1);
    if (seed < 0 || seed != std::floor(seed)) mc.failKey("seed", "must be a whole number >= 0");
    job.seed = std::uint64_t(seed);
    if (mc.has("nominal_sample0")) {
        if (!mc.json()["nominal_sample0"].is_boolean()) mc.failKey("nominal_sample0", "must be true or false");
        job.nominalSample0 = mc.json()["nominal_sample0"].get<bool>();
    }
    std::set<std::uint64_t> streams;
    if (mc.has("vary")) {
        const JobNode vary = mc.at("vary");
        for (std::size_t i = 0; i < vary.size(); ++i) {
            const JobNode v = vary.at(i);
            VariedParameter p;
            p.param = v.text("param");
            if (!job.cell.defaults.count(p.param) && !job.cell.params.count(p.param))
                v.failKey("param", "subcircuit " + job.cell.subckt + " has no parameter '" + p.param + "'");
            p.distribution = parseDistribution(v, job.cell, p.param);
            // Each parameter draws from its own stream, so adding one does not move the others' draws
            // when the added one names a stream of its own.
            const double stream = v.number("stream", double(i + 1));
            if (stream < 1 || stream != std::floor(stream)) v.failKey("stream", "must be a whole number >= 1");
            p.stream = std::uint64_t(stream);
            if (!streams.insert(p.stream).second) v.failKey("stream", "stream " + std::to_string(p.stream) + " is used twice");
            const std::string k = v.text("kind", "d2d");
            if (k != "d2d" && k != "c2c") v.failKey("kind", "must be \"d2d\" (device to device) or \"c2c\" (cycle to cycle)");
            p.cycleToCycle = k == "c2c";
            job.vary.push_back(p);
        }
    }
}

}  // namespace

Job parseJob(const json& document, const fs::path& file) {
    const JobNode root(document, file.string(), "");
    root.allowOnly({"format", "version", "name", "description", "cell", "testbench", "sweep", "montecarlo", "fits", "trust_netlist", "paper"});
    if (root.text("format") != "imc-job") root.failKey("format", "must be \"imc-job\"");
    if (root.number("version") != 1) root.failKey("version", "this imc reads job files of version 1");
    Job job;
    job.file = file;
    job.document = document;
    job.name = root.text("name");
    try {
        netlist::checkName(job.name, "job name");
    } catch (const std::exception& e) {
        root.failKey("name", e.what());
    }
    // testbench first: its kind says which port roles the cell must bind.
    const JobNode tb = root.at("testbench");
    job.kind = tb.text("kind");
    const auto kind = kinds().find(job.kind);
    if (kind == kinds().end()) {
        std::string list;
        for (const auto& k : testbenchKinds()) list += (list.empty() ? "" : ", ") + k;
        tb.failKey("kind", "unknown testbench \"" + job.kind + "\" (known: " + list + ")");
    }
    job.testbench = tb.json();

    parseCell(root, kind->second, file, job);

    if (root.has("sweep")) {
        const JobNode sweep = root.at("sweep");
        if (!sweep.json().is_object()) sweep.fail("must map sweep variables to points");
        for (const auto& [k, v] : sweep.json().items()) job.sweeps[k] = sweep.numbers(k);
    }
    if (root.has("montecarlo")) parseMonteCarlo(root.at("montecarlo"), job);
    if (root.has("paper")) {
        if (!root.json()["paper"].is_object()) root.failKey("paper", "must map names to the paper's numbers");
        job.paper = root.json()["paper"];
    }
    if (root.has("fits")) {
        const JobNode fits = root.at("fits");
        for (std::size_t i = 0; i < fits.size(); ++i) {
            if (!fits.json()[i].is_string()) fits.at(i).fail("must name a fit");
            job.fits.push_back(fits.json()[i].get<std::string>());
        }
    }
    return job;
}

json readJobDocument(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw JobError("cannot read job file " + file.string());
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw JobError(file.string() + ": not valid JSON: " + e.what());
    }
}

Job loadJob(const fs::path& file) { return parseJob(readJobDocument(file), file); }

Job loadBuiltinJob(const std::string& name, int samples, std::optional<std::uint64_t> seed,
                   const std::function<void(json&)>& adjust) {
    const fs::path file = dataPath("netlists") / (name + ".job.json");
    json doc = readJobDocument(file);
    if (!doc.is_object()) throw JobError(file.string() + ": must be a JSON object");
    if (samples > 0) doc["montecarlo"]["samples"] = samples;
    if (seed) doc["montecarlo"]["seed"] = *seed;
    if (adjust) adjust(doc);
    return parseJob(doc, file);
}

JobOutcome runJob(const Job& job, const JobRunOptions& options) {
    JobOutcome out = kinds().at(job.kind).run(job, options);
    // Every kind's report lists the fits files it wrote.
    if (!out.fitFiles.empty()) {
        json files = json::array();
        for (const auto& p : out.fitFiles) files.push_back(p.string());
        out.report["fits"] = files;
    }
    return out;
}

RunSpec runSpecFor(const Job& job, const JobRunOptions& options) {
    RunSpec spec;
    spec.name = job.name;
    spec.outDir = options.outDir;
    spec.seed = job.seed;
    spec.workers = options.workers;
    spec.force = options.force;
    spec.progress = options.progress;
    spec.parameters = job.document;
    return spec;
}

std::map<std::string, std::string> drawInstanceParams(const Job& job, std::uint64_t sample, std::uint64_t device,
                                                      std::uint64_t cycle) {
    std::map<std::string, std::string> params;
    if (job.nominalSample0 && sample == 0) return params;
    for (const auto& p : job.vary) {
        // Each varied parameter has its own streams: the seed is mixed with its stream number.
        const std::uint64_t seed = variability::mix64(job.seed ^ variability::mix64(p.stream));
        const double v = p.cycleToCycle ? variability::drawCycleToCycle(p.distribution, seed, sample, device, cycle)
                                        : variability::drawDeviceToDevice(p.distribution, seed, sample, device);
        params[p.param] = netlist::formatSI(v);
    }
    return params;
}

}  // namespace imc::characterize
