// Uses the installed imc: characterizes a user cell from its job file in SPICE, reads the fits
// file that wrote, and runs one gain-cell attention step on the shipped fits. Exit 0 when the
// numbers agree with their independent references.
#include "behavior/gaincell_attention.hpp"
#include "characterize/job.hpp"
#include "datadir/datadir.hpp"
#include "fit/fit.hpp"

#include <cmath>
#include <cstdio>

int main() {
    using namespace imc;
    auto job = characterize::loadJob(dataPath("netlists") / "examples" / "user-cell" / "rram.job.json");
    job.samples = 8;
    const auto outcome = characterize::runJob(job, {.outDir = "rram", .workers = 2, .progress = false});
    const fit::FitRecord g = fit::readFit(outcome.fitFiles.at(0).string());
    // rram.lib: I = V / Rlrs + k3 V^3 read at 0.2 V, Rlrs lognormal with median 10k and sigma 0.15.
    const double mu = std::log(1 / 10e3 + 2e-6 * 0.2 * 0.2), mu_fit = g.coefficient("mu");
    const bool cellOk = std::abs(mu_fit - mu) < 4 * 0.15 / std::sqrt(8.0);
    std::printf("rram: fitted mu %.4f, expected %.4f (%s)\n", mu_fit, mu, cellOk ? "ok" : "FAIL");

    const auto model = behavior::GainCellModel::load(dataPath("fits").string());
    const auto& a = model.architecture();
    behavior::Matrix q = (behavior::Matrix::Random(8, 4).array() + 1) / 2;  // pulse fractions
    behavior::Matrix k = a.key.lo + (behavior::Matrix::Random(8, 4).array() + 1) / 2 * (a.key.hi - a.key.lo);
    behavior::Matrix v = a.value.lo + (behavior::Matrix::Random(8, 4).array() + 1) / 2 * (a.value.hi - a.value.lo);
    behavior::AttentionOptions o{.model = behavior::ArrayModel::Nonlinear};
    behavior::Matrix out(8, 4);
    behavior::gainCellAttentionForward(model, o, {}, {}, q, k, v, out);
    const Eigen::MatrixXd ref = behavior::gainCellAttentionReference(model, o, {}, {}, q.cast<double>(), k.cast<double>(), v.cast<double>());
    const double err = (out.cast<double>() - ref).cwiseAbs().maxCoeff(), step = a.output.step();
    const bool attentionOk = err <= step + 1e-6 && ref.cwiseAbs().maxCoeff() > 0;
    std::printf("gain-cell attention: |fast - reference| %.3g (output step %.3g) (%s)\n", err, step, attentionOk ? "ok" : "FAIL");
    return cellOk && attentionOk ? 0 : 1;
}
