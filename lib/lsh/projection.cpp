// Hash families: the random projection R (or the passive array that stands in for it) and the
// argmax hash. Every draw is seeded so a run can be repeated bit for bit.
#include "lsh/lsh.hpp"

#include "nn/random.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace imc::lsh {

namespace {

void checkSizes(int dim, int buckets, int rounds) {
    if (dim < 1) throw std::invalid_argument("hash family: dimension must be >= 1, got " + std::to_string(dim));
    if (buckets < 2 || buckets % 2 != 0)
        throw std::invalid_argument("hash family: bucket count must be even and >= 2, got " + std::to_string(buckets));
    if (rounds < 1) throw std::invalid_argument("hash family: rounds must be >= 1, got " + std::to_string(rounds));
}

// Independent streams per purpose and round, so adding a round never changes the earlier ones.
std::uint64_t streamSeed(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
    nn::Rng mix(seed ^ (purpose * 0x9E3779B97F4A7C15ull) ^ (index * 0xD1B54A32D192ED03ull));
    return mix.next();
}

}  // namespace

// ---------------------------------------------------------------- linear families

LinearHashFamily::LinearHashFamily(std::string kind, std::vector<Matrix> matrices)
    : kind_(std::move(kind)), matrices_(std::move(matrices)) {
    if (matrices_.empty()) throw std::invalid_argument("hash family: no projection matrices");
    for (const auto& m : matrices_)
        if (m.rows() != matrices_.front().rows() || m.cols() != matrices_.front().cols() || m.cols() < 1)
            throw std::invalid_argument("hash family: projection matrices differ in shape or are empty");
}

Matrix LinearHashFamily::project(ConstMatrixRef x, int round, std::uint64_t) const {
    const Matrix& r = matrices_.at(round);
    if (x.cols() != r.rows())
        throw std::invalid_argument("hash family '" + kind_ + "': input has " + std::to_string(x.cols()) +
                                    " columns, projection has " + std::to_string(r.rows()) + " rows");
    Matrix p(x.rows(), r.cols());
    p.noalias() = x * r;  // [L, d] x [d, b/2]
    return p;
}

std::unique_ptr<LinearHashFamily> makeGaussianFamily(int dim, int buckets, int rounds, std::uint64_t seed) {
    checkSizes(dim, buckets, rounds);
    std::vector<Matrix> matrices;
    for (int r = 0; r < rounds; ++r) {
        nn::Rng rng(streamSeed(seed, 1, r));
        Matrix m(dim, buckets / 2);
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
        matrices.push_back(std::move(m));
    }
    return std::make_unique<LinearHashFamily>("gaussian", std::move(matrices));
}

// ---------------------------------------------------------------- memristor crossbar

fit::FitRecord MemristorOptions::paperHrsFit() {
    // Moments to lognormal parameters: sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2 / 2.
    const double mean_S = 0.125e-6, std_S = 0.008e-6;
    const double variance = std::log1p((std_S * std_S) / (mean_S * mean_S));
    fit::FitRecord record;
    record.model = "lognormal";
    record.description = "HRS conductance of the self-selective crossbar read at 3 V (paper 000: mean 0.125 uS, "
                         "standard deviation 0.008 uS), ln(G / 1 S) ~ Normal(mu, sigma)";
    record.coefficients = {{"mu", std::log(mean_S) - variance / 2}, {"sigma", std::sqrt(variance)}};
    record.units = {{"mu", "ln(S)"}, {"sigma", "ln(S)"}};
    record.provenance.generator = "imc::lsh::MemristorOptions::paperHrsFit";
    return record;
}

MemristorOptions MemristorOptions::fromFitsFile(const std::string& path) {
    const fit::FitRecord record = fit::readFit(path);
    MemristorOptions options;
    if (record.model == "lognormal") {
        options.conductanceFit = record;
    } else if (record.model == "lognormal-cycle") {
        options.cycleFit = record;
        options.conductanceFit = record;
        options.conductanceFit.model = "lognormal";
        options.conductanceFit.coefficients = {{"mu", record.coefficient("mu")},
                                               {"sigma", record.coefficient("sigma_0")}};
    } else {
        throw fit::FitsFormatError(path + ": model \"" + record.model +
                                   "\" is not a conductance distribution (expected \"lognormal\" or \"lognormal-cycle\")");
    }
    // A characterization run records the device-to-device share of the variance it simulated.
    const auto& parameters = record.provenance.parameters;
    if (parameters.contains("variability_model") && parameters["variability_model"].contains("device_fraction") &&
        parameters["variability_model"]["device_fraction"].is_number())
        options.deviceFraction = parameters["variability_model"]["device_fraction"].get<double>();
    return options;
}

