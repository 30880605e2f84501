// The optimized kernels: queries in blocks of one tile height, keys in chunks of at most one tile,
// one Eigen product per chunk and array.
//
// The decay mask factorizes, alpha(t, t')^i = exp(-i r (t - c0)) exp(i r (t' - c0)) for any c0. With
// c0 the first key of a chunk, the key side exp(i r (t' - c0)) is a function of t' alone and is folded
// into the stored rows, written once per key (and kept across decode steps by KeyValueCache); the
// query side scales a copy of Q per chunk. The polynomial's three powers then make one product of
// inner size 3 D per array instead of three products and a decay multiply per score:
//   S   = D_0 sum_d Q + [Q e_1 | Q e_2 | Q e_3] [K_1 g_1 | K_2 g_2 | K_3 g_3]^T,
//   A_j = D_0 sum_t' pulse + sum_i e_i (pulse [V_1 g_1 | V_2 g_2 | V_3 g_3])_i,
// with K_i = D_i (K - K_offset)^i, e_i = exp(-i r (t - c0)), g_i = exp(i r (t' - c0)).
//
// A decode step (one query) of an append-only cache runs hand-written single-query kernels on the
// same float rows: they redo Eigen's matrix-vector products operation for operation (same fused
// multiply-adds in the same order, same horizontal sum), so the results are bit-identical, with
// several keys' chains in flight at once and without the set-up of an Eigen product per chunk.
#include "behavior/detail.hpp"
#include "behavior/gaincell_attention.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

// The single-query kernels reproduce Eigen's products with its 16-float packets; builds where Eigen
// uses other packets keep Eigen's products.
#if defined(EIGEN_VECTORIZE_AVX512)
#include <immintrin.h>
#define IMC_SINGLE_QUERY_KERNELS 1
#else
#define IMC_SINGLE_QUERY_KERNELS 0
#endif

namespace imc::behavior {

namespace detail {

// One head's keys and values as the cells hold them: rows [0, rows) of the sequence last seen.
struct StoredKeyValues {
    // What the rows were prepared for; a call with another setup starts over.
    const GainCellModel* model = nullptr;
    AttentionOptions options;
    Variability variability;
    HeadIndex head;
    long D = -1;

    bool keep_raw = false;  // a cache compares the raw rows with the next call's; a one-off call does not
    long rows = 0;
    long rows_written = 0;
    Matrix K_raw, V_raw;      // [capacity, D] as given
    Matrix K_cells, V_cells;  // [capacity, powers D]: power i in columns [i D, (i + 1) D), growth g_i folded in
    Matrix K_var, V_var;      // [capacity, D]: readout-noise variance of each cell (noisy model only)
    std::vector<TileCircuits> tiles;  // per physical tile, drawn when its first key arrives

    bool append_only = false;  // made by gainCellAttentionAppend: no raw rows, single-query kernels wanted
    bool direct = false;       // single-query products run the kernels below (directable() said so)
    std::vector<double> decay_of_distance;  // direct caches: exp(-r n) for n < rows, as attend computes it
    std::vector<float> kq, vq;            // one row's quantized inputs
};

}  // namespace detail

namespace {

using detail::StoredKeyValues;

// Chunks are shortened so that the key-side growth g_i stays below e^20: float's range (1e38)
// then holds any stored value times the growth, and a decay that strong is unusual anyway.
constexpr double kMaxGrowthExponent = 20.0;

// What a call derives from the model and options before touching any data.
struct ArraySetup {
    detail::WindowGeometry g;
    bool nonlinear = false;
    bool noisy = false;
    int powers = 1;            // stored powers of (K - offset): 3 (nonlinear) or 1 (linear)
    long D = 0;
    long chunk = 0;            // keys per product: the tile size unless the decay is very strong
    double r = 0.0;            // decay per token step
    float pulse_scale = 1.0f;  // nonlinear: Q and phi in the polynomial's unit; linear: 1
    float query_gain = 1.0f;   // Q's factor: pulse_scale (nonlinear) or the linear gain
    std::uint64_t key_S = 0, key_A = 0;  // readout-noise keys of this read
};

ArraySetup makeSetup(const GainCellModel& model, const AttentionOptions& options, const Variability& variability,
                     HeadIndex head, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v) {
    ArraySetup a;
    a.g = detail::makeGeometry(model, options, q.rows(), k.rows(), q.cols(), k.cols(), v.cols(), v.rows());
    a.nonlinear = options.model == ArrayModel::Nonlinear;
    if (a.nonlinear) model.polynomial();  // throws when absent
    a.powers = a.nonlinear ? 3 : 1;
    a.D = q.cols();
    a.r = detail::decayRate(model, options);
    const long tile = a.g.tile;
    a.chunk = tile;
    if (a.powers * a.r * double(tile - 1) > kMaxGrowthExponent)
        a.chunk = std::max(1L, static_cast<long>(kMaxGrowthExponent / (a.powers * a.r)) + 1);
    a.pulse_scale = a.nonlinear ? static_cast<float>(detail::pulseFullScale(model, options)) : 1.0f;
    a.query_gain = a.nonlinear ? a.pulse_scale : static_cast<float>(options.linear.gain);
    a.noisy = a.nonlinear && variability.enabled && variability.readout_noise && !model.readoutNoise().empty();
    if (a.noisy) {
        a.key_S = detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseKey, head),
                                  variability.read_index);
        a.key_A = detail::combine(detail::headKey(variability.seed, detail::Purpose::ReadoutNoiseValue, head),
                                  variability.read_index);
    }
    return a;
}

