// Config, weights, the batched Transformer (forward + backward) and the KV-cache Decoder.
#include "nn/nn.hpp"
#include "nn/ops.hpp"
#include "nn/random.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace imc::nn {

Config Config::characterLm() {
    Config c;
    c.vocabSize = 256;
    c.context = 128;
    c.layers = 4;
    c.heads = 2;
    c.dModel = 128;
    c.headDim = 64;
    return c;
}

void Config::validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("invalid model config: " + what); };
    if (vocabSize <= 0 || context <= 0 || layers <= 0 || heads <= 0 || dModel <= 0 || headDim <= 0)
        fail("all sizes must be positive");
    if (heads * headDim != dModel)
        fail("d_model " + std::to_string(dModel) + " != heads " + std::to_string(heads) + " * head_dim " +
             std::to_string(headDim));
}

// ---------------------------------------------------------------- weights

Weights Weights::zeros(const Config& config) {
    config.validate();
    const int c = config.dModel;
    Weights w;
    w.wte = Matrix::Zero(config.vocabSize, c);
    w.wpe = Matrix::Zero(config.context, c);
    w.layers.resize(config.layers);
    for (auto& layer : w.layers) {
        layer.ln1Weight = Matrix::Zero(1, c);
        layer.ln1Bias = Matrix::Zero(1, c);
        layer.attnWeight = Matrix::Zero(c, 3 * c);
        layer.attnBias = Matrix::Zero(1, 3 * c);
        layer.attnProjWeight = Matrix::Zero(c, c);
        layer.attnProjBias = Matrix::Zero(1, c);
        layer.ln2Weight = Matrix::Zero(1, c);
        layer.ln2Bias = Matrix::Zero(1, c);
        layer.fcWeight = Matrix::Zero(c, 4 * c);
        layer.fcBias = Matrix::Zero(1, 4 * c);
        layer.fcProjWeight = Matrix::Zero(4 * c, c);
        layer.fcProjBias = Matrix::Zero(1, c);
    }
    w.lnfWeight = Matrix::Zero(1, c);
    w.lnfBias = Matrix::Zero(1, c);
    return w;
}

Weights Weights::initialized(const Config& config, std::uint64_t seed) {
    Weights w = zeros(config);
    Rng rng(seed);
    auto fill = [&](Matrix& m, double stddev) {
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal() * stddev);
    };
    // Residual projections are scaled down so the residual stream's variance does not grow with depth.
    const double residualStd = 0.02 / std::sqrt(2.0 * config.layers);
    w.lnfWeight.setOnes();
    fill(w.wte, 0.02);
    fill(w.wpe, 0.01);
    for (auto& layer : w.layers) {
        layer.ln1Weight.setOnes();
        layer.ln2Weight.setOnes();
        fill(layer.attnWeight, 0.02);
        fill(layer.attnProjWeight, residualStd);
        fill(layer.fcWeight, 0.02);
        fill(layer.fcProjWeight, residualStd);
    }
    return w;
}

std::vector<Weights::Named> Weights::named() {
    std::vector<Named> out{{"wte.weight", &wte, false}, {"wpe.weight", &wpe, false}};
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const std::string p = "h." + std::to_string(i) + ".";
        auto& l = layers[i];
        out.push_back({p + "ln_1.weight", &l.ln1Weight, true});
        out.push_back({p + "ln_1.bias", &l.ln1Bias, true});
        out.push_back({p + "attn.c_attn.weight", &l.attnWeight, false});
        out.push_back({p + "attn.c_attn.bias", &l.attnBias, true});
        out.push_back({p + "attn.c_proj.weight", &l.attnProjWeight, false});
        out.push_back({p + "attn.c_proj.bias", &l.attnProjBias, true});
        out.push_back({p + "ln_2.weight", &l.ln2Weight, true});
        out.push_back({p + "ln_2.bias", &l.ln2Bias, true});
        out.push_back({p + "mlp.c_fc.weight", &l.fcWeight, false});
        out.push_back({p + "mlp.c_fc.bias", &l.fcBias, true});
        out.push_back({p + "mlp.c_proj.weight", &l.fcProjWeight, false});
        out.push_back({p + "mlp.c_proj.bias", &l.fcProjBias, true});
    }
    out.push_back({"ln_f.weight", &lnfWeight, true});
    out.push_back({"ln_f.bias", &lnfBias, true});
    return out;
}

