#include "behavior/detail.hpp"
#include "fits_fixture.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <time.h>

using namespace imc::behavior;
using namespace behavior_test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

Matrix column(std::initializer_list<float> values) {
    Matrix m(static_cast<long>(values.size()), 1);
    long i = 0;
    for (float x : values) m(i++, 0) = x;
    return m;
}

AttentionOptions unquantized(ArrayModel model, long window) {
    AttentionOptions o;
    o.model = model;
    o.window = window;
    o.quantize_inputs = false;
    o.quantize_output = false;
    return o;
}

Matrix forward(const GainCellModel& model, const AttentionOptions& o, const Variability& var, HeadIndex head,
               const Matrix& q, const Matrix& k, const Matrix& v, HeadTrace* trace = nullptr) {
    Matrix out(q.rows(), q.cols());
    gainCellAttentionForward(model, o, var, head, q, k, v, out, trace);
    return out;
}

// Optimized (float, blocked) against reference (double, loops). Quantized outputs may differ by
// one level where float and double round a value lying on a level boundary differently.
void compareKernels(const GainCellModel& model, const AttentionOptions& o, const Variability& var, long Tq, long Tk,
                    long D, unsigned seed) {
    const Matrix k = uniformMatrix(Tk, D, -0.1, 1.0, seed), v = uniformMatrix(Tk, D, -0.1, 1.0, seed + 1);
    const Matrix q = uniformMatrix(Tq, D, -0.1, 1.1, seed + 2);
    HeadTrace trace;
    const Matrix fast = forward(model, o, var, {1, 2}, q, k, v, &trace);
    Eigen::MatrixXd S, phi;
    const Eigen::MatrixXd slow = gainCellAttentionReference(model, o, var, {1, 2}, q.cast<double>(), k.cast<double>(),
                                                            v.cast<double>(), &S, &phi);
    const double S_scale = std::max(1.0, S.cwiseAbs().maxCoeff());
    CHECK((trace.S.cast<double>() - S).cwiseAbs().maxCoeff() <= 2e-5 * S_scale);
    CHECK((trace.phi.cast<double>() - phi).cwiseAbs().maxCoeff() <= 2e-5);
    CHECK(phi.maxCoeff() > 0.0);  // the case is not trivially all-zero
    const double step = o.quantize_output ? model.architecture().output.step() : 0.0;
    long flips = 0;
    double worst = 0;
    for (long i = 0; i < Tq; ++i)
        for (long d = 0; d < D; ++d) {
            const double diff = std::abs(double(fast(i, d)) - slow(i, d));
            if (diff > 1e-4) {
                ++flips;
                worst = std::max(worst, diff);
            }
        }
    INFO("outputs differing by more than 1e-4: " << flips << ", worst " << worst);
    CHECK(flips <= Tq * D / 200);
    if (flips > 0) CHECK(worst <= step * 16 + 1e-4);  // at most one level per tile
    CHECK(slow.cwiseAbs().maxCoeff() > 0.0);
}

}  // namespace