// A quantizer in float with a multiply by 1/step: the same levels as quantizeUniform except for
// values lying within float rounding of a boundary between two levels.
struct FloatQuantizer {
    float lo, hi, step, inv_step;
    explicit FloatQuantizer(const UniformQuantizer& q)
        : lo(static_cast<float>(q.lo)), hi(static_cast<float>(q.hi)), step(static_cast<float>(q.step())),
          inv_step(1.0f / static_cast<float>(q.step())) {}
    // The truncated argument is >= 0, so the int conversion is floor (and vectorizes, unlike floorf).
    float operator()(float x) const {
        const float index = static_cast<float>(static_cast<int>((std::clamp(x, lo, hi) - lo) * inv_step + 0.5f));
        return std::min(hi, lo + index * step);
    }
};

void quantizeRow(const float* __restrict in, float* __restrict out, long n, const UniformQuantizer& quantizer) {
    const FloatQuantizer quantize(quantizer);
    for (long j = 0; j < n; ++j) out[j] = quantize(in[j]);
}

bool sameOptions(const AttentionOptions& a, const AttentionOptions& b) {
    return a.model == b.model && a.window == b.window && a.layers == b.layers && a.decay == b.decay &&
           a.quantize_inputs == b.quantize_inputs && a.quantize_output == b.quantize_output &&
           a.pulse_full_scale == b.pulse_full_scale && a.linear.gain == b.linear.gain &&
           a.linear.K_offset_V == b.linear.K_offset_V && a.linear.V_offset_V == b.linear.V_offset_V;
}

// The read index keys per-read noise only, not what the cells hold.
bool sameDevices(const Variability& a, const Variability& b) {
    return a.enabled == b.enabled && a.seed == b.seed && a.device_to_device == b.device_to_device &&
           a.readout_noise == b.readout_noise;
}

// cells[i D + d] = factor[i] (stored[d] - offset)^(i + 1) for i = 0, 1, 2, in double.
void writePowers(const float* __restrict stored, double offset, const double factor[3], long D,
                 float* __restrict cells) {
    const double f1 = factor[0], f2 = factor[1], f3 = factor[2];
    for (long d = 0; d < D; ++d) {
        const double x = double(stored[d]) - offset;
        cells[d] = static_cast<float>(f1 * x);
        cells[D + d] = static_cast<float>(f2 * (x * x));
        cells[2 * D + d] = static_cast<float>(f3 * (x * x * x));
    }
}

// memcmp of two rows without its per-call cost (a decode step compares every row held).
bool sameBits(const float* __restrict a, const float* __restrict b, long n) {
    std::uint32_t difference = 0;
    for (long j = 0; j < n; ++j) difference |= std::bit_cast<std::uint32_t>(a[j]) ^ std::bit_cast<std::uint32_t>(b[j]);
    return difference == 0;
}

// Whether the single-query kernels can stand in for Eigen's products: head widths they are
// instantiated for, and products that Eigen evaluates as plain matrix-vector products (chunks
// below its 128-column blocking, more than its small-product limit).
bool directable(const ArraySetup& a) {
    return IMC_SINGLE_QUERY_KERNELS && a.D % 16 == 0 && a.D / 16 <= 4 && a.powers * a.D >= 32 && a.chunk < 128;
}

// Room for `needed` rows, doubling so that a decode step rarely reallocates.
void reserveRows(StoredKeyValues& s, const ArraySetup& a, long needed) {
    const long cell_cols = a.powers * s.D;
    long capacity = s.K_cells.cols() == cell_cols ? s.K_cells.rows() : 0;
    if (capacity < needed) capacity = std::max(needed, 2 * capacity);
    // Row-major: conservativeResize keeps the rows held, and returns at once when the size is
    // unchanged. Arrays a reused cache no longer needs are freed with resize: Eigen's realloc to
    // nothing leaves a pointer past its block (a leak to LeakSanitizer).
    const auto fit = [](Matrix& m, long rows, long cols) {
        if (rows == 0)
            m.resize(0, cols);
        else
            m.conservativeResize(rows, cols);
    };
    for (Matrix* m : {&s.K_cells, &s.V_cells}) fit(*m, capacity, cell_cols);
    for (Matrix* m : {&s.K_raw, &s.V_raw}) fit(*m, s.keep_raw ? capacity : 0, s.D);
    for (Matrix* m : {&s.K_var, &s.V_var}) fit(*m, a.noisy ? capacity : 0, s.D);
}

