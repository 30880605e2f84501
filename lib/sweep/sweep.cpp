#include "sweep/sweep.hpp"

#include "fit/fit.hpp"
#include "sweep/cluster.hpp"
#include "sweep/sha256.hpp"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace imc::sweep {
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

using fit::splitCsvLine;

}  // namespace

std::vector<std::string> deviceCurrentColumns(int devices) {
    std::vector<std::string> columns;
    for (int k = 0; k < devices; ++k) columns.push_back("i_dev" + std::to_string(k) + "_A");
    return columns;
}

std::vector<std::pair<std::string, double>> measureDeviceCurrents(const PlannedJob& job, const spice::SimResult& result) {
    std::vector<std::pair<std::string, double>> out;
    for (std::size_t k = 0; k < job.sim.vectors.size(); ++k)
        out.emplace_back("i_dev" + std::to_string(k) + "_A", result.vec(job.sim.vectors[k])[0]);
    return out;
}

namespace {

std::string utcNow() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// Writes a file through a temporary and a rename, so a reader never sees half a file; on a
// failed write (a full disk) the old file stays as it was and the error says why.
void writeAtomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    errno = 0;
    bool ok = false;
    {
        std::ofstream out(tmp, std::ios::binary);
        if (out) {
            out << text;
            ok = bool(out.flush());
            out.close();
            ok = ok && !out.fail();
        }
    }
    if (!ok) {
        const std::string why = errno ? std::strerror(errno) : "write failed";
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw std::runtime_error("cannot write " + path.string() + ": " + why);
    }
    fs::rename(tmp, path);
}

struct Layout {
    std::vector<std::string> pointColumns, measureColumns;
    std::string header() const {
        std::vector<std::string> h = {"job", "status"};
        h.insert(h.end(), pointColumns.begin(), pointColumns.end());
        h.insert(h.end(), measureColumns.begin(), measureColumns.end());
        h.push_back("wall_s");
        h.push_back("error");
        return fit::csvLine(h);
    }
    std::string line(const Row& r) const {
        std::vector<std::string> f = {r.job, r.ok ? "ok" : "failed"};
        for (const auto* cols : {&pointColumns, &measureColumns})
            for (const auto& c : *cols) {
                auto it = r.values.find(c);
                f.push_back(it == r.values.end() ? std::string() : number(it->second));
            }
        f.push_back(number(r.wall_s));
        f.push_back(r.error);
        return fit::csvLine(f);
    }
};

// One CSV line of a results table as a row; false for a torn line (wrong field count).
bool parseRow(const std::vector<std::string>& header, const std::string& line, const std::string& where, Row& r) {
    const auto f = splitCsvLine(line);
    if (f.size() != header.size()) return false;
    r = Row{};
    r.job = f[0];
    r.ok = f[1] == "ok";
    for (std::size_t i = 2; i + 2 < header.size(); ++i)
        if (!f[i].empty()) {
            try {
                r.values[header[i]] = f[i] == "nan" ? std::nan("") : std::stod(f[i]);
            } catch (const std::exception&) {
                throw std::runtime_error(where + ": column " + header[i] + " is not a number: '" + f[i] + "'");
            }
        }
    try {
        r.wall_s = f[header.size() - 2].empty() ? 0 : std::stod(f[header.size() - 2]);
    } catch (const std::exception&) {
        throw std::runtime_error(where + ": column wall_s is not a number: '" + f[header.size() - 2] + "'");
    }
    r.error = f.back();
    return true;
}

