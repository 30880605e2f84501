// Every hand-written backward pass of the model, checked through the full loss against central
// finite differences along a random direction per tensor (robust in float, covers every element).
#include "nn/nn.hpp"
#include "tiny_model.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>

using namespace imc::nn;

namespace {

using testing::tinyConfig;
using testing::tinyModel;

void checkGradients(Model& model, Transformer& net, const std::vector<int>& tokens, const std::vector<int>& targets,
                    int batch, int seqLen) {
    Weights grads = Weights::zeros(model.config);
    const float baseLoss = net.forwardLoss(tokens, targets, batch, seqLen);
    net.backward(grads);
    CHECK(std::isfinite(baseLoss));
    auto params = model.weights.named();
    auto gradTensors = grads.named();
    Rng rng(77);
    for (std::size_t i = 0; i < params.size(); ++i) {
        Matrix& p = *params[i].tensor;
        Matrix direction(p.rows(), p.cols());
        for (Eigen::Index j = 0; j < direction.size(); ++j) direction.data()[j] = static_cast<float>(rng.normal());
        direction /= direction.norm();
        const Matrix saved = p;
        const float eps = 1e-2f;
        p = saved + eps * direction;
        const double plus = net.forwardLoss(tokens, targets, batch, seqLen);
        p = saved - eps * direction;
        const double minus = net.forwardLoss(tokens, targets, batch, seqLen);
        p = saved;
        const double numeric = (plus - minus) / (2.0 * eps);
        const double analytic = gradTensors[i].tensor->cwiseProduct(direction).sum();
        INFO(params[i].name << ": analytic " << analytic << " numeric " << numeric);
        CHECK(std::abs(analytic - numeric) <= 2e-4 + 1e-2 * std::abs(numeric));
        // The direction must actually move the loss, or the check proves nothing.
        if (params[i].name != "wpe.weight") CHECK(std::abs(gradTensors[i].tensor->norm()) > 1e-4);
    }
}

}  // namespace

TEST_CASE("model gradients match finite differences") {
    Model model = tinyModel(3);
    auto backend = makeAttentionBackend("ideal");
    Transformer net(model, *backend);
    const int batch = 2, seqLen = 8;
    std::vector<int> tokens(batch * seqLen), targets(batch * seqLen);
    Rng rng(5);
    for (auto& t : tokens) t = static_cast<int>(rng.below(13));
    for (auto& t : targets) t = static_cast<int>(rng.below(13));
    targets[3] = -1;  // ignored positions contribute nothing
    checkGradients(model, net, tokens, targets, batch, seqLen);
}

TEST_CASE("gradients stay correct with per-head affine scalars on q, k, v and the output") {
    Model model = tinyModel(4);
    auto backend = makeAttentionBackend("ideal");
    Transformer net(model, *backend);
    net.headScalars(0, 1) = {{1.3f, 0.1f}, {0.7f, -0.2f}, {1.1f, 0.05f}, {0.9f, 0.3f}};
    net.headScalars(1, 0).out = {1.5f, -0.1f};
    const int batch = 1, seqLen = 7;
    std::vector<int> tokens{1, 5, 2, 9, 12, 0, 3}, targets{5, 2, 9, 12, 0, 3, 7};
    checkGradients(model, net, tokens, targets, batch, seqLen);
}
