#include "fit/fit.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>

#include <unistd.h>

namespace imc::fit {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json ordered(const nlohmann::json& value) { return ordered_json::parse(value.dump()); }

[[noreturn]] void fail(const std::string& source, const std::string& message) {
    throw FitsFormatError(source + ": " + message);
}

std::string quoted(const std::string& field) { return "field \"" + field + "\""; }

const nlohmann::json* optionalField(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

std::string readString(const nlohmann::json& value, const std::string& source, const std::string& field) {
    if (!value.is_string()) fail(source, quoted(field) + " must be a string, found " + value.dump());
    return value.get<std::string>();
}

double readNumber(const nlohmann::json& value, const std::string& source, const std::string& field) {
    if (!value.is_number()) fail(source, quoted(field) + " must be a number, found " + value.dump());
    return value.get<double>();
}

std::uint64_t readCount(const nlohmann::json& value, const std::string& source, const std::string& field) {
    if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<std::int64_t>() >= 0))
        fail(source, quoted(field) + " must be a non-negative integer, found " + value.dump());
    return value.get<std::uint64_t>();
}

const nlohmann::json& requireObject(const nlohmann::json& value, const std::string& source, const std::string& field) {
    if (!value.is_object()) fail(source, quoted(field) + " must be a JSON object, found " + value.dump());
    return value;
}

std::string label(const FitRecord& record) {
    if (!record.source.empty()) return record.source;
    return "fit model \"" + record.model + "\"";
}

}  // namespace

double FitRecord::coefficient(const std::string& name) const {
    if (const auto it = coefficients.find(name); it != coefficients.end()) return it->second;
    std::string present;
    for (const auto& [key, value] : coefficients) present += (present.empty() ? "" : ", ") + key;
    throw FitsFormatError(label(*this) + ": no coefficient \"" + name + "\" in \"coefficients\" (model \"" + model +
                          "\" has: " + (present.empty() ? "none" : present) + ")");
}

bool FitRecord::checkRange(const std::string& name, double value) const {
    const auto it = validity.find(name);
    if (it == validity.end()) return true;
    const auto [lo, hi] = it->second;
    if (value >= lo && value <= hi) return true;
    // Warn once per file and key: a transformer run would otherwise repeat the line millions of times.
    static std::mutex mutex;
    static std::set<std::string> warned;
    const std::string key = label(*this) + '\n' + name;
    {
        std::lock_guard lock(mutex);
        if (!warned.insert(key).second) return false;
    }
    std::ostringstream message;
    message << "imc: warning: " << label(*this) << ": " << name << " = " << value << " is outside the fitted range ["
            << lo << ", " << hi << "]; the model is extrapolating (reported once per key)\n";
    std::cerr << message.str();
    return false;
}

nlohmann::ordered_json toJson(const FitRecord& record) {
    ordered_json doc;
    doc["format"] = std::string(kFitFormat);
    doc["version"] = kFitVersion;
    doc["model"] = record.model;
    doc["description"] = record.description;
    ordered_json coefficients = ordered_json::object();
    for (const auto& [name, value] : record.coefficients) {
        if (!std::isfinite(value))
            throw FitsFormatError("fit model \"" + record.model + "\": coefficient \"" + name + "\" is not finite");
        coefficients[name] = value;
    }
    doc["coefficients"] = coefficients;
    ordered_json units = ordered_json::object();
    for (const auto& [name, unit] : record.units) units[name] = unit;
    doc["units"] = units;
    ordered_json validity = ordered_json::object();
    for (const auto& [name, range] : record.validity) validity[name] = {range.first, range.second};
    doc["validity"] = validity;
    ordered_json quality = ordered_json::object();
    if (record.quality.rmse) quality["rmse"] = *record.quality.rmse;
    if (record.quality.r2) quality["r2"] = *record.quality.r2;
    if (record.quality.n) quality["n"] = *record.quality.n;
    const ordered_json quality_extra = ordered(record.quality.extra);  // items() must not outlive it
    for (const auto& [key, value] : quality_extra.items()) quality[key] = value;
    doc["quality"] = quality;
    doc["spread"] = ordered(record.spread);
    const FitProvenance& p = record.provenance;
    ordered_json provenance = ordered_json::object();
    provenance["generator"] = p.generator;
    provenance["parameters"] = ordered(p.parameters);
    if (!p.netlist_sha256.empty()) provenance["netlist_sha256"] = p.netlist_sha256;
    if (p.seed) provenance["seed"] = *p.seed;
    if (p.samples) provenance["samples"] = *p.samples;
    if (!p.ngspice_version.empty()) provenance["ngspice_version"] = p.ngspice_version;
    provenance["created_utc"] = p.created_utc;
    provenance["command"] = p.command;
    const ordered_json provenance_extra = ordered(p.extra);
    for (const auto& [key, value] : provenance_extra.items()) provenance[key] = value;
    doc["provenance"] = provenance;
    return doc;
}