double MemristorOptions::muAtCycle(int) const {
    return cycleFit ? cycleFit->coefficient("mu") : conductanceFit.coefficient("mu");
}

double MemristorOptions::sigmaAtCycle(int cycle) const {
    const double decades = std::log10(double(std::max(cycle, 1)));
    const double sigma = cycleFit ? cycleFit->coefficient("sigma_0") + cycleFit->coefficient("sigma_per_decade") * decades
                                  : conductanceFit.coefficient("sigma") + sigmaPerDecadeOfCycles * decades;
    if (!(sigma > 0)) throw std::invalid_argument("memristor: conductance sigma at cycle " + std::to_string(cycle) +
                                                  " is " + std::to_string(sigma) + ", must be > 0");
    return sigma;
}

std::vector<Eigen::MatrixXd> drawMemristorConductances(int dim, int buckets, int rounds, const MemristorOptions& options,
                                                       std::uint64_t seed) {
    checkSizes(dim, buckets, rounds);
    if (options.deviceFraction < 0 || options.deviceFraction > 1)
        throw std::invalid_argument("memristor: deviceFraction must lie in [0, 1]");
    // The device-to-device part is drawn once and shared by every round (same chip).
    Eigen::MatrixXd deviceOffset(dim, buckets);
    nn::Rng deviceRng(streamSeed(seed, 2, 0));
    for (Eigen::Index i = 0; i < deviceOffset.size(); ++i) deviceOffset.data()[i] = deviceRng.normal();
    const double fixedWeight = std::sqrt(options.deviceFraction), cycleWeight = std::sqrt(1 - options.deviceFraction);
    std::vector<Eigen::MatrixXd> conductances;
    for (int r = 0; r < rounds; ++r) {
        const int cycle = options.firstCycle + r * options.cyclesBetweenRounds;
        const double mu = options.muAtCycle(cycle), sigma = options.sigmaAtCycle(cycle);
        nn::Rng cycleRng(streamSeed(seed, 3, r));
        Eigen::MatrixXd g(dim, buckets);
        for (Eigen::Index i = 0; i < g.size(); ++i)
            g.data()[i] = std::exp(mu + sigma * (fixedWeight * deviceOffset.data()[i] + cycleWeight * cycleRng.normal()));
        conductances.push_back(std::move(g));
    }
    return conductances;
}

namespace {

Matrix pairDifferences(const Eigen::MatrixXd& g, Eigen::Index firstColumn, int buckets, double scale) {
    Matrix r(g.rows(), buckets / 2);
    for (Eigen::Index c = 0; c < buckets / 2; ++c)
        r.col(c) = ((g.col(firstColumn + 2 * c) - g.col(firstColumn + 2 * c + 1)) * scale).cast<float>();
    return r;
}

}  // namespace

std::unique_ptr<LinearHashFamily> makeMemristorFamily(int dim, int buckets, int rounds, const MemristorOptions& options,
                                                      std::uint64_t seed) {
    std::vector<Matrix> matrices;
    for (const auto& g : drawMemristorConductances(dim, buckets, rounds, options, seed))
        matrices.push_back(pairDifferences(g, 0, buckets, options.readVoltage_V));
    return std::make_unique<LinearHashFamily>("memristor", std::move(matrices));
}

// ---------------------------------------------------------------- measured maps

Eigen::MatrixXd readConductanceMap(const std::string& csvPath) {
    const fit::CsvTable table = fit::readCsv(csvPath);
    Eigen::MatrixXd g(Eigen::Index(table.rows()), Eigen::Index(table.columns.size()));
    for (std::size_t c = 0; c < table.columns.size(); ++c)
        for (std::size_t r = 0; r < table.rows(); ++r) g(Eigen::Index(r), Eigen::Index(c)) = table.columns[c][r];
    if (g.size() == 0) throw std::runtime_error(csvPath + ": empty conductance map");
    return g;
}

