// The ideal backend against straight double-precision loops written here, independently of the
// library's own reference kernel, and its backward against finite differences.
#include "nn/ideal_attention.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <vector>

using imc::nn::Matrix;

namespace {

using Dense = std::vector<std::vector<double>>;

Matrix randomMatrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double scale = 1.0) {
    imc::nn::Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal() * scale);
    return m;
}

Dense toDense(const Matrix& m) {
    Dense d(m.rows(), std::vector<double>(m.cols()));
    for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < m.cols(); ++j) d[i][j] = m(i, j);
    return d;
}

// softmax((q k^T) / sqrt(d) masked to keys <= the query's absolute position) v, in double.
Dense naiveAttention(const Dense& q, const Dense& k, const Dense& v) {
    const std::size_t tq = q.size(), tk = k.size(), d = q[0].size();
    Dense out(tq, std::vector<double>(v[0].size(), 0.0));
    for (std::size_t i = 0; i < tq; ++i) {
        const std::size_t last = tk - tq + i;
        std::vector<double> w(last + 1);
        double total = 0;
        for (std::size_t j = 0; j <= last; ++j) {
            double s = 0;
            for (std::size_t c = 0; c < d; ++c) s += q[i][c] * k[j][c];
            w[j] = std::exp(s / std::sqrt(double(d)));
            total += w[j];
        }
        for (std::size_t j = 0; j <= last; ++j)
            for (std::size_t c = 0; c < v[0].size(); ++c) out[i][c] += w[j] / total * v[j][c];
    }
    return out;
}

double maxAbsDiff(const Matrix& a, const Dense& b) {
    double worst = 0;
    for (Eigen::Index i = 0; i < a.rows(); ++i)
        for (Eigen::Index j = 0; j < a.cols(); ++j) worst = std::max(worst, std::abs(double(a(i, j)) - b[i][j]));
    return worst;
}

}  // namespace

TEST_CASE("ideal attention forward matches naive loops for prefill and decode shapes") {
    imc::nn::IdealAttention ideal;
    for (auto [tq, tk] : {std::pair{37, 37}, std::pair{5, 37}, std::pair{1, 64}, std::pair{1, 1}}) {
        const Matrix q = randomMatrix(tq, 64, 1 + tq, 0.5), k = randomMatrix(tk, 64, 2 + tk, 0.5),
                     v = randomMatrix(tk, 64, 3 + tk);
        const Dense expected = naiveAttention(toDense(q), toDense(k), toDense(v));
        Matrix out(tq, 64);
        ideal.forward({0, 0}, q, k, v, out, nullptr);
        CHECK(maxAbsDiff(out, expected) < 2e-6);
        // The library's kernel kept for reference agrees as well.
        CHECK(maxAbsDiff(imc::nn::idealAttentionReference(q, k, v), expected) < 2e-6);
    }
}

TEST_CASE("ideal attention special cases have closed forms") {
    imc::nn::IdealAttention ideal;
    const Matrix v = randomMatrix(6, 4, 9);
    // Zero queries weigh every visible key equally: output i is the mean of v[0..i].
    const Matrix q = Matrix::Zero(6, 4), k = randomMatrix(6, 4, 10);
    Matrix out(6, 4);
    ideal.forward({0, 0}, q, k, v, out, nullptr);
    for (int i = 0; i < 6; ++i) {
        const Eigen::RowVectorXf mean = v.topRows(i + 1).colwise().mean();
        CHECK((out.row(i) - mean).cwiseAbs().maxCoeff() < 1e-6f);
    }
    // The first position only sees itself.
    CHECK((out.row(0) - v.row(0)).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("ideal attention backward matches double-precision finite differences") {
    imc::nn::IdealAttention ideal;
    for (auto [tq, tk] : {std::pair{7, 7}, std::pair{3, 7}}) {
        const int d = 5;
        const Matrix q = randomMatrix(tq, d, 21), k = randomMatrix(tk, d, 22), v = randomMatrix(tk, d, 23);
        const Matrix weight = randomMatrix(tq, d, 24);  // loss = sum(out .* weight)
        imc::nn::AttentionTape tape;
        Matrix out(tq, d), dq(tq, d), dk(tk, d), dv(tk, d);
        ideal.forward({0, 0}, q, k, v, out, &tape);
        ideal.backward({0, 0}, q, k, v, weight, tape, dq, dk, dv);

        const Dense w = toDense(weight);
        auto loss = [&](const Dense& qd, const Dense& kd, const Dense& vd) {
            const Dense o = naiveAttention(qd, kd, vd);
            double sum = 0;
            for (std::size_t i = 0; i < o.size(); ++i)
                for (std::size_t c = 0; c < o[i].size(); ++c) sum += o[i][c] * w[i][c];
            return sum;
        };
        const double eps = 1e-6;
        auto check = [&](const Matrix& input, const Matrix& analytic, int which) {
            Dense base[3] = {toDense(q), toDense(k), toDense(v)};
            for (Eigen::Index i = 0; i < input.rows(); ++i)
                for (Eigen::Index c = 0; c < input.cols(); ++c) {
                    Dense plus[3] = {base[0], base[1], base[2]}, minus[3] = {base[0], base[1], base[2]};
                    plus[which][i][c] += eps;
                    minus[which][i][c] -= eps;
                    const double numeric =
                        (loss(plus[0], plus[1], plus[2]) - loss(minus[0], minus[1], minus[2])) / (2 * eps);
                    CHECK_THAT(double(analytic(i, c)), Catch::Matchers::WithinAbs(numeric, 1e-5 + 1e-4 * std::abs(numeric)));
                }
        };
        check(q, dq, 0);
        check(k, dk, 1);
        check(v, dv, 2);
    }
}

TEST_CASE("attention backends are found by name") {
    auto names = imc::nn::attentionBackendNames();
    REQUIRE(std::find(names.begin(), names.end(), "ideal") != names.end());
    CHECK(imc::nn::makeAttentionBackend("ideal")->name() == "ideal");
    CHECK_THROWS_AS(imc::nn::makeAttentionBackend("no-such-backend"), std::invalid_argument);
}
