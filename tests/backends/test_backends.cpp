// The one door to the attention backends: every backend a command can name is built from one
// options struct, and an unknown name is refused with the list of the known ones.
#include "backends/backends.hpp"

#include "nn/ideal_attention.hpp"
#include "nn/random.hpp"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <stdexcept>

namespace {

imc::nn::Matrix randomMatrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
    imc::nn::Rng rng(seed);
    imc::nn::Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}

}  // namespace

TEST_CASE("every backend is constructible from one options struct, with the shipped fits", "[backends]") {
    imc::backends::AttentionBackendOptions options;  // shipped gain-cell fits, Gaussian LSH
    options.gaincell.layers = 4;
    options.lsh.projection.buckets = 4;
    options.lsh.projection.rounds = 2;
    imc::backends::registerAttentionBackends(options);
    const auto names = imc::nn::attentionBackendNames();
    const int length = 16, dim = 8;
    const auto q = randomMatrix(length, dim, 1), k = randomMatrix(length, dim, 2), v = randomMatrix(length, dim, 3);
    for (const auto& kind : imc::backends::attentionBackendKinds()) {
        INFO(kind);
        REQUIRE(std::find(names.begin(), names.end(), kind) != names.end());
        CHECK(!imc::nn::attentionBackendDescription(kind).empty());
        const auto backend = imc::nn::makeAttentionBackend(kind);
        CHECK(backend->name() == kind);
        imc::nn::Matrix out(length, dim);
        backend->forward({0, 0}, q, k, v, out, nullptr);
        CHECK(out.allFinite());
    }
    // The ideal one through the door is the reference kernel's attention.
    imc::nn::Matrix out(length, dim);
    imc::nn::makeAttentionBackend("ideal")->forward({0, 0}, q, k, v, out, nullptr);
    CHECK((out - imc::nn::idealAttentionReference(q, k, v)).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("the options reach the backends: memristor RP from the shipped fits, the lsh settings", "[backends]") {
    imc::backends::AttentionBackendOptions options;
    options.lsh.projection.kind = "memristor";
    options.lsh.projection.buckets = 8;
    options.lsh.projection.rounds = 3;
    options.lsh.attention.chunk = 16;
    imc::backends::registerAttentionBackends(options);
    const auto backend = imc::nn::makeAttentionBackend("lsh");
    const auto& lsh = dynamic_cast<const imc::lsh::LshAttention&>(*backend);
    CHECK(lsh.options().projection.fitsPath == imc::lsh::defaultMemristorFitsPath());
    CHECK(lsh.options().attention.chunk == 16);
    const auto& family = lsh.family({0, 0}, 8);
    CHECK(family.kind() == "memristor");
    CHECK(family.buckets() == 8);
    CHECK(family.rounds() == 3);
}

TEST_CASE("an unknown backend name is refused with the known ones listed", "[backends]") {
    imc::backends::registerAttentionBackends({});
    try {
        imc::nn::makeAttentionBackend("no-such-backend");
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        const std::string message = e.what();
        CHECK(message.find("no-such-backend") != std::string::npos);
        for (const auto& kind : imc::backends::attentionBackendKinds()) CHECK(message.find(kind) != std::string::npos);
    }
    imc::backends::AttentionBackendOptions bad;
    bad.gaincell.fitsDir = "/nonexistent/fits";
    CHECK_THROWS(imc::backends::registerAttentionBackends(bad));
}
