// SVD factorization of the linear layers, the factorized backend (forward/backward) and its file.
#include "nn/svd_linear.hpp"
#include "nn/parallel.hpp"
#include "nn/safetensors.hpp"

#include <Eigen/SVD>

#include <algorithm>
#include <stdexcept>

namespace imc::nn {
namespace {

constexpr const char* kFormat = "imc-svd-factors";
constexpr const char* kFormatVersion = "1";
constexpr long kRows = 64;  // row chunk of the parallel loops

const Matrix& siteWeight(const LayerWeights& l, LinearKind kind) {
    switch (kind) {
        case LinearKind::Qkv: return l.attnWeight;
        case LinearKind::AttnProj: return l.attnProjWeight;
        case LinearKind::Fc: return l.fcWeight;
        case LinearKind::FcProj: return l.fcProjWeight;
    }
    throw std::logic_error("unknown linear kind");
}

Matrix& siteWeight(LayerWeights& l, LinearKind kind) {
    return const_cast<Matrix&>(siteWeight(static_cast<const LayerWeights&>(l), kind));
}

// Block names and output widths of one site: c_attn is W_Q | W_K | W_V.
std::vector<std::pair<std::string, int>> siteBlocks(LinearKind kind, int outputs) {
    if (kind == LinearKind::Qkv) return {{"q", outputs / 3}, {"k", outputs / 3}, {"v", outputs / 3}};
    return {{"w", outputs}};
}

std::string tensorName(const LinearSite& site, const SvdBlock& block, const char* part) {
    return linearSiteName(site) + "." + block.name + "." + part;
}

}  // namespace

int hardThresholdRank(int rows, int cols) { return rows * cols / (rows + cols); }

SvdBlock factorizeMatrix(const Matrix& weight, int rank) {
    const int maxRank = static_cast<int>(std::min(weight.rows(), weight.cols()));
    const int k = rank <= 0 ? hardThresholdRank(static_cast<int>(weight.rows()), static_cast<int>(weight.cols()))
                            : std::min(rank, maxRank);
    const Eigen::MatrixXd w = weight.cast<double>();
    Eigen::BDCSVD<Eigen::MatrixXd> svd(w, Eigen::ComputeThinU | Eigen::ComputeThinV);
    SvdBlock b;
    b.u = svd.matrixU().leftCols(k).cast<float>();
    b.s = svd.singularValues().head(k).transpose().cast<float>();
    b.vt = svd.matrixV().leftCols(k).transpose().cast<float>();
    b.importanceWindow = Matrix::Zero(1, k);
    b.importanceLast = Matrix::Zero(1, k);
    return b;
}

Matrix reconstruct(const SvdBlock& block) {
    return (block.u.array().rowwise() * block.s.row(0).array()).matrix() * block.vt;
}

SvdFactors factorize(const Weights& weights, const Config& config, int rank) {
    SvdFactors f;
    f.sites.resize(static_cast<std::size_t>(config.layers) * kLinearKinds);
    for (int l = 0; l < config.layers; ++l)
        for (int k = 0; k < kLinearKinds; ++k) {
            const LinearSite site{l, static_cast<LinearKind>(k)};
            const Matrix& w = siteWeight(weights.layers[l], site.kind);
            int column = 0;
            for (const auto& [name, width] : siteBlocks(site.kind, static_cast<int>(w.cols()))) {
                SvdBlock b = factorizeMatrix(w.middleCols(column, width), rank);
                b.name = name;
                b.column = column;
                f.sites[site.index()].push_back(std::move(b));
                column += width;
            }
        }
    return f;
}

void writeProducts(const SvdFactors& factors, Weights& weights) {
    for (std::size_t l = 0; l < weights.layers.size(); ++l)
        for (int k = 0; k < kLinearKinds; ++k) {
            const LinearSite site{static_cast<int>(l), static_cast<LinearKind>(k)};
            Matrix& w = siteWeight(weights.layers[l], site.kind);
            for (const SvdBlock& b : factors.at(site)) w.middleCols(b.column, b.vt.cols()) = reconstruct(b);
        }
}

// ---------------------------------------------------------------- backend

SvdLinear::SvdLinear(SvdFactors factors) : factors_(std::move(factors)), grads_(factors_) {
    for (auto& site : grads_.sites)
        for (auto& b : site) {
            b.u.setZero();
            b.s.setZero();
            b.vt.setZero();
        }
}

void SvdLinear::forward(const LinearSite& site, const Matrix& in, const Matrix&, const Matrix& bias, Matrix& out,
                        LinearTape* tape) const {
    const auto& blocks = factors_.at(site);
    const Eigen::Index outputs = bias.cols();
    out.resize(in.rows(), outputs);
    Matrix local;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const SvdBlock& b = blocks[i];
        Matrix& t = tape ? tape->buffer(i) : local;  // in U, [N, k]
        t.resize(in.rows(), b.rank());
        forRowChunks(in.rows(), kRows, [&](long begin, long count) {
            auto ti = t.middleRows(begin, count);
            ti.noalias() = in.middleRows(begin, count) * b.u;
            auto o = out.block(begin, b.column, count, b.vt.cols());
            o.noalias() = (ti.array().rowwise() * b.s.row(0).array()).matrix() * b.vt;
            o.rowwise() += bias.row(0).segment(b.column, b.vt.cols());
        });
    }
}

