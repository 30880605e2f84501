#include "report/plot.hpp"

#include <gnuplot-iostream.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace imc::report {
namespace {

std::string gpQuote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
}

std::string header(const std::filesystem::path& png, const PlotSpec& spec) {
    std::ostringstream g;
    g << "set terminal pngcairo size " << spec.width_px << "," << spec.height_px << " font 'sans,11'\n";
    g << "set output " << gpQuote(png.string()) << "\n";
    if (!spec.title.empty()) g << "set title " << gpQuote(spec.title) << "\n";
    g << "set xlabel " << gpQuote(spec.xlabel) << "\nset ylabel " << gpQuote(spec.ylabel) << "\n";
    g << "set grid\nset key outside right top\n";
    if (spec.logX) g << "set logscale x\n";
    if (spec.logY) g << "set logscale y\n";
    return g.str();
}

const char* styleOf(Series::Style s) {
    switch (s) {
        case Series::Style::Lines: return "lines lw 2";
        case Series::Style::Points: return "points pt 7 ps 0.6";
        case Series::Style::LinesPoints: return "linespoints lw 2 pt 7 ps 0.8";
    }
    return "lines";
}

std::string inlineData(const Series& s) {
    std::ostringstream d;
    d.precision(10);
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) d << s.x[i] << ' ' << s.y[i] << '\n';
    d << "e\n";
    return d.str();
}

bool haveGnuplot() {
    static const bool have = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
    return have;
}

bool send(const std::filesystem::path& png, const std::string& script) {
    if (!haveGnuplot()) {
        std::fprintf(stderr, "imc: no plot %s: gnuplot is not installed (apt-get install gnuplot-nox)\n", png.c_str());
        return false;
    }
    try {
        std::filesystem::create_directories(std::filesystem::absolute(png).parent_path());
        {
            Gnuplot gp("gnuplot 2>/dev/null");
            gp << script << "unset output\n";
        }  // closing the pipe waits for gnuplot to finish the file
        if (!std::filesystem::exists(png) || std::filesystem::file_size(png) == 0) {
            std::fprintf(stderr, "imc: gnuplot wrote no %s\n", png.c_str());
            return false;
        }
        return true;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imc: plot %s failed: %s\n", png.c_str(), e.what());
        return false;
    }
}

}  // namespace

std::string scriptXY(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<Series>& series) {
    std::string g = header(png, spec) + "plot ";
    for (std::size_t i = 0; i < series.size(); ++i)
        g += (i ? ", " : "") + std::string("'-' using 1:2 with ") + styleOf(series[i].style) + " title " +
             gpQuote(series[i].label);
    g += "\n";
    for (const auto& s : series) g += inlineData(s);
    return g;
}

bool plotXY(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<Series>& series) {
    if (series.empty()) return false;
    return send(png, scriptXY(png, spec, series));
}

bool plotHistogram(const std::filesystem::path& png, const PlotSpec& spec, const std::vector<double>& samples, int bins,
                   const std::vector<Series>& overlays) {
    if (samples.empty() || bins < 1) return false;
    auto [lo, hi] = std::minmax_element(samples.begin(), samples.end());
    const double a = *lo, b = (*hi > *lo) ? *hi : *lo + 1;
    const double w = (b - a) / bins;
    std::vector<double> count(std::size_t(bins), 0);
    for (double v : samples) count[std::min(std::size_t(bins - 1), std::size_t((v - a) / w))] += 1;
    Series hist{"samples (n=" + std::to_string(samples.size()) + ")", {}, {}, Series::Style::Lines};
    for (int i = 0; i < bins; ++i) {
        hist.x.push_back(a + (i + 0.5) * w);
        hist.y.push_back(count[std::size_t(i)] / (double(samples.size()) * w));
    }
    std::string g = header(png, spec) + "set style fill solid 0.4 border -1\nset boxwidth " + std::to_string(w * 0.95) +
                    " absolute\nplot '-' using 1:2 with boxes title " + gpQuote(hist.label);
    for (const auto& o : overlays) g += ", '-' using 1:2 with " + std::string(styleOf(o.style)) + " title " + gpQuote(o.label);
    g += "\n" + inlineData(hist);
    for (const auto& o : overlays) g += inlineData(o);
    return send(png, g);
}

bool plotHeatmap(const std::filesystem::path& png, const PlotSpec& spec, const Eigen::MatrixXd& values,
                 const std::string& colorbarLabel) {
    if (values.size() == 0) return false;
    std::ostringstream g;
    g << header(png, spec) << "set cblabel " << gpQuote(colorbarLabel) << "\nset yrange [] reverse\nunset grid\n";
    g << "set palette rgbformulae 33,13,10\nplot '-' matrix with image notitle\n";
    g.precision(8);
    for (Eigen::Index i = 0; i < values.rows(); ++i) {
        for (Eigen::Index j = 0; j < values.cols(); ++j) g << values(i, j) << (j + 1 < values.cols() ? " " : "\n");
    }
    g << "e\n";
    return send(png, g.str());
}

}  // namespace imc::report
