#pragma once
// The papers' numbers and the acceptance thresholds of the workload reports, read from one data
// file (models/paper-targets.json, format "imc-paper-targets" version 1), so no threshold or
// paper number of a report lives in C++. Errors name the file and the key.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace imc::workloads {

class PaperTargets {
public:
    // The shipped file (dataPath("models") / "paper-targets.json") or another one.
    static PaperTargets shipped();
    static PaperTargets load(const std::filesystem::path& file);

    // One workload's section ("gaincell-lm", "lsh-lm", "lsh-letters", "hyflexpim").
    const nlohmann::json& section(const std::string& workload) const;
    // A number at "workload.part.key" (e.g. "hyflexpim.acceptance.slc_fraction").
    double number(const std::string& dottedKey) const;
    const std::filesystem::path& file() const { return file_; }

private:
    std::filesystem::path file_;
    nlohmann::json doc_;
};

}  // namespace imc::workloads
