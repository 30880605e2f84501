#pragma once
// imc::backends: the one door to the attention backends. Every command fills one options struct
// and calls registerAttentionBackends(); afterwards nn::makeAttentionBackend(name) builds any of
// them and nn::attentionBackendNames() lists the same names everywhere. It sits above lib/nn
// (the engine and the gain-cell backends) and lib/lsh (the LSH backend), which know nothing of each
// other.
#include "lsh/lsh.hpp"
#include "nn/gaincell_backends.hpp"

#include <string>
#include <vector>

namespace imc::backends {

struct AttentionBackendOptions {
    nn::GainCellBackendOptions gaincell;  // gaincell-linear, gaincell
    lsh::LshOptions lsh;                  // lsh
};

// The backends every build has, in the order commands list them.
std::vector<std::string> attentionBackendKinds();  // ideal, gaincell-linear, gaincell, lsh

// Registers ideal, gaincell-linear, gaincell (when the fits hold a polynomial) and lsh with these
// options, replacing earlier registrations. Throws naming the fits directory or file when they
// cannot be read.
void registerAttentionBackends(const AttentionBackendOptions& options);

}  // namespace imc::backends
