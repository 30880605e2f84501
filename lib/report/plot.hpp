#pragma once
// PNG plots through gnuplot (gnuplot-nox, driven by gnuplot-iostream): the pictures a person
// would rather look at than read. Plotting never stops a run: when gnuplot is missing or fails,
// the function says so on stderr and returns false.
#include <Eigen/Core>

#include <filesystem>
#include <string>
#include <vector>

namespace imc::report {

struct Series {
    enum class Style { Lines, Points, LinesPoints };
    std::string label;
    std::vector<double> x, y;
    Style style = Style::Lines;
};

struct PlotSpec {
    std::string title, xlabel, ylabel;
    bool logX = false, logY = false;
    int width_px = 900, height_px = 600;
};

// Curves and scatter plots on shared axes.
bool plotXY(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<Series>& series);

// A histogram of `samples` (normalized to a density) with optional overlay curves (fitted PDFs).
bool plotHistogram(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<double>& samples,
                   int bins, const std::vector<Series>& overlays = {});

// A matrix as a color map (rows top to bottom), e.g. a crossbar's conductance map.
bool plotHeatmap(const std::filesystem::path& png, const PlotSpec& spec, const Eigen::MatrixXd& values,
                 const std::string& colorbarLabel);

// The gnuplot script text for plotXY (pure; what plotXY sends, data inline). For tests.
std::string scriptXY(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<Series>& series);

}  // namespace imc::report
