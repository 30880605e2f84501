#include "workloads/paper_targets.hpp"

#include "datadir/datadir.hpp"

#include <fstream>
#include <stdexcept>

namespace imc::workloads {

PaperTargets PaperTargets::shipped() { return load(dataPath("models") / "paper-targets.json"); }

PaperTargets PaperTargets::load(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file.string() + " (the papers' numbers and the reports' thresholds)");
    PaperTargets t;
    t.file_ = file;
    try {
        t.doc_ = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(file.string() + ": not valid JSON: " + e.what());
    }
    if (!t.doc_.is_object() || t.doc_.value("format", "") != "imc-paper-targets")
        throw std::runtime_error(file.string() + ": key 'format': must be \"imc-paper-targets\"");
    if (t.doc_.value("version", nlohmann::json()) != nlohmann::json(1))
        throw std::runtime_error(file.string() + ": key 'version': this imc reads version 1 (got " + t.doc_.value("version", nlohmann::json()).dump() + ")");
    return t;
}

const nlohmann::json& PaperTargets::section(const std::string& workload) const {
    if (!doc_.contains(workload) || !doc_[workload].is_object())
        throw std::runtime_error(file_.string() + ": key '" + workload + "': missing (the section of that workload)");
    return doc_[workload];
}

double PaperTargets::number(const std::string& dottedKey) const {
    const nlohmann::json* node = &doc_;
    std::string path;
    std::size_t start = 0;
    while (start <= dottedKey.size()) {
        const std::size_t dot = dottedKey.find('.', start);
        const std::string part = dottedKey.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        path += (path.empty() ? "" : ".") + part;
        if (!node->is_object() || !node->contains(part)) throw std::runtime_error(file_.string() + ": key '" + path + "': missing");
        node = &(*node)[part];
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    if (!node->is_number()) throw std::runtime_error(file_.string() + ": key '" + dottedKey + "': must be a number");
    return node->get<double>();
}

}  // namespace imc::workloads
