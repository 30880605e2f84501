// Where the memristor workloads find the shipped characterization fits.
#include "lsh/lsh.hpp"

#include <cstdio>
#include <filesystem>
#include <mutex>

namespace imc::lsh {

std::string defaultMemristorFitsPath() {
    const std::filesystem::path shipped = std::filesystem::path(IMC_SOURCE_DIR) / "fits" / "memristor-c2c.json";
    if (std::filesystem::exists(shipped)) return shipped.string();
    static std::once_flag once;
    std::call_once(once, [&shipped] {
        std::fprintf(stderr, "imc: note: %s is missing; using the paper's HRS statistics\n", shipped.string().c_str());
    });
    return "";
}

}  // namespace imc::lsh
