// INT8 bit slices on SLC/MLC RRAM cells, the weight-noise and bit-serial ADC models.
#include "nn/hyflexpim.hpp"
#include "nn/parallel.hpp"
#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace imc::nn {
namespace {

constexpr long kRowChunk = 64;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return Rng(a ^ (b * 0xD1B54A32D192ED03ull)).next(); }

// The standard normal of one cell: a pure function of its key, whatever else is drawn.
double cellNormal(const CellDraw& draw, std::uint64_t element, int slice, int bitsPerCell) {
    Rng rng(mix(mix(mix(draw.seed, draw.matrixKey), element), static_cast<std::uint64_t>(slice * 4 + bitsPerCell)));
    return rng.normal();
}

int adcLow(int adcBits, bool isSigned) { return isSigned ? -(1 << (adcBits - 1)) : 0; }
int adcHigh(int adcBits, bool isSigned) { return isSigned ? (1 << (adcBits - 1)) - 1 : (1 << adcBits) - 1; }
std::int64_t inputBitWeight(int bit) { return bit == 7 ? -128 : (std::int64_t{1} << bit); }

}  // namespace

Int8Matrix quantizeInt8(const Matrix& w) {
    Int8Matrix out;
    const float maxAbs = w.cwiseAbs().maxCoeff();
    out.scale = maxAbs > 0 ? maxAbs / 127.0f : 1.0f;
    out.q.resize(w.rows(), w.cols());
    for (Eigen::Index i = 0; i < w.size(); ++i)
        out.q.data()[i] = std::clamp<std::int64_t>(std::lround(w.data()[i] / out.scale), -127, 127);
    return out;
}

std::vector<int> sliceInt8(int q, int bitsPerCell) {
    if (q < -128 || q > 127) throw std::invalid_argument("sliceInt8: " + std::to_string(q) + " is not INT8");
    if (bitsPerCell != 1 && bitsPerCell != 2) throw std::invalid_argument("sliceInt8: 1 or 2 bits per cell");
    const unsigned u = static_cast<unsigned>(q) & 0xFFu;
    const int count = 8 / bitsPerCell, mask = (1 << bitsPerCell) - 1;
    std::vector<int> slices(static_cast<std::size_t>(count));
    for (int j = 0; j < count; ++j) slices[j] = static_cast<int>((u >> (bitsPerCell * j)) & mask);
    if (slices.back() >= (1 << (bitsPerCell - 1))) slices.back() -= 1 << bitsPerCell;  // two's-complement top
    return slices;
}

SlicedArray programArray(const IntMatrix& q, const std::vector<std::uint8_t>& inType, const behavior::RramCellModel& cell,
                         const CellDraw& draw) {
    if (inType.size() != static_cast<std::size_t>(q.size()))
        throw std::invalid_argument("programArray: mask and matrix differ in size");
    SlicedArray a;
    a.bitsPerCell = cell.bitsPerCell;
    const int count = 8 / cell.bitsPerCell;
    a.slices.assign(static_cast<std::size_t>(count), Matrix::Zero(q.rows(), q.cols()));
    for (Eigen::Index e = 0; e < q.size(); ++e) {
        if (!inType[static_cast<std::size_t>(e)]) continue;
        ++a.cells;
        const auto slices = sliceInt8(static_cast<int>(q.data()[e]), cell.bitsPerCell);
        for (int j = 0; j < count; ++j) {
            const int level = std::abs(slices[j]);
            // Without noise a cell reads its level exactly: neither the spread nor the mean shifts.
            const double value =
                draw.noise ? cell.read(level, cellNormal(draw, static_cast<std::uint64_t>(e), j, cell.bitsPerCell)) : level;
            a.slices[j].data()[e] = static_cast<float>(slices[j] < 0 ? -value : value);
        }
    }
    return a;
}

Matrix bitSerialProductChunk(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits,
                             std::uint64_t& conversions, std::uint64_t& clipped);