void SvdLinear::backward(const LinearSite& site, Matrix& din, Matrix&, Matrix& dbias, const Matrix& dout,
                         const Matrix& in, const Matrix&, const LinearTape& tape) const {
    const auto& blocks = factors_.at(site);
    auto& grads = grads_.sites.at(site.index());
    din.setZero(in.rows(), in.cols());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const SvdBlock& b = blocks[i];
        SvdBlock& g = grads[i];
        const auto doutBlock = dout.middleCols(b.column, b.vt.cols());  // [N, O_b]
        const Matrix& t = tape.buffers.at(i);                            // in U, [N, k]
        const Matrix dt = doutBlock * b.vt.transpose();                  // d/d(t s), [N, k]
        dbias.row(0).segment(b.column, b.vt.cols()) += doutBlock.colwise().sum();
        g.s.row(0) += (t.array() * dt.array()).colwise().sum().matrix();
        g.vt.noalias() += (t.array().rowwise() * b.s.row(0).array()).matrix().transpose() * doutBlock;
        const Matrix dts = (dt.array().rowwise() * b.s.row(0).array()).matrix();  // d/dt, [N, k]
        g.u.noalias() += in.transpose() * dts;
        din.noalias() += dts * b.u.transpose();
    }
}

std::vector<BackendParameter> SvdLinear::parameters() {
    std::vector<BackendParameter> out;
    for (std::size_t s = 0; s < factors_.sites.size(); ++s) {
        const LinearSite site{static_cast<int>(s) / kLinearKinds, static_cast<LinearKind>(s % kLinearKinds)};
        for (std::size_t i = 0; i < factors_.sites[s].size(); ++i) {
            SvdBlock& b = factors_.sites[s][i];
            SvdBlock& g = grads_.sites[s][i];
            out.push_back({tensorName(site, b, "u"), &b.u, &g.u});
            out.push_back({tensorName(site, b, "s"), &b.s, &g.s});
            out.push_back({tensorName(site, b, "vt"), &b.vt, &g.vt});
        }
    }
    return out;
}

void SvdLinear::recordImportance(bool inWindow) {
    if (inWindow) ++factors_.importanceSteps;
    for (std::size_t s = 0; s < factors_.sites.size(); ++s)
        for (std::size_t i = 0; i < factors_.sites[s].size(); ++i) {
            SvdBlock& b = factors_.sites[s][i];
            b.importanceLast = grads_.sites[s][i].s.cwiseAbs();
            if (inWindow) b.importanceWindow += b.importanceLast;
        }
}

// ---------------------------------------------------------------- file