FitRecord fitFromJson(const nlohmann::json& doc, const std::string& source) {
    if (!doc.is_object()) fail(source, "a fits file must hold one JSON object");
    const nlohmann::json* format = optionalField(doc, "format");
    if (!format) fail(source, "missing " + quoted("format") + " (expected \"" + std::string(kFitFormat) + "\")");
    if (!format->is_string() || format->get<std::string>() != kFitFormat)
        fail(source, quoted("format") + " is " + format->dump() + ", expected \"" + std::string(kFitFormat) + "\"");
    const nlohmann::json* version = optionalField(doc, "version");
    if (!version) fail(source, "missing " + quoted("version") + " (expected " + std::to_string(kFitVersion) + ")");
    if (!version->is_number_integer() || version->get<std::int64_t>() != kFitVersion)
        fail(source, quoted("version") + " is " + version->dump() + "; this build reads version " +
                         std::to_string(kFitVersion));

    static const std::set<std::string> known{"format",   "version", "model",   "description", "coefficients",
                                             "units",    "validity", "quality", "spread",      "provenance"};
    for (const auto& [key, value] : doc.items())
        if (!known.contains(key)) fail(source, "unknown " + quoted(key));

    FitRecord record;
    record.source = source;
    const nlohmann::json* model = optionalField(doc, "model");
    if (!model) fail(source, "missing " + quoted("model"));
    record.model = readString(*model, source, "model");
    if (record.model.empty()) fail(source, quoted("model") + " is empty");
    if (const auto* description = optionalField(doc, "description"))
        record.description = readString(*description, source, "description");

    const nlohmann::json* coefficients = optionalField(doc, "coefficients");
    if (!coefficients) fail(source, "missing " + quoted("coefficients"));
    for (const auto& [name, value] : requireObject(*coefficients, source, "coefficients").items())
        record.coefficients[name] = readNumber(value, source, "coefficients." + name);

    if (const auto* units = optionalField(doc, "units"))
        for (const auto& [name, value] : requireObject(*units, source, "units").items())
            record.units[name] = readString(value, source, "units." + name);

    if (const auto* validity = optionalField(doc, "validity"))
        for (const auto& [name, value] : requireObject(*validity, source, "validity").items()) {
            const std::string field = "validity." + name;
            if (!value.is_array() || value.size() != 2)
                fail(source, quoted(field) + " must be [lo, hi], found " + value.dump());
            const double lo = readNumber(value[0], source, field + "[0]");
            const double hi = readNumber(value[1], source, field + "[1]");
            if (lo > hi) fail(source, quoted(field) + " has lo > hi: " + value.dump());
            record.validity[name] = {lo, hi};
        }

    if (const auto* quality = optionalField(doc, "quality"))
        for (const auto& [key, value] : requireObject(*quality, source, "quality").items()) {
            if (key == "rmse" && !value.is_null()) record.quality.rmse = readNumber(value, source, "quality.rmse");
            else if (key == "r2" && !value.is_null()) record.quality.r2 = readNumber(value, source, "quality.r2");
            else if (key == "n" && !value.is_null()) record.quality.n = readCount(value, source, "quality.n");
            else if (key != "rmse" && key != "r2" && key != "n") record.quality.extra[key] = value;
        }

    if (const auto* spread = optionalField(doc, "spread")) record.spread = *spread;

    if (const auto* provenance = optionalField(doc, "provenance")) {
        FitProvenance& p = record.provenance;
        for (const auto& [key, value] : requireObject(*provenance, source, "provenance").items()) {
            const std::string field = "provenance." + key;
            if (key == "generator") p.generator = readString(value, source, field);
            else if (key == "parameters") p.parameters = requireObject(value, source, field);
            else if (key == "netlist_sha256") p.netlist_sha256 = readString(value, source, field);
            else if (key == "seed") p.seed = readCount(value, source, field);
            else if (key == "samples") p.samples = readCount(value, source, field);
            else if (key == "ngspice_version") p.ngspice_version = readString(value, source, field);
            else if (key == "created_utc") p.created_utc = readString(value, source, field);
            else if (key == "command") p.command = readString(value, source, field);
            else p.extra[key] = value;
        }
    }
    return record;
}

