#include "nn/ideal_attention.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace imc::nn {

void IdealAttention::forward(const HeadSite&, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v, MatrixRef out,
                             AttentionTape* tape) const {
    const Eigen::Index tq = q.rows(), tk = k.rows();
    const Eigen::Index offset = tk - tq;  // absolute position of query 0
    const float scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
    thread_local Matrix scratch;  // decode steps run without a tape; avoid allocating each time
    Matrix& probs = tape ? tape->buffer(0) : scratch;
    probs.resize(tq, tk);
    // The full product wastes the masked upper triangle but keeps one large GEMM.
    probs.noalias() = q * k.transpose();  // [Tq, Tk]
    for (Eigen::Index i = 0; i < tq; ++i) {
        const Eigen::Index visible = offset + i + 1;
        auto row = probs.row(i);
        auto head = row.head(visible);
        const float maxScore = head.maxCoeff();
        head = ((head.array() - maxScore) * scale).exp();
        head /= head.sum();
        row.tail(tk - visible).setZero();
    }
    out.noalias() = probs * v;  // [Tq, d]
}

void IdealAttention::backward(const HeadSite&, ConstMatrixRef q, ConstMatrixRef k, ConstMatrixRef v,
                              ConstMatrixRef dout, const AttentionTape& tape, MatrixRef dq, MatrixRef dk,
                              MatrixRef dv) const {
    const Matrix& probs = tape.buffers.at(0);  // [Tq, Tk]
    const float scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
    thread_local Matrix dscores;
    dv.noalias() = probs.transpose() * dout;      // [Tk, d]
    dscores.noalias() = dout * v.transpose();     // dP: [Tq, Tk]
    // Softmax backward row by row: dS = P * (dP - <P, dP>); masked entries have P = 0.
    for (Eigen::Index i = 0; i < probs.rows(); ++i) {
        const float inner = probs.row(i).dot(dscores.row(i));
        dscores.row(i) = probs.row(i).cwiseProduct((dscores.row(i).array() - inner).matrix()) * scale;
    }
    dq.noalias() = dscores * k;                   // [Tq, d]
    dk.noalias() = dscores.transpose() * q;       // [Tk, d]
}

Matrix idealAttentionReference(const Matrix& q, const Matrix& k, const Matrix& v) {
    const Eigen::Index tq = q.rows(), tk = k.rows(), d = q.cols();
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    Matrix out(tq, v.cols());
    std::vector<double> weights;
    for (Eigen::Index i = 0; i < tq; ++i) {
        const Eigen::Index visible = tk - tq + i + 1;
        weights.assign(visible, 0.0);
        double maxScore = -INFINITY;
        for (Eigen::Index j = 0; j < visible; ++j) {
            double dot = 0;
            for (Eigen::Index c = 0; c < d; ++c) dot += double(q(i, c)) * double(k(j, c));
            weights[j] = dot * scale;
            maxScore = std::max(maxScore, weights[j]);
        }
        double total = 0;
        for (auto& w : weights) total += (w = std::exp(w - maxScore));
        for (Eigen::Index c = 0; c < v.cols(); ++c) {
            double acc = 0;
            for (Eigen::Index j = 0; j < visible; ++j) acc += weights[j] * double(v(j, c));
            out(i, c) = static_cast<float>(acc / total);
        }
    }
    return out;
}

namespace {

struct RegistryEntry {
    std::string description;
    AttentionFactory factory;
};

std::mutex registryMutex;

std::map<std::string, RegistryEntry>& registry() {
    static std::map<std::string, RegistryEntry> entries{
        {"ideal", {"exact causal softmax attention, scale 1/sqrt(head_dim)",
                   [] { return std::make_unique<IdealAttention>(); }}}};
    return entries;
}

}  // namespace

void registerAttentionBackend(const std::string& name, const std::string& description, AttentionFactory factory) {
    std::lock_guard lock(registryMutex);
    registry()[name] = {description, std::move(factory)};
}

std::vector<std::string> attentionBackendNames() {
    std::lock_guard lock(registryMutex);
    std::vector<std::string> names;
    for (const auto& [name, entry] : registry()) names.push_back(name);
    return names;
}

std::string attentionBackendDescription(const std::string& name) {
    std::lock_guard lock(registryMutex);
    auto it = registry().find(name);
    return it == registry().end() ? std::string{} : it->second.description;
}

std::unique_ptr<AttentionBackend> makeAttentionBackend(const std::string& name) {
    AttentionFactory factory;
    {
        std::lock_guard lock(registryMutex);
        auto it = registry().find(name);
        if (it == registry().end()) {
            std::string known;
            for (const auto& [n, e] : registry()) known += (known.empty() ? "" : ", ") + n;
            throw std::invalid_argument("unknown attention backend '" + name + "' (known: " + known + ")");
        }
        factory = it->second.factory;
    }
    return factory();
}

}  // namespace imc::nn
