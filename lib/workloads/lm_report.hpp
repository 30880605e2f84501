#pragma once
// The language-model workload of paper 002's Fig. 4 and Table 1 on the project's character
// model: the training pieces (hardware-aware mapping and quantization-aware fine-tuning into the
// linear model, adaptation and fine-tuning of the nonlinear model), the files they ship in
// models/, and the report that compares the five models.
#include "datadir/datadir.hpp"
#include "nn/adaptation.hpp"
#include "nn/gaincell_backends.hpp"
#include "nn/nn.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace imc::nn {

// Where the shipped hardware models live (all under one models directory).
struct LmArtifacts {
    std::filesystem::path software;        // char-lm.safetensors (ideal attention)
    std::filesystem::path linear;          // char-lm-linear.safetensors (fine-tuned from software)
    std::filesystem::path linearScalars;   // its gaincell adaptation scalars
    std::filesystem::path tuned;           // char-lm-gaincell.safetensors (adapted, then fine-tuned)
    std::filesystem::path tunedScalars;    // the scalars it was fine-tuned with
    std::filesystem::path curves;          // char-lm-curves.csv: validation perplexity vs step
    static LmArtifacts in(const std::filesystem::path& modelsDir);
};

struct LmHardwareOptions {
    std::filesystem::path modelsDir = dataPath("models");
    std::filesystem::path fortunes = "/usr/share/games/fortunes";
    GainCellBackendOptions gaincell;  // fits, window, variability (layers are set from the model)
    std::uint64_t seed = 1;           // calibration windows, fine-tuning batches
    int calibrationSequences = 8;     // windows of the context length for the adaptation
    AdaptationOptions adaptation;
    // Fine-tuning (quantization-aware, straight-through), kept small: 2 shared cores.
    int linearSteps = 1000;
    int nonlinearSteps = 300;
    int scratchSteps = 1000;  // the software-from-scratch curve of Fig. 4d
    float learningRate = 1e-3f;
    int warmupSteps = 20;
    int batch = 8;
    int curveEvery = 25;
    std::size_t curveTokens = 4096;
    // Linear-model ranges for the mapping: the software Q, K, V spread over +-mappingSigmas std.
    double mappingSigmas = 2.5;
    std::function<void(const std::string&)> log;  // progress lines (may be empty)
};

struct CurvePoint {
    std::string curve;  // "software-scratch", "linear-from-software", "gaincell-adapted"
    int step = 0;
    double loss = 0;  // nats per byte on curveTokens held-out bytes
};
void writeCurves(const std::filesystem::path& csv, const std::vector<CurvePoint>& points);
std::vector<CurvePoint> readCurves(const std::filesystem::path& csv);

// Hardware-aware mapping: scalars that put each head's software Q, K and V (mean +- sigmas std)
// into the quantizer ranges of the linear arrays and give the linear model's attention output the
// software model's mean and spread (the adaptation algorithm with those targets).
AdaptationResult mapSoftwareToLinear(const Model& software, const AttentionBackend& ideal,
                                     const GainCellAttention& linear, std::span<const int> calibration,
                                     double sigmas, const AdaptationOptions& options = {});

// Builds every hardware model from the software one and writes them with the curves into
// modelsDir (minutes on 2 cores). Deterministic from options.seed.
nlohmann::json buildLmHardwareModels(const LmHardwareOptions& options);

// Fig. 4d: validation perplexity against training step for every curve of `curvesCsv`, with the
// software model's perplexity as a horizontal line; a PNG through gnuplot. False when gnuplot failed.
bool plotFineTuningCurves(const std::filesystem::path& curvesCsv, const std::filesystem::path& png,
                          double softwarePerplexity);

struct LmReportOptions {
    LmHardwareOptions hardware;
    std::size_t evalTokens = 8192;
    int draws = 0;                  // variability draws (seeds seed+1..seed+draws) per hardware row
    std::size_t drawTokens = 4096;  // held-out bytes per draw
    std::filesystem::path plot;     // PNG of Fig. 4d (plotFineTuningCurves); empty: no plot
    bool retrain = false;           // rebuild the models first (buildLmHardwareModels)
};

// The table of Fig. 4c / Table 1 on the held-out fortunes, with the paper's GPT-2 numbers.
nlohmann::json runLmReport(const LmReportOptions& options);

}  // namespace imc::nn