std::vector<Weights::ConstNamed> Weights::named() const {
    // The names and order are defined once, by the mutable overload.
    std::vector<ConstNamed> out;
    for (auto& n : const_cast<Weights*>(this)->named()) out.push_back({n.name, n.tensor, n.isVector});
    return out;
}

std::size_t Weights::parameterCount() const {
    std::size_t total = 0;
    for (const auto& n : named()) total += static_cast<std::size_t>(n.tensor->size());
    return total;
}

// ---------------------------------------------------------------- batched transformer

namespace {

struct LayerActivations {
    Matrix ln1;                    // [N, C]
    ops::Vector ln1Mean, ln1Rstd;  // [N]
    Matrix qkv;                    // [N, 3C]
    Matrix attn;                   // [N, C] head outputs side by side
    Matrix residualMid;            // [N, C] input + attention projection
    Matrix ln2;                    // [N, C]
    ops::Vector ln2Mean, ln2Rstd;  // [N]
    Matrix fc;                     // [N, 4C] before GELU
    Matrix fcGelu;                 // [N, 4C]
    Matrix residualOut;            // [N, C] residualMid + MLP
    std::vector<AttentionTape> tapes;  // [batch * heads]
    std::array<LinearTape, kLinearKinds> linearTapes;
};

void checkTokens(std::span<const int> tokens, int batch, int seqLen, const Config& config) {
    if (batch <= 0 || seqLen <= 0 || static_cast<std::size_t>(batch) * seqLen != tokens.size())
        throw std::invalid_argument("token count does not match batch * seqLen");
    if (seqLen > config.context)
        throw std::invalid_argument("sequence length " + std::to_string(seqLen) + " exceeds the context " +
                                    std::to_string(config.context));
    for (int t : tokens)
        if (t < 0 || t >= config.vocabSize) throw std::invalid_argument("token id " + std::to_string(t) + " out of range");
}

}  // namespace

struct Transformer::State {
    const Model& model;
    const AttentionBackend& backend;
    const LinearBackend& linear;
    std::vector<HeadScalars> scalars;  // [layers * heads]
    int batch = 0, seqLen = 0;
    std::vector<int> tokens, targets;
    bool haveLoss = false;

    Matrix embedded;  // [N, C]
    std::vector<LayerActivations> layers;
    Matrix lnf;                    // [N, C]
    ops::Vector lnfMean, lnfRstd;  // [N]
    Matrix logits, dlogits;        // [N, V]
    // Backward scratch.
    Matrix dresidual, dln, dattn, dqkv, dfc, dfcGelu;

    State(const Model& m, const AttentionBackend& b, const LinearBackend& lin)
        : model(m), backend(b), linear(lin), scalars(static_cast<std::size_t>(m.config.layers) * m.config.heads) {}

    std::span<const HeadScalars> layerScalars(int layer) const {
        return {scalars.data() + static_cast<std::size_t>(layer) * model.config.heads,
                static_cast<std::size_t>(model.config.heads)};
    }
    const Matrix& layerInput(int layer) const { return layer == 0 ? embedded : layers[layer - 1].residualOut; }

