#pragma once
// AdamW and its learning-rate schedule: the one optimizer of the language-model trainer
// (nn::train, float) and of the letter-shift models (lsh workloads, double).
#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace imc::nn {

// peak x ramp(step) x cosine(step): a linear warmup ramp over warmupSteps, and a cosine from 1 down
// to minFraction between steps decayStart and decayStart + decaySteps (1 before, minFraction after).
// The language model ramps first and decays afterwards (decayStart = warmupSteps); the letter
// models decay over the whole run (decayStart = 0) with the ramp on top.
struct LearningRateSchedule {
    // How the ramp is rounded: peak * (step + 1) / warmup (Product, the language model) or
    // peak * ((step + 1) / warmup) (Fraction, the letter models). The same ramp; kept apart so
    // both reproduce their trained weights bit for bit.
    enum class Ramp { Product, Fraction };

    double peak = 1e-3;
    int warmupSteps = 0;
    int decayStart = 0;
    int decaySteps = 1;
    double minFraction = 0.1;
    Ramp ramp = Ramp::Product;

    // Scalar: the caller's parameter precision (the ramp is rounded in it).
    template <class Scalar>
    Scalar at(int step) const {
        Scalar ramped = Scalar(peak);
        if (step < warmupSteps)
            ramped = ramp == Ramp::Product
                         ? Scalar(peak) * Scalar(step + 1) / Scalar(warmupSteps)
                         : Scalar(peak) * (Scalar(step + 1) / Scalar(warmupSteps));
        const double progress = std::clamp(double(step - decayStart) / std::max(1, decaySteps), 0.0, 1.0);
        const double cosine = 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
        return static_cast<Scalar>(ramped * (minFraction + (1.0 - minFraction) * cosine));
    }
};

// Adam with decoupled weight decay (Loshchilov & Hutter). One step() per optimizer step, then
// update() for every tensor with its own decay (0 for biases and norms).
template <class Scalar>
struct AdamW {
    // Where the decay enters: p *= 1 - lr * decay before the Adam step (ShrinkFirst, the letter
    // models) or p -= lr * (adam + decay * p) (InStep, the language model): the same update,
    // rounded two ways, kept so both reproduce their trained weights bit for bit.
    enum class Decay { InStep, ShrinkFirst };

    Scalar beta1 = Scalar(0.9), beta2 = Scalar(0.999), epsilon = Scalar(1e-8);
    Decay decay = Decay::InStep;
    int steps = 0;
    Scalar correction1 = 1, correction2 = 1;

    // Advances the step count and the bias corrections 1 - beta^t.
    void step() {
        ++steps;
        correction1 = Scalar(1) - std::pow(beta1, Scalar(steps));
        correction2 = Scalar(1) - std::pow(beta2, Scalar(steps));
    }

    // p, m, v: the tensor and its moments (Eigen arrays of one shape); g: its gradient (an array
    // expression, e.g. clipped).
    template <class P, class G, class M, class V>
    void update(P&& p, const G& g, M&& m, V&& v, Scalar learningRate, Scalar weightDecay) const {
        m = beta1 * m + (Scalar(1) - beta1) * g;
        v = beta2 * v + (Scalar(1) - beta2) * g.square();
        if (decay == Decay::ShrinkFirst) {
            if (weightDecay != 0) p *= Scalar(1) - learningRate * weightDecay;
            p -= learningRate * ((m / correction1) / ((v / correction2).sqrt() + epsilon));
        } else {
            p -= learningRate * ((m / correction1) / ((v / correction2).sqrt() + epsilon) + weightDecay * p);
        }
    }
};

}  // namespace imc::nn
