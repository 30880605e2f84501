// imc spice FILE.cir: run any netlist through the in-process ngspice session and print vectors.
#include "cli.hpp"
#include "spice/deck_file.hpp"
#include "spice/session.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace {

nlohmann::json vectorJson(const Eigen::VectorXd& v, bool waveform) {
    if (!waveform) return v.size() ? v[v.size() - 1] : 0.0;
    return std::vector<double>(v.data(), v.data() + v.size());
}

imc::cli::CommandRegistration spiceCommand{
    "spice", "Run a netlist in the in-process ngspice and print vectors (last values, or waveforms)",
    [](CLI::App& app) {
        struct Options {
            std::string file;
            std::vector<std::string> vectors;
            bool json = false, waveform = false, echo = false;
        };
        auto opt = std::make_shared<Options>();
        app.add_option("file", opt->file, "netlist file (runs unchanged with ngspice -b)")->required()->check(CLI::ExistingFile);
        app.add_option("--vec", opt->vectors, "vector to print: node name, v(node), i(source), or an expression; repeatable");
        app.add_flag("--json", opt->json, "print one JSON object");
        app.add_flag("--waveform", opt->waveform, "print whole vectors, not their last values");
        app.add_flag("--echo", opt->echo, "copy ngspice's own output to stderr");
        app.callback([opt] {
            const auto t0 = std::chrono::steady_clock::now();
            const std::string deck = imc::spice::readDeckFile(opt->file);
            // Decks run as with `ngspice -b`, control blocks included; commands that reach the
            // machine are pointed out, since a deck from someone else may carry them.
            for (const auto& h : imc::spice::findDeckHazards({opt->file}))
                if (h.runsProgram)
                    std::fprintf(stderr, "imc spice: warning: %s (ngspice runs it, as ngspice -b would)\n",
                                 imc::spice::describe(h).c_str());
            imc::spice::Session session({1, opt->echo});
            auto names = opt->vectors;
            nlohmann::json vectors = nlohmann::json::object();
            try {
                session.load(deck, opt->file);
                session.run();
                if (names.empty()) names = session.vectorNames();
                for (const auto& n : names) vectors[n] = vectorJson(session.vector(n), opt->waveform);
            } catch (const imc::spice::SpiceError& e) {
                // Every error names the deck; load and run errors already start with it.
                const std::string what = e.what();
                if (what.rfind(opt->file, 0) == 0) throw;
                throw imc::spice::SpiceError(e.kind, opt->file + ": " + what, e.ngspiceOutput);
            }
            const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (opt->json) {
                nlohmann::json out = {{"vectors", vectors}, {"ngspice_version", session.version()}, {"wall_s", wall}};
                std::cout << out.dump() << "\n";
                return;
            }
            for (const auto& n : names) {
                const auto& v = vectors[n];
                if (v.is_array()) {
                    std::cout << n << " (" << v.size() << " points):";
                    for (const auto& x : v) std::cout << ' ' << x.get<double>();
                    std::cout << "\n";
                } else {
                    std::printf("%-24s %.9g\n", n.c_str(), v.get<double>());
                }
            }
            std::fprintf(stderr, "ngspice %s, %.3f s\n", session.version().c_str(), wall);
        });
    }};

}  // namespace
