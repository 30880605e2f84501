#pragma once
// Behavioral RRAM cells for the hybrid SLC/MLC linear layers of paper 004, read from
// `rram-levels` fits (fits/rram-slc.json, fits/rram-mlc.json; see fits/README.md). A cell
// programmed to level i (0 .. levels-1) reads, in units of the design level step G_lsb_S (LSB),
//   mean_i + i sigma_eta_i z  (i >= 1),   level0_std_lsb z  (level 0),   z ~ N(0, 1),
// with mean_i = (G_mean_i_S - G_mean_0_S) / G_lsb_S: the measured level means, so the access
// transistor's compression of the top levels and the relaxation shifts stay in the read. The
// periphery is taken to subtract a level-0 reference per active row (so level 0 reads 0 on
// average) and to convert with the design step, not a calibrated one. With mean_i = i this is
// the paper's W (1 + eta) per bit slice. Valid for the fits' rows, read voltage and retention
// (their `validity`); the model holds no device constant of its own.
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
    std::vector<double> meanLsb;   // [levels]; mean read of level i in LSB (meanLsb[0] = 0)
    double level0StdLsb = 0;       // additive spread of level 0, in level steps
    double ber = 0, ser = 0;       // bit and symbol error rates the fit reports (for the record)
    std::string source;            // the fits file

    // The value read from a cell at `level` given a standard normal draw z.
    double read(int level, double z) const {
        const auto i = static_cast<std::size_t>(level);
        return level == 0 ? level0StdLsb * z : meanLsb[i] + level * sigmaEta[i] * z;
    }
    // true when every level reads exactly its value (the public code's SLC).
    bool exact() const;
    // The largest per-level spread (what reports print as "sigma").
    double sigmaMax() const;
};

// Throws fit::FitsFormatError naming the file and the key when a coefficient is missing, a level
// mean is not in S, the means do not rise with the level or the record is not `rram-levels`.
// A mean outside the record's validity G_S range is warned about on stderr (fit::checkRange).
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