// Brings `s` to the call's k and v: keeps the rows that equal the call's, bit for bit (compare),
// or all rows held (an append-only caller), and writes the rest, as the hardware writes each new
// key and value into its column once.
void store(StoredKeyValues& s, const ArraySetup& a, const GainCellModel& model, const AttentionOptions& options,
           const Variability& variability, HeadIndex head, ConstMatrixRef k, ConstMatrixRef v, bool compare = true) {
    if (s.model != &model || !sameOptions(s.options, options) || !sameDevices(s.variability, variability) ||
        s.head.layer != head.layer || s.head.head != head.head || s.D != a.D) {
        s.model = &model;
        s.options = options;
        s.variability = variability;
        s.head = head;
        s.D = a.D;
        s.rows = 0;
        s.tiles.clear();
        s.direct = s.append_only && directable(a);
        s.decay_of_distance.clear();
    }
    const long Tk = k.rows(), D = a.D;
    if (!compare && Tk < s.rows)
        throw std::invalid_argument("gain-cell attention: an append-only call with " + std::to_string(Tk) +
                                    " keys, but " + std::to_string(s.rows) + " rows are held");
    if (s.keep_raw && compare) {
        const long common = std::min(s.rows, Tk);
        long same = 0;
        while (same < common && sameBits(s.K_raw.row(same).data(), k.row(same).data(), D) &&
               sameBits(s.V_raw.row(same).data(), v.row(same).data(), D))
            ++same;
        if (same < common) s.rows = same;  // the rows after a difference belong to another sequence
    }
    if (Tk <= s.rows) return;
    reserveRows(s, a, Tk);

    const ArrayArchitecture& arch = model.architecture();
    const ReadoutNoiseTable& noise = model.readoutNoise();
    const LinearArray& lin = options.linear;
    const long tile = a.g.tile;
    s.kq.resize(static_cast<std::size_t>(D));
    s.vq.resize(static_cast<std::size_t>(D));
    std::vector<float>& kq = s.kq;
    std::vector<float>& vq = s.vq;
    for (long row = s.rows; row < Tk; ++row) {
        if (s.keep_raw) {
            s.K_raw.row(row) = k.row(row);
            s.V_raw.row(row) = v.row(row);
        }
        if (options.quantize_inputs) {
            quantizeRow(k.row(row).data(), kq.data(), D, arch.key);
            quantizeRow(v.row(row).data(), vq.data(), D, arch.value);
        } else {
            std::copy_n(k.row(row).data(), D, kq.data());
            std::copy_n(v.row(row).data(), D, vq.data());
        }
        // A key's physical tile depends on its position only (for any length that does not throw),
        // so rows written by earlier, shorter calls stay where this call's geometry puts them.
        const long tile_index = a.g.tileOfKey(row);
        while (static_cast<long>(s.tiles.size()) <= tile_index)
            s.tiles.push_back(drawTileCircuits(model, variability, head, static_cast<int>(s.tiles.size())));
        const TileCircuits& c = s.tiles[static_cast<std::size_t>(tile_index)];
        const double growth = std::exp(a.r * double((row % tile) % a.chunk));  // g_1 of this key
        float* K_cells = s.K_cells.row(row).data();
        float* V_cells = s.V_cells.row(row).data();
        if (!a.nonlinear) {
            const double value_factor = lin.gain * growth;
            for (long d = 0; d < D; ++d) {
                K_cells[d] = static_cast<float>((double(kq[d]) - lin.K_offset_V) * growth);
                V_cells[d] = static_cast<float>((double(vq[d]) - lin.V_offset_V) * value_factor);
            }
        } else {
            double key_factor[3], value_factor[3];
            double g_i = 1.0;
            for (int i = 0; i < 3; ++i) {
                g_i *= growth;
                key_factor[i] = c.key_array.D[static_cast<std::size_t>(i + 1)] * g_i;
                value_factor[i] = c.value_array.D[static_cast<std::size_t>(i + 1)] * g_i;
            }
            writePowers(kq.data(), c.key_array.offset_V, key_factor, D, K_cells);
            writePowers(vq.data(), c.value_array.offset_V, value_factor, D, V_cells);
        }
        if (a.noisy)
            for (long d = 0; d < D; ++d) {
                s.K_var(row, d) = static_cast<float>(std::pow(noise.at(kq[static_cast<std::size_t>(d)]), 2));
                s.V_var(row, d) = static_cast<float>(std::pow(noise.at(vq[static_cast<std::size_t>(d)]), 2));
            }
    }
    s.rows_written += Tk - s.rows;
    s.rows = Tk;
    // A decode step's query-side decay per chunk is one of these (the same call, so the same bits).
    if (s.direct)
        for (long n = static_cast<long>(s.decay_of_distance.size()); n < Tk; ++n)
            s.decay_of_distance.push_back(std::exp(-a.r * double(n)));
}

#if IMC_SINGLE_QUERY_KERNELS
static_assert(Eigen::internal::packet_traits<float>::size == 16,
              "the single-query kernels assume Eigen's 16-float packets");

// S(0, b) = query . K_cells(c0 + b) for b < cols, as Eigen's row-major matrix-vector product forms
// it for one query: per key one packet accumulating a fused multiply-add per 16 columns in column
// order, Eigen's horizontal sum, added to a zeroed result. Keys go Keys at a time so that as many
// independent chains overlap (each key's own chain keeps Eigen's order); 8 ran a few per cent
// faster than 4.
template <int Powers, int Blocks, int Keys>
inline void directScoreKeys(const __m512 (&q)[Powers * Blocks], const float* cells, long stride, float* __restrict S) {
    __m512 c[Keys];
    for (int k = 0; k < Keys; ++k) c[k] = _mm512_setzero_ps();
    for (int p = 0; p < Powers * Blocks; ++p)
        for (int k = 0; k < Keys; ++k) c[k] = _mm512_fmadd_ps(_mm512_loadu_ps(cells + k * stride + 16 * p), q[p], c[k]);
    for (int k = 0; k < Keys; ++k) S[k] = 0.0f + Eigen::internal::predux(c[k]);
}

