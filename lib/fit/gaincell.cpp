#include "fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace imc::fit {
namespace {

// Distinct values up to a tolerance relative to the largest magnitude, so SPICE round-off in a
// nominally constant V_in does not count as variation.
std::vector<double> distinctLevels(std::span<const double> values, double relative_tolerance) {
    std::vector<double> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    double largest = 0.0;
    for (double v : sorted) largest = std::max(largest, std::abs(v));
    const double tolerance = relative_tolerance * std::max(largest, 1e-300);
    std::vector<double> levels;
    for (double v : sorted)
        if (levels.empty() || v - levels.back() > tolerance) levels.push_back(v);
    return levels;
}

std::string joinLevels(const std::vector<double>& levels) {
    std::ostringstream out;
    for (std::size_t k = 0; k < levels.size(); ++k) out << (k ? ", " : "") << levels[k];
    return out.str();
}

}  // namespace

double evaluateGainCellPolynomial(const GainCellCoefficients& C, double Q, double K, double V_in,
                                  double K_offset_V) {
    return GainCellPolynomial{gainCellPerPowerSums(C, V_in), K_offset_V}(Q, K);
}

GainCellPolynomial gainCellPolynomial(const std::map<std::string, double>& c, std::optional<double> V_in_V,
                                      const std::string& source) {
    auto get = [&](const std::string& name) {
        const auto it = c.find(name);
        if (it == c.end()) throw FitsFormatError(source + ": missing coefficient \"" + name + "\"");
        return it->second;
    };
    GainCellPolynomial poly;
    poly.offset_V = get("K_offset");
    if (c.count("C_0_0")) {
        if (!V_in_V)
            throw FitsFormatError(source + ": the polynomial gives C_i_j, so the read voltage V_in is needed to fold them");
        GainCellCoefficients C{};
        for (int i = 0; i <= 3; ++i)
            for (int j = 0; j <= 3 - i; ++j) C[i][j] = get("C_" + std::to_string(i) + "_" + std::to_string(j));
        poly.D = gainCellPerPowerSums(C, *V_in_V);
        return poly;
    }
    if (!c.count("D_0")) throw FitsFormatError(source + ": gaincell-poly needs either C_0_0..C_3_0 or D_0..D_3");
    for (int i = 0; i <= 3; ++i) poly.D[std::size_t(i)] = get("D_" + std::to_string(i));
    if (const auto it = c.find("V_in"); V_in_V && it != c.end() && std::abs(*V_in_V - it->second) > 1e-9 * std::abs(it->second))
        throw FitsFormatError(source + ": the per-power sums D_i were fitted at V_in = " + std::to_string(it->second) +
                              " V but the array reads at V_in_V = " + std::to_string(*V_in_V) + " V");
    return poly;
}

std::array<double, 4> gainCellPerPowerSums(const GainCellCoefficients& C, double V_in) {
    std::array<double, 4> D{};
    for (int i = 0; i <= 3; ++i)
        for (int j = 0; j <= 3 - i; ++j) D[i] += C[i][j] * std::pow(V_in, j);
    return D;
}

