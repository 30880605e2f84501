// The letter-shift tasks of the memristor RP-LSH paper. "same": "xdcz" -> "yeda", the paper's
// literal description (the needed key is the query's own); "previous": "xdcz" -> "?yed", the
// successor of the letter one position back, where a second hashing round matters. A one-head
// model with binarized shared Q = K is trained in software and tested with attention restricted to
// the buckets a random projection gives (memristor crossbar, ideal Gaussian, passive array).
#include "fit/fit.hpp"
#include "nn/optimizer.hpp"
#include "nn/random.hpp"
#include "workloads/lsh.hpp"
#include "workloads/paper_targets.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <numbers>
#include <numeric>
#include <stdexcept>

namespace imc::lsh {

namespace {

constexpr int kLetters = 26;
constexpr int kEmbedding = 64;
constexpr int kCode = 16;  // Q = K and V width
// Paper 000's letter-shift result, printed beside ours: 72 % with one round, +12 % with two.

using Dense = Eigen::MatrixXd;

struct Parameters {
    Dense embedding;   // [26, 64]
    Dense queryKey;    // W_Q = W_K: [64, 16]
    Dense value;       // W_V: [64, 16]
    Dense hidden, hiddenBias;  // [16, H], [1, H]
    Dense output, outputBias;  // [H, 26], [1, 26]
    Dense position;            // learned positional embeddings [max length, 64]; 0 rows for "same"

    std::vector<Dense*> all() {
        return {&embedding, &queryKey, &value, &hidden, &hiddenBias, &output, &outputBias, &position};
    }
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

// positions: rows of the positional embedding (0: none), drawn after the rest so the "same"
// task's stream is unchanged.
Parameters initialParameters(int hidden, int positions, std::uint64_t seed) {
    nn::Rng rng(seed);
    Parameters p;
    p.embedding = normalMatrix(rng, kLetters, kEmbedding, 1.0);
    p.queryKey = normalMatrix(rng, kEmbedding, kCode, 1.0 / std::sqrt(double(kEmbedding)));
    p.value = normalMatrix(rng, kEmbedding, kCode, 1.0 / std::sqrt(double(kEmbedding)));
    p.hidden = normalMatrix(rng, kCode, hidden, 1.0 / std::sqrt(double(kCode)));
    p.hiddenBias = Dense::Zero(1, hidden);
    p.output = normalMatrix(rng, hidden, kLetters, 1.0 / std::sqrt(double(hidden)));
    p.outputBias = Dense::Zero(1, kLetters);
    p.position = positions > 0 ? normalMatrix(rng, positions, kEmbedding, 1.0) : Dense::Zero(0, kEmbedding);
    return p;
}

std::vector<int> randomSequence(nn::Rng& rng, int minLength, int maxLength) {
    const int length = minLength + int(rng.below(std::uint64_t(maxLength - minLength + 1)));
    std::vector<int> letters(length);
    for (auto& l : letters) l = int(rng.below(kLetters));
    return letters;
}

int shifted(int letter) { return (letter + 1) % kLetters; }

// The task as resolved from the options (task defaults filled in).
struct Setup {
    bool previous = false;     // target at t: successor of the letter at t-1, scored for t >= 1
    bool causal = false;       // previous: keys at positions <= the query's
    bool excludeSelf = false;  // the Reformer self rule
    std::string trainAttention;
};

Setup setupOf(const LettersOptions& o) {
    Setup s;
    s.previous = o.task == "previous";
    s.causal = s.previous;
    s.excludeSelf = o.self.empty() ? s.previous : o.self == "exclude";
    s.trainAttention = o.trainAttention.empty() ? (s.previous ? "full" : "lsh") : o.trainAttention;
    return s;
}

// Target letter at position i, -1 where nothing is scored.
int targetAt(const Setup& s, const std::vector<int>& letters, int i) {
    if (!s.previous) return shifted(letters[i]);
    return i == 0 ? -1 : shifted(letters[i - 1]);
}

// Position whose key holds what position i needs, -1 where nothing is scored.
std::vector<int> neededKeys(const Setup& s, int length) {
    std::vector<int> needed(length);
    for (int i = 0; i < length; ++i) needed[i] = s.previous ? i - 1 : i;
    return needed;
}

// x = E[letter] (+ P[position]): [L, 64].
Dense inputsOf(const Parameters& p, const std::vector<int>& letters) {
    Dense x(Eigen::Index(letters.size()), kEmbedding);
    for (std::size_t i = 0; i < letters.size(); ++i) x.row(Eigen::Index(i)) = p.embedding.row(letters[i]);
    if (p.position.rows() > 0) x += p.position.topRows(x.rows());
    return x;
}

// Binarized code of each letter: (E W_Q > 0) as 0/1. [26, 16]
Dense letterCodes(const Parameters& p) { return (p.embedding * p.queryKey).unaryExpr([](double z) { return z > 0 ? 1.0 : 0.0; }); }

// ---------------------------------------------------------------- training (double, hand-written backward)

// One sequence forward and backward; mask(i, j) = 1 where i may attend to j, targets[i] < 0 is
// not scored. Adds gradients of (cross-entropy summed over scored tokens) * lossScale to grads;
// returns the summed loss.
double trainSequence(const Parameters& p, const std::vector<int>& letters, const std::vector<int>& targets,
                     const Dense& mask, double lossScale, Parameters& grads) {
    const int length = int(letters.size());
    const double scale = 1.0 / std::sqrt(double(kCode));
    const Dense x = inputsOf(p, letters);                                          // [L, 64]
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
        if (targets[i] < 0) {
            dlogits.row(i).setZero();
            continue;
        }
        const double maxLogit = logits.row(i).maxCoeff();
        const Eigen::RowVectorXd e = (logits.row(i).array() - maxLogit).exp();
        const double total = e.sum();
        loss += -(logits(i, targets[i]) - maxLogit - std::log(total));
        dlogits.row(i) = e / total;
        dlogits(i, targets[i]) -= 1.0;
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
    if (p.position.rows() > 0) grads.position.topRows(length) += dx;
    return loss;
}

// excludeSelf: the Reformer rule, a token sees itself only when nothing else is in its buckets.
Dense sameBucketMask(const std::vector<std::vector<int>>& bucketsPerRound, int length, const Setup& setup) {
    const bool excludeSelf = setup.excludeSelf;
    Dense mask = Dense::Zero(length, length);
    for (const auto& b : bucketsPerRound)
        for (int i = 0; i < length; ++i)
            for (int j = 0; j <= (setup.causal ? i : length - 1); ++j)
                if (b[i] == b[j]) mask(i, j) = 1;
    if (excludeSelf)
        for (int i = 0; i < length; ++i)
            if (mask.row(i).sum() > 1) mask(i, i) = 0;
    return mask;
}

// Binary codes Q = K and values of a sequence. Without positional embeddings they are per-letter
// tables ([26, 16]) looked up; with them, computed per position from x = E[letter] + P[position].
struct Encoder {
    const Parameters& p;
    Dense codes, values;  // per letter, "same" task only

