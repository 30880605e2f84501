// imc characterize memristor | crossbar | sneak-paths | rp-lsh | memristor-fits: the memristive
// crosspoint cells of netlists/models/memristor in SPICE, from the single-cell I-V loop to hashing
// in a crossbar and the fits the behavioral LSH samples from.
#include "characterize/memristor.hpp"
#include "cli.hpp"
#include "report/html.hpp"
#include "report/plot.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace {

using namespace imc;
using characterize::MemristorCell;

std::pair<int, int> parseSize(const std::string& text) {
    const auto x = text.find('x');
    try {
        if (x != std::string::npos) {
            const int r = std::stoi(text.substr(0, x)), c = std::stoi(text.substr(x + 1));
            if (r >= 1 && c >= 1) return {r, c};
        }
    } catch (const std::exception&) {
    }
    throw cli::UsageError("size '" + text + "' must read ROWSxCOLS, e.g. 16x16");
}

// Options every memristor command shares: pool size, results folder, reuse.
struct RunOptions {
    int workers = 0;
    std::string out;
    bool force = false, json = false;
    void add(CLI::App& app, const std::string& outHelp) {
        app.add_option("--workers", workers, "worker processes (default: one per core)");
        app.add_option("--out", out, outHelp);
        app.add_flag("--force", force, "run again even when the folder holds these results");
        app.add_flag("--json", json, "print one JSON object");
    }
    characterize::RunSpec spec(const std::string& name) const {
        characterize::RunSpec r;
        r.name = name;
        r.outDir = out;
        r.workers = workers;
        r.force = force;
        r.progress = true;
        return r;
    }
};

std::string nano(double amps) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4g nA", amps * 1e9);
    return b;
}

imc::cli::CommandRegistration memristorCommand{
    "characterize memristor",
    "Self-selective cell: static I-V, quasi-DC loop, hold voltages, plateau, on/off at 3 V, read disturb",
    [](CLI::App& app) {
        auto o = std::make_shared<RunOptions>();
        o->add(app, "results folder (default results/memristor-iv-<hash>)");
        app.callback([o] {
            const auto r = characterize::characterizeSelfSelective(o->spec("memristor-iv"));
            const auto j = r.toJson();
            report::writeRunReport(r.dir, "self-selective memristor cell: I-V", cli::commandLine(), j);
            if (o->json) {
                std::cout << j.dump() << "\n";
                return;
            }
            std::printf("%-24s %-14s %s\n", "quantity", "measured", "documented target");
            for (const auto& [k, v] : j.items()) {
                if (!v.is_object()) continue;
                std::printf("%-24s %-14.6g %s\n", k.c_str(), v["measured"].get<double>(),
                            v["target"].is_string() ? v["target"].get<std::string>().c_str() : v["target"].dump().c_str());
            }
            std::printf("results: %s (iv_loop.png)\n", r.dir.string().c_str());
        });
    }};