template <int Powers, int Blocks>
void directScores(const float* __restrict query, const StoredKeyValues& s, long c0, long cols, float* __restrict S) {
    __m512 q[Powers * Blocks];
    for (int p = 0; p < Powers * Blocks; ++p) q[p] = _mm512_loadu_ps(query + 16 * p);
    const long stride = s.K_cells.cols();
    const float* cells = s.K_cells.data() + c0 * stride;
    long b = 0;
    for (; b + 8 <= cols; b += 8) directScoreKeys<Powers, Blocks, 8>(q, cells + b * stride, stride, S + b);
    for (; b + 4 <= cols; b += 4) directScoreKeys<Powers, Blocks, 4>(q, cells + b * stride, stride, S + b);
    for (; b < cols; ++b) directScoreKeys<Powers, Blocks, 1>(q, cells + b * stride, stride, S + b);
}

// charge = pulse V_cells(c0 .. c0 + cols), as Eigen's column-major matrix-vector product forms it
// for one query: per 16 cells one packet accumulating a fused multiply-add per key in key order,
// then added to a zeroed result by one more fused multiply-add with 1.
template <int Powers, int Blocks>
void directCharge(const float* __restrict pulse, const StoredKeyValues& s, long c0, long cols,
                  const float* __restrict decay, float* __restrict acc_out) {
    __m512 acc[Powers * Blocks];
    for (int p = 0; p < Powers * Blocks; ++p) acc[p] = _mm512_setzero_ps();
    const float* cells = s.V_cells.data();
    const long stride = s.V_cells.cols();
    for (long b = 0; b < cols; ++b) {
        // A key with no pulse adds +-0 to every accumulator, which leaves it as it is (it starts at
        // +0 and a sum of round-to-nearest never becomes -0): skipping it changes no bit. Most
        // keys below the charge-to-pulse offset give none.
        if (pulse[b] == 0.0f) continue;
        const __m512 p = _mm512_set1_ps(pulse[b]);
        const float* row = cells + (c0 + b) * stride;
        for (int j = 0; j < Powers * Blocks; ++j) acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16 * j), p, acc[j]);
    }
    // Then, per power i, acc_out += decay_i charge_i with Eigen's own packet operations, as its
    // evaluation of that expression does (whether the compiler fuses them is the same for both).
    using Eigen::internal::padd;
    using Eigen::internal::pmul;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int j = 0; j < Blocks; ++j) {
        __m512 sum = _mm512_loadu_ps(acc_out + 16 * j);
        for (int i = 0; i < Powers; ++i) {
            const __m512 charge = _mm512_fmadd_ps(acc[i * Blocks + j], one, zero);
            sum = padd(sum, pmul(_mm512_set1_ps(decay[i]), charge));
        }
        _mm512_storeu_ps(acc_out + 16 * j, sum);
    }
}

// Calls kernel.template operator()<Powers, Blocks>() for the setup's powers and head width
// (Blocks = D / 16), the shapes the kernels are instantiated for.
template <int Powers, typename Kernel>
void withBlocks(long blocks, Kernel&& kernel) {
    switch (blocks) {
        case 1: return kernel.template operator()<Powers, 1>();
        case 2: return kernel.template operator()<Powers, 2>();
        case 3: return kernel.template operator()<Powers, 3>();
        case 4: return kernel.template operator()<Powers, 4>();
        default: throw std::logic_error("gain-cell attention: no single-query kernel for this head width");
    }
}

#endif

template <typename Kernel>
void withKernelShape(const ArraySetup& a, Kernel&& kernel) {
#if IMC_SINGLE_QUERY_KERNELS
    if (a.powers == 3) return withBlocks<3>(a.D / 16, kernel);
    if (a.powers == 1) return withBlocks<1>(a.D / 16, kernel);
#endif
    (void)a, (void)kernel;
    throw std::logic_error("gain-cell attention: no single-query kernel");
}

// The single-query products (directable() said the setup allows them): S [cols] from the scaled
// query [powers D]; and acc [D] += sum_i decay_i (pulse [cols] V_cells)_i.
void directScores(const ArraySetup& a, const float* query, const StoredKeyValues& s, long c0, long cols, float* S) {
    withKernelShape(a, [&]<int Powers, int Blocks>() { directScores<Powers, Blocks>(query, s, c0, cols, S); });
}

void directCharge(const ArraySetup& a, const float* pulse, const StoredKeyValues& s, long c0, long cols,
                  const float* decay, float* acc) {
    withKernelShape(a, [&]<int Powers, int Blocks>() { directCharge<Powers, Blocks>(pulse, s, c0, cols, decay, acc); });
}

// The key blocks one query block reads, grouped by the physical tile that stores them.
template <typename Visit>
void forEachTileGroup(const detail::WindowGeometry& g, long i0, long rows, Visit&& visit) {
    const long t_lo = g.offset + i0, t_hi = g.offset + i0 + rows - 1;
    const long key_lo = std::max(0L, t_lo - g.window + 1);
    const long block_lo = key_lo / g.tile, block_hi = t_hi / g.tile;
    if (!g.wraps) {
        for (long b = block_lo; b <= block_hi; ++b) visit(b, b, b + 1, 1L);
        return;
    }
    const long stride = g.physical_tiles;
    for (long first = block_lo; first <= std::min(block_hi, block_lo + stride - 1); ++first) {
        const long count = (block_hi - first) / stride + 1;
        visit(first % stride, first, first + (count - 1) * stride + 1, stride);
    }
}

