// Where the memristor workloads find their fits: the given file, the shipped characterization,
// or the paper's HRS statistics.
#include "lsh/lsh.hpp"

#include "datadir/datadir.hpp"

#include <cstdio>
#include <filesystem>
#include <mutex>

namespace imc::lsh {

std::string defaultMemristorFitsPath() {
    const std::filesystem::path shipped = dataPath("fits") / "memristor-c2c.json";
    if (std::filesystem::exists(shipped)) return shipped.string();
    static std::once_flag once;
    std::call_once(once, [&shipped] {
        std::fprintf(stderr, "imc: note: %s is missing; using the paper's HRS statistics\n", shipped.string().c_str());
    });
    return "";
}

MemristorOptions memristorOptionsFor(const std::string& fitsPath) {
    const std::string path = fitsPath.empty() ? defaultMemristorFitsPath() : fitsPath;
    return path.empty() ? MemristorOptions{MemristorOptions::paperHrsFit()} : MemristorOptions::fromFitsFile(path);
}

std::string memristorFitsLabel(const std::string& fitsPath) {
    const std::string path = fitsPath.empty() ? defaultMemristorFitsPath() : fitsPath;
    return path.empty() ? "paper HRS statistics (MemristorOptions::paperHrsFit)" : path;
}

}  // namespace imc::lsh
