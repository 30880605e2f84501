#pragma once
// Netlist generators for the gain-cell attention hardware (netlists/models/gaincell/README.md):
// single-cell read and retention benches, charge-to-pulse benches, and R x C arrays with wire
// parasitics, per-column writes, PWM word-line drivers and one charge-to-pulse readout per bit
// line. Every generator is pure: it returns a Circuit (and the vectors to read back); Monte-Carlo
// values arrive as literal instance parameters drawn by drawGainCellMismatch.
#include "circuits/cell.hpp"
#include "netlist/netlist.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace imc::circuits {

using InstanceParams = std::map<std::string, std::string>;

// ---------------------------------------------------------------- Monte-Carlo

// Pelgrom threshold mismatch per MOSFET, sigma = A_vt / sqrt(W L), and a relative Gaussian spread
// of the storage capacitor. A_vt = 1.2 mV um is typical of 28-32 nm high-k metal-gate CMOS (the
// PTM card ships none); with it the 64 nm x 180 nm read nMOS gets sigma = 11 mV, a minimum
// 64 nm x 32 nm gate 27 mV.
struct GainCellMismatch {
    double A_vt_Vm = 1.2e-9;     // V m (1.2 mV um)
    double Cs_sigma_rel = 0.01;  // sigma(Cs) / Cs
};

// Literal instance parameters (dvt_wn ... dvt_gp, Cs) for one device of one Monte-Carlo sample,
// from streams keyed by (seed, sample, device) and the parameter. Only parameters the cell has
// are drawn, with W and L read from the cell's defaults (and its overrides). Empty when the cell
// has none of them (a user's behavioral cell).
InstanceParams drawGainCellMismatch(const CellSpec& cell, const GainCellMismatch& mismatch, std::uint64_t seed,
                                    std::uint64_t sample, std::uint64_t device);

// ---------------------------------------------------------------- single cells

// Independent cells in one deck, one per (K, Q) pair: write K through wbl/we (ideal enables),
// then a PWM read of width Q into a bit line held at bitLine_V by its own ideal source, with
// V_in on the cell's vdd port (its own source, so each cell's supply energy is measurable).
// The PWM pulses are ideal (edge_s), so a user's cell needs nothing but its own netlist.
struct CellReadBench {
    std::vector<double> K_V, Q_s;       // same length: cell c stores K_V[c] and reads for Q_s[c]
    std::vector<InstanceParams> params;  // per cell (empty: the cell's defaults)
    double V_in_V = 0.9, vdd_V = 0.9, bitLine_V = 0.45;
    double writeStart_s = 1e-9, writeWidth_s = 10e-9, readStart_s = 13e-9, edge_s = 20e-12;
    double maxStep_s = 50e-12;
    double settle_s = 2e-9;  // simulated after the longest pulse
    double windowStart_s() const { return readStart_s - 0.5e-9; }
    double windowEnd_s() const;
};
netlist::Circuit cellReadCircuit(const CellSpec& cell, const CellReadBench& bench);
// "i(vbl<c>)" (branch current of the bit-line holder: minus the charge into the cell) and
// "i(vin<c>)" (supply), plus "time".
std::vector<std::string> cellReadVectors(const CellReadBench& bench);

// Storage-node decay after a write: one cell per (K, write-gate option). The write bit line is
// parked at park_V after the write, PWM off, bit line at bitLine_V. High-Vth cells (dvtw > 0)
// are written with boosted enables (we = boost_V, web = -(boost_V - vdd_V)).
struct RetentionBench {
    std::vector<double> K_V, dvtw_V;  // same length
    std::vector<InstanceParams> params;
    double vdd_V = 0.9, bitLine_V = 0.45, park_V = 0.45, boost_V = 1.2;
    double writeStart_s = 1e-9, writeWidth_s = 10e-9, stop_s = 20e-3, maxStep_s = 20e-6;
};
netlist::Circuit retentionCircuit(const CellSpec& cell, const RetentionBench& bench);
std::vector<std::string> retentionVectors(const RetentionBench& bench);  // "time", "v(xc<c>.sn)"

// ---------------------------------------------------------------- charge-to-pulse