GainCellPolyFit fitGainCellPolynomial(std::span<const double> Q, std::span<const double> K,
                                      std::span<const double> S, std::span<const double> V_in,
                                      double K_offset_V) {
    const std::size_t n = Q.size();
    if (K.size() != n || S.size() != n || V_in.size() != n)
        throw std::invalid_argument("fitGainCellPolynomial: Q, K, S and V_in must have the same length (" +
                                    std::to_string(Q.size()) + ", " + std::to_string(K.size()) + ", " +
                                    std::to_string(S.size()) + ", " + std::to_string(V_in.size()) + ")");
    if (n < 4) throw std::invalid_argument("fitGainCellPolynomial: need at least 4 samples, got " + std::to_string(n));

    const std::vector<double> V_levels = distinctLevels(V_in, 1e-6);
    const std::vector<double> K_levels = distinctLevels(K, 1e-9);
    if (K_levels.size() < 4)
        throw std::invalid_argument("fitGainCellPolynomial: K takes " + std::to_string(K_levels.size()) +
                                    " distinct values; the cubic in (K - K_offset) needs at least 4");

    GainCellPolyFit fit;
    fit.K_offset_V = K_offset_V;
    fit.n = n;
    fit.distinct_V_in = V_levels.size();
    // Mean as V_in[0] + mean deviation, so a constant 0.9 V is reported as exactly 0.9.
    double V_deviation_sum = 0.0;
    for (double v : V_in) V_deviation_sum += v - V_in[0];
    fit.V_in_V = V_in[0] + V_deviation_sum / double(n);

    Eigen::VectorXd target(static_cast<Eigen::Index>(n));
    for (std::size_t r = 0; r < n; ++r) target[Eigen::Index(r)] = S[r];

    // A V_in spread below 0.1 % makes the V_in^0..V_in^3 columns collinear to ~1e-9: treat it as
    // constant rather than report C_ij that only fit noise.
    const double V_spread_relative = (V_levels.back() - V_levels.front()) / std::max(std::abs(fit.V_in_V), 1e-300);
    if (V_levels.size() == 1 || V_spread_relative < 1e-3) {
        // With one V_in every C_ij V_in^j of the same i multiplies the same regressor: only the sum
        // over j is identifiable.
        Eigen::MatrixXd design(Eigen::Index(n), 4);
        for (std::size_t r = 0; r < n; ++r)
            for (int i = 0; i <= 3; ++i) design(Eigen::Index(r), i) = Q[r] * std::pow(K[r] - K_offset_V, i);
        const LinearLeastSquaresFit ls = fitLinearLeastSquares(design, target);
        if (!ls.full_rank())
            throw std::invalid_argument("fitGainCellPolynomial: the per-power design is rank " +
                                        std::to_string(ls.rank) + " of 4 (is Q zero everywhere?)");
        fit.identifiable = false;
        for (int i = 0; i <= 3; ++i) {
            fit.D[i] = ls.coefficients[i];
            fit.coefficients["D_" + std::to_string(i)] = fit.D[i];
        }
        std::ostringstream note;
        if (V_levels.size() == 1) note << "V_in is constant (" << fit.V_in_V << " V)";
        else note << "V_in varies by only " << 100.0 * V_spread_relative << " % around " << fit.V_in_V << " V";
        note << ", so the C_i_j of different j are not identifiable; D_i = sum_j C_i_j * V_in^j are given instead";
        fit.note = note.str();
        fit.rmse = ls.rmse;
        fit.r2 = ls.r2;
        return fit;
    }
    if (V_levels.size() < 4)
        throw std::invalid_argument(
            "fitGainCellPolynomial: V_in takes " + std::to_string(V_levels.size()) + " distinct values (" +
            joinLevels(V_levels) +
            "); the cubic in V_in of C_0_j needs at least 4. Fit one V_in level at a time to get the per-power sums D_i");

    Eigen::MatrixXd design(Eigen::Index(n), 10);
    for (std::size_t r = 0; r < n; ++r) {
        Eigen::Index c = 0;
        for (int i = 0; i <= 3; ++i)
            for (int j = 0; j <= 3 - i; ++j)
                design(Eigen::Index(r), c++) = Q[r] * std::pow(K[r] - K_offset_V, i) * std::pow(V_in[r], j);
    }
    const LinearLeastSquaresFit ls = fitLinearLeastSquares(design, target);
    if (!ls.full_rank())
        throw std::invalid_argument(
            "fitGainCellPolynomial: the 10-coefficient design is rank " + std::to_string(ls.rank) +
            " of 10 although V_in takes " + std::to_string(V_levels.size()) + " distinct values (" + joinLevels(V_levels) +
            "); the Q, K, V_in samples do not span the polynomial");
    fit.identifiable = true;
    Eigen::Index c = 0;
    for (int i = 0; i <= 3; ++i)
        for (int j = 0; j <= 3 - i; ++j) {
            fit.C[i][j] = ls.coefficients[c++];
            fit.coefficients["C_" + std::to_string(i) + "_" + std::to_string(j)] = fit.C[i][j];
        }
    fit.D = gainCellPerPowerSums(fit.C, fit.V_in_V);
    fit.rmse = ls.rmse;
    fit.r2 = ls.r2;
    return fit;
}

}  // namespace imc::fit
