#pragma once
// The testbench kinds a job can name; each turns a Job into simulations, measurements and fits.
// (Internal to lib/characterize: users reach them through runJob.)
#include "characterize/job.hpp"

namespace imc::characterize::testbench {

// Roles: top, bottom. Settings: read_V (default 0.2). Sweep "V" (volts across the cell; default
// the read voltage). Measures I and G = I/V per sample and point; fits "lognormal" and/or
// "gaussian" of G at read_V over the Monte-Carlo samples.
JobOutcome runResistiveCell(const Job& job, const JobRunOptions& options);
std::vector<std::string> resistiveCellRoles();

}  // namespace imc::characterize::testbench
