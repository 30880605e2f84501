#include "fit/fit.hpp"

#include <cmath>

namespace imc::fit {

LinearLeastSquaresFit fitLinearLeastSquares(const Eigen::MatrixXd& design, const Eigen::VectorXd& target,
                                            double rank_tolerance) {
    if (design.rows() != target.size())
        throw std::invalid_argument("fitLinearLeastSquares: design has " + std::to_string(design.rows()) +
                                    " rows but target has " + std::to_string(target.size()));
    if (design.rows() == 0 || design.cols() == 0)
        throw std::invalid_argument("fitLinearLeastSquares: empty problem");
    if (!design.allFinite() || !target.allFinite())
        throw std::invalid_argument("fitLinearLeastSquares: non-finite value in design or target");

    // Columns can differ by many decades (Q in seconds, K^3 in V^3); unit-norm columns keep the
    // pivoting and the rank threshold meaningful.
    Eigen::VectorXd scale(design.cols());
    for (Eigen::Index c = 0; c < design.cols(); ++c) {
        const double norm = design.col(c).norm();
        scale[c] = norm > 0.0 ? 1.0 / norm : 1.0;
    }
    const Eigen::MatrixXd scaled = design * scale.asDiagonal();

    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(scaled.rows(), scaled.cols());
    qr.setThreshold(rank_tolerance);
    qr.compute(scaled);

    LinearLeastSquaresFit fit;
    fit.rank = qr.rank();
    fit.coefficients = scale.cwiseProduct(qr.solve(target));
    fit.residuals = target - design * fit.coefficients;

    const double n = double(target.size());
    const double ss_res = fit.residuals.squaredNorm();
    const double ss_tot = (target.array() - target.mean()).matrix().squaredNorm();
    fit.rmse = std::sqrt(ss_res / n);
    fit.r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : (ss_res == 0.0 ? 1.0 : 0.0);
    return fit;
}

}  // namespace imc::fit