    void forward(bool keepTapes) {
        const Weights& w = model.weights;
        const int heads = model.config.heads;
        layers.resize(w.layers.size());
        ops::embeddingForward(embedded, tokens, seqLen, w.wte, w.wpe);
        for (std::size_t l = 0; l < layers.size(); ++l) {
            const LayerWeights& lw = w.layers[l];
            LayerActivations& a = layers[l];
            const Matrix& x = layerInput(static_cast<int>(l));
            ops::layerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, x, lw.ln1Weight, lw.ln1Bias);
            const int li = static_cast<int>(l);
            auto tape = [&](LinearKind k) { return keepTapes ? &a.linearTapes[static_cast<int>(k)] : nullptr; };
            linear.forward({li, LinearKind::Qkv}, a.ln1, lw.attnWeight, lw.attnBias, a.qkv, tape(LinearKind::Qkv));
            ops::attentionForward(a.attn, a.qkv, batch, seqLen, heads, li, backend, layerScalars(li),
                                  keepTapes ? &a.tapes : nullptr);
            linear.forward({li, LinearKind::AttnProj}, a.attn, lw.attnProjWeight, lw.attnProjBias, a.residualMid,
                           tape(LinearKind::AttnProj));
            a.residualMid += x;
            ops::layerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.residualMid, lw.ln2Weight, lw.ln2Bias);
            linear.forward({li, LinearKind::Fc}, a.ln2, lw.fcWeight, lw.fcBias, a.fc, tape(LinearKind::Fc));
            ops::geluForward(a.fcGelu, a.fc);
            linear.forward({li, LinearKind::FcProj}, a.fcGelu, lw.fcProjWeight, lw.fcProjBias, a.residualOut,
                           tape(LinearKind::FcProj));
            a.residualOut += a.residualMid;
        }
        ops::layerNormForward(lnf, lnfMean, lnfRstd, layerInput(static_cast<int>(layers.size())), w.lnfWeight,
                              w.lnfBias);
        ops::logitsForward(logits, lnf, w.wte);
    }

    void backward(Weights& g) {
        const Weights& w = model.weights;
        const int heads = model.config.heads;
        ops::logitsBackward(dln, g.wte, dlogits, lnf, w.wte);
        const Matrix& last = layerInput(static_cast<int>(layers.size()));
        dresidual.setZero(last.rows(), last.cols());  // reuses the buffer across steps
        ops::layerNormBackward(dresidual, g.lnfWeight, g.lnfBias, dln, last, lnfMean, lnfRstd, w.lnfWeight);
        for (int l = static_cast<int>(layers.size()) - 1; l >= 0; --l) {
            const LayerWeights& lw = w.layers[l];
            LayerWeights& lg = g.layers[l];
            LayerActivations& a = layers[l];
            // dresidual holds d loss / d residualOut; the skip path passes it to residualMid unchanged.
            const auto& tapes = a.linearTapes;
            linear.backward({l, LinearKind::FcProj}, dfcGelu, lg.fcProjWeight, lg.fcProjBias, dresidual, a.fcGelu,
                            lw.fcProjWeight, tapes[static_cast<int>(LinearKind::FcProj)]);
            ops::geluBackward(dfc, dfcGelu, a.fc);
            linear.backward({l, LinearKind::Fc}, dln, lg.fcWeight, lg.fcBias, dfc, a.ln2, lw.fcWeight,
                            tapes[static_cast<int>(LinearKind::Fc)]);
            ops::layerNormBackward(dresidual, lg.ln2Weight, lg.ln2Bias, dln, a.residualMid, a.ln2Mean, a.ln2Rstd,
                                   lw.ln2Weight);
            // Now d loss / d residualMid; again the skip path carries it to the layer input.
            linear.backward({l, LinearKind::AttnProj}, dattn, lg.attnProjWeight, lg.attnProjBias, dresidual, a.attn,
                            lw.attnProjWeight, tapes[static_cast<int>(LinearKind::AttnProj)]);
            ops::attentionBackward(dqkv, dattn, a.qkv, batch, seqLen, heads, l, backend, layerScalars(l), a.tapes);
            linear.backward({l, LinearKind::Qkv}, dln, lg.attnWeight, lg.attnBias, dqkv, a.ln1, lw.attnWeight,
                            tapes[static_cast<int>(LinearKind::Qkv)]);
            ops::layerNormBackward(dresidual, lg.ln1Weight, lg.ln1Bias, dln, layerInput(l), a.ln1Mean, a.ln1Rstd,
                                   lw.ln1Weight);
        }
        ops::embeddingBackward(g.wte, g.wpe, dresidual, tokens, seqLen);
    }
};

Transformer::Transformer(const Model& model, const AttentionBackend& backend)
    : Transformer(model, backend, denseLinearBackend()) {}

Transformer::Transformer(const Model& model, const AttentionBackend& backend, const LinearBackend& linear)
    : state_(std::make_unique<State>(model, backend, linear)) {
    model.config.validate();
}

