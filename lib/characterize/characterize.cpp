#include "characterize/characterize.hpp"

#include "characterize/sha256.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace imc::characterize {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kResultsVersion = 1;

std::string number(double v) {
    if (std::isnan(v)) return "nan";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"') q += "\"\"";
        else if (c == '\n' || c == '\r') q += ' ';
        else q += c;
    }
    return q + "\"";
}

std::vector<std::string> splitCsvLine(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
            else if (c == '"') quoted = false;
            else cur += c;
        } else if (c == '"') quoted = true;
        else if (c == ',') out.push_back(cur), cur.clear();
        else cur += c;
    }
    out.push_back(cur);
    return out;
}

std::string utcNow() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// Writes a file through a temporary and a rename, so a reader never sees half a file.
void writeAtomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
        out << text;
        if (!out.flush()) throw std::runtime_error("write failed: " + tmp.string());
    }
    fs::rename(tmp, path);
}

struct Layout {
    std::vector<std::string> pointColumns, measureColumns;
    std::string header() const {
        std::string h = "job,status";
        for (const auto& c : pointColumns) h += "," + c;
        for (const auto& c : measureColumns) h += "," + c;
        return h + ",wall_s,error";
    }
    std::string line(const Row& r) const {
        std::string s = csvField(r.job) + "," + (r.ok ? "ok" : "failed");
        for (const auto* cols : {&pointColumns, &measureColumns})
            for (const auto& c : *cols) {
                auto it = r.values.find(c);
                s += "," + (it == r.values.end() ? std::string() : number(it->second));
            }
        return s + "," + number(r.wall_s) + "," + csvField(r.error);
    }
};

std::vector<Row> readRows(const fs::path& csv) {
    std::vector<Row> rows;
    std::ifstream in(csv);
    if (!in) return rows;
    std::string line;
    if (!std::getline(in, line)) return rows;
    const auto header = splitCsvLine(line);
    if (header.size() < 4 || header[0] != "job" || header[1] != "status")
        throw std::runtime_error(csv.string() + ":1: not a results table (header must start with job,status)");
    int lineNo = 1;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty()) continue;
        const auto f = splitCsvLine(line);
        if (f.size() != header.size()) {
            // A line cut short by an interruption: drop it, its job runs again on resume.
            continue;
        }
        Row r;
        r.job = f[0];
        r.ok = f[1] == "ok";
        for (std::size_t i = 2; i + 2 < header.size(); ++i)
            if (!f[i].empty()) {
                try {
                    r.values[header[i]] = f[i] == "nan" ? std::nan("") : std::stod(f[i]);
                } catch (const std::exception&) {
                    throw std::runtime_error(csv.string() + ":" + std::to_string(lineNo) + ": column " + header[i] +
                                             " is not a number: '" + f[i] + "'");
                }
            }
        r.wall_s = f[header.size() - 2].empty() ? 0 : std::stod(f[header.size() - 2]);
        r.error = f.back();
        rows.push_back(std::move(r));
    }
    return rows;
}

}  // namespace

std::vector<double> RunSummary::column(const std::string& name) const {
    std::vector<double> out;
    for (const auto& r : rows)
        if (r.ok) {
            auto it = r.values.find(name);
            if (it == r.values.end()) throw std::runtime_error("results " + dir.string() + ": no column '" + name + "'");
            out.push_back(it->second);
        }
    return out;
}

std::string sweepHash(const std::vector<PlannedJob>& jobs, std::uint64_t seed) {
    std::string all = "seed=" + std::to_string(seed) + "\n";
    for (const auto& j : jobs) {
        all += "job " + j.sim.id + "\n" + j.sim.deck + "\n";
        for (const auto& c : j.sim.preCommands) all += "cmd " + c + "\n";
        for (const auto& v : j.sim.vectors) all += "vec " + v + "\n";
        for (const auto& [k, v] : j.point) all += "pt " + k + "=" + number(v) + "\n";
    }
    return sha256Hex(all);
}

