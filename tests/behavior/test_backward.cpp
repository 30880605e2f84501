#include "fits_fixture.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>

using namespace imc::behavior;
using namespace behavior_test;

namespace {

struct Gradients {
    Matrix dq, dk, dv;
};

Gradients backward(const GainCellModel& model, const AttentionOptions& o, const Matrix& q, const Matrix& k,
                   const Matrix& v, const Matrix& dout) {
    Gradients g{Matrix(q.rows(), q.cols()), Matrix(k.rows(), k.cols()), Matrix(v.rows(), v.cols())};
    gainCellLinearBackward(model, o, {}, {}, q, k, v, dout, g.dq, g.dk, g.dv);
    return g;
}

}  // namespace

TEST_CASE("Linear-model backward matches finite differences of the unquantized model", "[behavior][backward]") {
    FitsSpec spec;
    spec.array.tile_size = 16;
    spec.tau_s = 1e-3;
    spec.pulse_S_sat = 3.0;            // some scores saturate, most do not
    spec.pulse_offset = 0.2;
    spec.readout_S_sat = 4.0;          // some tile charges saturate too
    spec.readout_offset = 0.1;
    SECTION("decay 0.02 per step") { spec.array.step_latency_s = 2e-5; }
    SECTION("decay 2 per step: each tile's keys in products of 11 and 5") { spec.array.step_latency_s = 2e-3; }
    const GainCellModel model = GainCellModel::load(writeFits("backward", spec));
    const long Tq = 30, Tk = 40, D = 8;
    const Matrix q = uniformMatrix(Tq, D, 0, 1, 1), k = uniformMatrix(Tk, D, 0, 0.9, 2), v = uniformMatrix(Tk, D, 0, 0.9, 3);
    const Matrix dout = uniformMatrix(Tq, D, -1, 1, 4);
    AttentionOptions o;
    o.window = 32;
    o.quantize_inputs = false;
    o.quantize_output = false;
    o.linear.gain = 1.3;
    o.linear.K_offset_V = 0.1;
    o.linear.V_offset_V = 0.45;  // signed values, so the readout's negative branch is exercised
    const Gradients g = backward(model, o, q, k, v, dout);

    const Eigen::MatrixXd Q = q.cast<double>(), K = k.cast<double>(), V = v.cast<double>(), dA = dout.cast<double>();
    auto loss = [&](const Eigen::MatrixXd& Qx, const Eigen::MatrixXd& Kx, const Eigen::MatrixXd& Vx) {
        return (gainCellAttentionReference(model, o, {}, {}, Qx, Kx, Vx).array() * dA.array()).sum();
    };
    const double h = 1e-7;
    long checked = 0, outliers = 0;
    double largest = 0;
    auto check = [&](const Matrix& analytic, int which) {
        const Eigen::MatrixXd& base = which == 0 ? Q : which == 1 ? K : V;
        for (long i = 0; i < base.rows(); ++i)
            for (long d = 0; d < base.cols(); ++d) {
                Eigen::MatrixXd plus = base, minus = base;
                plus(i, d) += h;
                minus(i, d) -= h;
                const double fd = which == 0   ? (loss(plus, K, V) - loss(minus, K, V)) / (2 * h)
                                  : which == 1 ? (loss(Q, plus, V) - loss(Q, minus, V)) / (2 * h)
                                               : (loss(Q, K, plus) - loss(Q, K, minus)) / (2 * h);
                largest = std::max(largest, std::abs(fd));
                ++checked;
                if (std::abs(fd - analytic(i, d)) > 2e-4 * std::max(1.0, std::abs(fd))) {
                    ++outliers;  // a finite difference straddling a clamp's kink
                    UNSCOPED_INFO("tensor " << which << " (" << i << ", " << d << "): fd " << fd << ", analytic "
                                            << analytic(i, d));
                }
            }
    };
    check(g.dq, 0);
    check(g.dk, 1);
    check(g.dv, 2);
    CHECK(checked == Tq * D + 2 * Tk * D);
    CHECK(outliers <= 2);
    CHECK(largest > 0.1);  // the gradients are not trivially zero
}

TEST_CASE("Straight-through estimator: with quantization on, gradients are taken at the quantized inputs", "[behavior][backward]") {
    FitsSpec spec;
    spec.tau_s = 1e-3;
    spec.array.step_latency_s = 1e-6;
    spec.pulse_S_sat = 20.0;
    spec.readout_S_sat = 10.0;
    const GainCellModel model = GainCellModel::load(writeFits("ste", spec));
    const long T = 100, D = 16;
    const Matrix q = uniformMatrix(T, D, -0.2, 1.2, 5), k = uniformMatrix(T, D, -0.2, 1.0, 6), v = uniformMatrix(T, D, -0.2, 1.0, 7);
    const Matrix dout = uniformMatrix(T, D, -1, 1, 8);
    AttentionOptions quantized;
    quantized.window = 64;
    AttentionOptions plain = quantized;
    plain.quantize_inputs = false;
    const auto& arch = model.architecture();
    const Matrix qq = q.unaryExpr([&](float x) { return float(arch.query(x)); });
    const Matrix kq = k.unaryExpr([&](float x) { return float(arch.key(x)); });
    const Matrix vq = v.unaryExpr([&](float x) { return float(arch.value(x)); });
    const Gradients a = backward(model, quantized, q, k, v, dout);
    const Gradients b = backward(model, plain, qq, kq, vq, dout);
    CHECK((a.dq - b.dq).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK((a.dk - b.dk).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK((a.dv - b.dv).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK(a.dq.cwiseAbs().maxCoeff() > 0.0f);
    // The quantizer itself is the identity for the gradient: inputs outside the range still get one.
    CHECK(a.dq(0, 0) == b.dq(0, 0));
}