Transformer::~Transformer() = default;

HeadScalars& Transformer::headScalars(int layer, int head) {
    return state_->scalars.at(static_cast<std::size_t>(layer) * state_->model.config.heads + head);
}

namespace {

void assignScalars(std::vector<HeadScalars>& table, std::span<const HeadScalars> scalars) {
    if (scalars.empty()) {
        std::fill(table.begin(), table.end(), HeadScalars{});
        return;
    }
    if (scalars.size() != table.size())
        throw std::invalid_argument("expected " + std::to_string(table.size()) + " head scalars (layers * heads), got " +
                                    std::to_string(scalars.size()));
    std::copy(scalars.begin(), scalars.end(), table.begin());
}

}  // namespace

void Transformer::setHeadScalars(std::span<const HeadScalars> scalars) { assignScalars(state_->scalars, scalars); }

const Matrix& Transformer::forward(std::span<const int> tokens, int batch, int seqLen) {
    checkTokens(tokens, batch, seqLen, state_->model.config);
    State& s = *state_;
    s.batch = batch;
    s.seqLen = seqLen;
    s.tokens.assign(tokens.begin(), tokens.end());
    s.haveLoss = false;
    s.forward(false);
    return s.logits;
}

float Transformer::forwardLoss(std::span<const int> tokens, std::span<const int> targets, int batch, int seqLen) {
    checkTokens(tokens, batch, seqLen, state_->model.config);
    if (targets.size() != tokens.size()) throw std::invalid_argument("targets and tokens differ in length");
    State& s = *state_;
    s.batch = batch;
    s.seqLen = seqLen;
    s.tokens.assign(tokens.begin(), tokens.end());
    s.targets.assign(targets.begin(), targets.end());
    s.forward(true);
    s.haveLoss = true;
    return static_cast<float>(ops::crossEntropy(s.logits, s.targets, &s.dlogits));
}

const Matrix& Transformer::finalHidden() const { return state_->lnf; }

void Transformer::backward(Weights& grads) {
    if (!state_->haveLoss) throw std::logic_error("Transformer::backward needs a preceding forwardLoss");
    state_->backward(grads);
}

// ---------------------------------------------------------------- KV-cache decoder

struct Decoder::State {
    const Model& model;
    const AttentionBackend& backend;
    const LinearBackend& linear;
    std::vector<HeadScalars> scalars;  // [layers * heads]
    int position = 0;
    std::vector<Matrix> keys, values;  // per layer [context, C]
    // The backend's per-(layer, head) caches of this sequence: a step only appends to keys and
    // values, so the backend prepares its new rows only.
    std::vector<std::unique_ptr<AttentionCache>> caches;
    std::vector<HeadScalars> cachedScalars;  // the scalars each cache's rows were scaled with
    // One-token activations, all [1, *].
    Matrix x, ln, qkv, attn, projected, fc, fcGelu, logits;
    ops::Vector mean, rstd;
    std::vector<int> noTokens;

    State(const Model& m, const AttentionBackend& b, const LinearBackend& lin)
        : model(m),
          backend(b),
          linear(lin),
          scalars(static_cast<std::size_t>(m.config.layers) * m.config.heads),
          keys(m.config.layers, Matrix::Zero(m.config.context, m.config.dModel)),
          values(m.config.layers, Matrix::Zero(m.config.context, m.config.dModel)) {
        newCaches();
    }

    void newCaches() {
        const int heads = model.config.heads;
        caches.resize(static_cast<std::size_t>(model.config.layers) * heads);
        cachedScalars = scalars;
        for (int l = 0; l < model.config.layers; ++l)
            for (int h = 0; h < heads; ++h) caches[static_cast<std::size_t>(l) * heads + h] = backend.makeCache({l, h});
    }

    static bool same(const AffineScalar& a, const AffineScalar& b) { return a.a == b.a && a.b == b.b; }
    static bool sameRows(const HeadScalars& a, const HeadScalars& b) { return same(a.k, b.k) && same(a.v, b.v); }

