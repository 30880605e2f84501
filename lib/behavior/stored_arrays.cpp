// The public face of the per-head key/value cache the kernels keep (detail::KeyValueCache), so
// callers outside lib/behavior decode with stored arrays without seeing the kernels' internals.
#include "behavior/detail.hpp"
#include "behavior/gaincell_attention.hpp"

namespace imc::behavior {

struct StoredArrays::Held {
    detail::KeyValueCache cache;
};

StoredArrays::StoredArrays() : held_(std::make_unique<Held>()) {}
StoredArrays::~StoredArrays() = default;
StoredArrays::StoredArrays(StoredArrays&&) noexcept = default;
StoredArrays& StoredArrays::operator=(StoredArrays&&) noexcept = default;

long StoredArrays::rowsWritten() const { return held_ ? held_->cache.rowsWritten() : 0; }

void gainCellAttentionForward(const GainCellModel& model, const AttentionOptions& options,
                              const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                              ConstMatrixRef v, MatrixRef out, StoredArrays& stored) {
    if (!stored.held_) stored.held_ = std::make_unique<StoredArrays::Held>();
    detail::gainCellAttentionForward(model, options, variability, head, q, k, v, out, stored.held_->cache);
}

void gainCellAttentionAppend(const GainCellModel& model, const AttentionOptions& options,
                             const Variability& variability, HeadIndex head, ConstMatrixRef q, ConstMatrixRef k,
                             ConstMatrixRef v, MatrixRef out, StoredArrays& stored) {
    if (!stored.held_) stored.held_ = std::make_unique<StoredArrays::Held>();
    detail::gainCellAttentionAppend(model, options, variability, head, q, k, v, out, stored.held_->cache);
}

}  // namespace imc::behavior
