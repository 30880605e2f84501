#include "circuits/crossbar.hpp"
#include "netlist/netlist.hpp"
#include "nodal_reference.hpp"
#include "spice/worker_pool.hpp"
#include "variability/variability.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <map>

using namespace imc;
using Catch::Matchers::ContainsSubstring;

namespace {

// A Monte-Carlo sweep of small crossbars: every cell conductance drawn lognormal per device
// from the run seed and the sample index only.
struct McSweep {
    std::vector<spice::SimJob> jobs;
    std::vector<circuits::CrossbarSpec> specs;
};

McSweep crossbarMonteCarlo(std::uint64_t seed, int samples, int n) {
    McSweep sweep;
    const auto dist = variability::Distribution::lognormal(std::log(1e-5), 0.3);
    for (int s = 0; s < samples; ++s) {
        circuits::CrossbarSpec spec;
        spec.rows = spec.cols = n;
        spec.cellConductance_S.resize(n, n);
        spec.rowVoltage_V = Eigen::VectorXd::Constant(n, 0.2);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
                spec.cellConductance_S(i, j) = variability::drawDeviceToDevice(dist, seed, std::uint64_t(s), std::uint64_t(i * n + j));
        spice::SimJob job;
        job.id = "crossbar_s" + std::to_string(s);
        job.deck = netlist::writeDeck(circuits::buildResistiveCrossbar(spec));
        for (int j = 0; j < n; ++j) job.vectors.push_back(circuits::columnCurrentVector(j));
        sweep.jobs.push_back(job);
        sweep.specs.push_back(spec);
    }
    return sweep;
}

std::vector<spice::SimResult> runAll(const std::vector<spice::SimJob>& jobs, int workers, double timeout_s = 0) {
    spice::WorkerPool pool({workers, timeout_s, {}});
    std::vector<spice::SimResult> results(jobs.size());
    pool.run(jobs, [&](std::size_t i, spice::SimResult&& r) { results[i] = std::move(r); });
    return results;
}

}  // namespace

TEST_CASE("worker results match an independent nodal solve", "[pool]") {
    auto sweep = crossbarMonteCarlo(3, 4, 6);
    auto results = runAll(sweep.jobs, 2);
    for (std::size_t s = 0; s < results.size(); ++s) {
        REQUIRE(results[s].ok);
        const auto ref = solveCrossbarNodal(sweep.specs[s].cellConductance_S, sweep.specs[s].rowVoltage_V, 2.0);
        for (int j = 0; j < 6; ++j)
            CHECK_THAT(results[s].vec(circuits::columnCurrentVector(j))[0],
                       Catch::Matchers::WithinRel(ref.columnCurrent_A[j], 1e-6));
    }
}

TEST_CASE("Monte-Carlo results are bit-identical for any worker count", "[pool][mc]") {
    auto sweep = crossbarMonteCarlo(11, 8, 5);
    auto one = runAll(sweep.jobs, 1);
    auto two = runAll(sweep.jobs, 2);
    auto three = runAll(sweep.jobs, 3);
    for (std::size_t s = 0; s < one.size(); ++s) {
        REQUIRE(one[s].ok);
        for (std::size_t v = 0; v < one[s].vectors.size(); ++v) {
            CHECK(one[s].vectors[v].second == two[s].vectors[v].second);
            CHECK(one[s].vectors[v].second == three[s].vectors[v].second);
        }
    }
    // And a different seed gives different samples.
    auto other = runAll(crossbarMonteCarlo(12, 1, 5).jobs, 1);
    CHECK(other[0].vectors[0].second[0] != one[0].vectors[0].second[0]);
}

TEST_CASE("a crashing sample is recorded as failed and the run goes on", "[pool]") {
    auto sweep = crossbarMonteCarlo(1, 6, 4);
    // The worker process running sample 2 is killed from inside ngspice (SIGKILL to its parent,
    // the worker): the same death an abort in the simulator gives.
    sweep.jobs[2].preCommands.push_back("shell kill -9 $$");  // ngspice expands $$ to its own pid
    // Sample 4 has a netlist error: a failure ngspice reports without dying.
    sweep.jobs[4].deck = "broken\nR1 a\n.op\n.end\n";
    auto results = runAll(sweep.jobs, 2);
    CHECK_FALSE(results[2].ok);
    CHECK(results[2].errorKind == "worker-died");
    CHECK_THAT(results[2].error, ContainsSubstring("signal 9"));
    CHECK_FALSE(results[4].ok);
    CHECK(results[4].errorKind == "parse");
    for (std::size_t s : {0u, 1u, 3u, 5u}) {
        CHECK(results[s].ok);
        CHECK(results[s].id == sweep.jobs[s].id);
    }
}

TEST_CASE("a job past its time limit is killed and recorded", "[pool]") {
    spice::SimJob slow;
    slow.id = "slow";
    // A long transient with a tiny step: far more than the 1 s limit.
    slow.deck = "slow\nV1 a 0 SIN(0 1 1meg)\nR1 a b 1k\nC1 b 0 1n\n.tran 1p 10m 0 1p\n.end\n";
    spice::SimJob quick;
    quick.id = "quick";
    quick.deck = "quick\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n";
    quick.vectors = {"i(v1)"};
    auto results = runAll({slow, quick}, 2, 1.0);
    CHECK_FALSE(results[0].ok);
    CHECK(results[0].errorKind == "timeout");
    REQUIRE(results[1].ok);
    CHECK_THAT(results[1].vec("i(v1)")[0], Catch::Matchers::WithinRel(-1e-3, 1e-9));
}

TEST_CASE("progress counts every job and failure", "[pool]") {
    auto sweep = crossbarMonteCarlo(2, 5, 3);
    sweep.jobs[1].deck = "broken\nR1 a\n.op\n.end\n";
    spice::WorkerPool pool({2, 0, {}});
    spice::Progress last;
    int calls = 0;
    pool.run(sweep.jobs, [](std::size_t, spice::SimResult&&) {}, [&](const spice::Progress& p) { last = p, ++calls; });
    CHECK(calls == 5);
    CHECK(last.done == 5);
    CHECK(last.total == 5);
    CHECK(last.failed == 1);
}
