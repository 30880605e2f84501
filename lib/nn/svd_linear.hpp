#pragma once
// SVD-factorized linear layers (paper 004, section 4): each static weight W [I, O] becomes
// U_k diag(s) V_k^T truncated at rank k, with U, s and V^T all trainable, and the importance of
// each singular direction measured as |dL/ds_i| during fine-tuning. c_attn is factorized as
// its three matrices W_Q, W_K, W_V, as the paper does.
#include "nn/linear.hpp"
#include "nn/nn.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace imc::nn {

// Output columns [column, column + vt.cols()) of a site: out = in U diag(s) V^T.
struct SvdBlock {
    std::string name;  // "q", "k", "v" for c_attn, "w" otherwise
    int column = 0;
    Matrix u;   // [I, k]
    Matrix s;   // [1, k]
    Matrix vt;  // [k, O_block]
    // |dL/ds_i| summed over the final fine-tuning steps, and of the last batch alone. [1, k]
    Matrix importanceWindow, importanceLast;
    int rank() const { return static_cast<int>(s.cols()); }
};

struct SvdFactors {
    std::vector<std::vector<SvdBlock>> sites;  // [layers * kLinearKinds], by LinearSite::index()
    int importanceSteps = 0;                   // steps summed into importanceWindow
    const std::vector<SvdBlock>& at(const LinearSite& site) const { return sites.at(site.index()); }
};

// The paper's hard threshold D1 D2 / (D1 + D2): U_k and diag(s) V_k^T hold as many numbers as W.
int hardThresholdRank(int rows, int cols);

// Truncated SVD of one matrix (Eigen BDCSVD in double); rank <= 0: the hard threshold.
SvdBlock factorizeMatrix(const Matrix& weight, int rank);
Matrix reconstruct(const SvdBlock& block);  // U diag(s) V^T, [I, O_block]

// Every linear layer of every block; rank <= 0: the hard threshold of each matrix.
SvdFactors factorize(const Weights& weights, const Config& config, int rank);
// The model with each dense linear weight replaced by its factors' product (the digital view
// of the factorized model, e.g. for dense baselines of the same numbers).
void writeProducts(const SvdFactors& factors, Weights& weights);

class SvdLinear final : public LinearBackend {
public:
    explicit SvdLinear(SvdFactors factors);
    std::string name() const override { return "svd"; }
    void forward(const LinearSite& site, const Matrix& in, const Matrix& weight, const Matrix& bias, Matrix& out,
                 LinearTape* tape) const override;
    void backward(const LinearSite& site, Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout,
                  const Matrix& in, const Matrix& weight, const LinearTape& tape) const override;
    std::vector<BackendParameter> parameters() override;

    const SvdFactors& factors() const { return factors_; }
    const SvdFactors& gradients() const { return grads_; }
    // After a step's backward: keeps |ds| as the last batch's importance and, when inWindow,
    // adds it to the window sum.
    void recordImportance(bool inWindow);

private:
    SvdFactors factors_;
    // Gradients are written by the const backward (the engine's calls are sequential).
    mutable SvdFactors grads_;
};

// The factors and importance beside a model file: F.safetensors -> F.svd.safetensors.
std::filesystem::path svdFactorsPathFor(const std::filesystem::path& modelPath);
void saveSvdFactors(const std::filesystem::path& path, const SvdFactors& factors,
                    const std::map<std::string, std::string>& metadata);
// Checks the format version and every tensor against `config`; errors name the file and tensor.
SvdFactors loadSvdFactors(const std::filesystem::path& path, const Config& config);

}  // namespace imc::nn