std::vector<Row> readRowsFrom(std::istream& in, const std::string& name) {
    std::vector<Row> rows;
    std::string line;
    if (!std::getline(in, line)) return rows;
    const auto header = splitCsvLine(line);
    if (header.size() < 4 || header[0] != "job" || header[1] != "status")
        throw std::runtime_error(name + ":1: not a results table (header must start with job,status)");
    int lineNo = 1;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty()) continue;
        Row r;
        // A line cut short by an interruption is dropped: its job runs again on resume.
        if (parseRow(header, line, name + ":" + std::to_string(lineNo), r)) rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<Row> readRows(const fs::path& csv) {
    std::ifstream in(csv);
    if (!in) return {};
    return readRowsFrom(in, csv.string());
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

namespace {

// The deck text of every job of a sweep: the job's own, or built on demand (makeDeck) and kept.
class Decks {
public:
    explicit Decks(const std::vector<PlannedJob>& jobs) : jobs_(jobs), built_(jobs.size()), have_(jobs.size(), 0) {}
    std::size_t size() const { return jobs_.size(); }
    bool onDemand(std::size_t i) const { return bool(jobs_[i].makeDeck); }
    bool anyOnDemand() const {
        return std::any_of(jobs_.begin(), jobs_.end(), [](const PlannedJob& j) { return bool(j.makeDeck); });
    }
    bool built(std::size_t i) const { return have_[i] != 0; }
    const std::string& operator[](std::size_t i) {
        if (!onDemand(i)) return jobs_[i].sim.deck;
        if (!have_[i]) set(i, jobs_[i].makeDeck());
        return built_[i];
    }
    void set(std::size_t i, std::string text) { built_[i] = std::move(text), have_[i] = 1; }

private:
    const std::vector<PlannedJob>& jobs_;
    std::vector<std::string> built_;
    std::vector<char> have_;  // not vector<bool>: threads may fill different entries
};

std::string hashOf(const std::vector<PlannedJob>& jobs, std::uint64_t seed, Decks& decks) {
    // The decks are streamed through the hash (megabytes for a large sweep), never joined.
    Sha256 h;
    h.update("seed=" + std::to_string(seed) + "\n");
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const auto& j = jobs[i];
        h.update("job ").update(j.sim.id).update("\n").update(decks[i]).update("\n");
        for (const auto& c : j.sim.preCommands) h.update("cmd ").update(c).update("\n");
        for (const auto& v : j.sim.vectors) h.update("vec ").update(v).update("\n");
        for (const auto& [k, v] : j.point) h.update("pt ").update(k).update("=").update(number(v)).update("\n");
    }
    return h.hex();
}

}  // namespace

std::string sweepHash(const std::vector<PlannedJob>& jobs, std::uint64_t seed) {
    Decks decks(jobs);
    return hashOf(jobs, seed, decks);
}

RunSummary readResults(const fs::path& dir) {
    RunSummary s;
    s.dir = dir;
    std::ifstream in(dir / "manifest.json");
    if (!in) throw std::runtime_error(dir.string() + ": no manifest.json (not a results folder)");
    try {
        s.manifest = json::parse(in);
    } catch (const json::exception& e) {
        throw std::runtime_error((dir / "manifest.json").string() + ": " + e.what());
    }
    // A field of the wrong type (or a manifest that is no object) is the file's error too.
    if (!s.manifest.is_object()) throw std::runtime_error((dir / "manifest.json").string() + ": not a JSON object");
    try {
        s.netlistHash = s.manifest.value("netlist_sha256", "");
        s.ngspiceVersion = s.manifest.value("ngspice_version", "");
        s.wall_s = s.manifest.value("wall_s", 0.0);
        (void)s.manifest.value("complete", false);
        (void)s.manifest.value("format", "");
    } catch (const json::exception& e) {
        throw std::runtime_error((dir / "manifest.json").string() + ": " + e.what());
    }
    if (s.manifest.value("format", "") != "imc-results")
        throw std::runtime_error((dir / "manifest.json").string() + ": field 'format' is not \"imc-results\"");
    // Compared as JSON values: a string or an out-of-range float (11e+99) is a wrong version, not
    // a conversion to int (undefined for such a float).
    if (s.manifest.value("version", json()) != json(kResultsVersion))
        throw std::runtime_error((dir / "manifest.json").string() + ": field 'version' is " +
                                 s.manifest.value("version", json(0)).dump() + ", this imc reads version " +
                                 std::to_string(kResultsVersion));
    s.rows = readRows(dir / "results.csv");
    for (const auto& r : s.rows) s.failed += r.ok ? 0 : 1;
    return s;
}