// The chunks [c0, c0 + cols) of the key blocks first, first + stride, ... < end.
template <typename Visit>
void forEachChunk(const ArraySetup& a, long first, long end, long stride, Visit&& visit) {
    for (long b = first; b < end; b += stride) {
        const long s0 = b * a.g.tile, block_end = std::min(s0 + a.g.tile, a.g.Tk);
        for (long c0 = s0; c0 < block_end; c0 += a.chunk) visit(c0, std::min(a.chunk, block_end - c0));
    }
}

// Buffers of one call, sized for a block of queries against a chunk of keys. Thread-local and
// reused, so decode steps do not allocate.
struct Workspace {
    Matrix Qs;                 // [Tq, D] quantized queries times query_gain
    Eigen::VectorXf Q_rowsum;  // nonlinear: sum_d Qs, the first array's i = 0 term
    Matrix Qs2;                // noisy: Qs^2
    Matrix decay;              // [rows, powers]: e_i = exp(-i r (t - c0)), 0 where t < c0
    Matrix Q_scaled;           // [rows, powers D]: Qs e_i per power
    Matrix S, N;               // [rows, chunk]: first-array charge without the i = 0 term; its noise variance
    Matrix pulse;              // [rows, chunk]: second-array input, phi times pulse_scale, 0 outside the window
    Matrix charge;             // [rows, powers D]: pulse times the stored values, per power
    Matrix acc, acc_var;       // [rows, D]: one tile's second-array charge and its noise variance
    Eigen::VectorXf pulse_rowsum;
    std::vector<char> row_read;  // rows that saw a key of the current tile

    void reserve(long Tq, long rows, long chunk, long D, int powers) {
        Qs.resize(Tq, D);
        decay.resize(rows, powers);
        Q_scaled.resize(rows, powers * D);
        S.resize(rows, chunk);
        N.resize(rows, chunk);
        pulse.resize(rows, chunk);
        charge.resize(rows, powers * D);
        acc.resize(rows, D);
        acc_var.resize(rows, D);
        pulse_rowsum.resize(rows);
        row_read.resize(static_cast<std::size_t>(rows));
    }
};

Workspace& threadWorkspace() {
    thread_local Workspace workspace;
    return workspace;
}

void prepareQueries(const ArraySetup& a, const GainCellModel& model, const AttentionOptions& options,
                    ConstMatrixRef q, Workspace& w) {
    const long Tq = q.rows(), rows = std::min(a.g.tile, Tq);
    w.reserve(Tq, rows, a.chunk, a.D, a.powers);
    for (long t = 0; t < Tq; ++t) {
        float* row = w.Qs.row(t).data();
        if (options.quantize_inputs)
            quantizeRow(q.row(t).data(), row, a.D, model.architecture().query);
        else
            std::copy_n(q.row(t).data(), a.D, row);
    }
    w.Qs *= a.query_gain;
    if (a.nonlinear) w.Q_rowsum.noalias() = w.Qs.rowwise().sum();
    if (a.noisy) w.Qs2 = w.Qs.array().square();
}

// First array for the queries [i0, i0 + rows) against the keys [c0, c0 + cols) of one tile: the
// query-side decay, S, the pulses, the trace and row_read.
void firstArrayChunk(const ArraySetup& a, const StoredKeyValues& s, const TileCircuits& c, Workspace& w, long i0,
                     long rows, long c0, long cols, HeadTrace* trace) {
    const auto& g = a.g;
    const long D = a.D;
    for (long row = 0; row < rows; ++row) {
        const long n = g.offset + i0 + row - c0;  // distance from the chunk's first key
        // n < 0: every key of the chunk is in this query's future and masked.
        const double e_1 = n < 0                                                          ? 0.0
                           : n < static_cast<long>(s.decay_of_distance.size()) ? s.decay_of_distance[std::size_t(n)]
                                                                               : std::exp(-a.r * double(n));
        double e_i = 1.0;
        for (int i = 0; i < a.powers; ++i) {
            e_i *= e_1;
            // Below float's normal range the term is negligible; zero keeps denormals out of the products.
            const float e = e_i < double(std::numeric_limits<float>::min()) ? 0.0f : static_cast<float>(e_i);
            w.decay(row, i) = e;
            w.Q_scaled.row(row).segment(i * D, D).noalias() = e * w.Qs.row(i0 + row);
        }
    }
    auto S = w.S.topLeftCorner(rows, cols);
    if (rows == 1 && s.direct)
        directScores(a, w.Q_scaled.row(0).data(), s, c0, cols, w.S.row(0).data());
    else
        S.noalias() = w.Q_scaled.topRows(rows) * s.K_cells.middleRows(c0, cols).transpose();
    if (a.noisy)
        w.N.topLeftCorner(rows, cols).noalias() = w.Qs2.middleRows(i0, rows) * s.K_var.middleRows(c0, cols).transpose();

    const float D0 = a.nonlinear ? static_cast<float>(c.key_array.D[0]) : 0.0f;
    const float offset = static_cast<float>(c.pulse.offset), inv_sat = static_cast<float>(1.0 / c.pulse.S_sat);
    const float pulse_scale = a.pulse_scale;
    for (long row = 0; row < rows; ++row) {
        const long t = g.offset + i0 + row;
        // Keys of this chunk inside the window of t: columns [lo, hi).
        const long lo = std::clamp(t - g.window + 1 - c0, 0L, cols), hi = std::clamp(t + 1 - c0, 0L, cols);
        auto pulse = w.pulse.row(row).head(cols);
        pulse.head(lo).setZero();
        pulse.segment(hi, cols - hi).setZero();
        if (lo >= hi) continue;
        w.row_read[static_cast<std::size_t>(row)] = 1;
        const float i0_term = a.nonlinear ? D0 * w.Q_rowsum(i0 + row) : 0.0f;
        if (!a.noisy && !trace) {
            // The pulse law in float, vectorized: this touches every score of the head.
            pulse.segment(lo, hi - lo).array() =
                (((S.row(row).segment(lo, hi - lo).array() + i0_term) - offset) * inv_sat).max(0.0f).min(1.0f) *
                pulse_scale;
            continue;
        }
        for (long b = lo; b < hi; ++b) {
            float score = S(row, b) + i0_term;
            if (a.noisy) {
                const long tp = c0 + b;
                score += static_cast<float>(std::sqrt(double(w.N(row, b))) *
                                            detail::normalAt(a.key_S, (static_cast<std::uint64_t>(t) << 32) |
                                                                          static_cast<std::uint64_t>(tp)));
            }
            const float phi = std::clamp((score - offset) * inv_sat, 0.0f, 1.0f);
            pulse(b) = phi * pulse_scale;
            if (trace) {
                trace->S(i0 + row, c0 + b) = score;
                trace->phi(i0 + row, c0 + b) = phi;
            }
        }
    }
}

