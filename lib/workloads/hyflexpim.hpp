#pragma once
// The HyFlexPIM experiments of paper 004 on the character model: SVD + fine-tuning with
// importance |dL/ds_i|, SLC selection by gradient / rank / magnitude / random, perplexity under
// the RRAM fits over shared draws, the SLC-fraction report, and the paper's Table 2 cost model.
#include "nn/hyflexpim.hpp"
#include "nn/nn.hpp"
#include "nn/svd_linear.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace imc::nn {

struct SvdFineTuneOptions {
    std::filesystem::path baseWeights;  // the dense model to factorize
    std::filesystem::path out;          // F.safetensors (+ F.svd.safetensors, F.dense-control.safetensors)
    int rank = 0;                       // 0: the hard threshold per matrix
    int importanceWindow = 50;          // final steps summed into the window importance
    TrainOptions train;                 // steps, lr, ...; `linear` is set here
    std::filesystem::path fortunes = "/usr/share/games/fortunes";
    std::function<void(const std::string& phase, const TrainProgress&)> onProgress;
};
// Factorizes, fine-tunes the factors (and every other tensor), records the importance, and runs
// the dense fine-tune of the same length as the control. Writes the three files; returns losses.
nlohmann::json fineTuneSvd(const SvdFineTuneOptions& options);
std::filesystem::path denseControlPathFor(const std::filesystem::path& modelPath);

enum class Selection { Gradient, GradientLast, Rank, Magnitude, Random };
Selection parseSelection(const std::string& name);  // throws std::invalid_argument listing the names
std::string selectionName(Selection s);
inline const std::vector<Selection> kAllSelections{Selection::Gradient, Selection::GradientLast, Selection::Rank,
                                                   Selection::Magnitude, Selection::Random};

// Top round(fraction k) ranks of every block by the selection's score (random: a fixed
// permutation per block from `seed`, so larger fractions contain smaller ones).
SlcSelection selectRanks(const SvdFactors& factors, Selection selection, double fraction, std::uint64_t seed);
// Dense layers: the largest-|w| weights of every matrix (Magnitude) or random ones.
SlcSelection selectWeights(const Weights& weights, const Config& config, Selection selection, double fraction,
                           std::uint64_t seed);

struct HyFlexPimInferOptions {
    std::filesystem::path weights;  // with F.svd.safetensors beside: factorized; otherwise dense
    Selection selection = Selection::Gradient;
    double slcFraction = 0.2;
    AnalogModel analog = AnalogModel::WeightNoise;
    std::string fitsDir;  // rram-slc.json + rram-mlc.json
    int draws = 3;
    std::uint64_t seed = 1;
    std::size_t tokens = 16384;
    std::filesystem::path fortunes = "/usr/share/games/fortunes";
};
nlohmann::json runHyFlexPimInfer(const HyFlexPimInferOptions& options);

struct HyFlexPimReportOptions {
    HyFlexPimInferOptions base;                     // weights = the factorized model
    std::filesystem::path denseWeights, denseFineTuned;  // the controls (magnitude selection on dense layers)
    std::vector<double> fractions{0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0};
};
nlohmann::json runHyFlexPimReport(const HyFlexPimReportOptions& options);

// The classification role (the paper's GLUE tasks): a softmax probe on standardized features.
struct TopicProbe {
    Eigen::MatrixXd weight;                // [features, classes]
    Eigen::RowVectorXd bias, mean, scale;  // bias [classes]; mean, scale [features]
};
// Multinomial logistic regression with L2 `l2`, full-batch gradient descent at step 1/L.
TopicProbe trainProbe(const Eigen::MatrixXd& features, const std::vector<int>& labels, int classes, double l2,
                      int iterations);
std::vector<int> probePredict(const TopicProbe& probe, const Eigen::MatrixXd& features);

struct HyFlexPimTopicsOptions {
    HyFlexPimInferOptions base;  // weights: the factorized model; draws, seed, fits, analog model
    std::vector<std::string> topics{"computers", "politics", "science", "songs-poems"};
    std::vector<double> fractions{0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0};
    std::vector<Selection> selections = kAllSelections;
    double l2 = 1e-2;
    int iterations = 500;
};
// The probe trains on the software backbone's features of the training fortunes; accuracy on the
// held-out ones (those the LM never saw) per selection and SLC fraction over shared draws.
nlohmann::json runHyFlexPimTopics(const HyFlexPimTopicsOptions& options);

// Paper 004 Table 2, analog module: linear-layer energy and throughput against SLC fraction.
nlohmann::json hyflexPimCostModel(const std::vector<double>& fractions);

}  // namespace imc::nn