imc::cli::CommandRegistration crossbarCommand{
    "characterize crossbar",
    "Read of the far cell of an N x M crossbar (worst case: all other cells LRS): read margin and sneak-current fraction",
    [](CLI::App& app) {
        struct Options : RunOptions {
            std::string cell = "self-selective", size = "16x16", scheme = "v3", pattern = "worst";
            double read_V = 3.0, wire_Ohm = 10.0;
            std::uint64_t seed = 1;
        };
        auto o = std::make_shared<Options>();
        app.add_option("--cell", o->cell, "self-selective | linear")->check(CLI::IsMember({"self-selective", "linear", "selfsel", "ohmic"}));
        app.add_option("--size", o->size, "ROWSxCOLS");
        app.add_option("--scheme", o->scheme, "bias of the unselected lines: v3 | v2 | floating")->check(CLI::IsMember({"v3", "v2", "floating"}));
        app.add_option("--pattern", o->pattern, "unselected cells: worst (all LRS) | best (all HRS) | random")
            ->check(CLI::IsMember({"worst", "best", "random"}));
        app.add_option("--read-V", o->read_V, "read voltage across the selected cell, V")->check(CLI::PositiveNumber);
        app.add_option("--wire-ohm", o->wire_Ohm, "wire resistance per array element on each line, ohm")->check(CLI::PositiveNumber);
        app.add_option("--seed", o->seed, "seed of the random pattern");
        o->add(app, "results folder (default results/memristor-crossbar-<hash>)");
        app.callback([o] {
            characterize::SneakCase c;
            c.cell = characterize::parseMemristorCell(o->cell);
            std::tie(c.rows, c.cols) = parseSize(o->size);
            c.scheme = circuits::parseBiasScheme(o->scheme);
            c.pattern = characterize::parseDataPattern(o->pattern);
            c.readVoltage_V = o->read_V, c.wireResistance_Ohm = o->wire_Ohm, c.seed = o->seed;
            characterize::RunSummary summary;
            const auto r = characterize::runSneakStudy({c}, o->spec("memristor-crossbar"), &summary).front();
            if (!r.ok) throw std::runtime_error("crossbar: the SPICE jobs failed, see " + summary.dir.string());
            // Reported sneak fraction: the read of an LRS cell (the sensed "1"); the HRS read is given beside it.
            nlohmann::json j = {{"read_margin", r.readMargin},
                                {"sneak_fraction", r.sneakFractionLrs},
                                {"sneak_fraction_hrs_read", r.sneakFractionHrs},
                                {"sneak_fraction_case", "selected cell in LRS, unselected cells per pattern; (I_column - I_cell) / I_column"},
                                {"cell", toString(c.cell)},
                                {"size", o->size},
                                {"scheme", o->scheme},
                                {"pattern", o->pattern},
                                {"read_V", c.readVoltage_V},
                                {"wire_Ohm", c.wireResistance_Ohm},
                                {"i_cell_lrs_A", r.cellLrs_A},
                                {"i_column_lrs_A", r.columnLrs_A},
                                {"i_cell_hrs_A", r.cellHrs_A},
                                {"i_column_hrs_A", r.columnHrs_A},
                                {"results", summary.dir.string()},
                                {"ngspice_version", summary.ngspiceVersion}};
            report::writeRunReport(summary.dir, "memristor crossbar read: sneak paths", cli::commandLine(), j);
            if (o->json) {
                std::cout << j.dump() << "\n";
                return;
            }
            std::printf("%s %s crossbar, scheme %s, pattern %s, read at %g V\n", toString(c.cell), o->size.c_str(), o->scheme.c_str(),
                        o->pattern.c_str(), c.readVoltage_V);
            std::printf("selected LRS: I_cell %s, I_column %s, sneak fraction %.4g %%\n", nano(r.cellLrs_A).c_str(),
                        nano(r.columnLrs_A).c_str(), 100 * r.sneakFractionLrs);
            std::printf("selected HRS: I_cell %s, I_column %s, sneak fraction %.4g %%\n", nano(r.cellHrs_A).c_str(),
                        nano(r.columnHrs_A).c_str(), 100 * r.sneakFractionHrs);
            std::printf("read margin (I_col LRS - I_col HRS) / I_col LRS: %.4g %%\nresults: %s\n", 100 * r.readMargin,
                        summary.dir.string().c_str());
        });
    }};

