#pragma once
// The hybrid SLC/MLC RRAM linear layers of paper 004 (HyFlexPIM). Each static matrix is
// quantized to symmetric INT8 (one scale per matrix) and split into two's-complement bit
// slices: four 2-bit slices on MLC cells (the top one signed, -2..1) or eight 1-bit slices on
// SLC cells (the top one signed, -1..0). A factorized layer stores A = U diag(s) [I, k] and
// B = V^T [k, O]; rank i (column i of A, row i of B) sits in SLC or MLC as a selection decides.
// A dense layer can instead put individual weights in SLC (the paper's magnitude baseline).
// Cells read through behavior::RramCellModel (the fits); inference only.
#include "behavior/rram_model.hpp"
#include "nn/linear.hpp"
#include "nn/nn.hpp"
#include "nn/svd_linear.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

namespace imc::nn {

using IntMatrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Symmetric INT8 of a whole matrix: q = clamp(round(w / scale), -127, 127), scale = max|w| / 127.
struct Int8Matrix {
    float scale = 1;
    IntMatrix q;
};
Int8Matrix quantizeInt8(const Matrix& w);

// Two's-complement slices of one INT8 value: bitsPerCell 2 -> 4 values (0..3, 0..3, 0..3, -2..1),
// 1 -> 8 values (0/1 ..., top -1/0), least significant first; value = sum_j slice_j 2^(bits j).
std::vector<int> sliceInt8(int q, int bitsPerCell);

// One cell type's share of an INT8 matrix: slice j of element (r, c) read through the cell
// model; elements of the other type hold exactly 0 (no cell).
struct SlicedArray {
    int bitsPerCell = 2;
    std::vector<Matrix> slices;  // [slices] of [I, O], cell values in level units
    std::size_t cells = 0;       // elements of this type
};
struct CellDraw {
    std::uint64_t seed = 1;     // common random numbers: the draw of a cell depends on seed and key only
    std::uint64_t matrixKey = 0;
    bool noise = true;
};
SlicedArray programArray(const IntMatrix& q, const std::vector<std::uint8_t>& inType, const behavior::RramCellModel& cell,
                         const CellDraw& draw);

struct AdcCounts {
    std::atomic<std::uint64_t> conversions{0}, clipped{0};
};
// Inputs bit-serial on the word lines (INT8 two's complement, bit 7 weighted -128), column partial
// sums over groups of `rows` word lines, each converted by an ADC of `adcBits` (unsigned codes
// 0..2^b-1; the signed top slice -2^(b-1)..2^(b-1)-1) with round-to-nearest and saturation, then
// shift-and-add. xq: [N, I] in -128..127 -> [N, O], exactly xq q at sigma 0 without clipping.
Matrix bitSerialProduct(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits, AdcCounts* counts);
// The naive reference of the same arithmetic, one multiply-add at a time (tests).
Matrix bitSerialProductReference(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits);

enum class AnalogModel { WeightNoise, BitSerialAdc };

struct HyFlexPimOptions {
    behavior::RramModel cells;
    AnalogModel analog = AnalogModel::WeightNoise;
    bool noise = true;       // false: every cell reads its level exactly, no spread, no mean shift (clean INT8)
    std::uint64_t seed = 1;  // draw seed, shared by every selection
};

// SLC membership: [site index][block][rank] for factorized layers; for dense layers [site][0][element].
using SlcSelection = std::vector<std::vector<std::vector<std::uint8_t>>>;

class HyFlexPimLinear final : public LinearBackend {
public:
    HyFlexPimLinear(const SvdFactors& factors, const SlcSelection& slc, const HyFlexPimOptions& options);
    HyFlexPimLinear(const Weights& weights, const Config& config, const SlcSelection& slc,
                    const HyFlexPimOptions& options);
    std::string name() const override { return "hyflexpim"; }
    void forward(const LinearSite& site, const Matrix& in, const Matrix& weight, const Matrix& bias, Matrix& out,
                 LinearTape* tape) const override;
    // Inference only: throws std::logic_error.
    void backward(const LinearSite& site, Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout,
                  const Matrix& in, const Matrix& weight, const LinearTape& tape) const override;

    double slcWeightFraction() const;  // SLC-stored weights / all weights
    double adcClipRate() const;        // clipped / all conversions so far (0 for weight-noise)

    // One programmed INT8 matrix: its slices on both cell types and the effective weights.
    struct Programmed {
        float scale = 1;
        Matrix effective;       // scale * sum of read slices: what weight-noise multiplies by
        SlicedArray slc, mlc;   // bit-serial model only
    };
    struct Block {
        int column = 0, outputs = 0;
        std::vector<Programmed> stages;  // A then B (factorized) or W (dense)
    };

private:
    void apply(const Programmed& p, const Matrix& in, Matrix& out) const;
    HyFlexPimOptions options_;
    std::vector<std::vector<Block>> sites_;
    std::size_t slcWeights_ = 0, allWeights_ = 0;
    mutable AdcCounts counts_;
};

}  // namespace imc::nn
