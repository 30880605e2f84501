#pragma once
// Behavioral RRAM cells for the hybrid SLC/MLC linear layers of paper 004, read from
// `rram-levels` fits (fits/rram-slc.json, fits/rram-mlc.json; see fits/README.md). A cell
// programmed to level i (0 .. levels-1, in units of one level step, the LSB) reads
// i (1 + sigma_eta_i z) for i >= 1 and level0_std_lsb z for level 0, z ~ N(0, 1): the paper's
// W (1 + eta) per bit slice, with the spreads the fits measured. Valid for the fits' rows and
// read conditions; the model holds no device constant of its own.
#include "fit/fit.hpp"

#include <string>
#include <vector>

namespace imc::behavior {

struct RramCellModel {
    int levels = 2;        // 2: SLC, 4: 2-bit MLC
    int bitsPerCell = 1;
    int rows = 64;         // rows summed on one column before the ADC
    int adcBits = 6;       // ADC resolution of one column partial sum
    std::vector<double> sigmaEta;  // [levels]; relative spread of level i >= 1 (index 0 unused)
    double level0StdLsb = 0;       // additive spread of level 0, in level steps
    double ber = 0, ser = 0;       // bit and symbol error rates the fit reports (for the record)
    std::string source;            // the fits file

    // The value read from a cell at `level` given a standard normal draw z.
    double read(int level, double z) const {
        return level == 0 ? level0StdLsb * z : level * (1.0 + sigmaEta[static_cast<std::size_t>(level)] * z);
    }
    // true when every level reads exactly (the public code's SLC).
    bool exact() const;
    // The largest per-level spread (what reports print as "sigma").
    double sigmaMax() const;
};

// Throws fit::FitsFormatError naming the file and the key when a coefficient is missing or the
// record is not an `rram-levels` model.
RramCellModel rramCellFromFit(const fit::FitRecord& record);

struct RramModel {
    RramCellModel slc, mlc;
};
// dir/rram-slc.json and dir/rram-mlc.json.
RramModel loadRramFits(const std::string& dir);

// The paper's constants as rram-levels fits (the only place in lib/behavior holding them):
// PublicCode: the public simulator's MLC sigma 0.025 with exact SLC; Ber404: the sigma that the
// paper's 4.04 % one-day bit error rate implies for four equal levels with multiplicative noise.
enum class PaperRramSigma { PublicCode, Ber404 };
void writePaperRramFits(const std::string& dir, PaperRramSigma which);

}  // namespace imc::behavior