// Second array for one chunk: adds its charge (and noise variance) to the tile accumulators.
void secondArrayChunk(const ArraySetup& a, const StoredKeyValues& s, Workspace& w, long rows, long c0, long cols) {
    const long D = a.D;
    const auto pulse = w.pulse.topLeftCorner(rows, cols);
    auto charge = w.charge.topRows(rows);
    if (rows == 1 && s.direct) {
        // The kernel adds its charge to the tile accumulator itself, as the loop below would.
        directCharge(a, w.pulse.row(0).data(), s, c0, cols, w.decay.row(0).data(), w.acc.row(0).data());
    } else {
        charge.noalias() = pulse * s.V_cells.middleRows(c0, cols);
        for (long row = 0; row < rows; ++row)
            for (int i = 0; i < a.powers; ++i)
                w.acc.row(row) += w.decay(row, i) * charge.row(row).segment(i * D, D);
    }
    if (!a.nonlinear) return;
    w.pulse_rowsum.head(rows) += pulse.rowwise().sum();
    if (a.noisy) {
        auto pulse_squared = w.S.topLeftCorner(rows, cols);  // S is no longer needed
        pulse_squared = pulse.array().square();
        w.acc_var.topRows(rows).noalias() += pulse_squared * s.V_var.middleRows(c0, cols);
    }
}

void resetTile(Workspace& w, long rows) {
    w.acc.topRows(rows).setZero();
    w.acc_var.topRows(rows).setZero();
    w.pulse_rowsum.head(rows).setZero();
    std::fill(w.row_read.begin(), w.row_read.begin() + rows, char(0));
}

// Completes the tile charge: the i = 0 term of the polynomial and the readout noise.
void finishTileCharge(const ArraySetup& a, const TileCircuits& c, Workspace& w, long i0, long rows, long tile) {
    if (!a.nonlinear) return;
    const float D0 = static_cast<float>(c.value_array.D[0]);
    for (long row = 0; row < rows; ++row) {
        w.acc.row(row).array() += D0 * w.pulse_rowsum(row);
        if (!a.noisy) continue;
        const std::uint64_t key = detail::combine(
            detail::combine(a.key_A, static_cast<std::uint64_t>(a.g.offset + i0 + row)), static_cast<std::uint64_t>(tile));
        for (long d = 0; d < a.D; ++d)
            w.acc(row, d) += static_cast<float>(std::sqrt(double(w.acc_var(row, d))) *
                                                detail::normalAt(key, static_cast<std::uint64_t>(d)));
    }
}

// Each tile's signed charge-to-pulse and counter (output == nullptr: no quantization), then the
// digital adders: adds the tile's readout of the rows that saw a key to `out`.
void readTile(const SignedReadout& readout, const FloatQuantizer* output, const Workspace& w, long D, long rows,
              MatrixRef out) {
    const float offset = static_cast<float>(readout.offset), inv_sat = static_cast<float>(1.0 / readout.S_sat);
    const auto signedPulse = [offset, inv_sat](float x) {
        const float magnitude = std::clamp((std::abs(x) - offset) * inv_sat, 0.0f, 1.0f);
        return x < 0.0f ? -magnitude : magnitude;
    };
    for (long row = 0; row < rows; ++row) {
        if (!w.row_read[static_cast<std::size_t>(row)]) continue;
        const float* __restrict charge = w.acc.row(row).data();
        float* __restrict sum = out.row(row).data();
        if (output) {
            const FloatQuantizer quantize = *output;
            for (long d = 0; d < D; ++d) sum[d] += quantize(signedPulse(charge[d]));
        } else {
            for (long d = 0; d < D; ++d) sum[d] += signedPulse(charge[d]);
        }
    }
}