imc::cli::CommandRegistration sneakCommand{
    "characterize sneak-paths",
    "Sneak paths against array size and data pattern, self-selective vs linear; the V_h > V_read/3 criterion",
    [](CLI::App& app) {
        struct Options : RunOptions {
            std::vector<int> sizes{2, 4, 8, 16, 32, 64};
            std::vector<std::string> patterns{"worst", "random", "best"};
            std::string scheme = "v3";
            std::vector<double> holds_V{0.6, 0.8, 0.9, 1.1, 1.25, 1.5, 2.0, 2.5};
            int criterionSize = 16;
        };
        auto o = std::make_shared<Options>();
        app.add_option("--sizes", o->sizes, "array sizes N (N x N)")->delimiter(',');
        app.add_option("--patterns", o->patterns, "data patterns: worst, random, best")->delimiter(',');
        app.add_option("--scheme", o->scheme, "v3 | v2 | floating")->check(CLI::IsMember({"v3", "v2", "floating"}));
        app.add_option("--hold-V", o->holds_V, "hold voltages |V_h| of the criterion sweep (V_h_neg = -V_h_pos), V")->delimiter(',');
        app.add_option("--criterion-size", o->criterionSize, "array size N of the criterion sweep")->check(CLI::Range(2, 128));
        o->add(app, "results folder (default results/memristor-sneak-<hash>)");
        app.callback([o] {
            std::vector<characterize::SneakCase> cases;
            for (auto cell : {MemristorCell::SelfSelective, MemristorCell::Linear})
                for (const auto& p : o->patterns)
                    for (int n : o->sizes) {
                        characterize::SneakCase c;
                        c.cell = cell, c.rows = c.cols = n;
                        c.scheme = circuits::parseBiasScheme(o->scheme);
                        c.pattern = characterize::parseDataPattern(p);
                        cases.push_back(c);
                    }
            const std::size_t sizeCases = cases.size();
            // Criterion: V_h swept through V_read/3 (dyn=0 keeps the state at x0 whatever the bias).
            for (double h : o->holds_V) {
                characterize::SneakCase c;
                c.rows = c.cols = o->criterionSize;
                c.scheme = circuits::parseBiasScheme(o->scheme);
                c.cellParams = {{"Vh_pos", netlist::formatSI(h)}, {"Vh_neg", netlist::formatSI(-h)}, {"dyn", "0"}};
                cases.push_back(c);
            }
            characterize::RunSummary summary;
            const auto results = characterize::runSneakStudy(cases, o->spec("memristor-sneak"), &summary);
            nlohmann::json sweep = nlohmann::json::array(), criterion = nlohmann::json::array();
            std::vector<report::Series> margin, sneak;
            for (std::size_t k = 0; k < results.size(); ++k) {
                const auto& r = results[k];
                if (k < sizeCases) {
                    sweep.push_back(r.toJson());
                    const std::string label = std::string(toString(r.c.cell)) + ", " + toString(r.c.pattern);
                    if (margin.empty() || margin.back().label != label) {
                        margin.push_back({label, {}, {}, report::Series::Style::LinesPoints});
                        sneak.push_back({label + ", HRS read", {}, {}, report::Series::Style::LinesPoints});
                    }
                    if (r.ok) {
                        margin.back().x.push_back(r.c.rows), margin.back().y.push_back(r.readMargin);
                        sneak.back().x.push_back(r.c.rows), sneak.back().y.push_back(std::max(r.sneakFractionHrs, 1e-9));
                    }
                } else {
                    auto j = r.toJson();
                    j["hold_V"] = o->holds_V[k - sizeCases];
                    j["criterion_holds"] = o->holds_V[k - sizeCases] > r.c.readVoltage_V / 3;
                    criterion.push_back(j);
                }
            }
            report::plotXY(summary.dir / "read_margin_vs_size.png",
                           {"read margin vs array size (" + o->scheme + ")", "N (N x N)", "(I_col LRS - I_col HRS) / I_col LRS", true, false}, margin);
            report::plotXY(summary.dir / "sneak_fraction_vs_size.png",
                           {"sneak fraction of an HRS read vs array size (" + o->scheme + ")", "N (N x N)", "sneak fraction", true, true}, sneak);
            nlohmann::json j = {{"sizes", sweep}, {"criterion", criterion}, {"results", summary.dir.string()},
                                {"ngspice_version", summary.ngspiceVersion}};
            report::writeRunReport(summary.dir, "sneak paths against array size", cli::commandLine(), j);
            if (o->json) {
                std::cout << j.dump() << "\n";
                return;
            }
            std::printf("%-15s %-7s %-8s %12s %14s %14s\n", "cell", "size", "pattern", "read margin", "sneak LRS rd", "sneak HRS rd");
            for (std::size_t k = 0; k < sizeCases; ++k) {
                const auto& r = results[k];
                std::printf("%-15s %-7s %-8s %11.4g%% %13.4g%% %13.4g%%\n", toString(r.c.cell),
                            (std::to_string(r.c.rows) + "x" + std::to_string(r.c.cols)).c_str(), toString(r.c.pattern),
                            100 * r.readMargin, 100 * r.sneakFractionLrs, 100 * r.sneakFractionHrs);
            }
            std::printf("criterion (self-selective %dx%d, worst case, V_read = 3 V, V_read/3 = 1 V):\n", o->criterionSize, o->criterionSize);
            for (std::size_t k = sizeCases; k < results.size(); ++k) {
                const auto& r = results[k];
                std::printf("  |V_h| = %-5g V  sneak LRS read %9.4g%%  HRS read %9.4g%%  read margin %8.4g%%\n", o->holds_V[k - sizeCases],
                            100 * r.sneakFractionLrs, 100 * r.sneakFractionHrs, 100 * r.readMargin);
            }
            std::printf("results: %s\n", summary.dir.string().c_str());
        });
    }};

