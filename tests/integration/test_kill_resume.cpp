// Kill and resume, end to end: `imc characterize` on a Monte-Carlo sweep killed mid-run (the whole
// process group with SIGKILL; one worker with SIGKILL, as the OOM killer does; the results folder's
// disk filling up), then the same command again. Every simulation is counted by the cell itself:
// its .control block (allowed by "trust_netlist") creates one file per loaded deck, so the count
// does not come from imc's own bookkeeping.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

constexpr int kSamples = 100, kBiases = 6, kJobs = kSamples * kBiases;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> f;
    std::stringstream in(line);
    for (std::string x; std::getline(in, x, ',');) f.push_back(x);
    if (!line.empty() && line.back() == ',') f.emplace_back();
    return f;
}

// results.csv without its wall_s column (each run's own timing): job -> the rest of the line, and
// how many complete rows the journal holds.
struct Table {
    std::string header;
    std::map<std::string, std::string> rows;
    std::vector<std::string> order;
};
Table readTable(const fs::path& csv) {
    Table t;
    std::istringstream in(slurp(csv));
    std::string line;
    if (!std::getline(in, line)) return t;
    const auto head = split(line);
    std::size_t wall = 0;
    while (wall < head.size() && head[wall] != "wall_s") ++wall;
    t.header = line;
    while (std::getline(in, line)) {
        auto f = split(line);
        if (f.size() != head.size()) continue;  // a torn last line
        std::string rest;
        for (std::size_t i = 0; i < f.size(); ++i)
            if (i != wall) rest += f[i] + ",";
        t.rows[f[0]] = rest;
        t.order.push_back(f[0]);
    }
    return t;
}

std::size_t countFiles(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
    return n;
}

struct Child {
    pid_t pid = -1;
    int wait() {
        int status = 0;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
};

// imc in a process group of its own, output to files; `fsizeLimit` > 0 caps the size of any file
// it writes (the stand-in for a full disk where mounting a small tmpfs is not allowed).
Child start(const std::vector<std::string>& args, const fs::path& log, rlim_t fsizeLimit = 0) {
    Child c;
    c.pid = fork();
    if (c.pid == 0) {
        setpgid(0, 0);
        if (!freopen((log.string() + ".out").c_str(), "w", stdout) || !freopen((log.string() + ".err").c_str(), "w", stderr)) _exit(127);
        if (fsizeLimit) {
            std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
            rlimit r{fsizeLimit, fsizeLimit};
            setrlimit(RLIMIT_FSIZE, &r);
        }
        std::vector<std::string> copy = args;
        std::string exe = IMC_EXE;
        std::vector<char*> argv{exe.data()};
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    setpgid(c.pid, c.pid);
    return c;
}

// Waits until the journal holds at least `rows` rows (or the run ends).
void waitForRows(const Child& c, const fs::path& csv, std::size_t rows) {
    for (int i = 0; i < 6000; ++i) {
        if (fs::exists(csv) && readTable(csv).rows.size() >= rows) return;
        int status = 0;
        if (waitpid(c.pid, &status, WNOHANG) == c.pid) FAIL("imc ended before the journal held " << rows << " rows");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    FAIL("the journal never reached " << rows << " rows");
}

std::vector<pid_t> childrenOf(pid_t parent) {
    std::vector<pid_t> kids;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::istringstream stat(slurp(e.path() / "stat"));
        std::string pid, comm, state;
        pid_t ppid = 0;
        stat >> pid >> comm >> state >> ppid;
        if (ppid == parent) kids.push_back(std::stoi(name));
    }
    return kids;
}

struct Sweep {
    fs::path dir = fs::temp_directory_path() / ("imc-kill-" + std::to_string(::getpid()));
    fs::path counts = dir / "counts";
    std::string job;
    Table reference;
    Sweep() {
        fs::remove_all(dir);
        fs::create_directories(counts);
        std::ofstream(dir / "rram.lib") << ".subckt rram te be params: Rlrs=10k k3=2u\nR1 te be {Rlrs}\n"
                                           "B3 te be I = {k3}*v(te,be)*v(te,be)*v(te,be)\n.ends rram\n"
                                           "* one file per simulation, made by ngspice itself\n"
                                           ".control\nshell mktemp -p " << counts.string() << "\n.endc\n";
        job = (dir / "job.json").string();
        std::ofstream(job) << R"({"format": "imc-job", "version": 1, "name": "killed", "trust_netlist": true,
 "cell": {"netlist": "rram.lib", "subckt": "rram", "ports": {"top": "te", "bottom": "be"}},
 "testbench": {"kind": "resistive-cell", "read_V": 0.2}, "sweep": {"V": [-0.6, -0.4, -0.2, 0.2, 0.4, 0.6]},
 "montecarlo": {"samples": )" << kSamples << R"(, "seed": 3,
   "vary": [{"param": "Rlrs", "distribution": "lognormal", "median": "10k", "sigma": 0.15}]}})";
        // The uninterrupted run every other run must equal.
        auto c = start({"characterize", job, "--out", (dir / "reference").string(), "--workers", "2"}, dir / "reference");
        REQUIRE(c.wait() == 0);
        reference = readTable(dir / "reference" / "results.csv");
        REQUIRE(reference.rows.size() == std::size_t(kJobs));
        REQUIRE(countFiles(counts) == std::size_t(kJobs));
    }
    ~Sweep() { fs::remove_all(dir); }
    std::vector<std::string> args(const fs::path& out) const {
        return {"characterize", job, "--out", out.string(), "--workers", "2"};
    }
    // Starts the sweep into `out` and returns once a quarter of it is in the journal.
    Child startAndWait(const fs::path& out) const {
        auto c = start(args(out), dir / "first");
        waitForRows(c, out / "results.csv", kJobs / 4);
        return c;
    }
    nlohmann::json manifest(const fs::path& out) const { return nlohmann::json::parse(slurp(out / "manifest.json")); }
    void checkEqualsReference(const fs::path& out) const {
        const Table t = readTable(out / "results.csv");
        CHECK(t.header == reference.header);
        CHECK(t.order == reference.order);  // the final table in job order
        CHECK(t.rows == reference.rows);
    }
};

}  // namespace