std::unique_ptr<LinearHashFamily> makeMeasuredFamily(const std::vector<std::string>& csvPaths, int buckets,
                                                     int rounds) {
    if (csvPaths.empty()) throw std::invalid_argument("measured hash family: no conductance map given");
    std::vector<Eigen::MatrixXd> maps;
    for (const auto& path : csvPaths) maps.push_back(readConductanceMap(path));
    checkSizes(int(maps.front().rows()), buckets, rounds);
    std::vector<Matrix> matrices;
    for (int r = 0; r < rounds; ++r) {
        const std::size_t file = std::size_t(r) % maps.size();
        const Eigen::Index block = r / Eigen::Index(maps.size());
        const Eigen::MatrixXd& g = maps[file];
        if (g.rows() != maps.front().rows())
            throw std::runtime_error(csvPaths[file] + ": " + std::to_string(g.rows()) + " rows, " + csvPaths.front() +
                                     " has " + std::to_string(maps.front().rows()));
        if ((block + 1) * buckets > g.cols())
            throw std::runtime_error(csvPaths[file] + ": round " + std::to_string(r) + " needs columns " +
                                     std::to_string(block * buckets + 1) + ".." + std::to_string((block + 1) * buckets) +
                                     " but the map has " + std::to_string(g.cols()));
        matrices.push_back(pairDifferences(g, block * buckets, buckets, 1.0));
    }
    return std::make_unique<LinearHashFamily>("measured", std::move(matrices));
}

// ---------------------------------------------------------------- passive 0T1R

PassiveOptions PassiveOptions::fromFitsFile(const std::string& path) {
    const fit::FitRecord record = fit::readFit(path);
    if (record.model != "passive-0t1r")
        throw fit::FitsFormatError(path + ": model \"" + record.model + "\" is not \"passive-0t1r\"");
    PassiveOptions o;
    const auto take = [&](const char* name, double& field) {
        if (auto it = record.coefficients.find(name); it != record.coefficients.end()) field = it->second;
    };
    take("G_min_S", o.G_min_S);
    take("G_max_S", o.G_max_S);
    take("a3_per_A1_per_V2", o.a3PerA1_per_V2);
    take("a3_spread", o.a3Spread);
    take("V_low_V", o.V_low_V);
    take("V_high_V", o.V_high_V);
    take("read_noise_relative", o.readNoiseRelative);
    return o;
}

PassiveHashFamily::PassiveHashFamily(int dim, int buckets, int rounds, const PassiveOptions& options,
                                     std::uint64_t seed)
    : dim_(dim), buckets_(buckets), options_(options), seed_(seed) {
    checkSizes(dim, buckets, rounds);
    if (!(options.G_min_S > 0 && options.G_max_S >= options.G_min_S))
        throw std::invalid_argument("passive: need 0 < G_min_S <= G_max_S");
    if (options.readsPerHash < 1 || options.calibrationInputs < 2)
        throw std::invalid_argument("passive: readsPerHash >= 1 and calibrationInputs >= 2 required");
    const int columns = buckets / 2;
    const double logMin = std::log(options.G_min_S), logMax = std::log(options.G_max_S);
    for (int r = 0; r < rounds; ++r) {
        nn::Rng rng(streamSeed(seed, 4, r));
        Array array;
        array.A1.resize(dim, columns);
        array.A3.resize(dim, columns);
        for (Eigen::Index i = 0; i < array.A1.size(); ++i) {
            const double g = std::exp(logMin + (logMax - logMin) * rng.uniform());
            array.A1.data()[i] = g;
            array.A3.data()[i] = options.a3PerA1_per_V2 * g * (1 + options.a3Spread * rng.normal());
        }
        array.threshold_A = Eigen::VectorXd::Zero(columns);
        arrays_.push_back(std::move(array));
        // Calibration: median noiseless current over random half-ones inputs, per column.
        Matrix calibration(options.calibrationInputs, dim);
        for (Eigen::Index i = 0; i < calibration.size(); ++i)
            calibration.data()[i] = rng.uniform() < 0.5 ? 1.0f : 0.0f;
        const Eigen::MatrixXd currents = columnCurrents(calibration, r);
        for (int c = 0; c < columns; ++c) {
            std::vector<double> column(currents.rows());
            for (Eigen::Index i = 0; i < currents.rows(); ++i) column[i] = currents(i, c);
            std::nth_element(column.begin(), column.begin() + column.size() / 2, column.end());
            arrays_.back().threshold_A(c) = column[column.size() / 2];
        }
    }
}

