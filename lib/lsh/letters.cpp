// The letter-shift task of the memristor RP-LSH paper: "xdcz" -> "yeda". A one-head model with
// binarized shared Q = K is trained in software and tested with attention restricted to the
// buckets a random projection gives (memristor crossbar, ideal Gaussian, passive array).
#include "lsh/lsh.hpp"

#include "nn/optimizer.hpp"
#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <stdexcept>

namespace imc::lsh {

namespace {

constexpr int kLetters = 26;
constexpr int kEmbedding = 64;
constexpr int kCode = 16;  // Q = K and V width

using Dense = Eigen::MatrixXd;

struct Parameters {
    Dense embedding;   // [26, 64]
    Dense queryKey;    // W_Q = W_K: [64, 16]
    Dense value;       // W_V: [64, 16]
    Dense hidden, hiddenBias;  // [16, H], [1, H]
    Dense output, outputBias;  // [H, 26], [1, 26]

    std::vector<Dense*> all() { return {&embedding, &queryKey, &value, &hidden, &hiddenBias, &output, &outputBias}; }
    static bool decays(std::size_t index) { return index != 4 && index != 6; }  // not the biases
};

Parameters zerosLike(Parameters& p) {
    Parameters z;
    auto dst = z.all();
    auto src = p.all();
    for (std::size_t i = 0; i < src.size(); ++i) *dst[i] = Dense::Zero(src[i]->rows(), src[i]->cols());
    return z;
}

Dense normalMatrix(nn::Rng& rng, int rows, int cols, double std) {
    Dense m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal() * std;
    return m;
}

Parameters initialParameters(int hidden, std::uint64_t seed) {
    nn::Rng rng(seed);
    Parameters p;
    p.embedding = normalMatrix(rng, kLetters, kEmbedding, 1.0);
    p.queryKey = normalMatrix(rng, kEmbedding, kCode, 1.0 / std::sqrt(double(kEmbedding)));
    p.value = normalMatrix(rng, kEmbedding, kCode, 1.0 / std::sqrt(double(kEmbedding)));
    p.hidden = normalMatrix(rng, kCode, hidden, 1.0 / std::sqrt(double(kCode)));
    p.hiddenBias = Dense::Zero(1, hidden);
    p.output = normalMatrix(rng, hidden, kLetters, 1.0 / std::sqrt(double(hidden)));
    p.outputBias = Dense::Zero(1, kLetters);
    return p;
}

std::vector<int> randomSequence(nn::Rng& rng, int minLength, int maxLength) {
    const int length = minLength + int(rng.below(std::uint64_t(maxLength - minLength + 1)));
    std::vector<int> letters(length);
    for (auto& l : letters) l = int(rng.below(kLetters));
    return letters;
}

int shifted(int letter) { return (letter + 1) % kLetters; }

// Binarized code of each letter: (E W_Q > 0) as 0/1. [26, 16]
Dense letterCodes(const Parameters& p) { return (p.embedding * p.queryKey).unaryExpr([](double z) { return z > 0 ? 1.0 : 0.0; }); }

// ---------------------------------------------------------------- training (double, hand-written backward)

// One sequence forward and backward; mask(i, j) = 1 where i may attend to j. Adds gradients of
// (cross-entropy summed over tokens) * lossScale to grads; returns the summed loss.
double trainSequence(const Parameters& p, const std::vector<int>& letters, const Dense& mask, double lossScale,
                     Parameters& grads) {
    const int length = int(letters.size());
    const double scale = 1.0 / std::sqrt(double(kCode));
    Dense x(length, kEmbedding);
    for (int i = 0; i < length; ++i) x.row(i) = p.embedding.row(letters[i]);
    const Dense z = x * p.queryKey;                                                // [L, 16]
    const Dense q = z.unaryExpr([](double v) { return v > 0 ? 1.0 : 0.0; });       // Q = K
    const Dense values = x * p.value;                                              // [L, 16]
    Dense attention = (q * q.transpose()) * scale;                                 // [L, L]
    for (int i = 0; i < length; ++i) {
        double maxScore = -INFINITY;
        for (int j = 0; j < length; ++j)
            if (mask(i, j) > 0) maxScore = std::max(maxScore, attention(i, j));
        double total = 0;
        for (int j = 0; j < length; ++j) total += attention(i, j) = mask(i, j) > 0 ? std::exp(attention(i, j) - maxScore) : 0.0;
        attention.row(i) /= total;
    }
    const Dense mixed = attention * values;                                        // [L, 16]
    const Dense preActivation = (mixed * p.hidden).rowwise() + p.hiddenBias.row(0);  // [L, H]
    const Dense activation = preActivation.cwiseMax(0.0);
    Dense logits = (activation * p.output).rowwise() + p.outputBias.row(0);       // [L, 26]

    double loss = 0;
    Dense dlogits(length, kLetters);
    for (int i = 0; i < length; ++i) {
        const double maxLogit = logits.row(i).maxCoeff();
        const Eigen::RowVectorXd e = (logits.row(i).array() - maxLogit).exp();
        const double total = e.sum();
        loss += -(logits(i, shifted(letters[i])) - maxLogit - std::log(total));
        dlogits.row(i) = e / total;
        dlogits(i, shifted(letters[i])) -= 1.0;
    }
    dlogits *= lossScale;

    grads.output += activation.transpose() * dlogits;
    grads.outputBias += dlogits.colwise().sum();
    const Dense dactivation = dlogits * p.output.transpose();
    const Dense dpre = dactivation.cwiseProduct(preActivation.unaryExpr([](double v) { return v > 0 ? 1.0 : 0.0; }));
    grads.hidden += mixed.transpose() * dpre;
    grads.hiddenBias += dpre.colwise().sum();
    const Dense dmixed = dpre * p.hidden.transpose();                              // [L, 16]
    const Dense dattention = dmixed * values.transpose();                          // [L, L]
    const Dense dvalues = attention.transpose() * dmixed;                          // [L, 16]
    Dense dscores(length, length);
    for (int i = 0; i < length; ++i) {
        const double inner = attention.row(i).dot(dattention.row(i));
        dscores.row(i) = attention.row(i).cwiseProduct((dattention.row(i).array() - inner).matrix()) * scale;
    }
    // Q and K are the same matrix, so both score slots feed it.
    const Dense dq = dscores * q + dscores.transpose() * q;
    // Straight-through estimator of the threshold, clipped where |z| > 1.
    const Dense dz = dq.cwiseProduct(z.unaryExpr([](double v) { return std::abs(v) <= 1 ? 1.0 : 0.0; }));
    grads.queryKey += x.transpose() * dz;
    grads.value += x.transpose() * dvalues;
    const Dense dx = dz * p.queryKey.transpose() + dvalues * p.value.transpose();
    for (int i = 0; i < length; ++i) grads.embedding.row(letters[i]) += dx.row(i);
    return loss;
}

// excludeSelf: the Reformer rule, a token sees itself only when nothing else is in its buckets.
Dense sameBucketMask(const std::vector<std::vector<int>>& bucketsPerRound, int length, bool excludeSelf) {
    Dense mask = Dense::Zero(length, length);
    for (const auto& b : bucketsPerRound)
        for (int i = 0; i < length; ++i)
            for (int j = 0; j < length; ++j)
                if (b[i] == b[j]) mask(i, j) = 1;
    if (excludeSelf)
        for (int i = 0; i < length; ++i)
            if (mask.row(i).sum() > 1) mask(i, i) = 0;
    return mask;
}

Matrix codesOf(const Dense& codes, const std::vector<int>& letters) {
    Matrix q(Eigen::Index(letters.size()), kCode);
    for (std::size_t i = 0; i < letters.size(); ++i) q.row(Eigen::Index(i)) = codes.row(letters[i]).cast<float>();
    return q;
}

struct TrainedModel {
    Parameters parameters;
    double finalLoss = 0;
    double seconds = 0;
};

TrainedModel trainLetters(const LettersOptions& o) {
    TrainedModel model{initialParameters(o.hidden, o.seed * 2 + 1)};
    Parameters& p = model.parameters;
    // Warmup over 100 steps on top of a cosine decay to a tenth over the whole run.
    nn::LearningRateSchedule schedule;
    schedule.peak = o.learningRate;
    schedule.warmupSteps = 100;
    schedule.decayStart = 0;
    schedule.decaySteps = o.trainSteps - 1;
    schedule.minFraction = 0.1;
    schedule.ramp = nn::LearningRateSchedule::Ramp::Fraction;
    nn::AdamW<double> optimizer;
    optimizer.decay = nn::AdamW<double>::Decay::ShrinkFirst;
    Parameters firstMoment = zerosLike(p), secondMoment = zerosLike(p);
    nn::Rng data(o.seed * 2 + 2);
    nn::Rng projections(o.seed * 2 + 3);
    double smoothedLoss = 0;
    for (int step = 0; step < o.trainSteps; ++step) {
        Parameters grads = zerosLike(p);
        // A fresh software R per minibatch: the model must decode within the buckets of any hyperplane.
        Matrix r(kCode, o.buckets / 2);
        for (Eigen::Index i = 0; i < r.size(); ++i) r.data()[i] = float(projections.normal());
        const Dense codes = letterCodes(p);
        std::vector<std::vector<int>> sequences;
        int tokens = 0;
        for (int b = 0; b < o.batch; ++b) {
            sequences.push_back(randomSequence(data, o.minLength, o.maxLength));
            tokens += int(sequences.back().size());
        }
        double loss = 0;
        for (const auto& letters : sequences) {
            const int length = int(letters.size());
            const Dense mask = o.trainAttention == "full"
                                   ? sameBucketMask({std::vector<int>(length, 0)}, length, o.excludeSelf)
                                   : sameBucketMask({hashBuckets(codesOf(codes, letters) * r)}, length, o.excludeSelf);
            loss += trainSequence(p, letters, mask, 1.0 / tokens, grads);
        }
        const double rate = schedule.at<double>(step);
        optimizer.step();
        auto params = p.all(), gradients = grads.all(), first = firstMoment.all(), second = secondMoment.all();
        for (std::size_t t = 0; t < params.size(); ++t)
            optimizer.update(params[t]->array(), gradients[t]->array(), first[t]->array(), second[t]->array(), rate,
                             Parameters::decays(t) ? o.weightDecay : 0.0);
        smoothedLoss = step == 0 ? loss / tokens : 0.98 * smoothedLoss + 0.02 * loss / tokens;
    }
    model.finalLoss = smoothedLoss;
    return model;
}

// ---------------------------------------------------------------- testing

struct TestSet {
    std::vector<std::vector<int>> sequences;
};

TestSet makeTestSet(const LettersOptions& o) {
    nn::Rng rng(o.seed * 2 + 1000003);
    TestSet set;
    for (int n = 0; n < o.testSequences; ++n) set.sequences.push_back(randomSequence(rng, o.minLength, o.maxLength));
    return set;
}

struct Score {
    double tokenAccuracy = 0, sequenceAccuracy = 0;
};

// family == nullptr: full attention. Otherwise rounds 0..rounds-1 of the family hash each
// sequence's binary codes (one read of the array per sequence) and a query sees the union of
// its buckets, through the library's LSH kernel with one chunk holding the whole sequence.
Score evaluate(const Parameters& p, const TestSet& set, const HashFamily* family, int rounds, bool excludeSelf) {
    const Dense codes = letterCodes(p);
    const Dense letterValues = p.embedding * p.value;  // [26, 16]
    LshAttentionSettings settings;
    settings.combination = RoundCombination::Union;
    settings.causal = false;
    settings.excludeSelf = excludeSelf;
    settings.sameBucketOnly = true;
    long correct = 0, tokens = 0, correctSequences = 0;
    for (const auto& letters : set.sequences) {
        const int length = int(letters.size());
        settings.chunk = length;
        const Matrix q = codesOf(codes, letters);
        Matrix v(length, kCode);
        for (int i = 0; i < length; ++i) v.row(i) = letterValues.row(letters[i]).cast<float>();
        std::vector<std::vector<int>> buckets;
        if (family)
            for (int r = 0; r < rounds; ++r) buckets.push_back(hashBuckets(family->project(q, r)));
        else
            buckets.push_back(std::vector<int>(length, 0));
        Matrix mixed(length, kCode);
        lshAttentionForward(q, q, v, buckets, settings, mixed);
        const Dense activation = ((mixed.cast<double>() * p.hidden).rowwise() + p.hiddenBias.row(0)).cwiseMax(0.0);
        const Dense logits = (activation * p.output).rowwise() + p.outputBias.row(0);
        bool allRight = true;
        for (int i = 0; i < length; ++i) {
            Eigen::Index best;
            logits.row(i).maxCoeff(&best);
            const bool right = int(best) == shifted(letters[i]);
            correct += right;
            allRight = allRight && right;
        }
        tokens += length;
        correctSequences += allRight;
    }
    return {double(correct) / double(tokens), double(correctSequences) / double(set.sequences.size())};
}

std::unique_ptr<HashFamily> testFamily(const LettersOptions& o, const std::string& rp, int buckets, int rounds,
                                       int array) {
    ProjectionSpec spec;
    spec.kind = rp;
    spec.buckets = buckets;
    spec.rounds = rounds;
    spec.seed = o.seed * 1000 + 17 + std::uint64_t(array);  // one physical array (or R draw) per index
    spec.fitsPath = o.fitsPath;
    if (rp == "memristor" && o.fitsPath.empty()) spec.memristor = MemristorOptions{MemristorOptions::paperHrsFit()};
    return makeHashFamily(spec, kCode);
}

double mean(const std::vector<double>& x) { return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size()); }
double standardDeviation(const std::vector<double>& x) {
    const double m = mean(x);
    double s = 0;
    for (double v : x) s += (v - m) * (v - m);
    return x.size() > 1 ? std::sqrt(s / double(x.size() - 1)) : 0.0;
}

double cosine(const Eigen::RowVectorXd& a, const Eigen::RowVectorXd& b) {
    const double na = a.norm(), nb = b.norm();
    return na == 0 || nb == 0 ? 0.0 : a.dot(b) / (na * nb);
}

// Mean cosine similarity of the pairs that share a bucket in some round (intra) and of those
// that never do (inter), for row vectors `vectors` hashed by rounds 0..rounds-1 of `family`.
nlohmann::json bucketSimilarity(const Dense& vectors, const HashFamily& family, int rounds) {
    const Matrix x = vectors.cast<float>();
    std::vector<std::vector<int>> buckets;
    for (int r = 0; r < rounds; ++r) buckets.push_back(hashBuckets(family.project(x, r)));
    std::vector<double> intra, inter;
    for (Eigen::Index a = 0; a < vectors.rows(); ++a)
        for (Eigen::Index b = a + 1; b < vectors.rows(); ++b) {
            bool together = false;
            for (const auto& round : buckets) together = together || round[a] == round[b];
            (together ? intra : inter).push_back(cosine(vectors.row(a), vectors.row(b)));
        }
    return {{"rounds", rounds},
            {"intra_mean", intra.empty() ? 0.0 : mean(intra)},
            {"inter_mean", inter.empty() ? 0.0 : mean(inter)},
            {"intra_pairs", intra.size()},
            {"inter_pairs", inter.size()}};
}

void validate(const LettersOptions& o) {
    if (o.attention != "lsh" && o.attention != "ideal")
        throw std::invalid_argument("letters: attention must be lsh or ideal, got '" + o.attention + "'");
    if (o.rp != "gaussian" && o.rp != "memristor" && o.rp != "passive")
        throw std::invalid_argument("letters: rp must be gaussian, memristor or passive, got '" + o.rp + "'");
    if (o.trainAttention != "lsh" && o.trainAttention != "full")
        throw std::invalid_argument("letters: train attention must be lsh or full");
    if (o.rounds < 1 || o.buckets < 2 || o.buckets % 2 || o.minLength < 1 || o.maxLength < o.minLength ||
        o.arrays < 1 || o.testSequences < 1 || o.trainSteps < 0 || o.batch < 1)
        throw std::invalid_argument("letters: invalid sizes (rounds >= 1, even buckets >= 2, 1 <= min <= max length)");
}

nlohmann::json trainingJson(const LettersOptions& o, const TrainedModel& model) {
    return {{"steps", o.trainSteps},
            {"batch", o.batch},
            {"optimizer", "AdamW"},
            {"learning_rate", o.learningRate},
            {"weight_decay", o.weightDecay},
            {"attention", o.trainAttention == "lsh" ? "software Gaussian RP-LSH, 1 round, a fresh R per minibatch"
                                                    : "full attention"},
            {"final_loss", model.finalLoss},
            {"seed", o.seed}};
}

nlohmann::json letterCodeJson(const Parameters& p, const HashFamily& family) {
    const Dense codes = letterCodes(p);
    const std::vector<int> buckets = hashBuckets(family.project(codes.cast<float>(), 0));
    std::string sameAsA, otherThanA;
    for (int l = 1; l < kLetters; ++l) (buckets[l] == buckets[0] ? sameAsA : otherThanA) += char('a' + l);
    int zeroCodes = 0;
    for (int l = 0; l < kLetters; ++l) zeroCodes += codes.row(l).sum() == 0;
    int distinct = 0;
    for (int a = 0; a < kLetters; ++a) {
        bool unique = true;
        for (int b = 0; b < a; ++b) unique = unique && codes.row(a) != codes.row(b);
        distinct += unique;
    }
    return {{"letters_in_bucket_of_a", sameAsA},
            {"letters_in_other_buckets", otherThanA},
            {"distinct_codes", distinct},
            {"all_zero_codes", zeroCodes}};
}

}  // namespace

