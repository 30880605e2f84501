// imc bench mc: Monte-Carlo speed-up of MPI ranks over one rank, beside the worker pool's,
// measured in one run on the same sweep.
#include "characterize/crossbar_mc.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace {

using namespace imc;
namespace fs = std::filesystem;

// Wall time of the whole command: process (and mpirun) start-up, job list, run, results folder.
double timeCommand(const std::string& cmd) {
    const auto t0 = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("bench mc: command failed: " + cmd);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

imc::cli::CommandRegistration benchMcCommand{
    "bench mc", "Monte-Carlo throughput: 2 MPI ranks against 1, and 2 workers against 1, on the same sweep",
    [](CLI::App& app) {
        auto size = std::make_shared<int>(64), samples = std::make_shared<int>(64), repeats = std::make_shared<int>(3);
        auto json = std::make_shared<bool>(false);
        app.add_option("--size", *size, "crossbar size of each sample")->check(CLI::Range(2, 256));
        app.add_option("--samples", *samples, "Monte-Carlo samples")->check(CLI::Range(2, 100000));
        app.add_option("--repeats", *repeats, "runs of each configuration (timings are medians)")->check(CLI::Range(1, 100));
        app.add_flag("--json", *json, "print one JSON object");
        app.callback([size, samples, repeats, json] {
            const std::string self = fs::read_symlink("/proc/self/exe").string();
            const fs::path tmp = fs::temp_directory_path() / ("imc-bench-mc-" + std::to_string(::getpid()));
            const std::string sweep = " characterize crossbar-mc --size " + std::to_string(*size) + " --samples " +
                                      std::to_string(*samples) + " --seed 1 --force --json";
            struct Config {
                std::string name, prefix;
                int workers;
                std::vector<double> times;
            };
            std::vector<Config> configs = {{"pool-1", "", 1, {}}, {"pool-2", "", 2, {}}};
            const bool mpi = std::system("command -v mpirun >/dev/null 2>&1") == 0;
            if (mpi) {
                const std::string mpirun = "mpirun --oversubscribe --allow-run-as-root -n ";
                configs.push_back({"mpi-1", mpirun + "1 ", 1, {}});
                configs.push_back({"mpi-2", mpirun + "2 ", 1, {}});
            }
            // Round-robin over the configurations, so that a passing load on the machine falls
            // on all of them alike rather than on one.
            for (int r = 0; r < *repeats; ++r)
                for (auto& c : configs) {
                    std::fprintf(stderr, "bench mc: %s, run %d of %d\n", c.name.c_str(), r + 1, *repeats);
                    const fs::path out = tmp / (c.name + "-" + std::to_string(r));
                    c.times.push_back(timeCommand(c.prefix + "'" + self + "'" + sweep + " --workers " +
                                                  std::to_string(c.workers) + " --out '" + out.string() + "' > /dev/null 2>&1"));
                    fs::remove_all(out);
                }
            fs::remove_all(tmp);
            const double pool1 = median(configs[0].times), pool2 = median(configs[1].times);
            nlohmann::json out = {{"circuit", "resistive crossbar " + std::to_string(*size) + "x" + std::to_string(*size) +
                                                  " .op per sample"},
                                  {"samples", *samples},
                                  {"repeats", *repeats}};
            out["pool"] = {{"workers_1_s", pool1}, {"workers_2_s", pool2}, {"speedup", pool1 / pool2},
                           {"runs_s", {{"workers_1", configs[0].times}, {"workers_2", configs[1].times}}}};
            if (mpi) {
                const double mpi1 = median(configs[2].times), mpi2 = median(configs[3].times);
                out["mpi"] = {{"ranks_1_s", mpi1}, {"ranks_2_s", mpi2}, {"speedup", mpi1 / mpi2}, {"workers_per_rank", 1},
                              {"runs_s", {{"ranks_1", configs[2].times}, {"ranks_2", configs[3].times}}}};
            } else {
                out["mpi"] = "mpirun not installed";
            }
            if (*json) {
                std::cout << out.dump(2) << "\n";
                return;
            }
            std::printf("%d samples of %s, medians of %d runs\n", *samples, out["circuit"].get<std::string>().c_str(), *repeats);
            std::printf("worker pool: 1 worker %.2f s, 2 workers %.2f s, speed-up %.2fx\n", pool1, pool2, pool1 / pool2);
            if (out["mpi"].is_object())
                std::printf("MPI: 1 rank %.2f s, 2 ranks %.2f s, speed-up %.2fx (1 worker per rank)\n",
                            out["mpi"]["ranks_1_s"].get<double>(), out["mpi"]["ranks_2_s"].get<double>(),
                            out["mpi"]["speedup"].get<double>());
        });
    }};

}  // namespace