// The readout parameters (c2p.sub) for a bit line of `rows` cells: S_sat grows as sqrt(rows), the
// spread of a sum of independent cells, from a charge per sqrt(row) that the readout's job file
// states (netlists/c2p-relu.job.json: 150 fC, c2p-signed: 75 fC; README: readout sizing).
// Cf = S_sat / 0.3 V (at least 1 pF) keeps the integrator 0.15 V inside its rails at saturation.
struct ReadoutParams {
    double Ssat_C = 300e-15, Cf_F = 1e-12, Tmax_s = 15e-9, Vos_V = 1e-3;
    InstanceParams asParams() const;  // Ssat, Cf, Tmax, Vos as literal numbers
};
ReadoutParams readoutForRows(int rows, double Ssat_per_sqrt_row_fC);  // S_sat to whole fC
// A readout of a given full-scale charge (Cf by the same rule).
ReadoutParams readoutForFullScale(double Ssat_C);

// One readout per charge level in one deck: rst high until integrateStart_s, a 10 ns current
// pulse draws Q_in from a bitLine_F bit line, then the conversion window of Tmax opens.
struct ChargeToPulseBench {
    std::vector<double> Q_in_C;
    std::vector<InstanceParams> params;  // per readout
    bool isSigned = false;
    double vdd_V = 0.9, bitLine_F = 100e-15, Tmax_s = 15e-9;
    double integrateStart_s = 2e-9, chargeStart_s = 4e-9, chargeWidth_s = 10e-9, convStart_s = 18e-9;
    double maxStep_s = 20e-12;
    double convEnd_s() const { return convStart_s + Tmax_s; }
};
netlist::Circuit chargeToPulseCircuit(const CellSpec& readout, const ChargeToPulseBench& bench);
// "time", "v(out<c>)" and (signed) "v(sgn<c>)".
std::vector<std::string> chargeToPulseVectors(const ChargeToPulseBench& bench);

// ---------------------------------------------------------------- arrays

enum class ArrayReadout { Relu, Signed };

// An R x C array: row i holds word line i (PWM code codes[i], width code x tclk) and write bit
// line i; column j holds bit line j, write enable j and readout j. Wires: wire_R_ohm and
// wire_C_F per element on pwm, pwmb and the bit lines. Column j is written in slot j (full
// array) or all at once (one column); the storage nodes start at 0 V (.ic), as in the
// single-cell bench, so the write error is the same in both.
struct GainCellArraySpec {
    int rows = 64, cols = 64;
    std::vector<std::vector<double>> stored_V;         // [rows][cols]
    std::vector<int> codes;                            // [rows], 0..levels-1
    std::vector<std::vector<InstanceParams>> params;   // [rows][cols] (empty: defaults)
    ArrayReadout readout = ArrayReadout::Relu;
    ReadoutParams readoutParams;
    double wire_R_ohm = 2.0, wire_C_F = 0.8e-15;
    double vdd_V = 0.9, V_in_V = 0.9;
    double tclk_s = 1e-9, edge_s = 20e-12;
    int levels = 16;
    double writeSlot_s = 11e-9, writeWidth_s = 10e-9, maxStep_s = 200e-12;
};

// Timing of one array run (both forms): writes, reset release, read, conversion.
struct ArrayTiming {
    double writeStart_s = 1e-9, resetRelease_s = 0, readStart_s = 0, readEnd_s = 0, convStart_s = 0, convEnd_s = 0,
           stop_s = 0;
};
ArrayTiming arrayTiming(const GainCellArraySpec& spec, int writeSlots);

// The whole array: pwmdrv drivers (transistor buffers) at column 0 of every row, the wire R/C
// chain of every word line and bit line, a 0 V probe "vprobe<j>" between bit line j and its
// readout. `cell` must bind the gain-cell roles; the readout is the built-in c2p cell.
netlist::Circuit gainCellArrayCircuit(const CellSpec& cell, const GainCellArraySpec& spec);

// Column j alone: the R cells of the column, ideal word-line pulses behind the lumped word-line
// resistance up to column j ((j + 1) x wire_R_ohm) and the column's own share of the word-line
// capacitance (wire_C_F per row), the bit-line chain and its readout. The word line's RC delay
// across 64 columns (64 x 2 ohm x 64 x 0.8 fF = 6.6 ps) is far below the 1 ns PWM step, and the
// word lines carry only gates, so the columns are independent.
netlist::Circuit gainCellColumnCircuit(const CellSpec& cell, const GainCellArraySpec& spec, int column);

// Vectors of either form: "time", "i(vprobe<j>)", "v(out<j>)", (signed) "v(sgn<j>)", and the
// supplies "i(vin)" (cells), "i(vdd)" (drivers and logic), "i(vwl<i>)", "v(wl<i>)", "i(vwlb<i>)", "v(wlb<i>)"
// (column form: the ideal word-line pulses).
std::vector<std::string> arrayVectors(const GainCellArraySpec& spec, const std::vector<int>& columns, bool columnForm);

}  // namespace imc::circuits