namespace {
RunSummary runSweepOnRanks(const std::vector<PlannedJob>& jobs, Decks& decks, const std::vector<std::string>& columns,
                           const Measure& measure, const RunSpec& spec);

// Builds the decks this rank will run (job i on rank i mod size; all of them on one rank).
// Under mpirun that happens while MPI starts, which mostly waits on the launcher: the rank is
// then the one the launcher announced, and a deck a rank turns out to lack is built when needed.
void buildOwnDecksWhileClusterStarts(Decks& decks) {
    const Cluster hint = launcherCluster();
    auto build = [&decks, hint] {
        for (std::size_t i = std::size_t(hint.rank); i < decks.size(); i += std::size_t(hint.size))
            if (decks.onDemand(i)) (void)decks[i];
    };
    if (!launchedByMpiLauncher() || !decks.anyOnDemand()) return build();
    auto own = std::async(std::launch::async, build);
    cluster();  // MPI starts on this thread, the one that calls it afterwards
    own.get();
}

// Rank 0 needs every deck (the folder key, the saved decks): the others send what they built,
// many decks to a message ("<index> <length>\n<text>" each; one message per deck costs a
// rendezvous each), then "done".
void gatherDecksAtRoot(Decks& decks, const Cluster& cl) {
    constexpr std::size_t kBatch = std::size_t(64) << 20;
    if (cl.rank != 0) {
        std::string batch;
        for (std::size_t i = 0; i < decks.size(); ++i) {
            if (!decks.onDemand(i) || !decks.built(i)) continue;
            const std::string& deck = decks[i];
            batch += std::to_string(i) + " " + std::to_string(deck.size()) + "\n";
            batch += deck;
            if (batch.size() >= kBatch) sendToRoot(batch, Channel::Decks), batch.clear();
        }
        if (!batch.empty()) sendToRoot(batch, Channel::Decks);
        sendToRoot("done", Channel::Decks);
        return;
    }
    for (int finished = 0; finished < cl.size - 1;) {
        std::string text;
        receiveAtRoot(text, true, Channel::Decks);
        if (text == "done") {
            ++finished;
            continue;
        }
        for (std::size_t at = 0; at < text.size();) {
            const auto newline = text.find('\n', at);
            std::istringstream head(text.substr(at, newline == std::string::npos ? 0 : newline - at));
            std::size_t i = 0, length = 0;
            if (!(head >> i >> length) || i >= decks.size() || newline + 1 + length > text.size())
                throw std::runtime_error("malformed deck message from another rank");
            if (!decks.built(i)) decks.set(i, text.substr(newline + 1, length));
            at = newline + 1 + length;
        }
    }
}
}  // namespace

RunSummary runSweep(const std::vector<PlannedJob>& jobs, const std::vector<std::string>& columns,
                    const Measure& measure, const RunSpec& spec) {
    auto run = [&] {
        Decks decks(jobs);
        buildOwnDecksWhileClusterStarts(decks);
        return runSweepOnRanks(jobs, decks, columns, measure, spec);
    };
    if (!launchedByMpiLauncher()) return run();
    try {
        return run();
    } catch (const std::exception& e) {
        // One rank's error would leave the others waiting in a collective call.
        if (cluster().distributed()) abortAllRanks(e.what());
        throw;
    }
}

namespace {
RunSummary runSweepOnRanks(const std::vector<PlannedJob>& jobs, Decks& decks, const std::vector<std::string>& columns,
                           const Measure& measure, const RunSpec& spec) {
    if (jobs.empty()) throw std::invalid_argument("sweep " + spec.name + ": no jobs");
    const Cluster& cl = cluster();
    const bool root = cl.rank == 0;
    Layout layout;
    for (const auto& [k, v] : jobs.front().point) layout.pointColumns.push_back(k);
    layout.measureColumns = columns;
    std::set<std::string> ids;
    std::map<std::string, std::size_t> indexOf;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const auto& j = jobs[i];
        if (!ids.insert(j.sim.id).second) throw std::invalid_argument("sweep " + spec.name + ": duplicate job id " + j.sim.id);
        if (j.point.size() != layout.pointColumns.size())
            throw std::invalid_argument("sweep " + spec.name + ": job " + j.sim.id + " has other coordinates than the first job");
        indexOf[j.sim.id] = i;
    }

    // The folder's key. Rank 0 alone hashes (every deck of the sweep) and sends the key with
    // its plan; the other ranks have the same job list and need only the result.
    if (cl.distributed() && decks.anyOnDemand()) gatherDecksAtRoot(decks, cl);
    std::string hash = root ? hashOf(jobs, spec.seed, decks) : std::string();
    auto folderOf = [&](const std::string& h) {
        return spec.outDir.empty() ? spec.resultsRoot / (spec.name + "-" + h.substr(0, 12)) : spec.outDir;
    };
    fs::path dir = root ? folderOf(hash) : fs::path();
    const bool talk = spec.progress && root;

