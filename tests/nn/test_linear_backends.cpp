// The linear-layer backends: SVD truncation against Eckart-Young, the factorized layer's
// gradients against central differences, INT8 bit slices, the bit-serial ADC model against an
// integer matmul, and the hybrid SLC/MLC backend against the INT8 model.
#include "behavior/rram_model.hpp"
#include "nn/hyflexpim.hpp"
#include "nn/nn.hpp"
#include "tiny_model.hpp"
#include "nn/random.hpp"
#include "nn/svd_linear.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include <Eigen/QR>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace imc::nn;
using Catch::Matchers::WithinRel;

namespace {

Matrix randomMatrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double scale = 1.0) {
    Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(scale * rng.normal());
    return m;
}

using testing::tinyConfig;
using testing::tinyModel;

std::vector<int> randomTokens(std::size_t n, int vocab, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<int> t(n);
    for (auto& x : t) x = static_cast<int>(rng.below(static_cast<std::uint64_t>(vocab)));
    return t;
}

imc::behavior::RramModel paperCells(imc::behavior::PaperRramSigma which) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("imc-test-rram-" + std::to_string(static_cast<int>(which)));
    imc::behavior::writePaperRramFits(dir.string(), which);
    return imc::behavior::loadRramFits(dir.string());
}

SlcSelection allRanks(const SvdFactors& f, std::uint8_t value) {
    SlcSelection s(f.sites.size());
    for (std::size_t i = 0; i < f.sites.size(); ++i)
        for (const auto& b : f.sites[i]) s[i].push_back(std::vector<std::uint8_t>(static_cast<std::size_t>(b.rank()), value));
    return s;
}

}  // namespace

TEST_CASE("SVD truncation error equals the Eckart-Young bound on a matrix of known spectrum") {
    const int rows = 24, cols = 40;
    const Eigen::MatrixXd q1 = Eigen::HouseholderQR<Eigen::MatrixXd>(randomMatrix(rows, rows, 1).cast<double>()).householderQ();
    const Eigen::MatrixXd q2 = Eigen::HouseholderQR<Eigen::MatrixXd>(randomMatrix(cols, cols, 2).cast<double>()).householderQ();
    Eigen::VectorXd sigma(rows);
    for (int i = 0; i < rows; ++i) sigma[i] = 10.0 * std::pow(0.8, i);
    const Eigen::MatrixXd w = q1 * sigma.asDiagonal() * q2.leftCols(rows).transpose();
    const int k = hardThresholdRank(rows, cols);
    REQUIRE(k == 15);
    const SvdBlock b = factorizeMatrix(w.cast<float>(), 0);
    REQUIRE(b.rank() == k);
    const Eigen::MatrixXd error = w - reconstruct(b).cast<double>();
    const double bound = std::sqrt(sigma.tail(rows - k).squaredNorm());
    CHECK_THAT(error.norm(), WithinRel(bound, 1e-3));
    for (int i = 0; i < k; ++i) CHECK_THAT(double(b.s(0, i)), WithinRel(sigma[i], 1e-5));
}

