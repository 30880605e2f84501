#pragma once
// Internal helpers shared by the optimized and the reference kernels, so both see the same
// window geometry, decay and random numbers; and the per-head key/value cache the nn backends keep.
#include "behavior/gaincell_attention.hpp"
#include "variability/random.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace imc::behavior::detail {

// The counter-based draws of the project's one random family (variability/random.hpp).
using variability::combine;
using variability::mix64;
using variability::normalAt;
using variability::unitOpen;

enum class Purpose : std::uint64_t { TileCircuits = 1, ReadoutNoiseKey = 2, ReadoutNoiseValue = 3 };

inline std::uint64_t headKey(std::uint64_t seed, Purpose purpose, HeadIndex head) {
    std::uint64_t key = combine(seed, static_cast<std::uint64_t>(purpose));
    key = combine(key, static_cast<std::uint64_t>(static_cast<std::int64_t>(head.layer)));
    return combine(key, static_cast<std::uint64_t>(static_cast<std::int64_t>(head.head)));
}

// Where keys live: query i is at position offset + i; key t' is in window of t when
// t - M < t' <= t; its physical tile is (t' mod M) / tile_size, i.e. blocks of tile_size keys
// aligned at absolute positions, folded modulo M / tile_size when the circular buffer wraps.
struct WindowGeometry {
    long Tq = 0, Tk = 0, offset = 0;
    long window = 0;  // effective M (>= 1)
    long tile = 0;
    bool wraps = false;
    long physical_tiles = 0;  // distinct tiles when wrapping, else the number of key blocks

    bool inWindow(long t, long tp) const { return tp <= t && tp > t - window; }
    long tileOfKey(long tp) const { return wraps ? (tp / tile) % physical_tiles : tp / tile; }
};

inline WindowGeometry makeGeometry(const GainCellModel& model, const AttentionOptions& options, long Tq, long Tk,
                                   long Dq, long Dk, long Dv, long Tv) {
    if (Tq < 1 || Tk < 1) throw std::invalid_argument("gain-cell attention: empty q or k");
    if (Tq > Tk)
        throw std::invalid_argument("gain-cell attention: " + std::to_string(Tq) + " queries but only " +
                                    std::to_string(Tk) + " keys");
    if (Tv != Tk) throw std::invalid_argument("gain-cell attention: k and v have different row counts");
    if (Dq != Dk || Dk != Dv) throw std::invalid_argument("gain-cell attention: q, k and v have different widths");
    if (options.window < 0) throw std::invalid_argument("gain-cell attention: negative window");
    if (options.layers < 1) throw std::invalid_argument("gain-cell attention: layers must be >= 1");
    WindowGeometry g;
    g.Tq = Tq;
    g.Tk = Tk;
    g.offset = Tk - Tq;
    g.tile = model.architecture().tile_size;
    g.window = options.window == 0 ? Tk : options.window;
    g.wraps = g.window < Tk;
    if (g.wraps && g.window % g.tile != 0)
        throw std::invalid_argument("gain-cell attention: window " + std::to_string(g.window) +
                                    " is shorter than the sequence and not a multiple of the tile size " +
                                    std::to_string(g.tile));
    g.physical_tiles = g.wraps ? g.window / g.tile : (Tk + g.tile - 1) / g.tile;
    return g;
}

// r = Delta_t / tau per token step, 0 when decay is off or there is no retention fit.
inline double decayRate(const GainCellModel& model, const AttentionOptions& options) {
    return options.decay ? model.decayPerStep(options.layers) : 0.0;
}

// The full-pulse length the nonlinear model feeds its polynomial: the option, else the fits'.
inline double pulseFullScale(const GainCellModel& model, const AttentionOptions& options) {
    return options.pulse_full_scale > 0.0 ? options.pulse_full_scale : model.architecture().pulse_full_scale;
}

// ---------------------------------------------------------------- key/value cache

struct StoredKeyValues;  // attention_kernel.cpp

// What one head's arrays hold between calls: K and V as written into the cells (quantized, with
// the polynomial's powers folded in), so a decode step writes only its new row, as the hardware
// does, instead of preparing the whole prefix again. Each call compares the k and v it is given
// with the rows held, bit for bit, and rewrites from the first row that differs: a new or edited
// sequence needs no notice; so does another model, head or option set (the model is recognized by
// its address, so it must outlive the cache). Results are bit-identical to gainCellAttentionForward's.
// Not thread-safe: one cache per head and caller at a time.
class KeyValueCache {
public:
    KeyValueCache();
    ~KeyValueCache();
    KeyValueCache(KeyValueCache&&) noexcept;
    KeyValueCache& operator=(KeyValueCache&&) noexcept;

    long rows() const;        // rows held (valid for the sequence of the last call)
    long rowsWritten() const; // rows prepared since construction: tests see what a call reused

private:
    friend void gainCellAttentionForward(const GainCellModel&, const AttentionOptions&, const Variability&,
                                         HeadIndex, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, MatrixRef,
                                         KeyValueCache&);
    friend void gainCellAttentionAppend(const GainCellModel&, const AttentionOptions&, const Variability&,
                                        HeadIndex, ConstMatrixRef, ConstMatrixRef, ConstMatrixRef, MatrixRef,
                                        KeyValueCache&);
    friend bool singleQueryKernels(const KeyValueCache&);
    std::unique_ptr<StoredKeyValues> stored_;
};

// gainCellAttentionForward with the stored keys and values of `cache` (same results, bit for bit).
void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                              ConstMatrixRef v, MatrixRef out, KeyValueCache& cache);

// The append-only call (gaincell_attention.hpp, gainCellAttentionAppend) on `cache`: no comparison,
// only the new rows written. Single-query calls on a cache that was only appended to run
// hand-written kernels instead of Eigen's products, with the same results bit for bit.
void gainCellAttentionAppend(const GainCellModel& model, const AttentionOptions& options,
                             const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                             ConstMatrixRef v, MatrixRef out, KeyValueCache& cache);

// True when single-query calls on `cache` run the hand-written kernels (tests check that they ran).
bool singleQueryKernels(const KeyValueCache& cache);

}  // namespace imc::behavior::detail