Eigen::MatrixXd PassiveHashFamily::columnCurrents(ConstMatrixRef x, int round) const {
    const Array& array = arrays_.at(round);
    if (x.cols() != dim_)
        throw std::invalid_argument("passive hash family: input has " + std::to_string(x.cols()) + " columns, array has " +
                                    std::to_string(dim_) + " rows");
    // Binary drive: each input element selects one of two voltages.
    Eigen::MatrixXd volts(x.rows(), x.cols());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        for (Eigen::Index j = 0; j < x.cols(); ++j)
            volts(i, j) = x(i, j) > options_.inputThreshold ? options_.V_high_V : options_.V_low_V;
    return volts * array.A1 + volts.array().cube().matrix() * array.A3;  // [L, b/2]
}

Matrix PassiveHashFamily::project(ConstMatrixRef x, int round, std::uint64_t readStream) const {
    const Eigen::MatrixXd currents = columnCurrents(x, round);
    const Array& array = arrays_.at(round);
    Matrix p(currents.rows(), currents.cols());
    for (Eigen::Index i = 0; i < currents.rows(); ++i) {
        // The row's binary drive pattern (FNV-1a over its bits) joins the key, so different inputs
        // at the same row are different reads; the key never depends on what ran before.
        std::uint64_t pattern = 0xCBF29CE484222325ull;
        for (Eigen::Index j = 0; j < x.cols(); ++j)
            pattern = (pattern ^ std::uint64_t(x(i, j) > options_.inputThreshold)) * 0x100000001B3ull;
        const std::uint64_t read = streamSeed(streamSeed(seed_, 5, std::uint64_t(round)), 6 + readStream,
                                              std::uint64_t(i) ^ (pattern * 0xC2B2AE3D27D4EB4Full));
        nn::Rng rng(read);
        for (Eigen::Index c = 0; c < currents.cols(); ++c) {
            int ones = 0;
            for (int r = 0; r < options_.readsPerHash; ++r) {
                const double current = currents(i, c) * (1 + options_.readNoiseRelative * rng.normal());
                ones += current > array.threshold_A(c);
            }
            p(i, c) = static_cast<float>(double(ones) / options_.readsPerHash - 0.5);
        }
    }
    return p;
}

// ---------------------------------------------------------------- by name, and the hash

std::unique_ptr<HashFamily> makeHashFamily(const ProjectionSpec& spec, int dim) {
    if (spec.kind == "gaussian") return makeGaussianFamily(dim, spec.buckets, spec.rounds, spec.seed);
    if (spec.kind == "memristor") {
        MemristorOptions options = spec.memristor ? *spec.memristor
                                   : spec.fitsPath.empty() ? MemristorOptions{MemristorOptions::paperHrsFit()}
                                                           : MemristorOptions::fromFitsFile(spec.fitsPath);
        return makeMemristorFamily(dim, spec.buckets, spec.rounds, options, spec.seed);
    }
    if (spec.kind == "measured") {
        auto family = makeMeasuredFamily(spec.measuredCsv, spec.buckets, spec.rounds);
        if (family->dim() != dim)
            throw std::invalid_argument("measured conductance map has " + std::to_string(family->dim()) +
                                        " rows, the vectors to hash have " + std::to_string(dim));
        return family;
    }
    if (spec.kind == "passive") {
        const PassiveOptions options = spec.passive ? *spec.passive
                                       : spec.fitsPath.empty() ? PassiveOptions{}
                                                               : PassiveOptions::fromFitsFile(spec.fitsPath);
        return std::make_unique<PassiveHashFamily>(dim, spec.buckets, spec.rounds, options, spec.seed);
    }
    throw std::invalid_argument("unknown projection '" + spec.kind + "' (known: gaussian, memristor, measured, passive)");
}

std::vector<int> hashBuckets(ConstMatrixRef projections) {
    const Eigen::Index half = projections.cols();
    std::vector<int> buckets(projections.rows());
    for (Eigen::Index i = 0; i < projections.rows(); ++i) {
        // Scan [p, -p] in index order with a strict '>' so the lowest index wins ties.
        int best = 0;
        float bestValue = projections(i, 0);
        for (Eigen::Index c = 1; c < half; ++c)
            if (projections(i, c) > bestValue) bestValue = projections(i, c), best = int(c);
        for (Eigen::Index c = 0; c < half; ++c)
            if (-projections(i, c) > bestValue) bestValue = -projections(i, c), best = int(half + c);
        buckets[i] = best;
    }
    return buckets;
}

}  // namespace imc::lsh
