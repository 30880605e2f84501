#pragma once
// Independent simulations in worker processes: one libngspice per process (ngspice keeps global
// state), so workers also isolate crashes. A job is self-contained (deck text with every
// Monte-Carlo value written in, plus its own seed), which makes results independent of how many
// workers run and of which worker runs which job.
#include "spice/session.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace imc::spice {

struct SimJob {
    std::string id;                        // names the sweep point, e.g. "crossbar_s003"
    std::string deck;                      // full deck text
    std::vector<std::string> vectors;      // read after the run (see Session::vector)
    std::vector<std::string> preCommands;  // sent after loading, before "run" (e.g. "setseed 7")
    double timeout_s = 0;                  // 0: the pool's default
};

struct SimResult {
    std::string id;
    bool ok = false;
    std::string error;      // ngspice's words, or how the worker died
    std::string errorKind;  // SpiceError kind, "worker-died" or "timeout"
    std::vector<std::pair<std::string, Eigen::VectorXd>> vectors;
    double wall_s = 0;
    std::string ngspiceVersion;  // of the simulator that ran the job

    // The vector named `name`; throws naming the job when absent.
    const Eigen::VectorXd& vec(const std::string& name) const;
};

// Runs one job in this process's session: load, pre-commands, run, read vectors. Errors are
// returned in the result, never thrown.
SimResult runJob(Session& session, const SimJob& job);

struct Progress {
    std::size_t done = 0, failed = 0, total = 0;
    double elapsed_s = 0, eta_s = 0;
};

struct PoolOptions {
    int workers = 0;           // 0: one per core
    double jobTimeout_s = 0;   // 0: none; a job past it is killed and recorded as failed
    SessionOptions session;
};

class WorkerPool {
public:
    explicit WorkerPool(PoolOptions options = {});
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Runs every job; onResult(index, result) is called in this process as each job finishes
    // (completion order). A worker that dies fails only its current job and is replaced.
    void run(const std::vector<SimJob>& jobs, const std::function<void(std::size_t, SimResult&&)>& onResult,
             const std::function<void(const Progress&)>& onProgress = {});

    int workers() const { return workerCount_; }

private:
    struct Worker;
    void spawn(Worker& w);
    void retire(Worker& w);
    PoolOptions options_;
    int workerCount_;
    std::vector<Worker> workers_;
};

// Default worker count: the number of cores this process may use.
int defaultWorkerCount();

}  // namespace imc::spice