    // Rank 0 owns the folder: it decides what is reused and what runs, and tells the others.
    std::map<std::string, Row> done;
    json manifest;
    std::string plan;  // "reuse" or "run <indices>"
    std::string storedError;
    if (root) {
        try {
            if (spec.force && fs::exists(dir)) fs::remove_all(dir);
            fs::create_directories(dir);
            bool reuse = false;
            if (fs::exists(dir / "manifest.json")) {
                RunSummary stored = readResults(dir);
                if (stored.netlistHash != hash)
                    throw std::runtime_error(dir.string() + " holds another sweep (netlist hash " +
                                             stored.netlistHash.substr(0, 12) + ", this one " + hash.substr(0, 12) +
                                             "): use --force or another --out");
                // A sample whose worker died (killed by a signal: the OOM killer, a crash) says
                // nothing about its deck: a rerun tries it again. Other failures are results.
                for (auto& r : stored.rows)
                    if (indexOf.count(r.job) && r.error.rfind("worker-died:", 0) != 0) done[r.job] = r;
                reuse = stored.manifest.value("complete", false) && done.size() == jobs.size();
                if (reuse) manifest = stored.manifest;
            }
            if (reuse) {
                plan = "reuse";
                if (talk)
                    std::fprintf(stderr, "%s: reusing %zu stored results in %s (--force runs again)\n", spec.name.c_str(),
                                 done.size(), dir.string().c_str());
            } else {
                plan = "run";
                for (std::size_t i = 0; i < jobs.size(); ++i)
                    if (!done.count(jobs[i].sim.id)) plan += " " + std::to_string(i);
            }
        } catch (const std::exception& e) {
            storedError = e.what();
            plan = "error " + storedError;
        }
    }
    if (cl.distributed()) {
        std::string message = hash + "\n" + plan;
        broadcastFromRoot(message);
        const auto newline = message.find('\n');
        hash = message.substr(0, newline);
        plan = message.substr(newline + 1);
        dir = folderOf(hash);
    }
    if (plan.rfind("error ", 0) == 0) throw std::runtime_error(plan.substr(6));