void attend(const ArraySetup& a, const StoredKeyValues& s, const GainCellModel& model, const AttentionOptions& options,
            ConstMatrixRef q, MatrixRef out, HeadTrace* trace) {
    const auto& g = a.g;
    if (out.rows() != g.Tq || out.cols() != a.D) throw std::invalid_argument("gain-cell attention: out must be [Tq, D]");
    if (trace) {
        trace->S.setZero(g.Tq, g.Tk);
        trace->phi.setZero(g.Tq, g.Tk);
    }
    Workspace& w = threadWorkspace();
    prepareQueries(a, model, options, q, w);
    const FloatQuantizer output(model.architecture().output);
    out.setZero();
    for (long i0 = 0; i0 < g.Tq; i0 += g.tile) {
        const long rows = std::min(g.tile, g.Tq - i0);
        forEachTileGroup(g, i0, rows, [&](long tile, long first, long end, long stride) {
            const TileCircuits& c = s.tiles[static_cast<std::size_t>(tile)];
            resetTile(w, rows);
            forEachChunk(a, first, end, stride, [&](long c0, long cols) {
                firstArrayChunk(a, s, c, w, i0, rows, c0, cols, trace);
                secondArrayChunk(a, s, w, rows, c0, cols);
            });
            finishTileCharge(a, c, w, i0, rows, tile);
            readTile(c.readout, options.quantize_output ? &output : nullptr, w, a.D, rows, out.middleRows(i0, rows));
        });
    }
}

}  // namespace

void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q,
                              ConstMatrixRef k, ConstMatrixRef v, MatrixRef out, HeadTrace* trace) {
    if (variability.enabled) model.requireSpread(options.model);
    const ArraySetup a = makeSetup(model, options, variability, head, q, k, v);
    StoredKeyValues stored;
    store(stored, a, model, options, variability, head, k, v);
    attend(a, stored, model, options, q, out, trace);
}

namespace detail {

namespace {

// The storage of finished caches, for the next ones: a new sequence then writes its rows into
// memory that is mapped and large enough already, instead of growing fresh allocations (page
// faults and copies were a third of a 256-token decode with float rows). Bounded in bytes.
class SpareStorage {
public:
    std::unique_ptr<StoredKeyValues> take() {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (spare_.empty()) return std::make_unique<StoredKeyValues>();
        auto s = std::move(spare_.back());
        spare_.pop_back();
        bytes_ -= bytesOf(*s);
        return s;
    }
    void give(std::unique_ptr<StoredKeyValues> s) {
        // What the rows were for is forgotten; the matrices keep their memory.
        s->model = nullptr;
        s->D = -1;
        s->keep_raw = s->append_only = s->direct = false;
        s->rows = s->rows_written = 0;
        s->tiles.clear();
        const std::size_t size = bytesOf(*s);
        const std::lock_guard<std::mutex> lock(mutex_);
        if (bytes_ + size > kMaxBytes) return;  // freed on return, as before
        bytes_ += size;
        spare_.push_back(std::move(s));
    }

private:
    static constexpr std::size_t kMaxBytes = std::size_t(64) << 20;
    static std::size_t bytesOf(const StoredKeyValues& s) {
        return sizeof(float) * std::size_t(s.K_raw.size() + s.V_raw.size() + s.K_cells.size() + s.V_cells.size() +
                                           s.K_var.size() + s.V_var.size());
    }
    std::mutex mutex_;
    std::vector<std::unique_ptr<StoredKeyValues>> spare_;
    std::size_t bytes_ = 0;
};

// Never destroyed: caches held by static objects may be destroyed after any function-local static.
SpareStorage& spareStorage() {
    static SpareStorage* const spare = new SpareStorage;
    return *spare;
}

}  // namespace

KeyValueCache::KeyValueCache() = default;
KeyValueCache::~KeyValueCache() {
    if (stored_) spareStorage().give(std::move(stored_));
}
KeyValueCache::KeyValueCache(KeyValueCache&&) noexcept = default;
KeyValueCache& KeyValueCache::operator=(KeyValueCache&&) noexcept = default;

long KeyValueCache::rows() const { return stored_ ? stored_->rows : 0; }
long KeyValueCache::rowsWritten() const { return stored_ ? stored_->rows_written : 0; }

void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                              ConstMatrixRef v, MatrixRef out, KeyValueCache& cache) {
    if (variability.enabled) model.requireSpread(options.model);
    const ArraySetup a = makeSetup(model, options, variability, head, q, k, v);
    if (!cache.stored_) {
        cache.stored_ = spareStorage().take();
        cache.stored_->keep_raw = true;
    }
    StoredKeyValues& s = *cache.stored_;
    if (!s.keep_raw) {  // an append-only cache has no raw rows to compare with: start over
        s.keep_raw = true;
        s.append_only = false;
        s.model = nullptr;
    }
    store(s, a, model, options, variability, head, k, v);
    attend(a, s, model, options, q, out, nullptr);
}

void gainCellAttentionAppend(const GainCellModel& model, const AttentionOptions& options,
                             const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                             ConstMatrixRef v, MatrixRef out, KeyValueCache& cache) {
    if (variability.enabled) model.requireSpread(options.model);
    const ArraySetup a = makeSetup(model, options, variability, head, q, k, v);
    if (!cache.stored_) {
        cache.stored_ = spareStorage().take();
        cache.stored_->append_only = true;
    }
    StoredKeyValues& s = *cache.stored_;
    store(s, a, model, options, variability, head, k, v, /*compare=*/false);
    attend(a, s, model, options, q, out, nullptr);
}