Matrix bitSerialProduct(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits, AdcCounts* counts) {
    const Eigen::Index outputs = array.slices.at(0).cols();
    if (xq.cols() != array.slices[0].rows()) throw std::invalid_argument("bitSerialProduct: inner sizes differ");
    Matrix out(xq.rows(), outputs);
    forRowChunks(xq.rows(), kRowChunk, [&](long begin, long count) {
        std::uint64_t conversions = 0, clipped = 0;
        out.middleRows(begin, count) =
            bitSerialProductChunk(xq.middleRows(begin, count), array, rows, adcBits, conversions, clipped);
        if (counts) {
            counts->conversions += conversions;
            counts->clipped += clipped;
        }
    });
    return out;
}

// The shift-and-add of ADC codes is integer arithmetic: accumulate in int64, return as float.
Matrix bitSerialProductChunk(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits,
                             std::uint64_t& conversions, std::uint64_t& clipped) {
    const Eigen::Index n = xq.rows(), inputs = xq.cols(), outputs = array.slices[0].cols();
    const int slices = static_cast<int>(array.slices.size());
    IntMatrix acc = IntMatrix::Zero(n, outputs);
    Matrix plane(n, inputs), partial(n, outputs);
    for (int bit = 0; bit < 8; ++bit) {
        // Word-line bit plane of the inputs' two's-complement bytes. [N, I]
        for (Eigen::Index i = 0; i < plane.size(); ++i)
            plane.data()[i] = static_cast<float>((static_cast<std::uint64_t>(xq.data()[i]) >> bit) & 1u);
        for (Eigen::Index r0 = 0; r0 < inputs; r0 += rows) {
            const Eigen::Index rg = std::min<Eigen::Index>(rows, inputs - r0);
            for (int j = 0; j < slices; ++j) {
                const bool isSigned = j == slices - 1;
                const int lo = adcLow(adcBits, isSigned), hi = adcHigh(adcBits, isSigned);
                const std::int64_t weight = inputBitWeight(bit) * (std::int64_t{1} << (array.bitsPerCell * j));
                partial.noalias() = plane.middleCols(r0, rg) * array.slices[j].middleRows(r0, rg);  // column sums
                for (Eigen::Index i = 0; i < partial.size(); ++i) {
                    long code = std::lround(partial.data()[i]);
                    if (code < lo || code > hi) {
                        ++clipped;
                        code = std::clamp<long>(code, lo, hi);
                    }
                    acc.data()[i] += weight * code;
                }
                conversions += static_cast<std::uint64_t>(partial.size());
            }
        }
    }
    return acc.cast<float>();
}

Matrix bitSerialProductReference(const IntMatrix& xq, const SlicedArray& array, int rows, int adcBits) {
    const Eigen::Index n = xq.rows(), inputs = xq.cols(), outputs = array.slices[0].cols();
    const int slices = static_cast<int>(array.slices.size());
    Matrix out(n, outputs);
    for (Eigen::Index t = 0; t < n; ++t)
        for (Eigen::Index o = 0; o < outputs; ++o) {
            std::int64_t acc = 0;
            for (int bit = 0; bit < 8; ++bit)
                for (Eigen::Index r0 = 0; r0 < inputs; r0 += rows)
                    for (int j = 0; j < slices; ++j) {
                        double column = 0;
                        for (Eigen::Index r = r0; r < std::min<Eigen::Index>(r0 + rows, inputs); ++r)
                            if ((static_cast<std::uint64_t>(xq(t, r)) >> bit) & 1u) column += array.slices[j](r, o);
                        const bool isSigned = j == slices - 1;
                        const long code =
                            std::clamp<long>(std::lround(column), adcLow(adcBits, isSigned), adcHigh(adcBits, isSigned));
                        acc += inputBitWeight(bit) * (std::int64_t{1} << (array.bitsPerCell * j)) * code;
                    }
            out(t, o) = static_cast<float>(acc);
        }
    return out;
}