TEST_CASE("a sweep killed with SIGKILL resumes to the uninterrupted run's results, nothing simulated twice", "[cli][resume]") {
    Sweep s;
    const fs::path out = s.dir / "killed";
    auto c = s.startAndWait(out);
    kill(-c.pid, SIGKILL);  // imc and its workers
    CHECK(c.wait() == 128 + SIGKILL);
    const Table journal = readTable(out / "results.csv");
    const std::size_t journaled = journal.rows.size();
    REQUIRE(journaled < std::size_t(kJobs));
    for (const auto& [job, row] : journal.rows) CHECK(row == s.reference.rows.at(job));  // the journal holds true rows
    CHECK_FALSE(s.manifest(out)["complete"].get<bool>());

    const std::size_t before = countFiles(s.counts);
    auto again = start(s.args(out), s.dir / "again");
    REQUIRE(again.wait() == 0);
    CHECK_THAT(slurp(s.dir / "again.err"), ContainsSubstring("resuming, " + std::to_string(journaled) + " of " + std::to_string(kJobs)));
    // Exactly the jobs the journal lacked ran again: counted by the simulator and by the manifest.
    CHECK(countFiles(s.counts) - before == kJobs - journaled);
    CHECK(s.manifest(out)["ran"] == kJobs - journaled);
    CHECK(s.manifest(out)["resumed_from"] == journaled);
    CHECK(s.manifest(out)["complete"].get<bool>());
    s.checkEqualsReference(out);
}

TEST_CASE("a worker killed like the OOM killer does fails one sample, and the rerun retries only that one", "[cli][resume]") {
    Sweep s;
    const fs::path out = s.dir / "oom";
    auto c = s.startAndWait(out);
    const auto workers = childrenOf(c.pid);
    REQUIRE_FALSE(workers.empty());
    kill(workers.front(), SIGKILL);
    REQUIRE(c.wait() == 0);  // the pool replaces the worker and the sweep finishes
    const Table first = readTable(out / "results.csv");
    REQUIRE(first.rows.size() == std::size_t(kJobs));
    std::size_t failed = 0;
    for (const auto& [job, row] : first.rows)
        if (row != s.reference.rows.at(job)) {
            ++failed;
            CHECK_THAT(row, ContainsSubstring("failed"));
            CHECK_THAT(row, ContainsSubstring("worker-died: worker died: signal 9 (Killed)"));
        }
    CHECK(failed == 1);
    CHECK(s.manifest(out)["failures"] == 1);

    const std::size_t before = countFiles(s.counts);
    auto again = start(s.args(out), s.dir / "again");
    REQUIRE(again.wait() == 0);
    CHECK(countFiles(s.counts) - before == 1);
    CHECK(s.manifest(out)["ran"] == 1);
    CHECK(s.manifest(out)["failures"] == 0);
    s.checkEqualsReference(out);
}

TEST_CASE("a full disk under the results folder stops the run with a clear error and an intact journal", "[cli][resume]") {
    Sweep s;
    const fs::path mnt = s.dir / "small-disk";
    fs::create_directories(mnt);
    const fs::path out = mnt / "results";
    // Room for the decks and the manifest (a tmpfs page each) and half the table.
    std::uintmax_t tableBytes = fs::file_size(s.dir / "reference" / "results.csv");
    const std::uintmax_t pages = std::uintmax_t(kJobs) + 4 + tableBytes / 4096 / 2;
    const bool mounted = std::getenv("IMC_TEST_NO_MOUNT") == nullptr && ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, ("size=" + std::to_string(pages * 4096)).c_str()) == 0;
    struct Unmount {
        fs::path at;
        bool active;
        ~Unmount() {
            if (active) ::umount2(at.c_str(), MNT_DETACH);
        }
    } unmount{mnt, mounted};
    // Not allowed to mount (not root), or IMC_TEST_NO_MOUNT set: every file is capped at half the
    // table instead (RLIMIT_FSIZE), which fails the same writes with EFBIG.
    auto c = start(s.args(out), s.dir / "full", mounted ? 0 : rlim_t(tableBytes / 2));
    CHECK(c.wait() == 1);
    const std::string err = slurp(s.dir / "full.err");
    INFO(err);
    CHECK_THAT(err, ContainsSubstring("cannot append to " + (out / "results.csv").string() + ": " +
                                      (mounted ? "No space left on device" : "File too large")));
    CHECK_THAT(err, ContainsSubstring("the same command resumes from them"));
    const Table journal = readTable(out / "results.csv");
    CHECK(journal.rows.size() > 0);
    CHECK(journal.rows.size() < std::size_t(kJobs));
    for (const auto& [job, row] : journal.rows) CHECK(row == s.reference.rows.at(job));
    CHECK_FALSE(s.manifest(out)["complete"].get<bool>());

    // Space again: the same command resumes from the journal.
    if (mounted) REQUIRE(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT, "size=64m") == 0);
    const std::size_t before = countFiles(s.counts);
    auto again = start(s.args(out), s.dir / "again");
    REQUIRE(again.wait() == 0);
    CHECK(s.manifest(out)["resumed_from"] == journal.rows.size());
    CHECK(countFiles(s.counts) - before == kJobs - journal.rows.size());
    s.checkEqualsReference(out);
}
