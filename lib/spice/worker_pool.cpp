#include "spice/worker_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <deque>
#include <poll.h>
#include <sched.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace imc::spice {

const Eigen::VectorXd& SimResult::vec(const std::string& name) const {
    for (const auto& [n, v] : vectors)
        if (n == name) return v;
    throw std::runtime_error("job " + id + ": no vector '" + name + "' in its result");
}

int defaultWorkerCount() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

SimResult runJob(Session& session, const SimJob& job) {
    SimResult r;
    r.id = job.id;
    r.ngspiceVersion = session.version();
    const auto start = std::chrono::steady_clock::now();
    try {
        session.load(job.deck, job.id);
        for (const auto& c : job.preCommands) session.command(c);
        session.run();
        for (const auto& name : job.vectors) r.vectors.emplace_back(name, session.vector(name));
        r.ok = true;
    } catch (const SpiceError& e) {
        r.error = e.what();
        r.errorKind = toString(e.kind);
    } catch (const std::exception& e) {
        r.error = e.what();
        r.errorKind = "error";
    }
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

// ---- framing over pipes: u64 length, then the payload ----
namespace {

class Writer {
public:
    void u64(std::uint64_t v) { bytes(&v, sizeof v); }
    void f64(double v) { bytes(&v, sizeof v); }
    void str(const std::string& s) { u64(s.size()), bytes(s.data(), s.size()); }
    void bytes(const void* p, std::size_t n) { buf.append(static_cast<const char*>(p), n); }
    std::string buf;
};

class Reader {
public:
    explicit Reader(const std::string& b) : buf(b) {}
    std::uint64_t u64() { std::uint64_t v; bytes(&v, sizeof v); return v; }
    double f64() { double v; bytes(&v, sizeof v); return v; }
    std::string str() {
        auto n = u64();
        need(n);
        std::string s = buf.substr(pos, n);
        pos += n;
        return s;
    }
    void bytes(void* p, std::size_t n) { need(n), std::memcpy(p, buf.data() + pos, n), pos += n; }

private:
    void need(std::size_t n) const {
        if (pos + n > buf.size()) throw std::runtime_error("worker pool: truncated message");
    }
    const std::string& buf;
    std::size_t pos = 0;
};

bool writeAll(int fd, const char* p, std::size_t n) {
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w, n -= std::size_t(w);
    }
    return true;
}

bool readAll(int fd, char* p, std::size_t n) {
    while (n) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r, n -= std::size_t(r);
    }
    return true;
}

bool sendFrame(int fd, const std::string& payload) {
    std::uint64_t n = payload.size();
    return writeAll(fd, reinterpret_cast<const char*>(&n), sizeof n) && writeAll(fd, payload.data(), payload.size());
}

bool receiveFrame(int fd, std::string& payload) {
    std::uint64_t n = 0;
    if (!readAll(fd, reinterpret_cast<char*>(&n), sizeof n)) return false;
    payload.resize(n);
    return readAll(fd, payload.data(), n);
}

std::string encodeJob(const SimJob& j) {
    Writer w;
    w.str(j.id), w.str(j.deck);
    w.u64(j.vectors.size());
    for (const auto& v : j.vectors) w.str(v);
    w.u64(j.preCommands.size());
    for (const auto& c : j.preCommands) w.str(c);
    return w.buf;
}

SimJob decodeJob(const std::string& b) {
    Reader r(b);
    SimJob j;
    j.id = r.str(), j.deck = r.str();
    for (auto n = r.u64(); n--;) j.vectors.push_back(r.str());
    for (auto n = r.u64(); n--;) j.preCommands.push_back(r.str());
    return j;
}

std::string encodeResult(const SimResult& res) {
    Writer w;
    w.str(res.id), w.u64(res.ok), w.str(res.error), w.str(res.errorKind), w.f64(res.wall_s), w.str(res.ngspiceVersion);
    w.u64(res.vectors.size());
    for (const auto& [name, v] : res.vectors) {
        w.str(name), w.u64(std::uint64_t(v.size()));
        w.bytes(v.data(), sizeof(double) * std::size_t(v.size()));
    }
    return w.buf;
}

SimResult decodeResult(const std::string& b) {
    Reader r(b);
    SimResult res;
    res.id = r.str(), res.ok = r.u64() != 0, res.error = r.str(), res.errorKind = r.str(), res.wall_s = r.f64();
    res.ngspiceVersion = r.str();
    for (auto n = r.u64(); n--;) {
        std::string name = r.str();
        Eigen::VectorXd v(Eigen::Index(r.u64()));
        r.bytes(v.data(), sizeof(double) * std::size_t(v.size()));
        res.vectors.emplace_back(std::move(name), std::move(v));
    }
    return res;
}

[[noreturn]] void workerMain(int jobFd, int resultFd, const SessionOptions& options) {
    std::signal(SIGINT, SIG_IGN);  // the parent decides when workers stop
    int status = 0;
    try {
        Session session(options);
        std::string frame;
        while (receiveFrame(jobFd, frame)) {
            SimResult res = runJob(session, decodeJob(frame));
            if (!sendFrame(resultFd, encodeResult(res))) break;
        }
    } catch (const std::exception& e) {
        SimResult res;
        res.error = std::string("worker could not start ngspice: ") + e.what();
        res.errorKind = "library";
        sendFrame(resultFd, encodeResult(res));
        status = 2;
    }
    // _exit: no atexit handlers or static destructors of the parent's copy run in the child.
    _exit(status);
}

