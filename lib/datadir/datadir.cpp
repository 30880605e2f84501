#include "datadir/datadir.hpp"

#include <cstdlib>
#include <system_error>

namespace imc {

namespace fs = std::filesystem;

namespace {

bool envSet(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0';
}

// <folder of the running program>/<bin-to-data>, e.g. /opt/imc/bin/imc -> /opt/imc/share/imc.
fs::path installedRoot() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    return (exe.parent_path() / IMC_BIN_TO_DATA).lexically_normal();
}

}  // namespace

fs::path dataPath(std::string_view folder) {
    if (envSet("IMC_DATA_DIR")) return fs::path(std::getenv("IMC_DATA_DIR")) / folder;
    const fs::path installed = installedRoot();
    std::error_code ec;
    if (!installed.empty() && fs::is_directory(installed / folder, ec)) return installed / folder;
    if (!envSet("IMC_NO_SOURCE_TREE")) {
        const fs::path source = fs::path(IMC_SOURCE_DIR) / folder;
        if (fs::is_directory(source, ec)) return source;
    }
    return installed.empty() ? fs::path("share/imc") / folder : installed / folder;
}

}  // namespace imc