    explicit Encoder(const Parameters& parameters) : p(parameters) {
        if (p.position.rows() == 0) {
            codes = letterCodes(p);
            values = p.embedding * p.value;
        }
    }
    Matrix codesOf(const std::vector<int>& letters) const {
        if (p.position.rows() > 0)
            return (inputsOf(p, letters) * p.queryKey).unaryExpr([](double z) { return z > 0 ? 1.0f : 0.0f; });
        Matrix q(Eigen::Index(letters.size()), kCode);
        for (std::size_t i = 0; i < letters.size(); ++i) q.row(Eigen::Index(i)) = codes.row(letters[i]).cast<float>();
        return q;
    }
    Matrix valuesOf(const std::vector<int>& letters) const {
        if (p.position.rows() > 0) return (inputsOf(p, letters) * p.value).cast<float>();
        Matrix v(Eigen::Index(letters.size()), kCode);
        for (std::size_t i = 0; i < letters.size(); ++i) v.row(Eigen::Index(i)) = values.row(letters[i]).cast<float>();
        return v;
    }
};

struct TrainedModel {
    Parameters parameters;
    double finalLoss = 0;
    double seconds = 0;
};

TrainedModel trainLetters(const LettersOptions& o, const Setup& setup) {
    TrainedModel model{initialParameters(o.hidden, setup.previous ? o.maxLength : 0, o.seed * 2 + 1)};
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
        const Encoder encoder(p);
        std::vector<std::vector<int>> sequences;
        int tokens = 0;  // scored ones
        for (int b = 0; b < o.batch; ++b) {
            sequences.push_back(randomSequence(data, o.minLength, o.maxLength));
            tokens += int(sequences.back().size()) - (setup.previous ? 1 : 0);
        }
        double loss = 0;
        for (const auto& letters : sequences) {
            const int length = int(letters.size());
            std::vector<int> targets(length);
            for (int i = 0; i < length; ++i) targets[i] = targetAt(setup, letters, i);
            const Dense mask = setup.trainAttention == "full"
                                   ? sameBucketMask({std::vector<int>(length, 0)}, length, setup)
                                   : sameBucketMask({hashBuckets(encoder.codesOf(letters) * r)}, length, setup);
            loss += trainSequence(p, letters, targets, mask, 1.0 / tokens, grads);
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

struct SequenceScore {
    int correct = 0, scored = 0;
    bool allRight = true;
};

// One sequence through attention restricted to `buckets` (union of rounds), through the library's
// LSH kernel with one chunk holding the whole sequence, then the feed-forward and output layers.
SequenceScore scoreSequence(const Parameters& p, const Setup& setup, const std::vector<int>& letters,
                            const Matrix& q, const Matrix& v, const std::vector<std::vector<int>>& buckets) {
    const int length = int(letters.size());
    LshAttentionSettings settings;
    settings.combination = RoundCombination::Union;
    settings.causal = setup.causal;
    settings.excludeSelf = setup.excludeSelf;
    settings.sameBucketOnly = true;
    settings.chunk = length;
    Matrix mixed(length, kCode);
    lshAttentionForward(q, q, v, buckets, settings, mixed);
    const Dense activation = ((mixed.cast<double>() * p.hidden).rowwise() + p.hiddenBias.row(0)).cwiseMax(0.0);
    const Dense logits = (activation * p.output).rowwise() + p.outputBias.row(0);
    SequenceScore score;
    for (int i = 0; i < length; ++i) {
        const int target = targetAt(setup, letters, i);
        if (target < 0) continue;
        Eigen::Index best;
        logits.row(i).maxCoeff(&best);
        const bool right = int(best) == target;
        score.correct += right;
        ++score.scored;
        score.allRight = score.allRight && right;
    }
    return score;
}

struct ScoreSum {
    long correct = 0, tokens = 0, correctSequences = 0, sequences = 0;
    void add(const SequenceScore& s) {
        correct += s.correct;
        tokens += s.scored;
        correctSequences += s.allRight;
        ++sequences;
    }
    Score score() const { return {double(correct) / double(tokens), double(correctSequences) / double(sequences)}; }
};

// family == nullptr: full attention. Otherwise rounds 0..rounds-1 of the family hash each
// sequence's binary codes (one read of the array per sequence) and a query sees the union of
// its buckets.
Score evaluate(const Parameters& p, const TestSet& set, const Setup& setup, const HashFamily* family, int rounds) {
    const Encoder encoder(p);
    ScoreSum sum;
    for (const auto& letters : set.sequences) {
        const Matrix q = encoder.codesOf(letters), v = encoder.valuesOf(letters);
        std::vector<std::vector<int>> buckets;
        if (family)
            for (int r = 0; r < rounds; ++r) buckets.push_back(hashBuckets(family->project(q, r)));
        else
            buckets.push_back(std::vector<int>(letters.size(), 0));
        sum.add(scoreSequence(p, setup, letters, q, v, buckets));
    }
    return sum.score();
}

struct RoundsResult {
    std::vector<Score> byRounds;  // [R - 1]: the first R rounds
    NeededKeyRecall recall;
};

// Every round count 1..maxRounds on one array: each sequence is hashed once by all maxRounds
// rounds and round count R uses the first R of them.
RoundsResult evaluateRounds(const Parameters& p, const TestSet& set, const Setup& setup, const HashFamily& family,
                            int maxRounds) {
    const Encoder encoder(p);
    std::vector<ScoreSum> sums(maxRounds);
    RoundsResult result;
    result.recall = NeededKeyRecall(maxRounds);
    for (const auto& letters : set.sequences) {
        const Matrix q = encoder.codesOf(letters), v = encoder.valuesOf(letters);
        std::vector<std::vector<int>> buckets;
        for (int r = 0; r < maxRounds; ++r) buckets.push_back(hashBuckets(family.project(q, r)));
        result.recall.add(buckets, neededKeys(setup, int(letters.size())));
        for (int rounds = 1; rounds <= maxRounds; ++rounds) {
            const std::vector<std::vector<int>> first(buckets.begin(), buckets.begin() + rounds);
            sums[rounds - 1].add(scoreSequence(p, setup, letters, q, v, first));
        }
    }
    for (const auto& sum : sums) result.byRounds.push_back(sum.score());
    return result;
}

std::unique_ptr<HashFamily> testFamily(const LettersOptions& o, const std::string& rp, int buckets, int rounds,
                                       int array) {
    ProjectionSpec spec;
    spec.kind = rp;
    spec.buckets = buckets;
    spec.rounds = rounds;
    spec.seed = o.seed * 1000 + 17 + std::uint64_t(array);  // one physical array (or R draw) per index
    spec.fitsPath = o.fitsPath;
    if (rp == "memristor") spec.memristor = memristorOptionsFor(o.fitsPath);
    return makeHashFamily(spec, kCode);
}

double mean(const std::vector<double>& x) { return fit::sampleMean(x); }
double standardDeviation(const std::vector<double>& x) { return fit::sampleStd(x); }

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
    if (o.task != "same" && o.task != "previous")
        throw std::invalid_argument("letters: task must be same or previous, got '" + o.task + "'");
    if (o.attention != "lsh" && o.attention != "ideal")
        throw std::invalid_argument("letters: attention must be lsh or ideal, got '" + o.attention + "'");
    if (o.rp != "gaussian" && o.rp != "memristor" && o.rp != "passive")
        throw std::invalid_argument("letters: rp must be gaussian, memristor or passive, got '" + o.rp + "'");
    if (!o.trainAttention.empty() && o.trainAttention != "lsh" && o.trainAttention != "full")
        throw std::invalid_argument("letters: train attention must be lsh or full, got '" + o.trainAttention + "'");
    if (!o.self.empty() && o.self != "allow" && o.self != "exclude")
        throw std::invalid_argument("letters: self must be allow or exclude, got '" + o.self + "'");
    if (o.rounds < 1 || o.buckets < 2 || o.buckets % 2 || o.minLength < 1 || o.maxLength < o.minLength ||
        o.arrays < 1 || o.testSequences < 1 || o.trainSteps < 0 || o.batch < 1)
        throw std::invalid_argument("letters: invalid sizes (rounds >= 1, even buckets >= 2, 1 <= min <= max length)");
    if (o.task == "previous" && o.minLength < 2)
        throw std::invalid_argument("letters: task previous needs sequences of at least 2 letters (min length " +
                                    std::to_string(o.minLength) + ")");
}

std::string trainingDescription(const Setup& setup) {
    return setup.trainAttention == "lsh" ? "software Gaussian RP-LSH, 1 round, a fresh R per minibatch"
                                         : "full attention";
}

nlohmann::json trainingJson(const LettersOptions& o, const Setup& setup, const TrainedModel& model) {
    return {{"steps", o.trainSteps},
            {"batch", o.batch},
            {"optimizer", "AdamW"},
            {"learning_rate", o.learningRate},
            {"weight_decay", o.weightDecay},
            {"attention", trainingDescription(setup)},
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

// Paper Fig. 5: twenty random 16-dimensional binary vectors, four trials (trial n: the array
// after n set/reset cycles), software (Gaussian) against memristor hashing into 2 buckets.
nlohmann::json figure5(const LettersOptions& o) {
    nn::Rng rng(o.seed + 5);
    Dense randomVectors(20, kCode);
    for (Eigen::Index i = 0; i < randomVectors.size(); ++i) randomVectors.data()[i] = rng.uniform() < 0.5 ? 1 : 0;
    nlohmann::json trials = nlohmann::json::array();
    for (int trial = 1; trial <= 4; ++trial) {
        MemristorOptions memristor = memristorOptionsFor(o.fitsPath);
        memristor.firstCycle = trial;
        const auto hardware = makeMemristorFamily(kCode, 2, 1, memristor, o.seed + 100 + trial);
        const auto software = makeGaussianFamily(kCode, 2, 1, o.seed + 200 + trial);
        trials.push_back({{"trial", trial},
                          {"memristor", bucketSimilarity(randomVectors, *hardware, 1)},
                          {"gaussian", bucketSimilarity(randomVectors, *software, 1)}});
    }
    return trials;
}

// Pearson correlation of two equally sized matrices' entries.
double entryCorrelation(const Matrix& a, const Matrix& b) {
    const Eigen::ArrayXd x = a.reshaped().cast<double>().array() - a.cast<double>().mean();
    const Eigen::ArrayXd y = b.reshaped().cast<double>().array() - b.cast<double>().mean();
    const double denominator = std::sqrt((x * x).sum() * (y * y).sum());
    return denominator > 0 ? (x * y).sum() / denominator : 0.0;
}

// Mean over rounds r >= 1 of the correlation of R_0 and R_r (the fixed per-device share of a
// memristor array); NaN for families that are not linear or with one round.
double projectionCorrelation(const HashFamily& family) {
    const auto* linear = dynamic_cast<const LinearHashFamily*>(&family);
    if (!linear || family.rounds() < 2) return std::nan("");
    double sum = 0;
    for (int r = 1; r < family.rounds(); ++r) sum += entryCorrelation(linear->matrix(0), linear->matrix(r));
    return sum / (family.rounds() - 1);
}

double maxAbs(const std::vector<double>& x) {
    double m = 0;
    for (double v : x) m = std::max(m, std::abs(v));
    return m;
}

nlohmann::json spreadJson(const std::string& name, const std::vector<double>& x) {
    return {{name + "_mean", mean(x)},
            {name + "_std", standardDeviation(x)},
            {name + "_min", *std::min_element(x.begin(), x.end())},
            {name + "_max", *std::max_element(x.begin(), x.end())}};
}

// Rounds 1..maxRounds over o.arrays arrays (array a cycled through all rounds): accuracy,
// needed-key recall and the independent-rounds prediction, plus the paper's numbers beside ours.
nlohmann::json roundCountTable(const LettersOptions& o, const Setup& setup, const Parameters& p, const TestSet& test) {
    const int maxRounds = std::max(o.rounds, 4);
    std::vector<std::vector<double>> accuracy(maxRounds), sequenceAccuracy(maxRounds), recall(maxRounds),
        difference(maxRounds);
    std::vector<double> correlations, projectionCorrelations;
    for (int a = 0; a < o.arrays; ++a) {
        const auto family = testFamily(o, o.rp, o.buckets, maxRounds, a);
        const RoundsResult r = evaluateRounds(p, test, setup, *family, maxRounds);
        for (int rounds = 1; rounds <= maxRounds; ++rounds) {
            accuracy[rounds - 1].push_back(r.byRounds[rounds - 1].tokenAccuracy);
            sequenceAccuracy[rounds - 1].push_back(r.byRounds[rounds - 1].sequenceAccuracy);
            recall[rounds - 1].push_back(r.recall.recall(rounds));
            difference[rounds - 1].push_back(r.byRounds[rounds - 1].tokenAccuracy - r.recall.recall(rounds));
        }
        correlations.push_back(r.recall.roundCorrelation());
        projectionCorrelations.push_back(projectionCorrelation(*family));
    }
    // With the same task and self excluded, the key a query needs (its own) is removed by the rule.
    const bool recallDefined = setup.previous || !setup.excludeSelf;
    const double oneRoundRecall = mean(recall[0]);
    nlohmann::json rows = nlohmann::json::array();
    for (int rounds = 1; rounds <= maxRounds; ++rounds) {
        nlohmann::json row{{"rounds", rounds}};
        row.update(spreadJson("accuracy", accuracy[rounds - 1]));
        row.update(spreadJson("sequence_accuracy", sequenceAccuracy[rounds - 1]));
        if (recallDefined) {
            row.update(spreadJson("needed_key_recall", recall[rounds - 1]));
            row["independent_rounds_prediction"] = 1 - std::pow(1 - oneRoundRecall, rounds);
            row["accuracy_minus_recall_mean"] = mean(difference[rounds - 1]);
            row["accuracy_minus_recall_max_abs"] = maxAbs(difference[rounds - 1]);
        }
        rows.push_back(std::move(row));
    }
    const double projection = mean(projectionCorrelations);
    return {{"arrays", o.arrays},
            {"needed_key", setup.previous ? "the key at t-1"
                           : recallDefined ? "the query's own key"
                                           : "the query's own key, excluded by the self rule: no recall reported"},
            {"rows", rows},
            {"round_correlation",
             {{"hit_phi_mean", mean(correlations)},
              {"projection_entry_correlation_mean", std::isnan(projection) ? nlohmann::json(nullptr) : nlohmann::json(projection)},
              {"note", "hit_phi: correlation of the per-query needed-key hits between rounds (pairs at a small angle "
                       "collide in every round, so independent hyperplanes give phi > 0 too); projection entry "
                       "correlation: R_0 against R_r, the fits' fixed per-device share"}}},
            {"paper_comparison",
             {{"paper", workloads::PaperTargets::shipped().section("lsh-letters").at("paper")},
              {"measured", {{"accuracy_one_round", mean(accuracy[0])},
                            {"gain_two_rounds", mean(accuracy[1]) - mean(accuracy[0])}}},
              {"source", workloads::PaperTargets::shipped().section("lsh-letters").at("source")}}}};
}

}  // namespace

nlohmann::json runLettersWorkload(const LettersOptions& o) {
    validate(o);
    const Setup setup = setupOf(o);
    const TrainedModel model = trainLetters(o, setup);
    const TestSet test = makeTestSet(o);
    nlohmann::json result{{"workload", "letters"},
                          {"task", o.task},
                          {"task_description", setup.previous ? "target at t: successor of the letter at t-1 "
                                                                "(\"xdcz\" -> \"?yed\", scored for t >= 1); learned "
                                                                "positional embeddings; causal"
                                                              : "target at t: successor of the letter at t "
                                                                "(\"xdcz\" -> \"yeda\"); bidirectional"},
                          {"attention", o.attention},
                          {"buckets", o.buckets},
                          {"rounds", o.rounds},
                          {"sequence_lengths", {o.minLength, o.maxLength}},
                          {"test_sequences", o.testSequences},
                          {"exclude_self", setup.excludeSelf},
                          {"training", trainingJson(o, setup, model)},
                          {"tie_rule", "argmax over [xR, -xR] takes the lowest index; an all-zero query (no current "
                                       "in any column) lands in bucket 0"}};
    if (o.attention == "ideal") {
        const Score s = evaluate(model.parameters, test, setup, nullptr, 0);
        result["accuracy"] = s.tokenAccuracy;
        result["sequence_accuracy"] = s.sequenceAccuracy;
        return result;
    }
    std::vector<double> accuracies;
    Score first;
    for (int a = 0; a < o.arrays; ++a) {
        const auto family = testFamily(o, o.rp, o.buckets, o.rounds, a);
        const Score s = evaluate(model.parameters, test, setup, family.get(), o.rounds);
        if (a == 0) first = s;
        accuracies.push_back(s.tokenAccuracy);
    }
    const auto firstFamily = testFamily(o, o.rp, o.buckets, o.rounds, 0);
    result["rp"] = o.rp;
    result["fits"] = o.rp == "memristor" ? memristorFitsLabel(o.fitsPath) : o.fitsPath.empty() ? "defaults" : o.fitsPath;
    result["accuracy"] = first.tokenAccuracy;
    result["sequence_accuracy"] = first.sequenceAccuracy;
    result["arrays"] = {{"count", o.arrays}};
    result["arrays"].update(spreadJson("accuracy", accuracies));
    const Score full = evaluate(model.parameters, test, setup, nullptr, 0);
    result["full_attention_accuracy"] = full.tokenAccuracy;
    result["full_attention_sequence_accuracy"] = full.sequenceAccuracy;
    if (!setup.previous) {  // per-letter codes; with positions a letter has one code per position
        result["codes"] = letterCodeJson(model.parameters, *firstFamily);
        result["cosine_similarity"] = bucketSimilarity(letterCodes(model.parameters), *firstFamily, o.rounds);
    }
    result["round_counts"] = roundCountTable(o, setup, model.parameters, test);
    return result;
}

std::string lettersSummary(const nlohmann::json& result) {
    const auto& table = result.at("round_counts");
    char line[256];
    std::snprintf(line, sizeof line, "letters, task %s, %s RP, %d buckets, %d arrays (full attention %.3f):\n",
                  result.at("task").get<std::string>().c_str(), result.at("rp").get<std::string>().c_str(),
                  result.at("buckets").get<int>(), table.at("arrays").get<int>(),
                  result.at("full_attention_accuracy").get<double>());
    std::string text = line;
    for (const auto& row : table.at("rows")) {
        std::snprintf(line, sizeof line, "  %d round(s): accuracy %.3f +- %.3f (min %.3f)", row.at("rounds").get<int>(),
                      row.at("accuracy_mean").get<double>(), row.at("accuracy_std").get<double>(),
                      row.at("accuracy_min").get<double>());
        text += line;
        if (row.contains("needed_key_recall_mean")) {
            std::snprintf(line, sizeof line, ", needed-key recall %.3f +- %.3f, independent prediction %.3f",
                          row.at("needed_key_recall_mean").get<double>(), row.at("needed_key_recall_std").get<double>(),
                          row.at("independent_rounds_prediction").get<double>());
            text += line;
        }
        text += "\n";
    }
    const auto& comparison = table.at("paper_comparison");
    std::snprintf(line, sizeof line, "  paper: %.2f with one round, %+.2f with two; measured: %.3f, %+.3f\n",
                  comparison.at("paper").at("accuracy_one_round").get<double>(),
                  comparison.at("paper").at("gain_two_rounds").get<double>(),
                  comparison.at("measured").at("accuracy_one_round").get<double>(),
                  comparison.at("measured").at("gain_two_rounds").get<double>());
    return text + line;
}

nlohmann::json runLettersSweep(const LettersSweepOptions& options) {
    LettersOptions o = options.base;
    o.attention = "lsh";
    validate(o);
    const Setup setup = setupOf(o);
    nlohmann::json tables = nlohmann::json::array();
    for (int buckets : options.bucketCounts) {
        o.buckets = buckets;
        const TrainedModel model = trainLetters(o, setup);
        const TestSet test = makeTestSet(o);
        nlohmann::json table{{"buckets", buckets},
                             {"full_attention", evaluate(model.parameters, test, setup, nullptr, 0).tokenAccuracy},
                             {"final_training_loss", model.finalLoss}};
        for (const std::string rp : {"memristor", "gaussian"}) {
            // One array per index, cycled through all rounds: rounds r uses its first r crossbars.
            std::vector<std::unique_ptr<HashFamily>> arrays;
            for (int a = 0; a < o.arrays; ++a) arrays.push_back(testFamily(o, rp, buckets, options.maxRounds, a));
            nlohmann::json rows = nlohmann::json::array();
            for (int rounds = 1; rounds <= options.maxRounds; ++rounds) {
                std::vector<double> accuracies;
                for (const auto& family : arrays)
                    accuracies.push_back(evaluate(model.parameters, test, setup, family.get(), rounds).tokenAccuracy);
                rows.push_back({{"rounds", rounds},
                                {"accuracy_first_array", accuracies.front()},
                                {"accuracy_mean", mean(accuracies)},
                                {"accuracy_std", standardDeviation(accuracies)}});
            }
            table[rp] = rows;
            if (buckets == options.bucketCounts.front() && !setup.previous) {
                table[rp + "_cosine_similarity"] = {bucketSimilarity(letterCodes(model.parameters), *arrays.front(), 1),
                                                   bucketSimilarity(letterCodes(model.parameters), *arrays.front(), 2)};
                if (rp == "memristor") table["codes"] = letterCodeJson(model.parameters, *arrays.front());
            }
        }
        tables.push_back(std::move(table));
    }
    return {{"workload", "letters-sweep"},
            {"task", o.task},
            {"arrays_per_point", o.arrays},
            {"test_sequences", o.testSequences},
            {"sequence_lengths", {o.minLength, o.maxLength}},
            {"fits", memristorFitsLabel(o.fitsPath)},
            {"training", {{"steps", o.trainSteps}, {"attention", trainingDescription(setup) + (setup.trainAttention == "lsh" ? ", same bucket count as the test" : "")}}},
            {"combination", "union of the rounds' buckets (paper)"},
            {"exclude_self", setup.excludeSelf},
            {"tables", tables},
            {"random_vectors_cosine_similarity", figure5(o)}};
}

}  // namespace imc::lsh
