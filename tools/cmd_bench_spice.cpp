// imc bench spice: session overhead against `ngspice -b`, Monte-Carlo speed-up against workers.
#include "characterize/bench_spice.hpp"
#include "cli.hpp"

#include <cstdio>
#include <iostream>

namespace {

imc::cli::CommandRegistration benchSpiceCommand{
    "bench spice", "Session overhead against ngspice -b on the same decks; Monte-Carlo speed-up with workers",
    [](CLI::App& app) {
        auto opt = std::make_shared<imc::characterize::SpiceBenchOptions>();
        auto json = std::make_shared<bool>(false);
        app.add_option("--repeats", opt->repeats, "runs per timing (median)")->check(CLI::Range(1, 100));
        app.add_option("--crossbar", opt->crossbarSize, "crossbar size N (NxN)")->check(CLI::Range(2, 256));
        app.add_option("--mosfet-array", opt->mosfetArraySize, "1T1C array size N (NxN)")->check(CLI::Range(1, 128));
        app.add_option("--device-threads", opt->deviceThreads, "ngspice OpenMP threads for BSIM3/4, both sides")
            ->check(CLI::Range(1, 64));
        app.add_option("--mc-samples", opt->mcSamples, "Monte-Carlo samples for the worker speed-up")->check(CLI::Range(2, 10000));
        app.add_option("--ngspice", opt->ngspiceBinary, "the ngspice executable to compare against");
        app.add_flag("--json", *json, "print one JSON object");
        app.callback([opt, json] {
            const auto r = imc::characterize::benchSpice(*opt);
            if (*json) {
                std::cout << r.dump(2) << "\n";
                return;
            }
            std::printf("ngspice %s, %d cores, %d device thread(s) on both sides, session start-up %.3f s\n",
                        r["ngspice_version"].get<std::string>().c_str(), r["cores"].get<int>(),
                        r["device_threads"].get<int>(), r["session_init_s"].get<double>());
            std::printf("medians of %d interleaved repeats [min - max]\n", r["repeats"].get<int>());
            for (const char* k : {"crossbar", "mosfet_array"}) {
                const auto& c = r[k];
                auto range = [&](const char* f) {
                    char buf[64];
                    std::snprintf(buf, sizeof buf, "[%.3f - %.3f]", c[f][0].get<double>(), c[f][1].get<double>());
                    return std::string(buf);
                };
                std::printf("%s\n  wall: ngspice -b %.3f s %s, session %.3f s %s\n  wall ratio %.3f %s, with session start-up %.3f\n"
                            "  CPU:  ngspice -b %.3f s, session %.3f s, ratio %.3f %s\n",
                            c["description"].get<std::string>().c_str(), c["ngspice_b_s"].get<double>(),
                            range("ngspice_b_spread_s").c_str(), c["session_s"].get<double>(),
                            range("session_spread_s").c_str(), c["overhead_ratio"].get<double>(),
                            range("overhead_ratio_spread").c_str(), c["overhead_ratio_with_init"].get<double>(),
                            c["ngspice_b_cpu_s"].get<double>(), c["session_cpu_s"].get<double>(),
                            c["cpu_ratio"].get<double>(), range("cpu_ratio_spread").c_str());
            }
            const auto& mc = r["monte_carlo"];
            std::printf("Monte-Carlo, %d samples of %s:\n  1 worker %.2f s, 2 workers %.2f s, speed-up %.2fx, identical results: %s\n",
                        mc["samples"].get<int>(), mc["circuit"].get<std::string>().c_str(), mc["workers_1_s"].get<double>(),
                        mc["workers_2_s"].get<double>(), mc["speedup_2_over_1"].get<double>(),
                        mc["identical_results"].get<bool>() ? "yes" : "NO");
        });
    }};

}  // namespace