void writeFit(const std::string& path, const FitRecord& record) {
    const std::string text = toJson(record).dump(2) + "\n";
    const std::filesystem::path target(path);
    std::error_code ec;
    if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), ec);
    // Write then rename, so a reader never sees a half-written fits file. The temporary is named
    // per process and call: two writers of the same file (parallel tests, two ranks) must not
    // rename each other's temporary away.
    static std::atomic<unsigned> writes{0};
    const std::filesystem::path temporary =
        target.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot write " + temporary.string());
        out << text;
        out.close();
        if (!out) throw std::runtime_error("cannot write " + temporary.string());
    }
    std::filesystem::rename(temporary, target, ec);
    if (ec) throw std::runtime_error("cannot move " + temporary.string() + " to " + path + ": " + ec.message());
}

FitRecord readFit(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FitsFormatError(path + ": cannot open fits file");
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& error) {
        throw FitsFormatError(path + ": not valid JSON: " + error.what());
    }
    return fitFromJson(doc, path);
}

std::string currentUtcTimestamp() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buffer;
}

FitRecord lognormalRecord(const LognormalFit& fit, const std::string& unit) {
    FitRecord record;
    record.model = "lognormal";
    record.coefficients = {{"mu", fit.mu}, {"sigma", fit.sigma}};
    record.units = {{"mu", unit.empty() ? "ln([x])" : "ln(" + unit + ")"}, {"sigma", "1"}};
    record.quality.n = fit.n;
    record.quality.extra = {{"ks_D", fit.ks_D}, {"ks_p", fit.ks_p}};
    record.spread = {{"confidence", fit.confidence},
                     {"mu_ci", {fit.mu_ci.lo, fit.mu_ci.hi}},
                     {"sigma_ci", {fit.sigma_ci.lo, fit.sigma_ci.hi}}};
    return record;
}

FitRecord gaussianRecord(const GaussianFit& fit, const std::string& unit) {
    FitRecord record;
    record.model = "gaussian";
    record.coefficients = {{"mean", fit.mean}, {"std", fit.std}};
    record.units = {{"mean", unit.empty() ? "[x]" : unit}, {"std", unit.empty() ? "[x]" : unit}};
    record.quality.n = fit.n;
    record.quality.extra = {{"ks_D", fit.ks_D}, {"ks_p", fit.ks_p}};
    record.spread = {{"confidence", fit.confidence},
                     {"mean_ci", {fit.mean_ci.lo, fit.mean_ci.hi}},
                     {"std_ci", {fit.std_ci.lo, fit.std_ci.hi}}};
    return record;
}

}  // namespace imc::fit

namespace imc::fit {

std::vector<FitRecord> readFitsFolder(const std::string& dir) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(dir)) throw FitsFormatError(dir + ": not a directory of fits files");
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::vector<FitRecord> records;
    for (const auto& path : files) records.push_back(readFit(path.string()));
    return records;
}

std::optional<FitRecord> findFit(const std::vector<FitRecord>& records, const std::string& model, const std::string& dir) {
    const FitRecord* found = nullptr;
    for (const FitRecord& record : records) {
        if (record.model != model) continue;
        if (found)
            throw FitsFormatError(dir + ": two files give model \"" + model + "\": " + found->source + " and " + record.source);
        found = &record;
    }
    if (!found) return std::nullopt;
    return *found;
}

std::optional<FitRecord> findFit(const std::string& dir, const std::string& model) {
    return findFit(readFitsFolder(dir), model, dir);
}

}  // namespace imc::fit
