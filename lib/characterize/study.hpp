#pragma once
// What every device study is made of: it plans its simulations as a sweep (PlannedJob, Measure),
// runs them with the engine (runSweep, RunSpec) and returns the engine's results (RunSummary).
// The names are this stage's own too, since the studies' results hold them.
#include "sweep/sweep.hpp"

namespace imc::characterize {

using sweep::deviceCurrentColumns;
using sweep::Measure;
using sweep::measureDeviceCurrents;
using sweep::PlannedJob;
using sweep::readResults;
using sweep::Row;
using sweep::RunSpec;
using sweep::RunSummary;
using sweep::runSweep;

}  // namespace imc::characterize