TEST_CASE("Sliding window and decay mask match a hand-computed 4-token case", "[behavior][window]") {
    FitsSpec spec;
    spec.array.tile_size = 2;
    spec.tau_s = 1e-3;
    spec.array.step_latency_s = std::log(2.0) * 1e-3;  // alpha = 2^-(t - t')
    spec.pulse_S_sat = 10.0;
    spec.readout_S_sat = 100.0;
    const GainCellModel model = GainCellModel::load(writeFits("hand-window", spec));
    const Matrix q = column({1, 1, 1, 1}), k = column({1, 2, 3, 4}), v = column({1, 2, 3, 4});
    const AttentionOptions o = unquantized(ArrayModel::Linear, 2);

    // S(t, t') = k(t') 2^-(t - t') for t - 2 < t' <= t, else no charge.
    Eigen::MatrixXd S_expected(4, 4);
    S_expected << 1, 0, 0, 0,  //
        0.5, 2, 0, 0,          //
        0, 1, 3, 0,            //
        0, 0, 1.5, 4;
    // A(t) = sum phi(t, t') alpha v(t') / 100 with phi = S / 10:
    // t=1: 0.05*0.5*1 + 0.2*2 = 0.425; t=2: 0.1*0.5*2 + 0.3*3 = 1.0; t=3: 0.15*0.5*3 + 0.4*4 = 1.825.
    const Eigen::Vector4d A_expected(0.001, 0.00425, 0.01, 0.01825);

    HeadTrace trace;
    const Matrix fast = forward(model, o, Variability{}, {}, q, k, v, &trace);
    Eigen::MatrixXd S, phi;
    const Eigen::MatrixXd slow =
        gainCellAttentionReference(model, o, Variability{}, {}, q.cast<double>(), k.cast<double>(), v.cast<double>(), &S, &phi);
    CHECK((S - S_expected).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((phi - S_expected / 10.0).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((slow.col(0) - A_expected).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((trace.S.cast<double>() - S_expected).cwiseAbs().maxCoeff() < 1e-6);
    CHECK((fast.col(0).cast<double>() - A_expected).cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("Each sub-tile is read out and clamped on its own before the digital sum", "[behavior][tiles]") {
    FitsSpec spec;
    spec.pulse_S_sat = 1.0;  // every key in the window gives a full pulse
    spec.readout_S_sat = 1.5;
    const Matrix ones = column({1, 1, 1, 1, 1, 1});

    SECTION("one key per tile: every tile saturates, so A counts the keys") {
        spec.array.tile_size = 1;
        spec.readout_S_sat = 0.25;
        const GainCellModel model = GainCellModel::load(writeFits("tiles-1", spec));
        const Matrix out = forward(model, unquantized(ArrayModel::Linear, 0), {}, {}, ones, ones, ones);
        for (long t = 0; t < 6; ++t) CHECK_THAT(out(t, 0), WithinAbs(t + 1.0, 1e-6));
    }
    SECTION("wrapping window: keys of blocks 0 and 2 share physical tile 0 and one readout") {
        // tile 2, window 4: tile(t') = (t' mod 4) / 2. Charges per tile are 1 per key, clamped at 1.5:
        // t=0: 1/1.5; t=1: tile0 = 2 -> 1; t=2: 1 + 1/1.5; t=3..5: 1 + 1. Reading blocks 0 and 2
        // separately at t=4 would give 2/1.5 + 1 instead.
        spec.array.tile_size = 2;
        const GainCellModel model = GainCellModel::load(writeFits("tiles-wrap", spec));
        const double expected[] = {1 / 1.5, 1, 1 + 1 / 1.5, 2, 2, 2};
        const AttentionOptions o = unquantized(ArrayModel::Linear, 4);
        const Matrix fast = forward(model, o, {}, {}, ones, ones, ones);
        const Eigen::MatrixXd slow =
            gainCellAttentionReference(model, o, {}, {}, ones.cast<double>(), ones.cast<double>(), ones.cast<double>());
        for (long t = 0; t < 6; ++t) {
            CHECK_THAT(slow(t, 0), WithinAbs(expected[t], 1e-12));
            CHECK_THAT(fast(t, 0), WithinAbs(expected[t], 1e-6));
        }
    }
}

TEST_CASE("Linear model without output quantization: tiles summed equal the untiled array", "[behavior][tiles]") {
    FitsSpec spec;
    spec.tau_s = 1e-3;
    spec.array.step_latency_s = 1e-6;  // decay 1e-3 per step
    spec.readout_S_sat = 1e6;           // stay inside the linear readout region
    const long T = 256, D = 64;
    const Matrix q = uniformMatrix(T, D, 0, 1, 1), k = uniformMatrix(T, D, 0, 0.9, 2), v = uniformMatrix(T, D, 0, 0.9, 3);
    for (const long window : {0L, 128L}) {
        spec.array.tile_size = 64;
        const GainCellModel tiled = GainCellModel::load(writeFits("tiles-64", spec));
        spec.array.tile_size = window == 0 ? 256 : 128;
        const GainCellModel whole = GainCellModel::load(writeFits("tiles-whole", spec));
        AttentionOptions o;
        o.window = window;
        o.quantize_output = false;
        const Matrix a = forward(tiled, o, {}, {}, q, k, v), b = forward(whole, o, {}, {}, q, k, v);
        INFO("window " << window);
        CHECK(((a - b).cwiseAbs().maxCoeff()) <= 1e-5 * b.cwiseAbs().maxCoeff());
        CHECK(b.cwiseAbs().maxCoeff() > 0.0f);
    }
}

TEST_CASE("Nonlinear model with only C_1_0 = 1 and no offsets equals the linear model", "[behavior][nonlinear]") {
    FitsSpec spec;
    spec.tau_s = 5e-3;
    spec.array.step_latency_s = 65e-9;
    spec.poly = {{"C_0_0", 0}, {"C_0_1", 0}, {"C_0_2", 0}, {"C_0_3", 0}, {"C_1_0", 1}, {"C_1_1", 0},
                 {"C_1_2", 0}, {"C_2_0", 0}, {"C_2_1", 0}, {"C_3_0", 0}, {"K_offset", 0}};
    spec.pulse_S_sat = 20.0;
    spec.readout_S_sat = 8.0;
    const GainCellModel model = GainCellModel::load(writeFits("exactly-linear", spec));
    const long T = 200, D = 64;
    const Matrix q = uniformMatrix(T, D, 0, 1, 4), k = uniformMatrix(T, D, 0, 0.9, 5), v = uniformMatrix(T, D, 0, 0.9, 6);
    AttentionOptions linear;
    linear.window = 128;
    linear.layers = 12;
    AttentionOptions nonlinear = linear;
    nonlinear.model = ArrayModel::Nonlinear;
    const Matrix a = forward(model, linear, {}, {}, q, k, v), b = forward(model, nonlinear, {}, {}, q, k, v);
    CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK(a.cwiseAbs().maxCoeff() > 0.5f);
    const Eigen::MatrixXd ra = gainCellAttentionReference(model, linear, {}, {}, q.cast<double>(), k.cast<double>(), v.cast<double>());
    const Eigen::MatrixXd rb = gainCellAttentionReference(model, nonlinear, {}, {}, q.cast<double>(), k.cast<double>(), v.cast<double>());
    CHECK((ra - rb).cwiseAbs().maxCoeff() <= 1e-12);
}

TEST_CASE("Nonlinear model: the i = 0 term gives every key in the window C_0_0 sum(Q)", "[behavior][nonlinear]") {
    FitsSpec spec;
    spec.poly = {{"D_0", 0.5}, {"D_1", 0}, {"D_2", 0}, {"D_3", 0}, {"K_offset", 0.45}, {"V_in", 0.9}};
    spec.pulse_S_sat = 1000.0;
    spec.array.tile_size = 1;
    const GainCellModel model = GainCellModel::load(writeFits("constant-term", spec));
    const Matrix q = uniformMatrix(5, 3, 0, 1, 7), kv = uniformMatrix(5, 3, 0, 0.9, 8);
    AttentionOptions o = unquantized(ArrayModel::Nonlinear, 3);
    o.pulse_full_scale = 2.0;
    HeadTrace trace;
    forward(model, o, {}, {}, q, kv, kv, &trace);
    for (long t = 0; t < 5; ++t)
        for (long tp = 0; tp < 5; ++tp) {
            const double expected = (tp <= t && tp > t - 3) ? 0.5 * 2.0 * q.row(t).sum() : 0.0;
            CHECK_THAT(trace.S(t, tp), WithinAbs(expected, 1e-5));
        }
}

TEST_CASE("Optimized kernels agree with the reference loops", "[behavior][kernels]") {
    FitsSpec spec;
    spec.tau_s = 1e-4;
    spec.array.step_latency_s = 1e-7;  // decay 1e-3 per step, visible over a window
    spec.poly = cubicPolynomial();
    spec.pulse_S_sat = 30.0;
    spec.pulse_offset = -1.0;
    spec.readout_S_sat = 6.0;
    spec.readout_offset = 0.05;
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", 0.05}, {"C_3_0", 0.1}, {"K_offset", 0.01}}},
                        {"readout_noise", {{"levels", {0.0, 0.45, 0.9}}, {"std", {0.01, 0.03, 0.02}}}}};
    spec.pulse_spread = {{"coefficient_std", {{"S_sat", 1.0}}}};
    const GainCellModel model = GainCellModel::load(writeFits("kernels", spec));
    Variability noisy;
    noisy.enabled = true;
    noisy.seed = 99;
    noisy.read_index = 3;

    AttentionOptions o;
    SECTION("linear, whole prefix, T not a multiple of the tile") { compareKernels(model, o, {}, 200, 200, 64, 10); }
    SECTION("linear, wrapping window, decode of the last 70 queries") {
        o.window = 128;
        compareKernels(model, o, noisy, 70, 300, 32, 20);
    }
    SECTION("nonlinear, wrapping window, variability on") {
        o.model = ArrayModel::Nonlinear;
        o.window = 128;
        o.layers = 3;
        compareKernels(model, o, noisy, 200, 200, 64, 30);
    }
    SECTION("nonlinear, unquantized, one query") {
        o = unquantized(ArrayModel::Nonlinear, 64);
        compareKernels(model, o, {}, 1, 150, 16, 40);
    }
}

TEST_CASE("A decay strong enough to split tiles into shorter products agrees with the reference", "[behavior][kernels]") {
    // r = 0.5 per step: exp(3 r 63) would leave float's range, so keys go in chunks of 14.
    FitsSpec spec;
    spec.tau_s = 1e-4;
    spec.array.step_latency_s = 5e-5;
    spec.poly = cubicPolynomial();
    spec.pulse_S_sat = 4.0;
    spec.pulse_offset = -0.5;
    spec.readout_S_sat = 2.0;
    spec.poly_spread = {{"readout_noise", {{"levels", {0.0, 0.9}}, {"std", {0.01, 0.02}}}}};
    const GainCellModel model = GainCellModel::load(writeFits("strong-decay", spec));
    Variability noisy;
    noisy.enabled = true;
    noisy.seed = 4;
    AttentionOptions o;
    SECTION("nonlinear, whole prefix") {
        o.model = ArrayModel::Nonlinear;
        compareKernels(model, o, noisy, 150, 150, 32, 70);
    }
    SECTION("nonlinear, wrapping window, decode of the last 40 queries") {
        o.model = ArrayModel::Nonlinear;
        o.window = 64;
        compareKernels(model, o, {}, 40, 200, 32, 80);
    }
    SECTION("linear") {
        o.linear.gain = 10.0;
        compareKernels(model, o, {}, 150, 150, 32, 90);
    }
}

TEST_CASE("A decode step equals the last row of the prefill, noise included", "[behavior][kernels]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    spec.poly_spread = {{"readout_noise", {{"levels", {0.0, 0.9}}, {"std", {0.02, 0.02}}}}};
    const GainCellModel model = GainCellModel::load(writeFits("decode", spec));
    const long T = 150, D = 64;
    const Matrix q = uniformMatrix(T, D, 0, 1, 50), k = uniformMatrix(T, D, 0, 0.9, 51), v = uniformMatrix(T, D, 0, 0.9, 52);
    AttentionOptions o;
    o.model = ArrayModel::Nonlinear;
    o.window = 64;
    o.quantize_output = false;
    Variability var;
    var.enabled = true;
    var.seed = 5;
    const Matrix all = forward(model, o, var, {0, 1}, q, k, v);
    const Matrix last = forward(model, o, var, {0, 1}, q.bottomRows(1), k, v);
    CHECK((all.bottomRows(1) - last).cwiseAbs().maxCoeff() <= 1e-4f);
    // Another read of the same head draws other noise.
    var.read_index = 1;
    CHECK((forward(model, o, var, {0, 1}, q, k, v) - all).cwiseAbs().maxCoeff() > 1e-4f);
}

TEST_CASE("A key/value cache gives the results of calls without it and writes each row once", "[behavior][cache]") {
    FitsSpec spec;
    spec.tau_s = 1e-4;
    spec.array.step_latency_s = 1e-7;
    spec.poly = cubicPolynomial();
    spec.pulse_S_sat = 30.0;
    spec.readout_S_sat = 6.0;
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", 0.05}, {"K_offset", 0.01}}},
                        {"readout_noise", {{"levels", {0.0, 0.45, 0.9}}, {"std", {0.01, 0.03, 0.02}}}}};
    spec.pulse_spread = {{"coefficient_std", {{"S_sat", 0.5}}}};  // so the linear model has a spread too
    const GainCellModel model = GainCellModel::load(writeFits("cache", spec));
    const long T = 200, D = 32;
    const Matrix q = uniformMatrix(T, D, 0, 1, 100), k = uniformMatrix(T, D, 0, 0.9, 101),
                 v = uniformMatrix(T, D, 0, 0.9, 102);
    Variability var;
    var.enabled = true;
    var.seed = 8;
    const HeadIndex head{2, 1};
    const auto step = [&](const AttentionOptions& o, detail::KeyValueCache* cache, const Matrix& kk, const Matrix& vv,
                          long t) {
        Matrix out(1, D);
        if (cache)
            detail::gainCellAttentionForward(model, o, var, head, q.row(t), kk.topRows(t + 1), vv.topRows(t + 1), out,
                                             *cache);
        else
            gainCellAttentionForward(model, o, var, head, q.row(t), kk.topRows(t + 1), vv.topRows(t + 1), out);
        return out;
    };
    for (const ArrayModel kind : {ArrayModel::Nonlinear, ArrayModel::Linear})
        for (const long window : {0L, 64L}) {
            AttentionOptions o;
            o.model = kind;
            o.window = window;
            o.layers = 12;
            INFO((kind == ArrayModel::Linear ? "linear" : "nonlinear") << ", window " << window);
            detail::KeyValueCache cache;
            for (long t = 0; t < T; ++t) REQUIRE(step(o, &cache, k, v, t) == step(o, nullptr, k, v, t));
            CHECK(cache.rows() == T);
            CHECK(cache.rowsWritten() == T);

            // Token by token as one prefill, within float rounding (no output quantizer to flip).
            AttentionOptions smooth = o;
            smooth.quantize_output = false;
            detail::KeyValueCache smooth_cache;
            Matrix decoded(T, D), prefill(T, D);
            for (long t = 0; t < T; ++t) decoded.row(t) = step(smooth, &smooth_cache, k, v, t);
            gainCellAttentionForward(model, smooth, var, head, q, k, v, prefill);
            CHECK((decoded - prefill).cwiseAbs().maxCoeff() <= 1e-4f * std::max(1.0f, prefill.cwiseAbs().maxCoeff()));

            // A new sequence sharing the first 50 rows: only the rows from the first difference on are written.
            Matrix k2 = uniformMatrix(T, D, 0, 0.9, 103), v2 = uniformMatrix(T, D, 0, 0.9, 104);
            k2.topRows(50) = k.topRows(50);
            v2.topRows(50) = v.topRows(50);
            long written = cache.rowsWritten();
            CHECK(step(o, &cache, k2, v2, 119) == step(o, nullptr, k2, v2, 119));
            CHECK(cache.rowsWritten() - written == 120 - 50);
            // A value edited in place, as a caller reusing its buffer would.
            v2(30, 5) += 0.25f;
            written = cache.rowsWritten();
            CHECK(step(o, &cache, k2, v2, 119) == step(o, nullptr, k2, v2, 119));
            CHECK(cache.rowsWritten() - written == 120 - 30);
            // A shorter call reuses rows and writes none; the next decode step writes one.
            written = cache.rowsWritten();
            CHECK(step(o, &cache, k2, v2, 80) == step(o, nullptr, k2, v2, 80));
            CHECK(step(o, &cache, k2, v2, 120) == step(o, nullptr, k2, v2, 120));
            CHECK(cache.rowsWritten() - written == 1);
            // Another head is another device: its rows are prepared again.
            Matrix out(1, D), expected(1, D);
            detail::gainCellAttentionForward(model, o, var, {0, 0}, q.row(120), k2.topRows(121), v2.topRows(121), out,
                                             cache);
            gainCellAttentionForward(model, o, var, {0, 0}, q.row(120), k2.topRows(121), v2.topRows(121), expected);
            CHECK(out == expected);
        }
}

TEST_CASE("Append-only decode steps equal the full path bit for bit, single-query kernels or Eigen", "[behavior][cache][append]") {
    FitsSpec spec;
    spec.tau_s = 1e-4;
    spec.array.step_latency_s = 1e-7;
    spec.poly = cubicPolynomial();
    spec.pulse_S_sat = 30.0;
    spec.readout_S_sat = 6.0;
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", 0.05}, {"K_offset", 0.01}}},
                        {"readout_noise", {{"levels", {0.0, 0.45, 0.9}}, {"std", {0.01, 0.03, 0.02}}}}};
    spec.pulse_spread = {{"coefficient_std", {{"S_sat", 0.5}}}};
    const GainCellModel model = GainCellModel::load(writeFits("append", spec));
    FitsSpec wide = spec;  // 16 and 12 levels
    wide.array.K_levels = 16;
    wide.array.V_levels = 12;
    const GainCellModel wide_model = GainCellModel::load(writeFits("append-wide", wide));
    const long T = 150;
    const HeadIndex head{1, 3};

    struct Case {
        const char* what;
        const GainCellModel* model;
        ArrayModel kind;
        long window, D;
        bool variability, readout_noise;
        bool kernels;  // whether the append cache should run the single-query kernels
        bool quantize = true;
    };
    const Case cases[] = {
        {"nonlinear, mean model", &model, ArrayModel::Nonlinear, 0, 64, false, false, true},
        {"nonlinear, device-to-device variability", &model, ArrayModel::Nonlinear, 0, 64, true, false, true},
        {"nonlinear, variability and readout noise", &model, ArrayModel::Nonlinear, 0, 64, true, true, true},
        {"nonlinear, unquantized inputs", &model, ArrayModel::Nonlinear, 0, 64, true, false, true, false},
        {"nonlinear, wrapping window, variability", &model, ArrayModel::Nonlinear, 64, 32, true, false, true},
        {"nonlinear, 16 levels, D 48", &wide_model, ArrayModel::Nonlinear, 0, 48, false, false, true},
        {"nonlinear, D 24 (Eigen)", &model, ArrayModel::Nonlinear, 0, 24, false, false, false},
        {"linear, mean model", &model, ArrayModel::Linear, 0, 64, false, false, true},
        {"linear, variability", &model, ArrayModel::Linear, 0, 64, true, false, true},
        {"linear, wrapping window, 16 levels, D 32", &wide_model, ArrayModel::Linear, 64, 32, true, false, true},
        {"linear, D 16 (Eigen's small-product path)", &model, ArrayModel::Linear, 0, 16, false, false,
         false},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        AttentionOptions o;
        o.model = c.kind;
        o.window = c.window;
        o.layers = 12;
        o.quantize_inputs = c.quantize;
        Variability var;
        var.enabled = c.variability;
        var.seed = 21;
        var.readout_noise = c.readout_noise;
        const Matrix q = uniformMatrix(T, c.D, 0, 1, 200), k = uniformMatrix(T, c.D, 0, 0.9, 201),
                     v = uniformMatrix(T, c.D, 0, 0.9, 202);
        detail::KeyValueCache appended, compared;
        for (long t = 0; t < T; ++t) {
            Matrix fast(1, c.D), full(1, c.D), cached(1, c.D);
            detail::gainCellAttentionAppend(*c.model, o, var, head, q.row(t), k.topRows(t + 1), v.topRows(t + 1), fast,
                                            appended);
            gainCellAttentionForward(*c.model, o, var, head, q.row(t), k.topRows(t + 1), v.topRows(t + 1), full);
            detail::gainCellAttentionForward(*c.model, o, var, head, q.row(t), k.topRows(t + 1), v.topRows(t + 1),
                                             cached, compared);
            INFO("step " << t);
            REQUIRE(std::memcmp(fast.data(), full.data(), sizeof(float) * std::size_t(c.D)) == 0);
            REQUIRE(std::memcmp(cached.data(), full.data(), sizeof(float) * std::size_t(c.D)) == 0);
        }
        CHECK(detail::singleQueryKernels(appended) == c.kernels);
        CHECK(!detail::singleQueryKernels(compared));
        CHECK(appended.rowsWritten() == T);  // each row once
        // Two steps at once (more queries than one: Eigen's products) continue the same cache.
        Matrix more = uniformMatrix(T + 2, c.D, 0, 0.9, 203), more_v = uniformMatrix(T + 2, c.D, 0, 0.9, 204);
        more.topRows(T) = k;
        more_v.topRows(T) = v;
        const Matrix q2 = uniformMatrix(2, c.D, 0, 1, 205);
        Matrix fast(2, c.D), full(2, c.D);
        detail::gainCellAttentionAppend(*c.model, o, var, head, q2, more, more_v, fast, appended);
        gainCellAttentionForward(*c.model, o, var, head, q2, more, more_v, full);
        CHECK(std::memcmp(fast.data(), full.data(), sizeof(float) * std::size_t(2 * c.D)) == 0);
        CHECK(appended.rowsWritten() == T + 2);
    }
}

TEST_CASE("Decode steps through the single-query kernels agree with the double-precision reference", "[behavior][append][reference]") {
    FitsSpec spec;
    spec.tau_s = 1e-4;
    spec.array.step_latency_s = 1e-7;
    spec.poly = cubicPolynomial();
    spec.pulse_S_sat = 30.0;
    spec.readout_S_sat = 6.0;
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", 0.05}, {"K_offset", 0.01}}}};
    spec.pulse_spread = {{"coefficient_std", {{"S_sat", 0.5}}}};  // so the linear model has a spread too
    const GainCellModel model = GainCellModel::load(writeFits("append-reference", spec));
    const long T = 130, D = 64;
    const Matrix q = uniformMatrix(T, D, 0, 1, 300), k = uniformMatrix(T, D, 0, 0.9, 301),
                 v = uniformMatrix(T, D, 0, 0.9, 302);
    Variability var;
    var.enabled = true;
    var.seed = 3;
    for (const ArrayModel kind : {ArrayModel::Nonlinear, ArrayModel::Linear}) {
        AttentionOptions o;
        o.model = kind;
        o.layers = 12;
        o.quantize_output = false;  // no output level to flip between float and double
        detail::KeyValueCache cache;
        Matrix decoded(T, D);
        for (long t = 0; t < T; ++t) {
            Matrix out(1, D);
            detail::gainCellAttentionAppend(model, o, var, {0, 2}, q.row(t), k.topRows(t + 1), v.topRows(t + 1), out,
                                            cache);
            decoded.row(t) = out;
        }
        REQUIRE(detail::singleQueryKernels(cache));
        const Eigen::MatrixXd reference =
            gainCellAttentionReference(model, o, var, {0, 2}, q.cast<double>(), k.cast<double>(), v.cast<double>());
        CHECK(reference.cwiseAbs().maxCoeff() > 0.05);  // the readouts see charge
        CHECK((decoded.cast<double>() - reference).cwiseAbs().maxCoeff() <= 1e-4 * std::max(1.0, reference.cwiseAbs().maxCoeff()));
    }
}

TEST_CASE("An append-only cache refuses a shorter call and a comparing call starts it over", "[behavior][append]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    const GainCellModel model = GainCellModel::load(writeFits("append-misuse", spec));
    const long D = 32;
    const Matrix q = uniformMatrix(1, D, 0, 1, 400), k = uniformMatrix(40, D, 0, 0.9, 401),
                 v = uniformMatrix(40, D, 0, 0.9, 402), k2 = uniformMatrix(40, D, 0, 0.9, 403);
    AttentionOptions o;
    o.model = ArrayModel::Nonlinear;
    detail::KeyValueCache cache;
    Matrix out(1, D), expected(1, D);
    detail::gainCellAttentionAppend(model, o, {}, {0, 0}, q, k, v, out, cache);
    CHECK_THROWS_AS(detail::gainCellAttentionAppend(model, o, {}, {0, 0}, q, k.topRows(39), v.topRows(39), out, cache),
                    std::invalid_argument);
    // The comparing call cannot trust rows it has no copy of: another sequence gives its own result.
    detail::gainCellAttentionForward(model, o, {}, {0, 0}, q, k2, v, out, cache);
    gainCellAttentionForward(model, o, {}, {0, 0}, q, k2, v, expected);
    CHECK(out == expected);
}

TEST_CASE("Heads computed on several threads give the same results as one after another", "[behavior][variability]") {
    FitsSpec spec;
    spec.poly = cubicPolynomial();
    spec.poly_spread = {{"coefficient_std", {{"C_1_0", 0.05}}},
                        {"readout_noise", {{"levels", {0.0, 0.9}}, {"std", {0.02, 0.04}}}}};
    const GainCellModel model = GainCellModel::load(writeFits("threads", spec));
    const long T = 128, D = 64;
    const Matrix q = uniformMatrix(T, D, 0, 1, 60), k = uniformMatrix(T, D, 0, 0.9, 61), v = uniformMatrix(T, D, 0, 0.9, 62);
    AttentionOptions o;
    o.model = ArrayModel::Nonlinear;
    Variability var;
    var.enabled = true;
    var.seed = 7;
    std::vector<Matrix> sequential, parallel(4);
    for (int h = 0; h < 4; ++h) sequential.push_back(forward(model, o, var, {1, h}, q, k, v));
    std::vector<std::thread> threads;
    for (int h = 3; h >= 0; --h)
        threads.emplace_back([&, h] { parallel[static_cast<std::size_t>(h)] = forward(model, o, var, {1, h}, q, k, v); });
    for (auto& t : threads) t.join();
    for (std::size_t h = 0; h < 4; ++h) CHECK(sequential[h] == parallel[h]);
    CHECK(sequential[0] != sequential[1]);
    var.enabled = false;
    CHECK(forward(model, o, var, {1, 0}, q, k, v) == forward(model, o, var, {1, 3}, q, k, v));
}

TEST_CASE("Inconsistent shapes and windows are rejected", "[behavior][kernels]") {
    const GainCellModel model = GainCellModel::load(writeFits("shapes", FitsSpec{}));
    const Matrix a = uniformMatrix(100, 8, 0, 1, 1), b = uniformMatrix(100, 9, 0, 1, 2);
    Matrix out(100, 8);
    AttentionOptions o;
    CHECK_THROWS_AS(gainCellAttentionForward(model, o, {}, {}, a, b, a, out), std::invalid_argument);
    o.window = 50;  // shorter than the sequence, not a multiple of 64
    CHECK_THROWS_AS(gainCellAttentionForward(model, o, {}, {}, a, a, a, out), std::invalid_argument);
    o.window = 0;
    o.model = ArrayModel::Nonlinear;  // no polynomial in this directory
    CHECK_THROWS(gainCellAttentionForward(model, o, {}, {}, a, a, a, out));
}

TEST_CASE("Per-head timing of the optimized kernels", "[.timing]") {
    const std::string dir = freshDir("timing");
    writePaperModelFits(dir);
    const GainCellModel model = GainCellModel::load(dir);
    for (const long T : {256L, 1024L})
        for (const ArrayModel kind : {ArrayModel::Linear, ArrayModel::Nonlinear}) {
            const long D = 64;
            const Matrix q = uniformMatrix(T, D, 0, 1, 1), k = uniformMatrix(T, D, 0, 0.9, 2), v = uniformMatrix(T, D, 0, 0.9, 3);
            Matrix out(T, D);
            AttentionOptions o;
            o.model = kind;
            o.layers = 12;
            gainCellAttentionForward(model, o, {}, {}, q, k, v, out);
            const int reps = T == 256 ? 200 : 20;
            // Thread CPU time as well as wall time: the machine may be shared.
            const auto cpu_ms = [] {
                timespec ts{};
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
                return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
            };
            const double cpu_start = cpu_ms();
            const auto start = std::chrono::steady_clock::now();
            for (int r = 0; r < reps; ++r) gainCellAttentionForward(model, o, {}, {}, q, k, v, out);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
            const double cpu = (cpu_ms() - cpu_start) / reps;
            std::printf("T=%ld d=%ld %s: %.3f ms wall, %.3f ms CPU per head\n", T, D,
                        kind == ArrayModel::Linear ? "linear" : "nonlinear", ms, cpu);
        }
}