std::string describeStatus(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        return "worker died: signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    }
    if (WIFEXITED(status)) return "worker exited with status " + std::to_string(WEXITSTATUS(status));
    return "worker died";
}

}  // namespace

struct WorkerPool::Worker {
    pid_t pid = -1;
    int jobFd = -1, resultFd = -1;
    long current = -1;  // job index being run, -1 when idle
    std::chrono::steady_clock::time_point started;
    double timeout_s = 0;
};

WorkerPool::WorkerPool(PoolOptions options)
    : options_(options), workerCount_(options.workers > 0 ? options.workers : defaultWorkerCount()) {
    std::signal(SIGPIPE, SIG_IGN);  // a dead worker's pipe must give EPIPE, not kill us
    workers_.resize(std::size_t(workerCount_));
}

WorkerPool::~WorkerPool() {
    for (auto& w : workers_) retire(w);
}

void WorkerPool::spawn(Worker& w) {
    int toWorker[2], fromWorker[2];
    if (pipe(toWorker) != 0 || pipe(fromWorker) != 0) throw std::runtime_error("worker pool: pipe failed");
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("worker pool: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(toWorker[1]);
        ::close(fromWorker[0]);
        for (auto& other : workers_)
            if (other.pid > 0) ::close(other.jobFd), ::close(other.resultFd);
        workerMain(toWorker[0], fromWorker[1], options_.session);
    }
    ::close(toWorker[0]);
    ::close(fromWorker[1]);
    w.pid = pid;
    w.jobFd = toWorker[1];
    w.resultFd = fromWorker[0];
    w.current = -1;
}

void WorkerPool::retire(Worker& w) {
    if (w.pid <= 0) return;
    ::close(w.jobFd);  // EOF ends the worker's loop
    ::close(w.resultFd);
    int status = 0;
    // Give it a moment to leave cleanly, then make sure.
    for (int i = 0; i < 50; ++i) {
        if (waitpid(w.pid, &status, WNOHANG) == w.pid) {
            w.pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    kill(w.pid, SIGKILL);
    waitpid(w.pid, &status, 0);
    w.pid = -1;
}

void WorkerPool::run(const std::vector<SimJob>& jobs, const std::function<void(std::size_t, SimResult&&)>& onResult,
                     const std::function<void(const Progress&)>& onProgress) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    Progress progress;
    progress.total = jobs.size();
    std::size_t next = 0;

    auto finish = [&](Worker& w, SimResult&& res) {
        const auto index = std::size_t(w.current);
        w.current = -1;
        ++progress.done;
        if (!res.ok) ++progress.failed;
        progress.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
        progress.eta_s = progress.elapsed_s / double(progress.done) * double(progress.total - progress.done);
        onResult(index, std::move(res));
        if (onProgress) onProgress(progress);
    };
    auto failWorker = [&](Worker& w, const std::string& why, const std::string& kind) {
        SimResult res;
        res.id = jobs[std::size_t(w.current)].id;
        res.error = why;
        res.errorKind = kind;
        res.wall_s = std::chrono::duration<double>(clock::now() - w.started).count();
        ::close(w.jobFd), ::close(w.resultFd);
        w.pid = -1;
        finish(w, std::move(res));
    };

    while (progress.done < jobs.size()) {
        // Hand out jobs in index order to idle workers.
        for (auto& w : workers_) {
            if (next >= jobs.size()) break;
            if (w.current >= 0) continue;
            if (w.pid <= 0) spawn(w);
            w.current = long(next);
            w.started = clock::now();
            w.timeout_s = jobs[next].timeout_s > 0 ? jobs[next].timeout_s : options_.jobTimeout_s;
            ++next;
            if (!sendFrame(w.jobFd, encodeJob(jobs[std::size_t(w.current)]))) {
                int status = 0;
                waitpid(w.pid, &status, 0);
                failWorker(w, describeStatus(status), "worker-died");
            }
        }
        std::vector<pollfd> fds;
        std::vector<Worker*> owners;
        for (auto& w : workers_)
            if (w.current >= 0) fds.push_back({w.resultFd, POLLIN, 0}), owners.push_back(&w);
        if (fds.empty()) continue;
        ::poll(fds.data(), fds.size(), 200);
        for (std::size_t i = 0; i < fds.size(); ++i) {
            Worker& w = *owners[i];
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                std::string frame;
                if (receiveFrame(w.resultFd, frame)) {
                    SimResult res = decodeResult(frame);
                    if (res.id.empty()) res.id = jobs[std::size_t(w.current)].id;
                    if (res.errorKind == "library") {  // the worker could not start: it has exited
                        int status = 0;
                        waitpid(w.pid, &status, 0);
                        ::close(w.jobFd), ::close(w.resultFd);
                        w.pid = -1;
                    }
                    finish(w, std::move(res));
                } else {
                    int status = 0;
                    waitpid(w.pid, &status, 0);
                    failWorker(w, describeStatus(status), "worker-died");
                }
            } else if (w.timeout_s > 0 &&
                       std::chrono::duration<double>(clock::now() - w.started).count() > w.timeout_s) {
                kill(w.pid, SIGKILL);
                int status = 0;
                waitpid(w.pid, &status, 0);
                failWorker(w, "timeout after " + std::to_string(w.timeout_s) + " s", "timeout");
            }
        }
    }
}

}  // namespace imc::spice
