// Training (AdamW), evaluation and sampling on top of Transformer and Decoder.
#include "nn/nn.hpp"
#include "nn/ops.hpp"
#include "nn/optimizer.hpp"
#include "nn/random.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace imc::nn {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Linear warmup, then cosine decay to minFraction * peak at the last step.
LearningRateSchedule scheduleOf(const TrainOptions& o) {
    LearningRateSchedule schedule;
    schedule.peak = o.learningRate;
    schedule.warmupSteps = o.warmupSteps;
    schedule.decayStart = o.warmupSteps;
    schedule.decaySteps = o.steps - o.warmupSteps;
    schedule.minFraction = o.minLearningRateFraction;
    schedule.ramp = LearningRateSchedule::Ramp::Product;
    return schedule;
}

EvalResult evaluateWith(const Model& model, const AttentionBackend& backend, const LinearBackend& linear,
                        std::span<const int> tokens, std::size_t maxTokens, std::span<const HeadScalars> headScalars);

}  // namespace

EvalResult evaluate(const Model& model, const AttentionBackend& backend, std::span<const int> tokens,
                    std::size_t maxTokens, std::span<const HeadScalars> headScalars) {
    return evaluateWith(model, backend, denseLinearBackend(), tokens, maxTokens, headScalars);
}

EvalResult evaluate(const Model& model, const AttentionBackend& backend, const LinearBackend& linear,
                    std::span<const int> tokens, std::size_t maxTokens) {
    return evaluateWith(model, backend, linear, tokens, maxTokens, {});
}

namespace {

EvalResult evaluateWith(const Model& model, const AttentionBackend& backend, const LinearBackend& linear,
                        std::span<const int> tokens, std::size_t maxTokens, std::span<const HeadScalars> headScalars) {
    const std::size_t window = static_cast<std::size_t>(model.config.context);
    const std::size_t predictions = std::min(maxTokens, tokens.empty() ? 0 : tokens.size() - 1);
    if (predictions == 0) throw std::invalid_argument("evaluate: no tokens to predict");
    // Up to 8 windows per pass, fewer when their activations (logits and about 16 C floats per
    // layer and token) would pass 1 GiB: GPT-2 124M's 1024-token windows go one at a time.
    const Config& c = model.config;
    const std::size_t floatsPerWindow = window * (std::size_t(c.vocabSize) + 16 * std::size_t(c.dModel) * c.layers);
    const std::size_t kBatch = std::clamp<std::size_t>((std::size_t(1) << 28) / floatsPerWindow, 1, 8);
    Transformer net(model, backend, linear);
    net.setHeadScalars(headScalars);
    std::vector<int> inputs, targets;
    double weightedLoss = 0;
    const auto start = Clock::now();
    std::size_t done = 0;
    while (done < predictions) {
        // Full windows are batched; the last, shorter one runs alone.
        const std::size_t length = std::min(window, predictions - done);
        const std::size_t batch = length == window ? std::min(kBatch, (predictions - done) / window) : 1;
        inputs.assign(tokens.begin() + done, tokens.begin() + done + batch * length);
        targets.assign(tokens.begin() + done + 1, tokens.begin() + done + 1 + batch * length);
        // Inference only: no tapes kept, no logit gradients.
        const Matrix& logits = net.forward(inputs, static_cast<int>(batch), static_cast<int>(length));
        weightedLoss += ops::crossEntropy(logits, targets, nullptr) * double(batch * length);
        done += batch * length;
    }
    EvalResult result;
    result.seconds = secondsSince(start);
    result.tokens = predictions;
    result.loss = weightedLoss / double(predictions);
    result.perplexity = std::exp(result.loss);
    return result;
}

}  // namespace