// ---------------------------------------------------------------- backend

namespace {

// sum_j 2^(bits j) slice_j over both arrays, times the matrix scale.
Matrix effectiveWeights(const SlicedArray& slc, const SlicedArray& mlc, float scale) {
    Matrix sum = Matrix::Zero(slc.slices[0].rows(), slc.slices[0].cols());
    for (const SlicedArray* a : {&slc, &mlc})
        for (std::size_t j = 0; j < a->slices.size(); ++j)
            sum += a->slices[j] * static_cast<float>(1 << (a->bitsPerCell * j));
    return sum * scale;
}

HyFlexPimLinear::Programmed programMatrix(const Matrix& w, const std::vector<std::uint8_t>& inSlc,
                                          const HyFlexPimOptions& o, std::uint64_t key, std::size_t& slcCount) {
    const Int8Matrix q = quantizeInt8(w);
    std::vector<std::uint8_t> inMlc(inSlc.size());
    for (std::size_t i = 0; i < inSlc.size(); ++i) {
        inMlc[i] = !inSlc[i];
        slcCount += inSlc[i];
    }
    HyFlexPimLinear::Programmed p;
    p.scale = q.scale;
    p.slc = programArray(q.q, inSlc, o.cells.slc, {o.seed, key, o.noise});
    p.mlc = programArray(q.q, inMlc, o.cells.mlc, {o.seed, key, o.noise});
    p.effective = effectiveWeights(p.slc, p.mlc, q.scale);
    return p;
}

void checkSelection(const SlcSelection& slc, std::size_t sites) {
    if (slc.size() != sites)
        throw std::invalid_argument("SLC selection covers " + std::to_string(slc.size()) + " linear layers, the model has " +
                                    std::to_string(sites));
}

}  // namespace

HyFlexPimLinear::HyFlexPimLinear(const SvdFactors& factors, const SlcSelection& slc, const HyFlexPimOptions& options)
    : options_(options) {
    checkSelection(slc, factors.sites.size());
    sites_.resize(factors.sites.size());
    for (std::size_t s = 0; s < factors.sites.size(); ++s) {
        if (slc[s].size() != factors.sites[s].size()) throw std::invalid_argument("SLC selection: block count differs");
        for (std::size_t b = 0; b < factors.sites[s].size(); ++b) {
            const SvdBlock& f = factors.sites[s][b];
            const auto& ranks = slc[s][b];
            if (ranks.size() != static_cast<std::size_t>(f.rank()))
                throw std::invalid_argument("SLC selection: rank count differs in a block");
            const Matrix a = (f.u.array().rowwise() * f.s.row(0).array()).matrix();  // U diag(s), [I, k]
            std::vector<std::uint8_t> inA(static_cast<std::size_t>(a.size())), inB(static_cast<std::size_t>(f.vt.size()));
            for (Eigen::Index r = 0; r < a.rows(); ++r)
                for (Eigen::Index c = 0; c < a.cols(); ++c) inA[r * a.cols() + c] = ranks[c];
            for (Eigen::Index r = 0; r < f.vt.rows(); ++r)
                for (Eigen::Index c = 0; c < f.vt.cols(); ++c) inB[r * f.vt.cols() + c] = ranks[r];
            const std::uint64_t key = (s * 8 + b) * 4;
            Block block{f.column, static_cast<int>(f.vt.cols()), {}};
            block.stages.push_back(programMatrix(a, inA, options_, key, slcWeights_));
            block.stages.push_back(programMatrix(f.vt, inB, options_, key + 1, slcWeights_));
            allWeights_ += inA.size() + inB.size();
            sites_[s].push_back(std::move(block));
        }
    }
}