nlohmann::json runLettersWorkload(const LettersOptions& o) {
    validate(o);
    const TrainedModel model = trainLetters(o);
    const TestSet test = makeTestSet(o);
    nlohmann::json result{{"workload", "letters"},
                          {"attention", o.attention},
                          {"buckets", o.buckets},
                          {"rounds", o.rounds},
                          {"sequence_lengths", {o.minLength, o.maxLength}},
                          {"test_sequences", o.testSequences},
                          {"exclude_self", o.excludeSelf},
                          {"training", trainingJson(o, model)},
                          {"tie_rule", "argmax over [xR, -xR] takes the lowest index; an all-zero query (no current "
                                       "in any column) lands in bucket 0"}};
    if (o.attention == "ideal") {
        const Score s = evaluate(model.parameters, test, nullptr, 0, o.excludeSelf);
        result["accuracy"] = s.tokenAccuracy;
        result["sequence_accuracy"] = s.sequenceAccuracy;
        return result;
    }
    std::vector<double> accuracies;
    Score first;
    for (int a = 0; a < o.arrays; ++a) {
        const auto family = testFamily(o, o.rp, o.buckets, o.rounds, a);
        const Score s = evaluate(model.parameters, test, family.get(), o.rounds, o.excludeSelf);
        if (a == 0) first = s;
        accuracies.push_back(s.tokenAccuracy);
    }
    const auto firstFamily = testFamily(o, o.rp, o.buckets, o.rounds, 0);
    result["rp"] = o.rp;
    result["fits"] = o.fitsPath.empty() ? (o.rp == "memristor" ? "paper HRS statistics (MemristorOptions::paperHrsFit)"
                                                               : "defaults")
                                        : o.fitsPath;
    result["accuracy"] = first.tokenAccuracy;
    result["sequence_accuracy"] = first.sequenceAccuracy;
    result["arrays"] = {{"count", o.arrays},
                        {"accuracy_mean", mean(accuracies)},
                        {"accuracy_std", standardDeviation(accuracies)},
                        {"accuracy_min", *std::min_element(accuracies.begin(), accuracies.end())},
                        {"accuracy_max", *std::max_element(accuracies.begin(), accuracies.end())}};
    result["full_attention_accuracy"] = evaluate(model.parameters, test, nullptr, 0, o.excludeSelf).tokenAccuracy;
    result["codes"] = letterCodeJson(model.parameters, *firstFamily);
    result["cosine_similarity"] = bucketSimilarity(letterCodes(model.parameters), *firstFamily, o.rounds);
    return result;
}

