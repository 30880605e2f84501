#include "backends/backends.hpp"

namespace imc::backends {

std::vector<std::string> attentionBackendKinds() { return {"ideal", "gaincell-linear", "gaincell", "lsh"}; }

void registerAttentionBackends(const AttentionBackendOptions& options) {
    // "ideal" is built into the registry; the others depend on the options.
    nn::registerGainCellBackends(options.gaincell);
    lsh::registerLshBackend(lsh::resolvedLshOptions(options.lsh));
}

}  // namespace imc::backends
