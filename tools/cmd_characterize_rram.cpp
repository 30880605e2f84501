// imc characterize rram-mlc: the 1T1R RRAM cell of netlists/models/rram in SPICE, SLC and 2-bit
// MLC, per-level reads and 64-row column reads -> fits/rram-slc.json and fits/rram-mlc.json.
#include "behavior/rram_model.hpp"
#include "characterize/rram.hpp"
#include "report/html.hpp"
#include "sweep/cluster.hpp"
#include "cli.hpp"
#include "fit/fit.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace {

using namespace imc;

imc::cli::CommandRegistration rramCommand{
    "characterize rram-mlc",
    "1T1R RRAM cell, SLC and 2-bit MLC: per-level reads and 64-row columns with an ADC -> fits/rram-slc.json, rram-mlc.json",
    [](CLI::App& app) {
        struct Options {
            int devices = 4096, rows = 64, columns = 512, workers = 0;
            double wire_Ohm = 1.0, inputDensity = 0.5;
            std::string retention = "1day", fitsDir = "fits", results, paperDir, paperSigma = "ber-4.04";
            std::uint64_t seed = 1;
            bool quick = false, force = false, json = false;
        };
        auto o = std::make_shared<Options>();
        app.add_option("--devices", o->devices, "isolated devices read per level")->check(CLI::Range(2, 10000000));
        app.add_option("--rows", o->rows, "rows of a column (sets the ADC bits: ceil(log2 rows) + bits per cell - 1)")->check(CLI::Range(1, 4096));
        app.add_option("--columns", o->columns, "column reads (each a fresh column and input bit-plane)")->check(CLI::Range(0, 10000000));
        app.add_option("--wire-ohm", o->wire_Ohm, "wire resistance per cell pitch on the bit and source lines, ohm")->check(CLI::PositiveNumber);
        app.add_option("--input-density", o->inputDensity, "probability that an input bit (word line) is 1")->check(CLI::Range(0.0, 1.0));
        app.add_option("--retention", o->retention, "time from programming to read: 1s | 1day | 2day")->check(CLI::IsMember({"1s", "1day", "2day"}));
        app.add_option("--seed", o->seed, "seed of every draw");
        app.add_flag("--quick", o->quick, "256 devices per level and 32 columns (a look, not the shipped fits)");
        app.add_option("--workers", o->workers, "worker processes (default: one per core)");
        app.add_option("--out", o->fitsDir, "folder for the fits files");
        app.add_option("--results", o->results, "results folder (default results/rram-<slc|mlc>-<hash>-{devices,columns})");
        app.add_flag("--force", o->force, "run again even when the folder holds these results");
        app.add_flag("--json", o->json, "print one JSON object");
        app.add_option("--write-paper-fits", o->paperDir,
                       "no SPICE: write the paper's constants as rram-slc.json and rram-mlc.json into this folder");
        app.add_option("--paper-sigma", o->paperSigma,
                       "with --write-paper-fits: ber-4.04 (the paper's 4.04 % BER inverted) | public-code (0.025)")
            ->check(CLI::IsMember({"ber-4.04", "public-code"}))
            ->capture_default_str();
        app.callback([o] {
            if (!o->paperDir.empty()) {
                behavior::writePaperRramFits(o->paperDir, o->paperSigma == "public-code" ? behavior::PaperRramSigma::PublicCode
                                                                                         : behavior::PaperRramSigma::Ber404);
                nlohmann::json out;
                for (const char* name : {"rram-slc", "rram-mlc"}) {
                    const auto file = (std::filesystem::path(o->paperDir) / (std::string(name) + ".json")).string();
                    const auto rec = fit::readFit(file);
                    out[name] = {{"fits", file},
                                 {"sigma_eta", rec.coefficient("sigma_eta")},
                                 {"ber", rec.coefficient("ber")},
                                 {"constants_from", rec.provenance.extra.value("constants_from", "")},
                                 {"origin", rec.provenance.extra.value("origin", "")}};
                }
                if (o->json) {
                    std::cout << out.dump() << "\n";
                    return;
                }
                for (const auto& [name, r] : out.items())
                    std::printf("%s: sigma_eta %.4g, BER %.4g (%s: %s)\n  wrote %s\n", name.c_str(), r["sigma_eta"].get<double>(),
                                r["ber"].get<double>(), r["constants_from"].get<std::string>().c_str(), r["origin"].get<std::string>().c_str(),
                                r["fits"].get<std::string>().c_str());
                return;
            }
            if (o->quick) o->devices = std::min(o->devices, 256), o->columns = std::min(o->columns, 32);
            std::ostringstream cmd;
            cmd << "imc characterize rram-mlc --devices " << o->devices << " --rows " << o->rows << " --columns " << o->columns
                << " --wire-ohm " << o->wire_Ohm << " --input-density " << o->inputDensity << " --retention " << o->retention << " --seed " << o->seed << " --out " << o->fitsDir;
            nlohmann::json out = nlohmann::json::object();
            for (int levels : {2, 4}) {
                auto spec = characterize::defaultRramSpec(levels);
                spec.devicesPerLevel = o->devices, spec.rows = o->rows, spec.columnReads = o->columns;
                spec.wire_Ohm = o->wire_Ohm, spec.inputDensity = o->inputDensity;
                spec.retention = characterize::parseRetention(o->retention), spec.seed = o->seed;
                characterize::RunSpec run;
                run.name = levels == 2 ? "rram-slc" : "rram-mlc";
                if (!o->results.empty()) run.outDir = std::filesystem::path(o->results) / run.name;
                run.workers = o->workers, run.force = o->force;
                const auto rep = characterize::runRramLevels(spec, run);
                const std::filesystem::path file = std::filesystem::path(o->fitsDir) / (run.name + ".json");
                if (sweep::cluster().rank == 0) {
                    std::filesystem::create_directories(o->fitsDir);
                    fit::writeFit(file.string(), rep.toFit(cmd.str()));
                }
                out[levels == 2 ? "slc" : "mlc"] = rep.toJson();
                if (sweep::cluster().rank == 0) {
                    // The page in the device sweep's folder (the column sweep's folder is in its table).
                    auto& entry = out[levels == 2 ? "slc" : "mlc"];
                    entry["report_html"] = report::writeRunReport(entry["results"]["devices"].get<std::string>(),
                                                                  run.name + ": levels, spread and error rates",
                                                                  cli::commandLine(), entry).string();
                }
                out[levels == 2 ? "slc" : "mlc"]["fits"] = file.string();
            }
            if (sweep::cluster().rank != 0) return;
            if (o->json) {
                std::cout << out.dump() << "\n";
                return;
            }
            for (const auto& [name, r] : out.items()) {
                std::printf("%s (%d levels, retention %s)\n", name.c_str(), r["levels"].get<int>(), r["retention"].get<std::string>().c_str());
                for (const auto& l : r["per_level"])
                    std::printf("  level %d: target %8.3f uS  mean %8.3f uS  std %7.3f uS  sigma_eta %.4f  compression %.4f\n",
                                l["level"].get<int>(), l["G_target_S"].get<double>() * 1e6, l["G_mean_S"].get<double>() * 1e6,
                                l["G_std_S"].get<double>() * 1e6, l["sigma_eta"].get<double>(), l["compression"].get<double>());
                std::printf("  sigma_eta %.4f  BER %.4g (Gaussian %.4g)  SER %.4g (Gaussian %.4g)  level-0 std %.4f LSB\n",
                            r["sigma_eta"].get<double>(), r["ber"].get<double>(), r["ber_gauss"].get<double>(), r["ser"].get<double>(),
                            r["ser_gauss"].get<double>(), r["level0_std_lsb"].get<double>());
                const auto& c = r["columns"];
                std::printf("  columns: %d reads, %d-bit ADC (max code %d, full-scale sum %d), clip rate %.4g, code error rate %.4g\n",
                            c["reads"].get<int>(), c["adc_bits"].get<int>(), c["adc_max_code"].get<int>(), c["full_scale_sum"].get<int>(),
                            c["adc_clip_rate"].get<double>(), c["code_error_rate"].get<double>());
                std::printf("  wrote %s\n", r["fits"].get<std::string>().c_str());
            }
        });
    }};

}  // namespace
