// Scaling of LSH attention against exact attention: wall time and peak memory per sequence length,
// the crossover length and the growth exponent. Every measurement runs in a forked child so the
// memory figure is a real high-water mark and one length cannot inflate the next.
#include "workloads/lsh.hpp"

#include "nn/ideal_attention.hpp"
#include "nn/random.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace imc::lsh {

void blockedExactAttention(ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out, int block) {
    const Eigen::Index tq = q.rows(), tk = k.rows(), dv = v.cols(), offset = tk - tq;
    const float scale = 1.0f / std::sqrt(float(q.cols()));
    Matrix scores(block, block);      // one query block x key block of scores
    Matrix accumulator(block, dv);    // running sum of weights * values per query
    Eigen::VectorXf runningMax(block), runningSum(block);
    for (Eigen::Index i0 = 0; i0 < tq; i0 += block) {
        const Eigen::Index rows = std::min<Eigen::Index>(block, tq - i0);
        const Eigen::Index lastKey = offset + i0 + rows - 1;  // the last query's own position
        accumulator.topRows(rows).setZero();
        runningMax.head(rows).setConstant(-std::numeric_limits<float>::infinity());
        runningSum.head(rows).setZero();
        for (Eigen::Index j0 = 0; j0 <= lastKey; j0 += block) {
            const Eigen::Index cols = std::min<Eigen::Index>(block, lastKey + 1 - j0);
            auto s = scores.topLeftCorner(rows, cols);
            s.noalias() = q.middleRows(i0, rows) * k.middleRows(j0, cols).transpose();
            for (Eigen::Index r = 0; r < rows; ++r) {
                const Eigen::Index visible = std::min<Eigen::Index>(cols, offset + i0 + r + 1 - j0);  // causal
                if (visible <= 0) {
                    s.row(r).setZero();
                    continue;
                }
                auto row = s.row(r);
                const float blockMax = row.head(visible).maxCoeff() * scale;
                const float newMax = std::max(runningMax(r), blockMax);
                const float rescale = std::exp(runningMax(r) - newMax);  // 0 on the first block
                row.head(visible) = (row.head(visible).array() * scale - newMax).exp();
                row.tail(cols - visible).setZero();
                runningSum(r) = runningSum(r) * rescale + row.head(visible).sum();
                accumulator.row(r) *= rescale;
                runningMax(r) = newMax;
            }
            accumulator.topRows(rows).noalias() += s * v.middleRows(j0, cols);
        }
        out.middleRows(i0, rows) = accumulator.topRows(rows).array().colwise() / runningSum.head(rows).array();
    }
}

namespace {

using Clock = std::chrono::steady_clock;

Matrix randomMatrix(int rows, int cols, std::uint64_t seed) {
    nn::Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}

// CPU time of the calling thread: on a shared machine wall time measures the other users too.
double threadCpuSeconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// kB value of a "Key:   123 kB" line of /proc/self/status, or -1.
long statusKilobytes(const std::string& key) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
}

// Resets the peak resident set to the current one (Linux >= 4.0); false when unsupported.
bool resetPeakResidentSet() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    return bool(clear);
}

struct Measurement {
    double seconds = 0;      // thread CPU time, best run
    double wallSeconds = 0;  // wall time of the same run
    double peakExtraBytes = -1;  // high-water mark above the inputs; -1 when not measurable
    double checksum = 0;
};

// Runs `kernel` (which builds nothing but its own working memory) in a child process: inputs are
// made, the peak is reset, the kernel is timed (best of repeated runs).
template <typename Kernel>
Measurement measureInChild(int length, int dim, std::uint64_t seed, Kernel&& kernel) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("scaling benchmark: pipe failed");
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("scaling benchmark: fork failed");
    if (pid == 0) {
        close(fds[0]);
        Measurement m;
        try {
            const Matrix q = randomMatrix(length, dim, seed), k = randomMatrix(length, dim, seed + 1),
                         v = randomMatrix(length, dim, seed + 2);
            Matrix out = Matrix::Zero(length, dim);
            const bool peakResettable = resetPeakResidentSet();
            const long before = statusKilobytes("VmRSS");
            m.seconds = std::numeric_limits<double>::infinity();
            double spent = 0;
            // Many short runs, keeping the best, so that other users of a shared machine are
            // filtered out; runs of seconds are repeated up to three times, long ones once.
            for (int run = 0; run < 50 && (run == 0 || spent < 0.5 || (run < 3 && spent < 5.0)); ++run) {
                const auto start = Clock::now();
                const double cpuStart = threadCpuSeconds();
                kernel(q, k, v, out);
                const double cpu = threadCpuSeconds() - cpuStart;
                const double wall = std::chrono::duration<double>(Clock::now() - start).count();
                if (cpu < m.seconds) m.seconds = cpu, m.wallSeconds = wall;
                spent += wall;
            }
            const long peak = statusKilobytes("VmHWM");
            if (peakResettable && before >= 0 && peak >= 0) m.peakExtraBytes = double(peak - before) * 1024.0;
            m.checksum = double(out.cast<double>().sum());
        } catch (...) {
            m.seconds = -1;
        }
        [[maybe_unused]] const auto written = write(fds[1], &m, sizeof m);
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    Measurement m;
    const auto received = read(fds[0], &m, sizeof m);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (received != sizeof m || m.seconds < 0)
        throw std::runtime_error("scaling benchmark: measurement at length " + std::to_string(length) + " failed");
    return m;
}