    RunSummary summary;
    summary.dir = dir;
    summary.netlistHash = hash;
    std::string version;
    if (plan != "reuse") {
        std::vector<std::size_t> todo;
        {
            std::istringstream in(plan.substr(3));
            for (std::size_t i; in >> i;) todo.push_back(i);
        }
        summary.reused = jobs.size() - todo.size();
        std::ofstream append;
        if (root) {
            manifest = {{"format", "imc-results"},
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
                for (std::size_t i = 0; i < jobs.size(); ++i) {
                    const fs::path p = dir / "decks" / (jobs[i].sim.id + ".cir");
                    if (!fs::exists(p)) writeAtomically(p, decks[i]);
                }
            }
            if (talk && summary.reused)
                std::fprintf(stderr, "%s: resuming, %zu of %zu jobs already done\n", spec.name.c_str(), summary.reused,
                             jobs.size());
            // Rewrite what is kept (dropping a torn last line), then append rows as jobs finish:
            // the table is the journal an interrupted run resumes from.
            std::string text = layout.header() + "\n";
            for (const auto& j : jobs)
                if (auto it = done.find(j.sim.id); it != done.end()) text += layout.line(it->second) + "\n";
            writeAtomically(dir / "results.csv", text);
            append.open(dir / "results.csv", std::ios::app);
            if (!append) throw std::runtime_error("cannot append to " + (dir / "results.csv").string() + ": " + std::strerror(errno));
        }

        // This rank's share: job i of the to-do list runs on rank i mod size.
        std::vector<spice::SimJob> mine;
        std::vector<std::size_t> mineIndex;
        for (std::size_t k = 0; k < todo.size(); ++k)
            if (int(k % std::size_t(cl.size)) == cl.rank) {
                mine.push_back(jobs[todo[k]].sim), mineIndex.push_back(todo[k]);
                if (decks.onDemand(todo[k])) mine.back().deck = decks[todo[k]];
            }

        const auto t0 = std::chrono::steady_clock::now();
        const auto header = splitCsvLine(layout.header());
        spice::Progress all;
        all.total = todo.size();
        ProgressLine progress(spec.name);
        auto record = [&](Row&& row) {  // rank 0: one finished row, from any rank
            errno = 0;
            append << layout.line(row) << '\n' << std::flush;
            if (!append) {
                const std::string why = errno ? std::strerror(errno) : "write failed";
                throw std::runtime_error("cannot append to " + (dir / "results.csv").string() + ": " + why +
                                         "; the rows written so far stay, and the same command resumes from them");
            }
            ++all.done;
            if (!row.ok) ++all.failed;
            all.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            all.eta_s = all.elapsed_s / double(all.done) * double(all.total - all.done);
            if (talk) progress.update(all);
            done[row.job] = std::move(row);
        };
        auto drain = [&](bool block) {  // rank 0: rows other ranks have sent
            for (std::string text; receiveAtRoot(text, block); block = false) {
                Row row;
                if (!parseRow(header, text, "row from another rank", row))
                    throw std::runtime_error("malformed row from another rank: " + text);
                record(std::move(row));
            }
        };
        if (!mine.empty()) {
            // The machine's cores are shared among the ranks on it.
            const int workers = spec.workers > 0 ? spec.workers
                                                 : std::max(1, spice::defaultWorkerCount() / std::max(1, cl.localSize));
            spice::WorkerPool pool({workers, spec.jobTimeout_s, {}});
            pool.run(mine, [&](std::size_t k, spice::SimResult&& res) {
                const PlannedJob& job = jobs[mineIndex[k]];
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
                ++summary.ran;
                if (root) {
                    record(std::move(row));
                    drain(false);
                } else {
                    sendToRoot(layout.line(row));
                }
            });
        }
        if (root) {
            while (all.done < all.total) drain(true);
            if (talk && all.total) progress.finish();
        }
        summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        // Every rank knows the version of its own simulator; rank 0's is recorded (or another's
        // when rank 0 ran nothing).
        std::string versions = version;
        if (cl.distributed()) {
            if (!root) sendToRoot("version " + version, Channel::Versions);
            if (root)
                for (int r = 1; r < cl.size; ++r) {
                    std::string text;
                    receiveAtRoot(text, true, Channel::Versions);
                    if (version.empty() && text.size() > 8) version = text.substr(8);
                }
        }
        if (root) {
            append.close();
            json failures = json::array();
            std::size_t failed = 0;
            std::string text = layout.header() + "\n";
            for (const auto& j : jobs) {
                const Row& r = done.at(j.sim.id);
                text += layout.line(r) + "\n";
                if (!r.ok) ++failed, failures.push_back({{"job", r.job}, {"error", r.error}});
            }
            // The final table in job order, whatever order the workers finished in.
            writeAtomically(dir / "results.csv", text);
            manifest["ngspice_version"] = version;
            manifest["wall_s"] = summary.wall_s;
            manifest["ranks"] = cl.size;
            manifest["workers"] = spec.workers > 0 ? spec.workers : spice::defaultWorkerCount();
            manifest["failures"] = failed;
            manifest["failed"] = failures;
            manifest["ran"] = todo.size();
            manifest["resumed_from"] = summary.reused;
            manifest["complete"] = true;
            writeAtomically(dir / "manifest.json", manifest.dump(2) + "\n");
        }
    } else {
        summary.reused = jobs.size();
    }

    // Every rank returns the same table: rank 0 sends it to the others.
    std::string table, manifestText;
    if (root) {
        table = layout.header() + "\n";
        for (const auto& j : jobs) table += layout.line(done.at(j.sim.id)) + "\n";
        manifestText = manifest.dump();
    }
    broadcastFromRoot(table);
    broadcastFromRoot(manifestText);
    std::istringstream tableIn(table);
    summary.rows = readRowsFrom(tableIn, (dir / "results.csv").string());
    summary.manifest = json::parse(manifestText);
    summary.ngspiceVersion = summary.manifest.value("ngspice_version", "");
    if (plan == "reuse") summary.wall_s = summary.manifest.value("wall_s", 0.0);
    summary.failed = 0;
    for (const auto& r : summary.rows) summary.failed += r.ok ? 0 : 1;
    return summary;
}
}  // namespace

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

}  // namespace imc::sweep