    void attend(int layer) {
        const int heads = model.config.heads, d = model.config.headDim, c = model.config.dModel;
        const int length = position + 1;
        attn.resize(1, c);
        for (int h = 0; h < heads; ++h) {
            const auto q = qkv.block(0, h * d, 1, d);                      // [1, d]
            const auto k = keys[layer].block(0, h * d, length, d);         // [t, d]
            const auto v = values[layer].block(0, h * d, length, d);       // [t, d]
            auto out = attn.block(0, h * d, 1, d);                        // [1, d]
            const HeadScalars& s = scalars[static_cast<std::size_t>(layer) * heads + h];
            const HeadSite site{layer, h};
            const std::size_t index = static_cast<std::size_t>(layer) * heads + h;
            // Scalars changed mid-sequence rescale every key: a fresh cache takes the prefix anew.
            if (!sameRows(cachedScalars[index], s)) {
                caches[index] = backend.makeCache(site);
                cachedScalars[index] = s;
            }
            AttentionCache* cache = caches[index].get();
            if (s.isIdentity()) {
                backend.decode(site, q, k, v, out, cache);
                continue;
            }
            // The scaled rows are recomputed each step but equal the last step's: still an append.
            auto affine = [](const auto& m, const AffineScalar& a) -> Matrix { return ((m.array() * a.a) + a.b).matrix(); };
            backend.decode(site, affine(q, s.q), affine(k, s.k), affine(v, s.v), out, cache);
            out = ((out.array() * s.out.a) + s.out.b).matrix();
        }
    }

    const Matrix& step(int token) {
        const Config& cfg = model.config;
        const Weights& w = model.weights;
        if (position >= cfg.context) throw std::out_of_range("decoder cache is full (context " + std::to_string(cfg.context) + ")");
        if (token < 0 || token >= cfg.vocabSize) throw std::invalid_argument("token id " + std::to_string(token) + " out of range");
        const int c = cfg.dModel;
        x = w.wte.row(token) + w.wpe.row(position);  // [1, C]
        for (int l = 0; l < cfg.layers; ++l) {
            const LayerWeights& lw = w.layers[l];
            ops::layerNormForward(ln, mean, rstd, x, lw.ln1Weight, lw.ln1Bias);
            linear.forward({l, LinearKind::Qkv}, ln, lw.attnWeight, lw.attnBias, qkv, nullptr);  // [1, 3C]
            keys[l].row(position) = qkv.block(0, c, 1, c);
            values[l].row(position) = qkv.block(0, 2 * c, 1, c);
            attend(l);
            linear.forward({l, LinearKind::AttnProj}, attn, lw.attnProjWeight, lw.attnProjBias, projected, nullptr);
            x += projected;
            ops::layerNormForward(ln, mean, rstd, x, lw.ln2Weight, lw.ln2Bias);
            linear.forward({l, LinearKind::Fc}, ln, lw.fcWeight, lw.fcBias, fc, nullptr);
            ops::geluForward(fcGelu, fc);
            linear.forward({l, LinearKind::FcProj}, fcGelu, lw.fcProjWeight, lw.fcProjBias, projected, nullptr);
            x += projected;
        }
        ops::layerNormForward(ln, mean, rstd, x, w.lnfWeight, w.lnfBias);
        ops::logitsForward(logits, ln, w.wte);
        ++position;
        return logits;
    }
};

Decoder::Decoder(const Model& model, const AttentionBackend& backend)
    : Decoder(model, backend, denseLinearBackend()) {}

Decoder::Decoder(const Model& model, const AttentionBackend& backend, const LinearBackend& linear)
    : state_((model.config.validate(), std::make_unique<State>(model, backend, linear))) {}

Decoder::~Decoder() = default;

HeadScalars& Decoder::headScalars(int layer, int head) {
    return state_->scalars.at(static_cast<std::size_t>(layer) * state_->model.config.heads + head);
}

void Decoder::setHeadScalars(std::span<const HeadScalars> scalars) { assignScalars(state_->scalars, scalars); }

void Decoder::reset() {
    state_->position = 0;
    state_->newCaches();
}

int Decoder::position() const { return state_->position; }

const Matrix& Decoder::step(int token) { return state_->step(token); }

}  // namespace imc::nn