TEST_CASE("factorized-layer gradients match central differences through the whole loss") {
    Model model = tinyModel(3);
    SvdLinear svd(factorize(model.weights, model.config, 3));  // rank 3 < the threshold: truncation active
    auto attention = makeAttentionBackend("ideal");
    Transformer net(model, *attention, svd);
    const int batch = 2, seqLen = 8;
    const auto tokens = randomTokens(batch * seqLen, 13, 5), targets = randomTokens(batch * seqLen, 13, 6);
    Weights grads = Weights::zeros(model.config);
    net.forwardLoss(tokens, targets, batch, seqLen);
    net.backward(grads);
    auto params = svd.parameters();
    REQUIRE(params.size() == 2u * (3 + 3 + 3) * 2);  // 2 layers x (q, k, v, proj, fc, fc_proj) x (u, s, vt)
    // Biases of the factorized sites still get their gradients from the backend.
    params.push_back({"h.0.attn.c_attn.bias", &model.weights.layers[0].attnBias, &grads.layers[0].attnBias});
    params.push_back({"h.1.mlp.c_proj.bias", &model.weights.layers[1].fcProjBias, &grads.layers[1].fcProjBias});
    Rng rng(77);
    for (auto& p : params) {
        Matrix direction = randomMatrix(p.value->rows(), p.value->cols(), rng.next());
        direction /= direction.norm();
        const Matrix saved = *p.value;
        const float eps = 1e-2f;
        *p.value = saved + eps * direction;
        const double plus = net.forwardLoss(tokens, targets, batch, seqLen);
        *p.value = saved - eps * direction;
        const double minus = net.forwardLoss(tokens, targets, batch, seqLen);
        *p.value = saved;
        const double numeric = (plus - minus) / (2.0 * eps);
        const double analytic = p.grad->cwiseProduct(direction).sum();
        INFO(p.name << ": analytic " << analytic << " numeric " << numeric);
        CHECK(std::abs(analytic - numeric) <= 2e-4 + 1e-2 * std::abs(numeric));
        CHECK(p.grad->norm() > 1e-4);
    }
}

TEST_CASE("four 2-bit and eight 1-bit two's-complement slices reconstruct every INT8 value") {
    for (int q = -128; q <= 127; ++q)
        for (int bits : {1, 2}) {
            const auto s = sliceInt8(q, bits);
            REQUIRE(s.size() == std::size_t(8 / bits));
            int value = 0;
            for (std::size_t j = 0; j < s.size(); ++j) {
                const int lo = j + 1 == s.size() ? -(1 << (bits - 1)) : 0;
                const int hi = j + 1 == s.size() ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
                CHECK((s[j] >= lo && s[j] <= hi));
                value += s[j] * (1 << (bits * static_cast<int>(j)));
            }
            CHECK(value == q);
        }
}

