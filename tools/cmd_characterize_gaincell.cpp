// imc characterize gaincell | retention | c2p-relu | c2p-signed | gaincell-array | gaincell-fits:
// the gain-cell attention hardware in SPICE, fitted into the behavioral model's fits files.
#include "characterize/gaincell.hpp"
#include "datadir/datadir.hpp"
#include "report/html.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

namespace {

using namespace imc;
using nlohmann::json;

struct Common {
    int samples = 0;
    std::uint64_t seed = 1;
    int workers = 0;
    std::string out, fitsOut;
    bool force = false, json = false;
};

void addCommon(CLI::App& app, Common& c, int defaultSamples) {
    c.samples = defaultSamples;
    app.add_option("--samples", c.samples, "Monte-Carlo samples (sample 0 is the nominal circuit)")->check(CLI::Range(1, 100000));
    app.add_option("--seed", c.seed, "seed of every random draw");
    app.add_option("--workers", c.workers, "worker processes (default: one per core)");
    app.add_option("--out", c.out, "results folder (default results/<name>-<hash>)");
    app.add_option("--fits-out", c.fitsOut, "also write the fits file into this folder (e.g. fits)");
    app.add_flag("--force", c.force, "run again even when the folder holds these results");
    app.add_flag("--json", c.json, "print one JSON object");
}

characterize::GainCellRunOptions runOptions(const Common& c, const std::string& command) {
    characterize::GainCellRunOptions o;
    o.outDir = c.out;
    o.fitsOut = c.fitsOut;
    o.workers = c.workers;
    o.force = c.force;
    o.command = command;
    return o;
}

void print(const Common& c, const json& report) {
    if (c.json) std::cout << report.dump() << "\n";
    else std::cout << report.dump(2) << "\n";
}

// report.html in the run's results folder (its "results" or "dir" entry), named in the JSON.
json withPage(json summary, const std::string& title) {
    const std::string dir = summary.contains("dir") ? summary["dir"].get<std::string>() : summary["results"].get<std::string>();
    summary["report_html"] = report::writeRunReport(dir, title, cli::commandLine(), summary).string();
    return summary;
}

// The built-in benches are the job files in netlists/; --samples and --seed replace theirs.
std::optional<std::uint64_t> seedOf(const Common& c) { return c.seed; }

json runGainCell(const Common& c, const std::string& command) {
    auto sw = characterize::gainCellSweepFromJob(characterize::loadBuiltinJob("gaincell", c.samples, seedOf(c)));
    return withPage(characterize::characterizeGainCell(sw, runOptions(c, command)).report, "gain cell: bit-line charge and polynomial fit");
}

json runRetention(const Common& c, const std::string& command) {
    const auto sw = characterize::retentionSweepFromJob(characterize::loadBuiltinJob("retention", c.samples, seedOf(c)));
    return withPage(characterize::characterizeRetention(sw, runOptions(c, command)).report, "gain cell: retention");
}

json runC2p(const Common& c, bool isSigned, int rows, double fullScale_fC, const std::string& command) {
    auto sw = characterize::chargeToPulseSweepFromJob(
        characterize::builtinReadoutJob(isSigned, rows, c.samples, seedOf(c), fullScale_fC * 1e-15));
    return withPage(characterize::characterizeChargeToPulse(sw, runOptions(c, command)).report,
                    isSigned ? "signed charge-to-pulse readout" : "ReLU charge-to-pulse readout");
}

json runArray(const Common& c, const std::string& size, const std::string& fitsDir, const std::string& form, bool verify,
              bool noMismatch, const std::string& command) {
    int rows = 0, cols = 0;
    if (std::sscanf(size.c_str(), "%dx%d", &rows, &cols) != 2 || rows < 1 || cols < 1 || rows > 256 || cols > 256)
        throw cli::UsageError("--size must be RxC, e.g. 8x8 (1..256 each), got '" + size + "'");
    if (!fit::findFit(fitsDir, "gaincell-poly"))
        throw cli::UsageError("no gaincell-poly fit in " + fitsDir + " (run `imc characterize gaincell --fits-out " + fitsDir + "` first)");
    // netlists/gaincell-array.job.json with the command line's size, form, fits and mismatch.
    const auto job = characterize::loadBuiltinJob("gaincell-array", c.samples, seedOf(c), [&](json& doc) {
        auto& tb = doc["testbench"];
        tb["rows"] = rows, tb["cols"] = cols, tb["form"] = form;
        tb["fits_dir"] = std::filesystem::absolute(fitsDir).string();
        if (noMismatch) tb["mismatch"] = false;
    });
    characterize::ArrayCharacterization a = characterize::arrayCharacterizationFromJob(job);
    a.verifyDecomposition = verify;
    a.parameters["testbench"]["fits_dir"] = fitsDir;  // as given: provenance carries no machine's absolute path
    return withPage(characterize::characterizeArray(a, runOptions(c, command)).report,
                    "gain-cell arrays " + size + ": SPICE against the model from the fits");
}

imc::cli::CommandRegistration gaincellCommand{
    "characterize gaincell",
    "One gain cell: bit-line charge over K x Q x V_in with Monte-Carlo mismatch, third-order polynomial fit (eq. 4)",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        addCommon(app, *c, 8);
        app.callback([c] { print(*c, runGainCell(*c, "imc characterize gaincell")); });
    }};

