// Loading fits for export and dispatching to the format writers.
#include "export/export.hpp"

#include <algorithm>

namespace imc::exporter {

namespace fs = std::filesystem;

Format parseFormat(const std::string& name) {
    for (Format f : {Format::SpiceModel, Format::NeuroSim, Format::CrossSim, Format::Aihwkit})
        if (formatName(f) == name) return f;
    throw ExportError("unknown export format '" + name + "' (known: spice-model, neurosim, crosssim, aihwkit)");
}

std::string formatName(Format f) {
    switch (f) {
        case Format::SpiceModel: return "spice-model";
        case Format::NeuroSim: return "neurosim";
        case Format::CrossSim: return "crosssim";
        case Format::Aihwkit: return "aihwkit";
    }
    return "?";
}

std::vector<fit::FitRecord> loadFits(const fs::path& p) {
    if (!fs::exists(p)) throw ExportError(p.string() + ": no such fits file or folder");
    if (!fs::is_directory(p)) return {fit::readFit(p.string())};
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw ExportError(p.string() + ": folder holds no *.json fits files");
    std::vector<fit::FitRecord> out;
    for (const auto& f : files) out.push_back(fit::readFit(f.string()));
    return out;
}

std::string exportFits(const std::vector<fit::FitRecord>& records, Format format) {
    if (records.empty()) throw ExportError("no fits records to export");
    if (format == Format::SpiceModel) {
        if (records.size() == 1) return "* imc export --to spice-model (ngspice 46)\n" + spiceModel(records.front());
        std::string s = "* imc export --to spice-model (ngspice 46): " + std::to_string(records.size()) + " fits records\n";
        for (const auto& r : records)
            s += spiceExpressible(r) ? spiceModel(r) : "* ---- " + r.source + " (model '" + r.model + "'): no subcircuit, skipped\n";
        return s;
    }
    if (records.size() != 1) {
        std::string names;
        for (const auto& r : records)
            if (r.model != "gaincell-array") names += (names.empty() ? "" : ", ") + r.source;
        throw ExportError(formatName(format) + " describes one device; give one fits file, not " + std::to_string(records.size()) +
                          " (" + names + ")");
    }
    const DeviceStates d = deviceStates(records.front());
    if (format == Format::NeuroSim) return neurosimTable(d);
    if (format == Format::CrossSim) return crosssimDeviceJson(d);
    return aihwkitNoiseJson(d);
}

}  // namespace imc::exporter
