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

// Gain cell (testbench_gaincell.cpp). Roles: wbl, we, web, pwm, pwmb, bl, vdd, vss. Sweeps "K" (V),
// "Q" (s), "V_in" (V); settings K_offset_V, nominal_V_in_V. Fits "gaincell-poly".
JobOutcome runGainCell(const Job& job, const JobRunOptions& options);
std::vector<std::string> gainCellRoles();

// Charge-to-pulse readout. Roles: in, out, conv, rst, vdd, vss and optionally sign (then signed).
// Sweep "Q_in" (C, charge drawn from the bit line). Fits "c2p-relu", or "c2p-signed" with a sign role.
JobOutcome runChargeToPulse(const Job& job, const JobRunOptions& options);
std::vector<std::string> chargeToPulseRoles();
std::vector<std::string> chargeToPulseOptionalRoles();

// Retention of the gain cell's storage node (the cell's roles as "gaincell"). Settings: cases
// (list of {K_V, dvtw_V}). Fits "retention".
JobOutcome runRetention(const Job& job, const JobRunOptions& options);

// Gain-cell array with readout (the cell's roles as "gaincell"). Settings rows, cols, form
// (auto|full|columns), fits_dir (holding a gaincell-poly fit). Fits "gaincell-array".
JobOutcome runGainCellArray(const Job& job, const JobRunOptions& options);

// Multi-level resistive cell (testbench_rram.cpp). Roles: bl, wl, sl. Settings as RramLevelsSpec
// (levels, conductance_param, R_on_Ohm, on_off, read_V, rows, ...) and "variability", each source
// with its "source". Fits "rram-levels".
JobOutcome runMultiLevelCell(const Job& job, const JobRunOptions& options);
std::vector<std::string> multiLevelCellRoles();

}  // namespace imc::characterize::testbench