TrainResult train(Model& model, const AttentionBackend& backend, std::span<const int> trainTokens,
                  std::span<const int> validationTokens, const TrainOptions& options,
                  const std::function<void(const TrainProgress&)>& onProgress) {
    const Config& config = model.config;
    const int seqLen = config.context, batch = options.batch;
    if (trainTokens.size() < static_cast<std::size_t>(seqLen) + 2)
        throw std::invalid_argument("training text is shorter than one context window");
    const LinearBackend& linear = options.linear ? *options.linear : denseLinearBackend();
    Transformer net(model, backend, linear);
    Weights grads = Weights::zeros(config), firstMoment = Weights::zeros(config), secondMoment = Weights::zeros(config);
    auto params = model.weights.named();
    auto gradTensors = grads.named(), firstTensors = firstMoment.named(), secondTensors = secondMoment.named();
    // A factorized backend's own tensors join the optimizer as vectors (no weight decay).
    std::vector<Matrix> extraMoments;
    if (options.linear) {
        auto extra = options.linear->parameters();
        extraMoments.reserve(2 * extra.size());
        for (auto& p : extra) {
            extraMoments.push_back(Matrix::Zero(p.value->rows(), p.value->cols()));
            extraMoments.push_back(Matrix::Zero(p.value->rows(), p.value->cols()));
        }
        for (std::size_t i = 0; i < extra.size(); ++i) {
            params.push_back({extra[i].name, extra[i].value, true});
            gradTensors.push_back({extra[i].name, extra[i].grad, true});
            firstTensors.push_back({extra[i].name, &extraMoments[2 * i], true});
            secondTensors.push_back({extra[i].name, &extraMoments[2 * i + 1], true});
        }
    }

    const LearningRateSchedule schedule = scheduleOf(options);
    AdamW<float> optimizer;
    optimizer.beta1 = options.beta1;
    optimizer.beta2 = options.beta2;
    optimizer.decay = AdamW<float>::Decay::InStep;
    Rng rng(options.seed ^ 0x5EED5EED5EEDull);
    std::vector<int> inputs(static_cast<std::size_t>(batch) * seqLen), targets(inputs.size());
    TrainResult result;
    const auto start = Clock::now();
    for (int step = 0; step < options.steps; ++step) {
        for (int b = 0; b < batch; ++b) {
            const std::size_t offset = rng.below(trainTokens.size() - seqLen - 1);
            std::copy_n(trainTokens.begin() + offset, seqLen, inputs.begin() + b * seqLen);
            std::copy_n(trainTokens.begin() + offset + 1, seqLen, targets.begin() + b * seqLen);
        }
        for (auto& g : gradTensors) g.tensor->setZero();
        const float loss = net.forwardLoss(inputs, targets, batch, seqLen);
        net.backward(grads);

        double squaredNorm = 0;
        for (auto& g : gradTensors) squaredNorm += double(g.tensor->squaredNorm());
        const float gradNorm = static_cast<float>(std::sqrt(squaredNorm));
        const float clip = gradNorm > options.gradClip ? options.gradClip / gradNorm : 1.0f;
        const float lr = schedule.at<float>(step);
        optimizer.step();
        for (std::size_t i = 0; i < params.size(); ++i) {
            // Decoupled decay (AdamW), on matrices only: biases and norms are not shrunk.
            const float decay = params[i].isVector ? 0.0f : options.weightDecay;
            optimizer.update(params[i].tensor->array(), gradTensors[i].tensor->array() * clip,
                             firstTensors[i].tensor->array(), secondTensors[i].tensor->array(), lr, decay);
        }
        result.losses.push_back(loss);

        TrainProgress progress;
        progress.step = step + 1;
        progress.steps = options.steps;
        progress.loss = loss;
        progress.learningRate = lr;
        progress.gradNorm = gradNorm;
        progress.elapsedSeconds = secondsSince(start);
        progress.tokensPerSecond = double(step + 1) * batch * seqLen / progress.elapsedSeconds;
        progress.etaSeconds = progress.elapsedSeconds / (step + 1) * (options.steps - step - 1);
        const bool last = step + 1 == options.steps;
        if (!validationTokens.empty() && (last || (options.evalEvery > 0 && (step + 1) % options.evalEvery == 0))) {
            progress.validationLoss = evaluate(model, backend, linear, validationTokens, options.evalTokens).loss;
            if (last) result.validationLoss = progress.validationLoss;
        }
        if (onProgress) onProgress(progress);
    }
    result.seconds = secondsSince(start);
    return result;
}

std::vector<int> generateTokens(const Model& model, const AttentionBackend& backend, std::span<const int> prompt,
                                const GenerateOptions& options, int endOfText, std::span<const HeadScalars> headScalars) {
    if (prompt.empty()) throw std::invalid_argument("generate: the prompt needs at least one token");
    Decoder decoder(model, backend);
    decoder.setHeadScalars(headScalars);
    Rng rng(options.seed);
    std::vector<int> history(prompt.begin(), prompt.end());
    const int context = model.config.context;
    const Matrix* logits = nullptr;
    for (int t : std::span(history).last(std::min<std::size_t>(history.size(), context))) logits = &decoder.step(t);
    std::vector<int> generated;
    Eigen::ArrayXf probs;
    for (int i = 0; i < options.maxNewTokens; ++i) {
        const auto row = logits->row(0).array();
        int next = 0;
        if (options.temperature <= 0) {
            row.maxCoeff(&next);
        } else {
            probs = ((row - row.maxCoeff()) / options.temperature).exp().transpose();
            double u = rng.uniform() * probs.sum();
            next = static_cast<int>(probs.size()) - 1;
            for (Eigen::Index j = 0; j < probs.size(); ++j)
                if ((u -= probs[j]) < 0) {
                    next = static_cast<int>(j);
                    break;
                }
        }
        if (next == endOfText) break;
        generated.push_back(next);
        history.push_back(next);
        if (decoder.position() == context) {
            // Cache full: restart from the most recent half window (positions are absolute).
            decoder.reset();
            for (int t : std::span(history).last(context / 2)) logits = &decoder.step(t);
        } else {
            logits = &decoder.step(next);
        }
    }
    return generated;
}

std::string generate(const Model& model, const AttentionBackend& backend, std::string_view prompt,
                     const GenerateOptions& options, std::span<const HeadScalars> headScalars) {
    // Every training document follows an end-of-text token, so start the same way.
    std::vector<int> history{ByteTokenizer::kEndOfText};
    for (int t : ByteTokenizer::encode(prompt)) history.push_back(t);
    return ByteTokenizer::decode(generateTokens(model, backend, history, options, ByteTokenizer::kEndOfText, headScalars));
}

}  // namespace imc::nn