// Least-squares slope of log(y) against log(x).
double logLogSlope(const std::vector<double>& x, const std::vector<double>& y) {
    const std::size_t n = x.size();
    if (n < 2) return std::numeric_limits<double>::quiet_NaN();
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < n; ++i) mx += std::log(x[i]), my += std::log(y[i]);
    mx /= double(n), my /= double(n);
    double sxy = 0, sxx = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (std::log(x[i]) - mx) * (std::log(y[i]) - my);
        sxx += (std::log(x[i]) - mx) * (std::log(x[i]) - mx);
    }
    return sxy / sxx;
}

}  // namespace

nlohmann::json runScalingBenchmark(const ScalingOptions& o) {
    LshAttentionSettings settings;
    settings.chunk = o.chunk;
    settings.causal = true;
    const auto family = makeGaussianFamily(o.headDim, o.buckets, o.rounds, o.seed);
    const nn::IdealAttention engineIdeal;

    nlohmann::json rows = nlohmann::json::array();
    std::vector<double> lengths, lshSeconds, exactSeconds, fitLengths, fitLsh, fitExact;
    for (int length : o.lengths) {
        // LSH: hashing, sorting and attention of one causal head.
        const Measurement lsh = measureInChild(length, o.headDim, o.seed + 10, [&](const Matrix& q, const Matrix& k,
                                                                                  const Matrix& v, Matrix& out) {
            std::vector<std::vector<int>> buckets;
            for (int r = 0; r < family->rounds(); ++r) buckets.push_back(hashBuckets(family->project(k, r)));
            lshAttentionForward(q, k, v, buckets, settings, out);
        });
        const Measurement exact = measureInChild(length, o.headDim, o.seed + 10,
                                                 [&](const Matrix& q, const Matrix& k, const Matrix& v, Matrix& out) {
                                                     blockedExactAttention(q, k, v, out);
                                                 });
        nlohmann::json row{{"length", length},
                           {"lsh_s", lsh.seconds},
                           {"lsh_wall_s", lsh.wallSeconds},
                           {"lsh_peak_extra_bytes", lsh.peakExtraBytes},
                           {"exact_blocked_s", exact.seconds},
                           {"exact_blocked_wall_s", exact.wallSeconds},
                           {"exact_blocked_peak_extra_bytes", exact.peakExtraBytes},
                           {"speedup", exact.seconds / lsh.seconds}};
        if (length <= o.engineIdealMaxLength) {
            const Measurement engine = measureInChild(length, o.headDim, o.seed + 10,
                                                      [&](const Matrix& q, const Matrix& k, const Matrix& v, Matrix& out) {
                                                          engineIdeal.forward({0, 0}, q, k, v, out, nullptr);
                                                      });
            row["engine_ideal_s"] = engine.seconds;
            row["engine_ideal_peak_extra_bytes"] = engine.peakExtraBytes;
        } else {
            // Not run: its probability matrix alone would be L^2 floats.
            row["engine_ideal_s"] = nullptr;
            row["engine_ideal_peak_extra_bytes_estimate"] = double(length) * double(length) * sizeof(float);
        }
        rows.push_back(row);
        lengths.push_back(length), lshSeconds.push_back(lsh.seconds), exactSeconds.push_back(exact.seconds);
        if (length >= 1024) fitLengths.push_back(length), fitLsh.push_back(lsh.seconds), fitExact.push_back(exact.seconds);
    }

    // Crossover: where log(t_lsh / t_exact) changes sign, interpolated linearly in log L.
    nlohmann::json crossover = nullptr;
    std::string crossoverNote;
    for (std::size_t i = 0; i < lengths.size(); ++i) {
        const double ratio = std::log(lshSeconds[i] / exactSeconds[i]);
        if (ratio >= 0) continue;
        if (i == 0) {
            crossoverNote = "lsh is already faster at the shortest length measured";
            crossover = lengths[0];
        } else {
            const double previous = std::log(lshSeconds[i - 1] / exactSeconds[i - 1]);
            const double t = previous / (previous - ratio);
            crossover = std::exp(std::log(lengths[i - 1]) + t * (std::log(lengths[i]) - std::log(lengths[i - 1])));
            crossoverNote = "interpolated in log-log between the bracketing lengths";
        }
        bool staysFaster = true;
        for (std::size_t j = i; j < lengths.size(); ++j) staysFaster = staysFaster && lshSeconds[j] < exactSeconds[j];
        if (!staysFaster) crossoverNote += "; not faster at every longer length";
        break;
    }
    return {{"unit", "thread CPU seconds (best of repeated runs; *_wall_s is the wall time of that run) for one causal "
                     "head (prefill), one thread; peak extra memory in bytes above the inputs"},
            {"head_dim", o.headDim},
            {"lsh", {{"projection", "gaussian"}, {"buckets", o.buckets}, {"rounds", o.rounds}, {"chunk", o.chunk}}},
            {"exact_reference", "blocked exact softmax attention with online normalization (256 x 256 tiles), "
                                "O(L) extra memory; engine_ideal is nn::IdealAttention where its L x L matrix fits"},
            {"rows", rows},
            {"crossover_length", crossover},
            {"crossover_note", crossoverNote},
            {"growth_exponent", {{"lsh", logLogSlope(fitLengths, fitLsh)},
                                 {"exact_blocked", logLogSlope(fitLengths, fitExact)},
                                 {"fitted_over", "lengths >= 1024"}}}};
}

}  // namespace imc::lsh
