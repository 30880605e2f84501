#include "characterize/bench_spice.hpp"

#include "circuits/crossbar.hpp"
#include "circuits/transistor_array.hpp"
#include "spice/session.hpp"
#include "spice/worker_pool.hpp"
#include "variability/variability.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace imc::characterize {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

double cpuSeconds(const rusage& u) {
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU time of this process so far (user + system): unlike wall time, it hardly depends on how
// many other programs share the cores.
double selfCpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return cpuSeconds(u);
}

struct Timing {
    double wall_s = 0, cpu_s = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

nlohmann::json spread(const std::vector<double>& v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return {*lo, *hi};
}

// One `ngspice -b FILE` process started in `dir` (where its .spiceinit is), output discarded;
// returns its wall and CPU time.
Timing timeNgspiceBatch(const std::string& binary, const std::string& dir, const std::string& file, const std::string& raw) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = {binary, "-b", "-r", raw, file};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto t0 = clock_type::now();
    pid_t pid = 0;
    if (posix_spawnp(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot start " + binary + " (install the ngspice package)");
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    const Timing t{seconds(t0), cpuSeconds(usage)};
    posix_spawn_file_actions_destroy(&actions);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(binary + " -b " + file + " failed with status " + std::to_string(status));
    return t;
}

circuits::CrossbarSpec crossbarSpec(int n, std::uint64_t seed, std::uint64_t sample) {
    circuits::CrossbarSpec spec;
    spec.rows = spec.cols = n;
    spec.cellConductance_S.resize(n, n);
    spec.rowVoltage_V = Eigen::VectorXd::Constant(n, 0.2);
    const auto dist = variability::Distribution::lognormal(std::log(1e-5), 0.5);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            spec.cellConductance_S(i, j) = variability::drawDeviceToDevice(dist, seed, sample, std::uint64_t(i * n + j));
    return spec;
}

struct Case {
    std::string name, description, deck;
    std::vector<std::string> vectors;
};

// Monte-Carlo throughput of the worker pool with 1 and 2 workers on the same drawn crossbars.
nlohmann::json benchMonteCarlo(const SpiceBenchOptions& o) {
    std::vector<spice::SimJob> jobs;
    for (int s = 0; s < o.mcSamples; ++s) {
        spice::SimJob j;
        j.id = "mc_s" + std::to_string(s);
        j.deck = netlist::writeDeck(circuits::buildResistiveCrossbar(crossbarSpec(o.crossbarSize, 1, std::uint64_t(s))));
        for (int c = 0; c < o.crossbarSize; ++c) j.vectors.push_back(circuits::columnCurrentVector(c));
        jobs.push_back(std::move(j));
    }
    nlohmann::json mc = {{"circuit", "resistive crossbar " + std::to_string(o.crossbarSize) + "x" +
                                         std::to_string(o.crossbarSize) + " .op, cells drawn lognormal per sample"},
                         {"samples", o.mcSamples}};
    std::vector<std::vector<Eigen::VectorXd>> firstRun;
    double t1 = 0;
    for (int workers : {1, 2}) {
        if (o.progress) std::fprintf(stderr, "bench: Monte-Carlo, %d samples, %d worker(s)\n", o.mcSamples, workers);
        spice::WorkerPool pool({workers, 0, {}});
        std::vector<std::vector<Eigen::VectorXd>> results(jobs.size());
        std::size_t failed = 0;
        const auto t0 = clock_type::now();
        pool.run(jobs, [&](std::size_t i, spice::SimResult&& r) {
            if (!r.ok) ++failed;
            for (auto& [n, v] : r.vectors) results[i].push_back(v);
        });
        const double t = seconds(t0);
        if (failed) throw std::runtime_error("bench: " + std::to_string(failed) + " Monte-Carlo samples failed");
        mc["workers_" + std::to_string(workers) + "_s"] = t;
        mc["samples_per_s_" + std::to_string(workers)] = o.mcSamples / t;
        if (workers == 1) t1 = t, firstRun = results;
        else {
            mc["speedup_2_over_1"] = t1 / t;
            mc["identical_results"] = results == firstRun;
        }
    }
    return mc;
}

}  // namespace

nlohmann::json benchSpice(const SpiceBenchOptions& o) {
    nlohmann::json out;
    out["cores"] = spice::defaultWorkerCount();

    // Monte-Carlo throughput first: worker processes must be forked before this process
    // holds an in-process session (they would inherit its ngspice state).
    out["monte_carlo"] = benchMonteCarlo(o);

    std::vector<Case> cases;
    {
        Case c{"crossbar", "", "", {}};
        c.description = "resistive crossbar " + std::to_string(o.crossbarSize) + "x" + std::to_string(o.crossbarSize) +
                        ", 2 ohm wires, .op, .options klu";
        for (int j = 0; j < o.crossbarSize; ++j) c.vectors.push_back(circuits::columnCurrentVector(j));
        auto circuit = circuits::buildResistiveCrossbar(crossbarSpec(o.crossbarSize, 7, 0));
        circuit.save(c.vectors);
        c.deck = netlist::writeDeck(circuit);
        cases.push_back(c);
    }
    {
        circuits::TransistorArraySpec spec;
        spec.rows = spec.cols = o.mosfetArraySize;
        auto circuit = circuits::buildOneTransistorArray(spec);
        circuit.save({"v(sn0_1)"});
        Case c{"mosfet_array", "", netlist::writeDeck(circuit), {"v(sn0_1)"}};
        c.description = "1T1C array " + std::to_string(o.mosfetArraySize) + "x" + std::to_string(o.mosfetArraySize) +
                        ", BSIM4, .tran 20p 10n";
        cases.push_back(c);
    }

    const auto dir = std::filesystem::temp_directory_path() / ("imc-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    // Same OpenMP device threads on both sides: `ngspice -b` would take the num_threads of the
    // system spinit (8 in Debian's package), the session sets its own after init. A .spiceinit in
    // the batch run's working folder is read after spinit.
    std::ofstream(dir / ".spiceinit") << "set num_threads=" << o.deviceThreads << "\n";
    // Session start-up (library load and ngSpice_Init), which `ngspice -b` pays on every run.
    std::vector<double> initTimes;
    for (int r = 0; r < 3; ++r) {
        const auto t0 = clock_type::now();
        spice::Session s({o.deviceThreads, false});
        initTimes.push_back(seconds(t0));
    }
    const double init_s = median(initTimes);
    spice::Session session({o.deviceThreads, false});
    out["ngspice_version"] = session.version();
    out["session_init_s"] = init_s;
    out["device_threads"] = o.deviceThreads;
    out["repeats"] = o.repeats;
    for (const auto& c : cases) {
        // Both sides save the same vectors: ngspice -b writes them to a raw file, the session
        // reads them into memory.
        const auto file = (dir / (c.name + ".cir")).string();
        const auto raw = (dir / (c.name + ".raw")).string();
        std::ofstream(file) << c.deck;
        if (o.progress) std::fprintf(stderr, "bench: %s (%d runs each)\n", c.description.c_str(), o.repeats);
        // Interleaved: each repeat runs the batch, then the session, so load from other people on
        // the machine hits both alike; the ratio is the median of the per-repeat ratios.
        std::vector<double> batch, inproc, ratios, batchCpu, inprocCpu, cpuRatios;
        for (int r = 0; r < o.repeats; ++r) {
            const Timing tb = timeNgspiceBatch(o.ngspiceBinary, dir.string(), file, raw);
            batch.push_back(tb.wall_s);
            batchCpu.push_back(tb.cpu_s);
            const double c0 = selfCpuSeconds();
            const auto t0 = clock_type::now();
            session.load(c.deck, c.name);
            session.run();
            for (const auto& v : c.vectors) (void)session.vector(v);
            inproc.push_back(seconds(t0));
            inprocCpu.push_back(selfCpuSeconds() - c0);
            ratios.push_back(inproc.back() / batch.back());
            cpuRatios.push_back(inprocCpu.back() / batchCpu.back());
        }
        const double b = median(batch), s = median(inproc);
        out[c.name] = {{"description", c.description},
                       {"ngspice_b_s", b},
                       {"ngspice_b_spread_s", spread(batch)},
                       {"session_s", s},
                       {"session_spread_s", spread(inproc)},
                       {"overhead_ratio", median(ratios)},
                       {"overhead_ratio_spread", spread(ratios)},
                       {"ngspice_b_cpu_s", median(batchCpu)},
                       {"session_cpu_s", median(inprocCpu)},
                       {"cpu_ratio", median(cpuRatios)},
                       {"cpu_ratio_spread", spread(cpuRatios)},
                       {"session_with_init_s", s + init_s},
                       {"overhead_ratio_with_init", (s + init_s) / b}};
    }
    std::filesystem::remove_all(dir);
    return out;
}

}  // namespace imc::characterize