nlohmann::json runLettersSweep(const LettersSweepOptions& options) {
    LettersOptions o = options.base;
    o.attention = "lsh";
    validate(o);
    nlohmann::json tables = nlohmann::json::array();
    for (int buckets : options.bucketCounts) {
        o.buckets = buckets;
        const TrainedModel model = trainLetters(o);
        const TestSet test = makeTestSet(o);
        nlohmann::json table{{"buckets", buckets},
                             {"full_attention", evaluate(model.parameters, test, nullptr, 0, o.excludeSelf).tokenAccuracy},
                             {"final_training_loss", model.finalLoss}};
        for (const std::string rp : {"memristor", "gaussian"}) {
            // One array per index, cycled through all rounds: rounds r uses its first r crossbars.
            std::vector<std::unique_ptr<HashFamily>> arrays;
            for (int a = 0; a < o.arrays; ++a) arrays.push_back(testFamily(o, rp, buckets, options.maxRounds, a));
            nlohmann::json rows = nlohmann::json::array();
            for (int rounds = 1; rounds <= options.maxRounds; ++rounds) {
                std::vector<double> accuracies;
                for (const auto& family : arrays)
                    accuracies.push_back(evaluate(model.parameters, test, family.get(), rounds, o.excludeSelf).tokenAccuracy);
                rows.push_back({{"rounds", rounds},
                                {"accuracy_first_array", accuracies.front()},
                                {"accuracy_mean", mean(accuracies)},
                                {"accuracy_std", standardDeviation(accuracies)}});
            }
            table[rp] = rows;
            if (buckets == options.bucketCounts.front()) {
                table[rp + "_cosine_similarity"] = {bucketSimilarity(letterCodes(model.parameters), *arrays.front(), 1),
                                                   bucketSimilarity(letterCodes(model.parameters), *arrays.front(), 2)};
                if (rp == "memristor") table["codes"] = letterCodeJson(model.parameters, *arrays.front());
            }
        }
        tables.push_back(std::move(table));
    }
    // Paper Fig. 5: twenty random 16-dimensional binary vectors, four trials (trial n: the array
    // after n set/reset cycles), software (Gaussian) against memristor hashing into 2 buckets.
    nn::Rng rng(o.seed + 5);
    Dense randomVectors(20, kCode);
    for (Eigen::Index i = 0; i < randomVectors.size(); ++i) randomVectors.data()[i] = rng.uniform() < 0.5 ? 1 : 0;
    nlohmann::json figure5 = nlohmann::json::array();
    for (int trial = 1; trial <= 4; ++trial) {
        MemristorOptions memristor{MemristorOptions::paperHrsFit()};
        if (!o.fitsPath.empty()) memristor = MemristorOptions::fromFitsFile(o.fitsPath);
        memristor.firstCycle = trial;
        const auto hardware = makeMemristorFamily(kCode, 2, 1, memristor, o.seed + 100 + trial);
        const auto software = makeGaussianFamily(kCode, 2, 1, o.seed + 200 + trial);
        figure5.push_back({{"trial", trial},
                           {"memristor", bucketSimilarity(randomVectors, *hardware, 1)},
                           {"gaussian", bucketSimilarity(randomVectors, *software, 1)}});
    }
    return {{"workload", "letters-sweep"},
            {"arrays_per_point", o.arrays},
            {"test_sequences", o.testSequences},
            {"sequence_lengths", {o.minLength, o.maxLength}},
            {"training", {{"steps", o.trainSteps},
                          {"attention", o.trainAttention == "lsh" ? "software Gaussian RP-LSH, 1 round, fresh R per "
                                                                    "minibatch, same bucket count as the test"
                                                                  : "full attention"}}},
            {"combination", "union of the rounds' buckets (paper)"},
            {"exclude_self", o.excludeSelf},
            {"tables", tables},
            {"random_vectors_cosine_similarity", figure5}};
}

}  // namespace imc::lsh