bool singleQueryKernels(const KeyValueCache& cache) { return cache.stored_ && cache.stored_->direct; }

}  // namespace detail

// Per chunk, with u = e_1 per query row and w = g_1 per key (so alpha = u w), Qc = Qs u and the
// stored Kc = (K - k0) w, Vc = gain (V - v0) w:
//   S = Qc Kc^T, A = u (phi Vc): dPhi = (u dR) Vc^T, dVc = phi^T (u dR), dS = dPhi phi'(S),
//   dQ = gain u (dS Kc), dK = w (dS^T Qc), dV = gain w dVc.
void gainCellLinearBackward(const GainCellModel& model, const AttentionOptions& options,
                            const Variability& variability, HeadIndex head, ConstMatrixRef q,
                            ConstMatrixRef k, ConstMatrixRef v, ConstMatrixRef dout, MatrixRef dq,
                            MatrixRef dk, MatrixRef dv) {
    if (options.model != ArrayModel::Linear)
        throw std::invalid_argument("gain-cell attention: the straight-through backward covers the linear model only");
    const ArraySetup a = makeSetup(model, options, variability, head, q, k, v);
    const auto& g = a.g;
    const long D = a.D;
    if (dout.rows() != g.Tq || dout.cols() != D || dq.rows() != g.Tq || dq.cols() != D || dk.rows() != g.Tk ||
        dk.cols() != D || dv.rows() != g.Tk || dv.cols() != D)
        throw std::invalid_argument("gain-cell attention backward: gradient shapes do not match q, k, v");
    StoredKeyValues s;
    store(s, a, model, options, variability, head, k, v);
    Workspace& w = threadWorkspace();
    prepareQueries(a, model, options, q, w);
    const float gain = static_cast<float>(options.linear.gain);
    dq.setZero();
    dk.setZero();
    dv.setZero();
    const long max_rows = std::min(g.tile, g.Tq);
    Matrix dR(max_rows, D), dR_decayed(max_rows, D), dPhi(max_rows, a.chunk), dS(max_rows, a.chunk);
    Matrix dQuery(max_rows, D), dKeys(a.chunk, D), dValues(a.chunk, D);
    Eigen::VectorXf key_growth(a.chunk);
    for (long b = 0; b < a.chunk; ++b) key_growth(b) = static_cast<float>(std::exp(a.r * double(b)));
    for (long i0 = 0; i0 < g.Tq; i0 += g.tile) {
        const long rows = std::min(g.tile, g.Tq - i0);
        forEachTileGroup(g, i0, rows, [&](long tile, long first, long end, long stride) {
            const TileCircuits& c = s.tiles[static_cast<std::size_t>(tile)];
            // Pass 1: the tile charge, for the readout's derivative.
            resetTile(w, rows);
            forEachChunk(a, first, end, stride, [&](long c0, long cols) {
                firstArrayChunk(a, s, c, w, i0, rows, c0, cols, nullptr);
                secondArrayChunk(a, s, w, rows, c0, cols);
            });
            // The output quantizer passes the gradient through; the readout clamp does not.
            for (long row = 0; row < rows; ++row)
                for (long d = 0; d < D; ++d)
                    dR(row, d) = w.row_read[static_cast<std::size_t>(row)]
                                     ? dout(i0 + row, d) * static_cast<float>(c.readout.derivative(w.acc(row, d)))
                                     : 0.0f;
            // Pass 2, per chunk.
            forEachChunk(a, first, end, stride, [&](long c0, long cols) {
                firstArrayChunk(a, s, c, w, i0, rows, c0, cols, nullptr);
                const auto u = w.decay.topRows(rows).col(0);
                const auto w_keys = key_growth.head(cols);
                const auto phi = w.pulse.topLeftCorner(rows, cols);
                auto dRu = dR_decayed.topRows(rows);
                dRu = u.asDiagonal() * dR.topRows(rows);
                auto dP = dPhi.topLeftCorner(rows, cols);
                dP.noalias() = dRu * s.V_cells.middleRows(c0, cols).transpose();
                auto dVc = dValues.topRows(cols);
                dVc.noalias() = phi.transpose() * dRu;
                dv.middleRows(c0, cols).noalias() += gain * (w_keys.asDiagonal() * dVc);
                auto dSc = dS.topLeftCorner(rows, cols);
                for (long row = 0; row < rows; ++row) {
                    const long t = g.offset + i0 + row;
                    for (long b = 0; b < cols; ++b)
                        dSc(row, b) = g.inWindow(t, c0 + b)
                                          ? dP(row, b) * static_cast<float>(c.pulse.derivative(w.S(row, b)))
                                          : 0.0f;
                }
                auto dQc = dQuery.topRows(rows);
                dQc.noalias() = dSc * s.K_cells.middleRows(c0, cols);
                dq.middleRows(i0, rows).noalias() += gain * (u.asDiagonal() * dQc);
                auto dKc = dKeys.topRows(cols);
                dKc.noalias() = dSc.transpose() * w.Q_scaled.topRows(rows);
                dk.middleRows(c0, cols).noalias() += w_keys.asDiagonal() * dKc;
            });
        });
    }
}

}  // namespace imc::behavior
