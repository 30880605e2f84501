// imc characterize JOB.json: a user's cell through a testbench, with sweeps, Monte-Carlo and
// fits, as described by a job file. The named short-hands (imc characterize crossbar-mc, ...)
// are subcommands of the same command.
#include "characterize/job.hpp"
#include "report/html.hpp"
#include "cli.hpp"

#include <cstdio>
#include <iostream>

namespace {

using namespace imc;

imc::cli::CommandRegistration characterizeCommand{
    "characterize", "Characterize a cell from a job file (or run a named characterization: see the subcommands)",
    [](CLI::App& app) {
        struct Options {
            std::string job, out;
            int workers = 0;
            bool force = false, json = false;
        };
        auto o = std::make_shared<Options>();
        app.require_subcommand(0, 1);
        app.add_option("job", o->job, "job file (JSON, format imc-job): the cell, testbench, sweeps, Monte-Carlo, fits")
            ->check(CLI::ExistingFile);
        app.add_option("--out", o->out, "results folder (default results/<job name>-<hash>); fits go in its fits/");
        app.add_option("--workers", o->workers, "worker processes (default: one per core)");
        app.add_flag("--force", o->force, "run again even when the folder holds these results");
        app.add_flag("--json", o->json, "print one JSON object");
        app.callback([o, &app] {
            if (o->job.empty()) {
                if (app.get_subcommands().empty())
                    throw imc::cli::UsageError("characterize: give a job file or a subcommand (imc characterize --help)");
                return;
            }
            const auto job = characterize::loadJob(o->job);
            auto outcome = characterize::runJob(job, {o->out, o->workers, o->force, true});
            if (outcome.report.contains("results") && outcome.report["results"].is_string())
                outcome.report["report_html"] = imc::report::writeRunReport(outcome.report["results"].get<std::string>(),
                                                                            "job " + job.name, imc::cli::commandLine(),
                                                                            outcome.report).string();
            if (o->json) {
                std::cout << outcome.report.dump() << "\n";
                return;
            }
            std::cout << outcome.report.dump(2) << "\n";
        });
    }};

}  // namespace
