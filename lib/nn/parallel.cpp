#include "nn/parallel.hpp"

#include "nn/nn.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace imc::nn {
namespace {

thread_local bool insideTask = false;

class ThreadPool {
public:
    explicit ThreadPool(int threads) {
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& worker : workers_) worker.join();
    }
    int size() const { return static_cast<int>(workers_.size()) + 1; }

    void run(int tasks, const std::function<void(int)>& fn) {
        std::unique_lock lock(mutex_);
        job_ = &fn;
        taskCount_ = tasks;
        nextTask_ = 0;
        pending_ = tasks;
        error_ = nullptr;
        ++generation_;
        lock.unlock();
        wake_.notify_all();
        drain();
        lock.lock();
        // Workers still inside drain() would otherwise see the next job's counters.
        done_.wait(lock, [this] { return pending_ == 0 && active_ == 0; });
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    void drain() {
        insideTask = true;
        for (;;) {
            const int task = nextTask_.fetch_add(1);
            if (task >= taskCount_) break;
            try {
                (*job_)(task);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            if (pending_.fetch_sub(1) == 1) {
                std::lock_guard lock(mutex_);
                done_.notify_all();
            }
        }
        insideTask = false;
    }

    void workerLoop() {
        std::uint64_t seen = 0;
        for (;;) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            if (job_ == nullptr) continue;  // woke after that job finished
            ++active_;
            lock.unlock();
            drain();
            lock.lock();
            if (--active_ == 0) done_.notify_all();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(int)>* job_ = nullptr;
    int taskCount_ = 0;
    std::atomic<int> nextTask_{0};
    std::atomic<int> pending_{0};
    int active_ = 0;  // workers inside drain(), guarded by mutex_
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
};

std::mutex poolMutex;
std::unique_ptr<ThreadPool> pool;
std::atomic<int> requestedThreads{0};

int resolveThreads(int threads) {
    if (threads > 0) return threads;
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

void setThreadCount(int threads) {
    std::lock_guard lock(poolMutex);
    requestedThreads = threads;
    pool.reset();
}

int threadCount() { return resolveThreads(requestedThreads); }

void parallelFor(int tasks, const std::function<void(int)>& fn) {
    if (tasks <= 0) return;
    if (tasks == 1 || insideTask || threadCount() == 1) {
        for (int task = 0; task < tasks; ++task) fn(task);
        return;
    }
    // One parallel loop at a time; a second caller thread waits its turn.
    std::lock_guard lock(poolMutex);
    if (!pool) pool = std::make_unique<ThreadPool>(resolveThreads(requestedThreads));
    pool->run(tasks, fn);
}

}  // namespace imc::nn