RunSummary readResults(const fs::path& dir) {
    RunSummary s;
    s.dir = dir;
    std::ifstream in(dir / "manifest.json");
    if (!in) throw std::runtime_error(dir.string() + ": no manifest.json (not a results folder)");
    try {
        s.manifest = json::parse(in);
    } catch (const json::parse_error& e) {
        throw std::runtime_error((dir / "manifest.json").string() + ": " + e.what());
    }
    if (s.manifest.value("format", "") != "imc-results")
        throw std::runtime_error((dir / "manifest.json").string() + ": field 'format' is not \"imc-results\"");
    if (s.manifest.value("version", 0) != kResultsVersion)
        throw std::runtime_error((dir / "manifest.json").string() + ": field 'version' is " +
                                 s.manifest.value("version", json(0)).dump() + ", this imc reads version " +
                                 std::to_string(kResultsVersion));
    s.rows = readRows(dir / "results.csv");
    s.netlistHash = s.manifest.value("netlist_sha256", "");
    s.ngspiceVersion = s.manifest.value("ngspice_version", "");
    s.wall_s = s.manifest.value("wall_s", 0.0);
    for (const auto& r : s.rows) s.failed += r.ok ? 0 : 1;
    return s;
}

RunSummary runSweep(const std::vector<PlannedJob>& jobs, const std::vector<std::string>& columns,
                    const Measure& measure, const RunSpec& spec) {
    if (jobs.empty()) throw std::invalid_argument("sweep " + spec.name + ": no jobs");
    Layout layout;
    for (const auto& [k, v] : jobs.front().point) layout.pointColumns.push_back(k);
    layout.measureColumns = columns;
    std::set<std::string> ids;
    for (const auto& j : jobs) {
        if (!ids.insert(j.sim.id).second) throw std::invalid_argument("sweep " + spec.name + ": duplicate job id " + j.sim.id);
        if (j.point.size() != layout.pointColumns.size())
            throw std::invalid_argument("sweep " + spec.name + ": job " + j.sim.id + " has other coordinates than the first job");
    }

    const std::string hash = sweepHash(jobs, spec.seed);
    const fs::path dir = spec.outDir.empty() ? spec.resultsRoot / (spec.name + "-" + hash.substr(0, 12)) : spec.outDir;
    if (spec.force && fs::exists(dir)) fs::remove_all(dir);
    fs::create_directories(dir);

    std::map<std::string, Row> done;
    if (fs::exists(dir / "manifest.json")) {
        RunSummary stored = readResults(dir);
        if (stored.netlistHash != hash)
            throw std::runtime_error(dir.string() + " holds another sweep (netlist hash " + stored.netlistHash.substr(0, 12) +
                                     ", this one " + hash.substr(0, 12) + "): use --force or another --out");
        for (auto& r : stored.rows) done[r.job] = r;
        if (stored.manifest.value("complete", false) && done.size() == jobs.size()) {
            stored.reused = done.size();
            if (spec.progress)
                std::fprintf(stderr, "%s: reusing %zu stored results in %s (--force runs again)\n", spec.name.c_str(),
                             done.size(), dir.string().c_str());
            // Return rows in job order.
            stored.rows.clear();
            for (const auto& j : jobs) stored.rows.push_back(done.at(j.sim.id));
            return stored;
        }
    }

    RunSummary summary;
    summary.dir = dir;
    summary.netlistHash = hash;
    json manifest = {{"format", "imc-results"},
                     {"version", kResultsVersion},
                     {"name", spec.name},
                     {"netlist_sha256", hash},
                     {"seed", spec.seed},
                     {"samples", jobs.size()},
                     {"columns", columns},
                     {"point_columns", layout.pointColumns},
                     {"parameters", spec.parameters},
                     {"created_utc", utcNow()},
                     {"complete", false}};
    writeAtomically(dir / "manifest.json", manifest.dump(2) + "\n");
    if (spec.saveDecks) {
        fs::create_directories(dir / "decks");
        for (const auto& j : jobs) {
            const fs::path p = dir / "decks" / (j.sim.id + ".cir");
            if (!fs::exists(p)) writeAtomically(p, j.sim.deck);
        }
    }

    // Jobs already in the table (from an interrupted run) are not run again.
    std::vector<spice::SimJob> todo;
    std::vector<std::size_t> todoIndex;
    for (std::size_t i = 0; i < jobs.size(); ++i)
        if (!done.count(jobs[i].sim.id)) todo.push_back(jobs[i].sim), todoIndex.push_back(i);
    summary.reused = jobs.size() - todo.size();
    if (spec.progress && summary.reused)
        std::fprintf(stderr, "%s: resuming, %zu of %zu jobs already done\n", spec.name.c_str(), summary.reused, jobs.size());

    const fs::path csv = dir / "results.csv";
    {
        // Rewrite what is kept (dropping a torn last line), then append as jobs finish.
        std::string text = layout.header() + "\n";
        for (const auto& j : jobs)
            if (auto it = done.find(j.sim.id); it != done.end()) text += layout.line(it->second) + "\n";
        writeAtomically(csv, text);
    }
    std::ofstream append(csv, std::ios::app);

    const auto t0 = std::chrono::steady_clock::now();
    std::string version;
    if (!todo.empty()) {
        spice::WorkerPool pool({spec.workers, spec.jobTimeout_s, {}});
        ProgressLine progress(spec.name);
        pool.run(
            todo,
            [&](std::size_t k, spice::SimResult&& res) {
                const PlannedJob& job = jobs[todoIndex[k]];
                Row row;
                row.job = job.sim.id;
                row.wall_s = res.wall_s;
                for (const auto& [name, v] : job.point) row.values[name] = v;
                if (!res.ngspiceVersion.empty()) version = res.ngspiceVersion;
                if (res.ok) {
                    try {
                        for (auto& [name, v] : measure(job, res)) row.values[name] = v;
                        row.ok = true;
                    } catch (const std::exception& e) {
                        row.error = std::string("measurement: ") + e.what();
                    }
                } else {
                    row.error = res.errorKind + ": " + res.error;
                }
                append << layout.line(row) << '\n' << std::flush;
                done[row.job] = std::move(row);
                ++summary.ran;
            },
            [&](const spice::Progress& p) {
                if (spec.progress) progress.update(p);
            });
        if (spec.progress) progress.finish();
    }
    append.close();
    summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Final table in job order, whatever order the workers finished in.
    std::string text = layout.header() + "\n";
    json failures = json::array();
    for (const auto& j : jobs) {
        const Row& r = done.at(j.sim.id);
        text += layout.line(r) + "\n";
        summary.rows.push_back(r);
        if (!r.ok) ++summary.failed, failures.push_back({{"job", r.job}, {"error", r.error}});
    }
    writeAtomically(csv, text);
    summary.ngspiceVersion = version;
    manifest["ngspice_version"] = version;
    manifest["wall_s"] = summary.wall_s;
    manifest["workers"] = spec.workers > 0 ? spec.workers : spice::defaultWorkerCount();
    manifest["failures"] = summary.failed;
    manifest["failed"] = failures;
    manifest["ran"] = summary.ran;
    manifest["resumed_from"] = summary.reused;
    manifest["complete"] = true;
    writeAtomically(dir / "manifest.json", manifest.dump(2) + "\n");
    summary.manifest = manifest;
    return summary;
}

ProgressLine::ProgressLine(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(const spice::Progress& p) {
    const bool last = p.done == p.total;
    if (!tty_ && !last && lastPrint_s_ >= 0 && p.elapsed_s - lastPrint_s_ < 5.0) return;
    if (tty_ && !last && lastPrint_s_ >= 0 && p.elapsed_s - lastPrint_s_ < 0.2) return;
    lastPrint_s_ = p.elapsed_s;
    std::fprintf(stderr, "%s%s: %zu/%zu done, %zu failed, %.1f s elapsed, ETA %.1f s%s", tty_ ? "\r" : "",
                 label_.c_str(), p.done, p.total, p.failed, p.elapsed_s, p.eta_s, tty_ ? "   " : "\n");
    printed_ = true;
}

void ProgressLine::finish() {
    if (tty_ && printed_) std::fputc('\n', stderr);
}

}  // namespace imc::characterize
