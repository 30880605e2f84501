// Collision statistics of 2-bucket hashes: how often two vectors at a given angle share a bucket,
// for the ideal Gaussian RP, the memristor conductance-difference RP and the passive array,
// against the random-hyperplane law 1 - theta / pi.
#include "workloads/lsh.hpp"

#include "nn/random.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace imc::lsh {

namespace {

Eigen::VectorXd randomUnit(nn::Rng& rng, int dim) {
    Eigen::VectorXd x(dim);
    for (int i = 0; i < dim; ++i) x(i) = rng.normal();
    return x.normalized();
}

// A pair (x, y) with angle theta, uniformly oriented: y = cos(theta) u + sin(theta) w, w a random
// unit vector orthogonal to u.
std::pair<Eigen::VectorXd, Eigen::VectorXd> pairAtAngle(nn::Rng& rng, int dim, double theta_rad) {
    const Eigen::VectorXd u = randomUnit(rng, dim);
    Eigen::VectorXd w = randomUnit(rng, dim);
    w = (w - w.dot(u) * u).normalized();
    return {u, std::cos(theta_rad) * u + std::sin(theta_rad) * w};
}

// argmax([p, -p]) with 2 buckets: bucket 0 when p >= 0 (ties to the lowest index).
int bucketOf(double projection) { return projection >= 0 ? 0 : 1; }

}  // namespace

double collisionFrequency(const std::string& family, int dim, double theta_rad, int pairs, std::uint64_t seed,
                          const MemristorOptions& memristor, const PassiveOptions& passive) {
    if (pairs < 1 || dim < 2) throw std::invalid_argument("collision frequency: need pairs >= 1 and dim >= 2");
    nn::Rng rng(seed);
    int collisions = 0;
    if (family == "gaussian" || family == "memristor") {
        Eigen::VectorXd r(dim);
        for (int n = 0; n < pairs; ++n) {
            const auto [x, y] = pairAtAngle(rng, dim, theta_rad);
            if (family == "gaussian") {
                for (int i = 0; i < dim; ++i) r(i) = rng.normal();
            } else {
                // A fresh 2-column crossbar per pair: R = G_a - G_b.
                const Eigen::MatrixXd g = drawMemristorConductances(dim, 2, 1, memristor, rng.next()).front();
                r = g.col(0) - g.col(1);
            }
            collisions += bucketOf(x.dot(r)) == bucketOf(y.dot(r));
        }
    } else if (family == "passive") {
        // Calibrating an array is costly, so one array serves a block of pairs. Inputs are
        // binarized at 0 (the sign of each element drives V_high or V_low).
        PassiveOptions options = passive;
        options.inputThreshold = 0.0;
        constexpr int pairsPerArray = 50;
        std::unique_ptr<PassiveHashFamily> array;
        Matrix both(2, dim);
        for (int n = 0; n < pairs; ++n) {
            if (n % pairsPerArray == 0) array = std::make_unique<PassiveHashFamily>(dim, 2, 1, options, rng.next());
            const auto [x, y] = pairAtAngle(rng, dim, theta_rad);
            both.row(0) = x.transpose().cast<float>();
            both.row(1) = y.transpose().cast<float>();
            const std::vector<int> b = hashBuckets(array->project(both, 0));
            collisions += b[0] == b[1];
        }
    } else {
        throw std::invalid_argument("collision frequency: unknown family '" + family +
                                    "' (known: gaussian, memristor, passive)");
    }
    return double(collisions) / pairs;
}

nlohmann::json runCollisionStatistics(const CollisionOptions& options) {
    const MemristorOptions memristor = memristorOptionsFor(options.fitsPath);
    const PassiveOptions passive;
    nlohmann::json rows = nlohmann::json::array();
    double worstGaussian = 0, worstMemristor = 0, worstPassive = 0;
    std::uint64_t stream = options.seed;
    for (double degrees : options.anglesDeg) {
        const double theta = degrees * std::numbers::pi / 180.0;
        const double theory = 1.0 - theta / std::numbers::pi;
        const double gaussian = collisionFrequency("gaussian", options.dim, theta, options.pairs, ++stream, memristor, passive);
        const double memristive = collisionFrequency("memristor", options.dim, theta, options.pairs, ++stream, memristor, passive);
        const double passiveFrequency = collisionFrequency("passive", options.dim, theta, options.pairs, ++stream, memristor, passive);
        worstGaussian = std::max(worstGaussian, std::abs(gaussian - theory));
        worstMemristor = std::max(worstMemristor, std::abs(memristive - theory));
        worstPassive = std::max(worstPassive, std::abs(passiveFrequency - theory));
        rows.push_back({{"theta_deg", degrees},
                        {"theory", theory},
                        {"gaussian", gaussian},
                        {"memristor", memristive},
                        {"passive", passiveFrequency}});
    }
    // One standard error of a frequency near 1/2 over `pairs` draws, to judge the deviations.
    const double standardError = std::sqrt(0.25 / options.pairs);
    return {{"buckets", 2},
            {"dim", options.dim},
            {"pairs_per_angle", options.pairs},
            {"theory", "1 - theta/pi (random hyperplane)"},
            {"memristor_fits", memristorFitsLabel(options.fitsPath)},
            {"memristor_fit", memristor.conductanceFit.description},
            {"max_abs_deviation", {{"gaussian", worstGaussian}, {"memristor", worstMemristor}, {"passive", worstPassive}}},
            {"standard_error_at_half", standardError},
            {"note", "fresh R per pair for gaussian and memristor; passive arrays serve 50 pairs each and see "
                     "sign-binarized inputs, so their law is that of binary codes, not 1 - theta/pi"},
            {"rows", rows}};
}

}  // namespace imc::lsh
