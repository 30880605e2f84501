// The dense linear backend and site names.
#include "nn/linear.hpp"
#include "nn/ops.hpp"

namespace imc::nn {

std::string linearSiteName(const LinearSite& site) {
    static const std::array<const char*, kLinearKinds> kNames{"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
    return "h." + std::to_string(site.layer) + "." + kNames[static_cast<int>(site.kind)];
}

namespace {

class DenseLinear final : public LinearBackend {
public:
    std::string name() const override { return "dense"; }
    void forward(const LinearSite&, const Matrix& in, const Matrix& weight, const Matrix& bias, Matrix& out,
                 LinearTape*) const override {
        ops::linearForward(out, in, weight, bias);
    }
    void backward(const LinearSite&, Matrix& din, Matrix& dweight, Matrix& dbias, const Matrix& dout,
                  const Matrix& in, const Matrix& weight, const LinearTape&) const override {
        ops::linearBackward(din, dweight, dbias, dout, in, weight);
    }
};

}  // namespace

const LinearBackend& denseLinearBackend() {
    static const DenseLinear dense;
    return dense;
}

}  // namespace imc::nn
