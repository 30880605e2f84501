#pragma once
// The HyFlexPIM options of imc train and imc infer (paper 004), kept in one place so the two
// commands only forward to them.
#include <CLI/CLI.hpp>

#include "nn/nn.hpp"

#include <string>

namespace imc::cli {

struct SvdTrainCli {
    std::string linearLayers = "dense";  // dense | svd
    std::string rank = "hard-threshold";
    std::string weights;  // the dense model to factorize (default: the shipped one)
    int importanceWindow = 50;
    float finetuneLr = 5e-4f;
    int finetuneWarmup = 20;
};
void addSvdTrainOptions(CLI::App& app, SvdTrainCli& cli);
// true when --linear-layers svd asked for the SVD fine-tune (and it ran).
bool runSvdTrain(const SvdTrainCli& cli, const nn::TrainOptions& options, const std::string& out,
                 const std::string& fortunes, int logEvery);

struct HyFlexInferCli {
    std::string linearLayers = "dense";  // dense | hyflexpim
    double slcFraction = 0.2;
    std::string selection = "gradient";
    std::string analogModel = "weight-noise";
    std::string fits;  // directory with rram-slc.json, rram-mlc.json
    bool paperFits = false;
    std::string paperSigma = "ber-4.04";  // public-code | ber-4.04
    std::string weights;
    std::string plot = "results/hyflexpim/hyflexpim.png";
};
void addHyFlexInferOptions(CLI::App& app, HyFlexInferCli& cli);
// --linear-layers hyflexpim: one configuration; draws 0 means 3.
void runHyFlexPimInfer(const HyFlexInferCli& cli, int draws, std::uint64_t seed, std::size_t tokens,
                       const std::string& fortunes, bool json);
// --report hyflexpim: every SLC fraction x selection with the controls, and the plot.
void runHyFlexPimReport(const HyFlexInferCli& cli, int draws, std::uint64_t seed, std::size_t tokens,
                        const std::string& fortunes, bool json);

// --workload topics: accuracy on four fortune topics against the SLC fraction, per selection.
void runHyFlexPimTopics(const HyFlexInferCli& cli, int draws, std::uint64_t seed, const std::string& fortunes, bool json);

}  // namespace imc::cli

namespace imc::cli {
// The demo's HyFlexPIM stage: a few seconds on the shipped factorized model and fits.
void demoHyFlexPim(int stage);
}  // namespace imc::cli
