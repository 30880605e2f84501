// imc export FITS --to FORMAT --out FILE: fitted models in the formats of ngspice, NeuroSim,
// CrossSim and aihwkit (lib/export).
#include "export/export.hpp"
#include "cli.hpp"

#include <cstdio>
#include <fstream>

namespace {

struct ExportArgs {
    std::string fits, to, out;
};

const imc::cli::CommandRegistration reg(
    "export", "write fitted models for ngspice, NeuroSim, CrossSim or aihwkit", [](CLI::App& app) {
        auto a = std::make_shared<ExportArgs>();
        app.add_option("fits", a->fits, "a fits file or a folder of fits files")->required();
        app.add_option("--to", a->to, "spice-model | neurosim | crosssim | aihwkit")->required();
        app.add_option("--out", a->out, "output file")->required();
        app.callback([a] {
            const auto format = imc::exporter::parseFormat(a->to);
            const std::string text = imc::exporter::exportFits(imc::exporter::loadFits(a->fits), format);
            std::ofstream f(a->out);
            if (!(f << text)) throw imc::cli::UsageError("cannot write " + a->out);
            std::printf("%s: %s from %s\n", a->out.c_str(), a->to.c_str(), a->fits.c_str());
        });
    });

}  // namespace