imc::cli::CommandRegistration rpLshCommand{
    "characterize rp-lsh",
    "RP-LSH in a SPICE crossbar of HRS self-selective cells: hashes of binary inputs against the behavioral projection",
    [](CLI::App& app) {
        struct Options : RunOptions {
            std::string size = "16x2";
            characterize::RpLshSpec rp;
        };
        auto o = std::make_shared<Options>();
        app.add_option("--size", o->size, "ROWSxCOLS, COLS even (one projection per adjacent column pair)");
        app.add_option("--vectors", o->rp.vectors, "random binary input vectors")->check(CLI::Range(1, 100000));
        app.add_option("--seed", o->rp.seed, "seed of the conductance draws and the inputs");
        app.add_option("--cycle", o->rp.cycle, "set/reset cycle the array is read after (C2C spread)")->check(CLI::Range(1, 1000000));
        app.add_option("--read-V", o->rp.readVoltage_V, "voltage of a 1 input, V")->check(CLI::PositiveNumber);
        app.add_option("--wire-ohm", o->rp.wireResistance_Ohm, "wire resistance per array element, ohm")->check(CLI::PositiveNumber);
        o->add(app, "results folder (default results/memristor-rp-lsh-<hash>)");
        app.callback([o] {
            std::tie(o->rp.rows, o->rp.cols) = parseSize(o->size);
            const auto r = characterize::runRpLsh(o->rp, o->spec("memristor-rp-lsh"));
            report::writeRunReport(r.dir, "RP-LSH on a memristor crossbar: SPICE against the behavioral model", cli::commandLine(),
                                   r.toJson());
            if (o->json) {
                std::cout << r.toJson().dump() << "\n";
                return;
            }
            std::printf("%s crossbar, %d vectors: hash agreement SPICE vs behavioral %.4g (%d of %d)\n", o->size.c_str(), o->rp.vectors,
                        r.agreement, int(std::lround(r.agreement * o->rp.vectors)), o->rp.vectors);
            std::printf("largest projection difference: %.3g of the largest projection\nresults: %s\n", r.maxProjectionError,
                        r.dir.string().c_str());
        });
    }};

imc::cli::CommandRegistration fitsCommand{
    "characterize memristor-fits",
    "SPICE reads of drawn HRS devices -> fits/memristor-hrs-lognormal.json, memristor-diff-gaussian.json, memristor-c2c.json",
    [](CLI::App& app) {
        struct Options : RunOptions {
            characterize::MemristorFitsSpec fits;
            std::string fitsDir = "fits";
        };
        auto o = std::make_shared<Options>();
        app.add_option("--samples", o->fits.samples, "devices for the D2D fit")->check(CLI::Range(4, 10000000));
        app.add_option("--devices-per-cycle", o->fits.devicesPerCycle, "devices per cycle for the C2C fit")->check(CLI::Range(4, 10000000));
        app.add_option("--cycles", o->fits.cycles, "cycle numbers of the C2C fit")->delimiter(',');
        app.add_option("--seed", o->fits.seed, "seed of every draw");
        app.add_option("--workers", o->workers, "worker processes (default: one per core)");
        app.add_option("--out", o->fitsDir, "folder for the fits files");
        app.add_option("--results", o->out, "results folder (default results/memristor-fits-<hash>)");
        app.add_flag("--force", o->force, "run again even when the folder holds these results");
        app.add_flag("--json", o->json, "print one JSON object");
        app.callback([o] {
            o->fits.fitsDir = o->fitsDir;
            std::ostringstream cmd;
            cmd << "imc characterize memristor-fits --samples " << o->fits.samples << " --devices-per-cycle " << o->fits.devicesPerCycle
                << " --seed " << o->fits.seed << " --out " << o->fitsDir;
            o->fits.command = cmd.str();
            const auto r = characterize::runMemristorFits(o->fits, o->spec("memristor-fits"));
            report::writeRunReport(r.dir, "memristor fits: HRS, pair differences, cycle-to-cycle spread", cli::commandLine(),
                                   r.toJson());
            if (o->json) {
                std::cout << r.toJson().dump() << "\n";
                return;
            }
            std::printf("HRS lognormal: mu %.6g, sigma %.4g (median %.4g nS), ks_p %.3g, n %zu\n", r.hrs.mu, r.hrs.sigma,
                        std::exp(r.hrs.mu) * 1e9, r.hrs.ks_p, r.hrs.n);
            std::printf("differences: mean %.4g pS, std %.4g pS, ks_p %.3g, n %zu\n", r.diff.mean * 1e12, r.diff.std * 1e12, r.diff.ks_p, r.diff.n);
            std::printf("sigma(n) = %.4g + %.4g log10(n) (rmse %.2g)\n", r.sigma0, r.sigmaPerDecade, r.sigmaFitRmse);
            for (const auto& f : r.files) std::printf("wrote %s\n", f.string().c_str());
            std::printf("results: %s\n", r.dir.string().c_str());
        });
    }};

}  // namespace