HyFlexPimLinear::HyFlexPimLinear(const Weights& weights, const Config& config, const SlcSelection& slc,
                                 const HyFlexPimOptions& options)
    : options_(options) {
    const std::size_t sites = static_cast<std::size_t>(config.layers) * kLinearKinds;
    checkSelection(slc, sites);
    sites_.resize(sites);
    for (std::size_t s = 0; s < sites; ++s) {
        const LayerWeights& l = weights.layers[s / kLinearKinds];
        const Matrix* w[] = {&l.attnWeight, &l.attnProjWeight, &l.fcWeight, &l.fcProjWeight};
        const Matrix& weight = *w[s % kLinearKinds];
        if (slc[s].size() != 1 || slc[s][0].size() != static_cast<std::size_t>(weight.size()))
            throw std::invalid_argument("SLC selection of a dense layer must hold one flag per weight");
        Block block{0, static_cast<int>(weight.cols()), {}};
        block.stages.push_back(programMatrix(weight, slc[s][0], options_, s * 32 + 3, slcWeights_));
        allWeights_ += static_cast<std::size_t>(weight.size());
        sites_[s].push_back(std::move(block));
    }
}

void HyFlexPimLinear::apply(const Programmed& p, const Matrix& in, Matrix& out) const {
    if (options_.analog == AnalogModel::WeightNoise) {
        out.resize(in.rows(), p.effective.cols());
        forRowChunks(in.rows(), kRowChunk, [&](long begin, long count) {
            out.middleRows(begin, count).noalias() = in.middleRows(begin, count) * p.effective;
        });
        return;
    }
    // Inputs: symmetric INT8 per token row (the digital side's activation format).
    Eigen::VectorXf rowScale(in.rows());
    IntMatrix xq(in.rows(), in.cols());
    for (Eigen::Index r = 0; r < in.rows(); ++r) {
        const float maxAbs = in.row(r).cwiseAbs().maxCoeff();
        rowScale[r] = maxAbs > 0 ? maxAbs / 127.0f : 1.0f;
        for (Eigen::Index c = 0; c < in.cols(); ++c)
            xq(r, c) = std::clamp<std::int64_t>(std::lround(in(r, c) / rowScale[r]), -127, 127);
    }
    out = Matrix::Zero(in.rows(), p.effective.cols());
    const auto& slcCell = options_.cells.slc;
    const auto& mlcCell = options_.cells.mlc;
    if (p.slc.cells) out += bitSerialProduct(xq, p.slc, slcCell.rows, slcCell.adcBits, &counts_);
    if (p.mlc.cells) out += bitSerialProduct(xq, p.mlc, mlcCell.rows, mlcCell.adcBits, &counts_);
    out.array().colwise() *= rowScale.array() * p.scale;
}

void HyFlexPimLinear::forward(const LinearSite& site, const Matrix& in, const Matrix&, const Matrix& bias, Matrix& out,
                              LinearTape*) const {
    out.resize(in.rows(), bias.cols());
    Matrix stage, next;
    for (const Block& b : sites_.at(site.index())) {
        const Matrix* x = &in;
        for (const Programmed& p : b.stages) {
            apply(p, *x, next);
            std::swap(stage, next);
            x = &stage;
        }
        out.middleCols(b.column, b.outputs) = stage;
        out.middleCols(b.column, b.outputs).rowwise() += bias.row(0).segment(b.column, b.outputs);
    }
}

void HyFlexPimLinear::backward(const LinearSite&, Matrix&, Matrix&, Matrix&, const Matrix&, const Matrix&,
                               const Matrix&, const LinearTape&) const {
    throw std::logic_error("the hyflexpim linear backend is inference only (fine-tune with svd)");
}

double HyFlexPimLinear::slcWeightFraction() const {
    return allWeights_ ? double(slcWeights_) / double(allWeights_) : 0.0;
}

double HyFlexPimLinear::adcClipRate() const {
    const auto n = counts_.conversions.load();
    return n ? double(counts_.clipped.load()) / double(n) : 0.0;
}

}  // namespace imc::nn