TEST_CASE("bit-serial inputs, 64-row ADC partial sums and shift-and-add equal an integer matmul at sigma 0") {
    const auto cells = paperCells(imc::behavior::PaperRramSigma::PublicCode);
    const int inputs = 150, outputs = 7, tokens = 5;  // 150 rows: two full 64-row groups and a partial one
    Rng rng(9);
    IntMatrix xq(tokens, inputs), q(inputs, outputs);
    for (Eigen::Index i = 0; i < xq.size(); ++i) xq.data()[i] = static_cast<std::int64_t>(rng.below(256)) - 128;
    for (Eigen::Index i = 0; i < q.size(); ++i) q.data()[i] = static_cast<std::int64_t>(rng.below(256)) - 128;
    const IntMatrix exact = xq * q;
    std::vector<std::uint8_t> all(static_cast<std::size_t>(q.size()), 1), none(all.size(), 0);
    for (const auto* cell : {&cells.slc, &cells.mlc}) {
        const SlicedArray array = programArray(q, all, *cell, {1, 0, false});
        AdcCounts counts;
        // 9 bits covers any 64-row partial sum of 2-bit cells (64 x 3 = 192), so nothing clips.
        const Matrix product = bitSerialProduct(xq, array, 64, 9, &counts);
        CHECK(counts.clipped == 0);
        CHECK(counts.conversions > 0);
        CHECK((product.cast<double>() - exact.cast<double>()).cwiseAbs().maxCoeff() == 0.0);
        // The fits' own ADC (6-bit SLC, 7-bit MLC) saturates on dense random bytes; the optimized
        // kernel and the one-multiply-at-a-time reference agree on that arithmetic too.
        AdcCounts narrow;
        const Matrix clipped = bitSerialProduct(xq, array, cell->rows, cell->adcBits, &narrow);
        CHECK((clipped - bitSerialProductReference(xq, array, cell->rows, cell->adcBits)).cwiseAbs().maxCoeff() == 0.0f);
    }
    // Split across both cell types, the two arrays' sums still add up to the matmul.
    std::vector<std::uint8_t> half(all.size());
    for (std::size_t i = 0; i < half.size(); ++i) half[i] = i % 3 == 0;
    std::vector<std::uint8_t> rest(half.size());
    for (std::size_t i = 0; i < half.size(); ++i) rest[i] = !half[i];
    const Matrix split = bitSerialProduct(xq, programArray(q, half, cells.slc, {1, 0, false}), 64, 9, nullptr) +
                         bitSerialProduct(xq, programArray(q, rest, cells.mlc, {1, 0, false}), 64, 9, nullptr);
    CHECK((split.cast<double>() - exact.cast<double>()).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("all-SLC hybrid layers with exact SLC equal the INT8 model bit for bit") {
    Model model = tinyModel(4);
    const SvdFactors factors = factorize(model.weights, model.config, 0);
    HyFlexPimOptions o;
    o.cells = paperCells(imc::behavior::PaperRramSigma::PublicCode);
    o.seed = 3;
    const HyFlexPimLinear hybrid(factors, allRanks(factors, 1), o);
    CHECK(hybrid.slcWeightFraction() == 1.0);
    // The INT8 model: A = U diag(s) and B = V^T quantized per matrix, run as an SVD layer.
    SvdFactors int8 = factors;
    for (auto& site : int8.sites)
        for (auto& b : site) {
            const Matrix a = (b.u.array().rowwise() * b.s.row(0).array()).matrix();
            for (Matrix* m : {&b.u, &b.vt}) {
                const Matrix& w = m == &b.u ? a : b.vt;
                const float scale = w.cwiseAbs().maxCoeff() / 127.0f;
                Matrix deq(w.rows(), w.cols());
                for (Eigen::Index i = 0; i < w.size(); ++i)
                    deq.data()[i] = static_cast<float>(std::clamp(std::round(w.data()[i] / scale), -127.0f, 127.0f)) * scale;
                *m = deq;
            }
            b.s.setOnes();
        }
    const SvdLinear reference(int8);
    auto attention = makeAttentionBackend("ideal");
    const auto tokens = randomTokens(3 * 8, 13, 8);
    Transformer a(model, *attention, hybrid), b(model, *attention, reference);
    const Matrix la = a.forward(tokens, 3, 8), lb = b.forward(tokens, 3, 8);
    CHECK((la - lb).cwiseAbs().maxCoeff() == 0.0f);

    // With the MLC noise on, all-MLC differs, and the same seed draws the same cells again.
    const HyFlexPimLinear mlc1(factors, allRanks(factors, 0), o), mlc2(factors, allRanks(factors, 0), o);
    Transformer c(model, *attention, mlc1), d(model, *attention, mlc2);
    const Matrix lc = c.forward(tokens, 3, 8), ld = d.forward(tokens, 3, 8);
    CHECK((lc - ld).cwiseAbs().maxCoeff() == 0.0f);
    CHECK((lc - la).cwiseAbs().maxCoeff() > 1e-4f);
}

TEST_CASE("an MLC cell reads the same draw whatever the selection (common random numbers)") {
    const auto cells = paperCells(imc::behavior::PaperRramSigma::Ber404);
    IntMatrix q(6, 5);
    Rng rng(2);
    for (Eigen::Index i = 0; i < q.size(); ++i) q.data()[i] = static_cast<std::int64_t>(rng.below(255)) - 127;
    std::vector<std::uint8_t> a(30, 1), b(30, 1);
    for (int i = 0; i < 10; ++i) b[static_cast<std::size_t>(i)] = 0;  // b keeps fewer elements in this array
    const SlicedArray sa = programArray(q, a, cells.mlc, {11, 4, true});
    const SlicedArray sb = programArray(q, b, cells.mlc, {11, 4, true});
    const SlicedArray other = programArray(q, a, cells.mlc, {12, 4, true});
    for (std::size_t j = 0; j < sa.slices.size(); ++j)
        for (Eigen::Index e = 10; e < 30; ++e) {
            CHECK(sa.slices[j].data()[e] == sb.slices[j].data()[e]);
            if (q.data()[e] != 0 && sliceInt8(static_cast<int>(q.data()[e]), 2)[j] != 0)
                CHECK(sa.slices[j].data()[e] != other.slices[j].data()[e]);
        }
}

TEST_CASE("the paper's RRAM constants as fits: the public code's 0.025 and the 4.04 % inversion") {
    const auto code = paperCells(imc::behavior::PaperRramSigma::PublicCode);
    CHECK(code.slc.exact());
    CHECK(code.mlc.sigmaEta[3] == 0.025);
    CHECK(code.mlc.adcBits == 7);
    CHECK(code.slc.adcBits == 6);
    CHECK(code.mlc.ber < 1e-9);
    const auto ber = paperCells(imc::behavior::PaperRramSigma::Ber404);
    CHECK_THAT(ber.mlc.ber, WithinRel(0.0404, 1e-6));
    CHECK(ber.mlc.sigmaEta[1] > 0.1);
    CHECK(ber.mlc.sigmaEta[1] < 0.2);
    CHECK(ber.mlc.meanLsb == std::vector<double>{0, 1, 2, 3});
    CHECK(code.slc.meanLsb == std::vector<double>{0, 1});
}

TEST_CASE("programmed cells read the shipped fits' level means and spreads, in design LSB") {
    // Independent of the model's parser: the raw coefficients of fits/rram-*.json.
    const std::filesystem::path dir = std::filesystem::path(IMC_SOURCE_DIR) / "fits";
    const auto cells = imc::behavior::loadRramFits(dir.string());
    // INT8 values whose slice 0 sits at one level: SLC 0 -> 0, -1 -> 1; MLC 0 -> 0, 85 -> 1, -86 -> 2, 63 -> 3.
    const std::vector<std::pair<const imc::behavior::RramCellModel*, std::vector<int>>> cases{
        {&cells.slc, {0, -1}}, {&cells.mlc, {0, 85, -86, 63}}};
    for (const auto& [cell, values] : cases) {
        std::ifstream in(dir / (cell->levels == 2 ? "rram-slc.json" : "rram-mlc.json"));
        const auto c = nlohmann::json::parse(in).at("coefficients");
        const double lsb = c.at("G_lsb_S").get<double>(), g0 = c.at("G_mean_0_S").get<double>();
        for (int level = 0; level < cell->levels; ++level) {
            const std::string k = std::to_string(level);
            const double mean = (c.at("G_mean_" + k + "_S").get<double>() - g0) / lsb;
            const double std = c.at("G_std_" + k + "_S").get<double>() / lsb;
            CHECK_THAT(cell->meanLsb[static_cast<std::size_t>(level)], WithinRel(mean, 1e-12));
            const int n = 20000;
            const IntMatrix q = IntMatrix::Constant(n, 1, values[static_cast<std::size_t>(level)]);
            const SlicedArray a = programArray(q, std::vector<std::uint8_t>(n, 1), *cell, {5, 7, true});
            double m = 0, v = 0;
            for (int e = 0; e < n; ++e) m += a.slices[0].data()[e] / n;
            for (int e = 0; e < n; ++e) v += (a.slices[0].data()[e] - m) * (a.slices[0].data()[e] - m) / (n - 1);
            // Mean within 4 standard errors; the sample std's relative error is 1 / sqrt(2 (n - 1)), 5 % is > 7 of them.
            CHECK(std::abs(m - mean) <= 4 * std / std::sqrt(double(n)));
            CHECK_THAT(std::sqrt(v), WithinRel(std, 0.05));
            // Without noise the same cells read their level exactly (the clean INT8 model).
            const SlicedArray clean = programArray(q, std::vector<std::uint8_t>(n, 1), *cell, {5, 7, false});
            CHECK(clean.slices[0].data()[n / 2] == static_cast<float>(level));
        }
    }
    // The access transistor's series resistance shows: the top MLC level reads below 3 LSB.
    CHECK(cells.mlc.meanLsb[3] < 2.9);
    CHECK_FALSE(cells.slc.exact());
}

TEST_CASE("level means that do not rise, or are not in S, are errors naming the file and the key") {
    const auto dir = std::filesystem::temp_directory_path() / "imc-test-rram-means";
    imc::behavior::writePaperRramFits(dir.string(), imc::behavior::PaperRramSigma::Ber404);
    const auto path = (dir / "rram-mlc.json").string();
    auto record = imc::fit::readFit(path);
    CHECK(imc::behavior::rramCellFromFit(record).meanLsb == std::vector<double>{0, 1, 2, 3});
    auto swapped = record;
    std::swap(swapped.coefficients["G_mean_1_S"], swapped.coefficients["G_mean_2_S"]);
    CHECK_THROWS_WITH(imc::behavior::rramCellFromFit(swapped),
                      Catch::Matchers::ContainsSubstring(path) && Catch::Matchers::ContainsSubstring("G_mean_2_S"));
    auto microsiemens = record;
    microsiemens.units["G_mean_3_S"] = "uS";
    CHECK_THROWS_WITH(imc::behavior::rramCellFromFit(microsiemens), Catch::Matchers::ContainsSubstring("G_mean_3_S"));
    auto missing = record;
    missing.coefficients.erase("G_mean_0_S");
    CHECK_THROWS_WITH(imc::behavior::rramCellFromFit(missing), Catch::Matchers::ContainsSubstring("G_mean_0_S"));
}

TEST_CASE("fortune topics are held out as the LM's corpus holds them out") {
    const std::filesystem::path dir = "/usr/share/games/fortunes";
    if (!std::filesystem::exists(dir / "computers")) SKIP("the Debian package fortunes is not installed");
    const auto texts = loadFortuneTopics(dir, {"computers", "science"});
    const auto corpus = loadFortunes(dir);
    const std::string validation(corpus.validation.begin(), corpus.validation.end());
    std::size_t held = 0;
    for (const auto& t : texts) {
        if (!t.heldOut) continue;
        ++held;
        // Every held-out text is a whole document of the LM's held-out split (end-of-text around it).
        std::string doc(t.tokens.begin(), t.tokens.end());
        doc.push_back('\0');
        CHECK(validation.find(doc) != std::string::npos);
    }
    CHECK(held * 10 >= texts.size() - 10);
    CHECK(held * 10 <= texts.size() + 10);
    CHECK_THROWS_WITH(loadFortuneTopics(dir, {"no-such-topic"}), Catch::Matchers::ContainsSubstring("no-such-topic"));
}

TEST_CASE("SVD factors round-trip through their file, and a mismatched model is named in the error") {
    Model model = tinyModel(5);
    SvdFactors f = factorize(model.weights, model.config, 0);
    f.sites[0][1].importanceWindow(0, 2) = 0.5f;
    f.importanceSteps = 7;
    const auto path = std::filesystem::temp_directory_path() / "imc-test-factors.svd.safetensors";
    saveSvdFactors(path, f, {});
    const SvdFactors back = loadSvdFactors(path, model.config);
    CHECK(back.importanceSteps == 7);
    CHECK(back.sites[0][1].importanceWindow(0, 2) == 0.5f);
    CHECK((back.sites[3][0].vt - f.sites[3][0].vt).norm() == 0.0f);
    Config other = model.config;
    other.dModel = 12;
    other.headDim = 6;
    try {
        loadSvdFactors(path, other);
        FAIL("a factors file of another shape must not load");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("imc-test-factors.svd.safetensors") != std::string::npos);
    }
}
