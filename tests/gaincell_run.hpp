#pragma once
// Run options of a gain-cell characterization in a test: into `dir`, two workers, no progress.
#include "characterize/gaincell.hpp"

#include <filesystem>

inline imc::characterize::GainCellRunOptions quietGainCellRun(const std::filesystem::path& dir) {
    imc::characterize::GainCellRunOptions o;
    o.outDir = dir;
    o.workers = 2;
    o.progress = false;
    return o;
}