imc::cli::CommandRegistration retentionCommand{
    "characterize retention",
    "Storage-node decay after a write (standard and high-Vth write gate), exponential fit of tau",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        addCommon(app, *c, 1);
        app.callback([c] { print(*c, runRetention(*c, "imc characterize retention")); });
    }};

imc::cli::CommandRegistration c2pReluCommand{
    "characterize c2p-relu",
    "ReLU/HardSigmoid charge-to-pulse readout: pulse width against charge, HardSigmoid fit, per-level spread",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        auto rows = std::make_shared<int>(64);
        auto fullScale = std::make_shared<double>(0.0);
        addCommon(app, *c, 16);
        app.add_option("--rows", *rows, "cells per bit line the readout is sized for")->check(CLI::Range(1, 4096));
        app.add_option("--full-scale-fC", *fullScale,
                       "saturation charge S_sat in fC instead of the sizing rule for --rows (0: the rule)")
            ->check(CLI::NonNegativeNumber);
        app.callback([c, rows, fullScale] { print(*c, runC2p(*c, false, *rows, *fullScale, "imc characterize c2p-relu")); });
    }};

imc::cli::CommandRegistration c2pSignedCommand{
    "characterize c2p-signed",
    "Signed charge-to-pulse readout: signed pulse width against charge, signed HardSigmoid fit, per-level spread",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        auto rows = std::make_shared<int>(64);
        auto fullScale = std::make_shared<double>(0.0);
        addCommon(app, *c, 16);
        app.add_option("--rows", *rows, "cells per bit line the readout is sized for")->check(CLI::Range(1, 4096));
        app.add_option("--full-scale-fC", *fullScale,
                       "saturation charge S_sat in fC instead of the sizing rule for --rows (0: the rule)")
            ->check(CLI::NonNegativeNumber);
        app.callback([c, rows, fullScale] { print(*c, runC2p(*c, true, *rows, *fullScale, "imc characterize c2p-signed")); });
    }};

imc::cli::CommandRegistration arrayCommand{
    "characterize gaincell-array",
    "Gain-cell arrays with readout on random inputs (Q.K^T and phi.V) in SPICE against the model from the fits",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        struct ArrayOptions {
            std::string size = "8x8", fits = imc::dataPath("fits").string(), form = "auto";
            bool verify = false, noMismatch = false;
        };
        auto a = std::make_shared<ArrayOptions>();
        addCommon(app, *c, 1);
        app.add_option("--size", a->size, "rows x columns, e.g. 8x8 or 64x64");
        app.add_option("--fits", a->fits, "folder holding the gaincell-poly fit of the model");
        app.add_option("--form", a->form, "full (one deck), columns (one deck per bit line) or auto (full up to 8x8)")
            ->check(CLI::IsMember({"auto", "full", "columns"}));
        app.add_flag("--verify-decomposition", a->verify, "also run the other form and compare column charges");
        app.add_flag("--no-mismatch", a->noMismatch, "nominal devices only");
        app.callback([c, a] {
            print(*c, runArray(*c, a->size, a->fits, a->form, a->verify, a->noMismatch, "imc characterize gaincell-array --size " + a->size));
        });
    }};

imc::cli::CommandRegistration fitsCommand{
    "characterize gaincell-fits",
    "Regenerates fits/gaincell-poly, retention, c2p-relu, c2p-signed and gaincell-array.json in one run",
    [](CLI::App& app) {
        auto c = std::make_shared<Common>();
        auto quick = std::make_shared<bool>(false);
        addCommon(app, *c, 0);
        c->fitsOut = "fits";
        app.add_flag("--quick", *quick, "few samples, for a smoke run (minutes at most)");
        app.callback([c, quick] {
            const auto t0 = std::chrono::steady_clock::now();
            Common g = *c, r = *c, p = *c, a = *c;
            const bool q = *quick;
            g.samples = c->samples ? c->samples : (q ? 2 : 16);
            r.samples = q ? 1 : 4;
            p.samples = c->samples ? c->samples : (q ? 3 : 32);
            a.samples = q ? 1 : 2;
            for (Common* x : {&g, &r, &p, &a}) x->out = c->out.empty() ? "" : c->out + "/" + (x == &g ? "gaincell" : x == &r ? "retention" : x == &p ? "c2p" : "array");
            const std::string cmd = std::string("imc characterize gaincell-fits") + (q ? " --quick" : "");
            json report;
            report["gaincell"] = runGainCell(g, cmd);
            report["retention"] = runRetention(r, cmd);
            report["c2p-relu"] = runC2p(p, false, 64, 0.0, cmd);
            report["c2p-signed"] = runC2p(p, true, 64, 0.0, cmd);
            // The architecture record with the measured latency: a small array (its energy is in
            // the record's spread; `gaincell-array --size 64x64` gives the full-size numbers).
            report["gaincell-array"] = runArray(a, "8x8", c->fitsOut, "auto", false, false, cmd);
            report["fits_dir"] = c->fitsOut;
            report["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            print(*c, report);
        });
    }};

}  // namespace
