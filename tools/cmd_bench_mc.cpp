// imc bench mc: Monte-Carlo speed-up of MPI ranks over one rank, beside the worker pool's,
// measured in one run on the same sweep.
#include "characterize/crossbar_mc.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace {

using namespace imc;
namespace fs = std::filesystem;

double timeCommand(const std::string& cmd) {
    const auto t0 = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("bench mc: command failed: " + cmd);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

imc::cli::CommandRegistration benchMcCommand{
    "bench mc", "Monte-Carlo throughput: 2 MPI ranks against 1, and 2 workers against 1, on the same sweep",
    [](CLI::App& app) {
        auto size = std::make_shared<int>(64), samples = std::make_shared<int>(64);
        auto json = std::make_shared<bool>(false);
        app.add_option("--size", *size, "crossbar size of each sample")->check(CLI::Range(2, 256));
        app.add_option("--samples", *samples, "Monte-Carlo samples")->check(CLI::Range(2, 100000));
        app.add_flag("--json", *json, "print one JSON object");
        app.callback([size, samples, json] {
            const std::string self = fs::read_symlink("/proc/self/exe").string();
            const fs::path tmp = fs::temp_directory_path() / ("imc-bench-mc-" + std::to_string(::getpid()));
            const std::string sweep = " characterize crossbar-mc --size " + std::to_string(*size) + " --samples " +
                                      std::to_string(*samples) + " --seed 1 --force --json";
            auto run = [&](const std::string& prefix, int workers, const std::string& name) {
                std::fprintf(stderr, "bench mc: %s\n", name.c_str());
                return timeCommand(prefix + "'" + self + "'" + sweep + " --workers " + std::to_string(workers) +
                                   " --out '" + (tmp / name).string() + "' > /dev/null 2>&1");
            };
            nlohmann::json out = {{"circuit", "resistive crossbar " + std::to_string(*size) + "x" + std::to_string(*size) +
                                                  " .op per sample"},
                                  {"samples", *samples}};
            const double pool1 = run("", 1, "pool-1"), pool2 = run("", 2, "pool-2");
            out["pool"] = {{"workers_1_s", pool1}, {"workers_2_s", pool2}, {"speedup", pool1 / pool2}};
            if (std::system("command -v mpirun >/dev/null 2>&1") == 0) {
                const std::string mpirun = "mpirun --oversubscribe --allow-run-as-root -n ";
                const double mpi1 = run(mpirun + "1 ", 1, "mpi-1"), mpi2 = run(mpirun + "2 ", 1, "mpi-2");
                out["mpi"] = {{"ranks_1_s", mpi1}, {"ranks_2_s", mpi2}, {"speedup", mpi1 / mpi2}, {"workers_per_rank", 1}};
            } else {
                out["mpi"] = "mpirun not installed";
            }
            fs::remove_all(tmp);
            if (*json) {
                std::cout << out.dump(2) << "\n";
                return;
            }
            std::printf("%d samples of %s\n", *samples, out["circuit"].get<std::string>().c_str());
            std::printf("worker pool: 1 worker %.2f s, 2 workers %.2f s, speed-up %.2fx\n", pool1, pool2, pool1 / pool2);
            if (out["mpi"].is_object())
                std::printf("MPI: 1 rank %.2f s, 2 ranks %.2f s, speed-up %.2fx (1 worker per rank)\n",
                            out["mpi"]["ranks_1_s"].get<double>(), out["mpi"]["ranks_2_s"].get<double>(),
                            out["mpi"]["speedup"].get<double>());
        });
    }};

}  // namespace
