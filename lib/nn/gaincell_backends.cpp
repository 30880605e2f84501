#include "nn/gaincell_backends.hpp"

#include "datadir/datadir.hpp"

#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace imc::nn {

behavior::LinearArray linearArrayFor(const behavior::GainCellModel& model, double gain) {
    behavior::LinearArray linear = behavior::cellLinearization(model);
    if (gain > 0) linear.gain = gain;
    return linear;
}

namespace {

behavior::AttentionOptions arrayOptionsFor(behavior::ArrayModel arrayModel, const behavior::GainCellModel& model,
                                           const GainCellBackendOptions& options) {
    behavior::AttentionOptions array;
    array.model = arrayModel;
    array.window = options.windowTokens;
    array.layers = options.layers;
    array.decay = options.decay && model.retention_tau_s().has_value();
    array.quantize_inputs = options.quantize;
    array.quantize_output = options.quantize;
    array.linear = linearArrayFor(model, options.linearGain);
    return array;
}

}  // namespace

// One cache per (layer, head), each behind its own lock. A call that finds its head's cache busy
// (another sequence of a batch on another thread) runs without it: same result, bit for bit.
struct GainCellAttention::StoredHeads {
    struct Head {
        std::mutex mutex;
        behavior::StoredArrays cache;
    };
    std::mutex mutex;  // guards the map, not the caches
    std::map<std::pair<int, int>, std::unique_ptr<Head>> heads;

    Head& at(const HeadSite& site) {
        const std::lock_guard<std::mutex> lock(mutex);
        auto& head = heads[{site.layer, site.head}];
        if (!head) head = std::make_unique<Head>();
        return *head;
    }
};

GainCellAttention::GainCellAttention(behavior::ArrayModel arrayModel, const GainCellBackendOptions& options)
    : GainCellAttention(arrayModel,
                        std::make_shared<const behavior::GainCellModel>(behavior::GainCellModel::load(
                            options.fitsDir.empty() ? defaultFitsDirectory() : options.fitsDir)),
                        options) {}

GainCellAttention::GainCellAttention(behavior::ArrayModel arrayModel,
                                     std::shared_ptr<const behavior::GainCellModel> model,
                                     const GainCellBackendOptions& options)
    : model_(std::move(model)), options_(options), stored_(std::make_unique<StoredHeads>()) {
    if (!model_) throw std::invalid_argument("gain-cell attention: no model");
    if (options.layers < 1) throw std::invalid_argument("gain-cell attention: layers must be >= 1");
    if (options.windowTokens < 0) throw std::invalid_argument("gain-cell attention: the window must be >= 0");
    if (arrayModel == behavior::ArrayModel::Nonlinear) model_->polynomial();  // throws naming the fits when absent
    array_ = arrayOptionsFor(arrayModel, *model_, options);
    surrogate_ = array_;
    surrogate_.model = behavior::ArrayModel::Linear;
    if (arrayModel == behavior::ArrayModel::Nonlinear) surrogate_.linear = linearArrayFor(*model_, 0.0);
}

GainCellAttention::~GainCellAttention() = default;

std::string GainCellAttention::name() const {
    return array_.model == behavior::ArrayModel::Linear ? "gaincell-linear" : "gaincell";
}

behavior::Variability GainCellAttention::variabilityFor(const HeadSite&) const {
    // The site enters the draws through behavior::HeadIndex: each (seed, layer, head, tile) is
    // its own device. Per-read noise is keyed by position, so it is a fixed pattern per seed.
    behavior::Variability variability;
    variability.enabled = options_.variability;
    variability.seed = options_.seed;
    return variability;
}

void GainCellAttention::forward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                                MatrixRef out, AttentionTape*) const {
    const behavior::HeadIndex head{site.layer, site.head};
    // A prefill prepares every key anyway and may run for many sequences of one head at once.
    if (q.rows() < k.rows()) {
        StoredHeads::Head& stored = stored_->at(site);
        const std::unique_lock<std::mutex> lock(stored.mutex, std::try_to_lock);
        if (lock.owns_lock()) {
            behavior::gainCellAttentionForward(*model_, array_, variabilityFor(site), head, q, k, v, out,
                                                       stored.cache);
            return;
        }
    }
    behavior::gainCellAttentionForward(*model_, array_, variabilityFor(site), head, q, k, v, out);
}

namespace {

struct GainCellCache final : AttentionCache {
    behavior::StoredArrays stored;
};

}  // namespace

std::unique_ptr<AttentionCache> GainCellAttention::makeCache(const HeadSite&) const {
    return std::make_unique<GainCellCache>();
}

void GainCellAttention::decode(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                               MatrixRef out, AttentionCache* cache) const {
    if (!cache) return forward(site, q, k, v, out, nullptr);
    auto* own = dynamic_cast<GainCellCache*>(cache);
    if (!own) throw std::invalid_argument(name() + " attention: decode() was given a cache another backend made");
    behavior::gainCellAttentionAppend(*model_, array_, variabilityFor(site), {site.layer, site.head}, q, k, v, out,
                                      own->stored);
}

void GainCellAttention::backward(const HeadSite& site, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                                 ConstMatrixRef dout, const AttentionTape&, MatrixRef dq, MatrixRef dk,
                                 MatrixRef dv) const {
    behavior::gainCellLinearBackward(*model_, surrogate_, variabilityFor(site), {site.layer, site.head}, q, k, v,
                                     dout, dq, dk, dv);
}

std::string defaultFitsDirectory() {
    const std::filesystem::path shipped = dataPath("fits");
    if (std::filesystem::exists(shipped / "gaincell-array.json")) return shipped.string();
    static std::once_flag once;
    static std::string written;
    std::call_once(once, [&shipped] {
        const auto dir = std::filesystem::temp_directory_path() / "imc-paper-gaincell-fits";
        behavior::writePaperModelFits(dir.string());
        written = dir.string();
        std::fprintf(stderr,
                     "imc: note: %s has no gain-cell fits yet; using the paper's model (example polynomial) "
                     "written to %s\n",
                     shipped.string().c_str(), written.c_str());
    });
    return written;
}

void registerGainCellBackends(const GainCellBackendOptions& options) {
    GainCellBackendOptions resolved = options;
    if (resolved.fitsDir.empty()) resolved.fitsDir = defaultFitsDirectory();
    // One load shared by every backend the factories make; a bad fits directory fails here.
    auto model = std::make_shared<const behavior::GainCellModel>(behavior::GainCellModel::load(resolved.fitsDir));
    registerAttentionBackend(
        "gaincell-linear",
        "gain-cell intermediate model: linear arrays, HardSigmoid, quantizers, window, sub-tiles, decay (fits: " +
            resolved.fitsDir + ")",
        [model, resolved] { return std::make_unique<GainCellAttention>(behavior::ArrayModel::Linear, model, resolved); });
    if (model->hasPolynomial())
        registerAttentionBackend(
            "gaincell",
            "gain-cell model with the fitted nonlinear polynomial (eq. 7) (fits: " + resolved.fitsDir + ")",
            [model, resolved] {
                return std::make_unique<GainCellAttention>(behavior::ArrayModel::Nonlinear, model, resolved);
            });
}

}  // namespace imc::nn