std::filesystem::path svdFactorsPathFor(const std::filesystem::path& modelPath) {
    auto p = modelPath;
    return p.replace_extension(".svd.safetensors");
}

void saveSvdFactors(const std::filesystem::path& path, const SvdFactors& factors,
                    const std::map<std::string, std::string>& metadata) {
    safetensors::File file;
    file.metadata = metadata;
    file.metadata["format"] = kFormat;
    file.metadata["format_version"] = kFormatVersion;
    file.metadata["importance_steps"] = std::to_string(factors.importanceSteps);
    auto put = [&](const std::string& name, const Matrix& m) {
        safetensors::Tensor t;
        t.shape = {m.rows(), m.cols()};
        t.values.assign(m.data(), m.data() + m.size());
        file.tensors[name] = std::move(t);
    };
    for (std::size_t s = 0; s < factors.sites.size(); ++s) {
        const LinearSite site{static_cast<int>(s) / kLinearKinds, static_cast<LinearKind>(s % kLinearKinds)};
        for (const SvdBlock& b : factors.sites[s]) {
            put(tensorName(site, b, "u"), b.u);
            put(tensorName(site, b, "s"), b.s);
            put(tensorName(site, b, "vt"), b.vt);
            put(tensorName(site, b, "importance_window"), b.importanceWindow);
            put(tensorName(site, b, "importance_last"), b.importanceLast);
        }
    }
    safetensors::write(path, file);
}

SvdFactors loadSvdFactors(const std::filesystem::path& path, const Config& config) {
    const auto file = safetensors::read(path);
    const auto fail = [&](const std::string& what) {
        throw std::runtime_error("SVD factors file " + path.string() + ": " + what);
    };
    const auto format = file.metadata.find("format");
    const auto version = file.metadata.find("format_version");
    if (format == file.metadata.end() || format->second != kFormat)
        fail("not an " + std::string(kFormat) + " file (write one with imc train --linear-layers svd)");
    if (version == file.metadata.end() || version->second != kFormatVersion)
        fail("format_version " + (version == file.metadata.end() ? std::string("missing") : version->second) +
             ", this build reads " + kFormatVersion + " (regenerate with imc train --linear-layers svd)");
    SvdFactors f;
    if (auto it = file.metadata.find("importance_steps"); it != file.metadata.end())
        f.importanceSteps = std::stoi(it->second);
    const Weights shapes = Weights::zeros(config);
    f.sites.resize(static_cast<std::size_t>(config.layers) * kLinearKinds);
    for (int l = 0; l < config.layers; ++l)
        for (int k = 0; k < kLinearKinds; ++k) {
            const LinearSite site{l, static_cast<LinearKind>(k)};
            const Matrix& w = siteWeight(shapes.layers[l], site.kind);
            int column = 0;
            for (const auto& [name, width] : siteBlocks(site.kind, static_cast<int>(w.cols()))) {
                SvdBlock b;
                b.name = name;
                b.column = column;
                auto get = [&](const char* part, Eigen::Index rows, Eigen::Index cols) {
                    const std::string key = tensorName(site, b, part);
                    const auto it = file.tensors.find(key);
                    if (it == file.tensors.end()) fail("missing tensor '" + key + "'");
                    const auto& t = it->second;
                    if (t.shape.size() != 2 || (rows >= 0 && t.shape[0] != rows) || (cols >= 0 && t.shape[1] != cols))
                        fail("tensor '" + key + "' has the wrong shape for the model's config");
                    return Matrix(Eigen::Map<const Matrix>(t.values.data(), t.shape[0], t.shape[1]));
                };
                b.s = get("s", 1, -1);
                const Eigen::Index rank = b.s.cols();
                b.u = get("u", w.rows(), rank);
                b.vt = get("vt", rank, width);
                b.importanceWindow = get("importance_window", 1, rank);
                b.importanceLast = get("importance_last", 1, rank);
                f.sites[site.index()].push_back(std::move(b));
                column += width;
            }
        }
    return f;
}

}  // namespace imc::nn
