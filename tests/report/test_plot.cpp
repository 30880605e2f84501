#include "report/plot.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace imc::report;

namespace {
// PNG width and height from the IHDR chunk.
std::pair<int, int> pngSize(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    unsigned char b[24] = {};
    in.read(reinterpret_cast<char*>(b), 24);
    REQUIRE(b[1] == 'P');
    REQUIRE(b[2] == 'N');
    auto be = [&](int o) { return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]; };
    return {be(16), be(20)};
}
}  // namespace

TEST_CASE("a curve plot is a PNG of the requested size", "[report]") {
    const fs::path dir = fs::temp_directory_path() / ("imc-plot-" + std::to_string(::getpid()));
    Series s{"exp(-t)", {}, {}, Series::Style::Lines};
    for (int i = 0; i <= 50; ++i) s.x.push_back(i * 0.1), s.y.push_back(std::exp(-i * 0.1));
    PlotSpec spec{"decay", "t (s)", "V (V)", false, false, 640, 480};
    REQUIRE(plotXY(dir / "curve.png", spec, {s}));
    CHECK(pngSize(dir / "curve.png") == std::pair{640, 480});
    // The script carries every finite point and skips NaN.
    s.y[3] = std::nan("");
    const std::string script = scriptXY(dir / "x.png", spec, {s});
    CHECK_THAT(script, Catch::Matchers::ContainsSubstring("title \"exp(-t)\""));
    CHECK(std::count(script.begin(), script.end(), '\n') == 8 + 50 + 1);  // 8 header and plot lines, 50 finite points, "e"
    std::vector<double> samples;
    for (int i = 0; i < 1000; ++i) samples.push_back(std::sin(i * 0.37));
    REQUIRE(plotHistogram(dir / "hist.png", spec, samples, 20));
    Eigen::MatrixXd m = Eigen::MatrixXd::Random(8, 8);
    REQUIRE(plotHeatmap(dir / "map.png", spec, m, "G (S)"));
    CHECK(pngSize(dir / "map.png") == std::pair{640, 480});
    fs::remove_all(dir);
}
