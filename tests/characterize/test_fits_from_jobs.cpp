// The shipped gain-cell fits come from imc's own job files (netlists/*.job.json): a short
// Monte-Carlo run of each job must land on the shipped coefficients within the sampling error of
// the two means (the shipped run's samples and this run's), and the architecture record must be
// the job file's. A job whose benches drifted from what made fits/ fails here.
#include "characterize/gaincell.hpp"
#include "characterize/job.hpp"
#include "datadir/datadir.hpp"
#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include "../gaincell_run.hpp"
#include "../temp_dir.hpp"

using namespace imc;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fit::FitRecord shipped(const std::string& name) { return fit::readFit((dataPath("fits") / (name + ".json")).string()); }

// Two means of one per-device spread (sigma), from nShipped and nRun devices, agree within four
// standard errors of their difference.
void checkSameMean(const std::string& what, double shippedMean, double runMean, double sigma, double nShipped, double nRun) {
    const double se = sigma * std::sqrt(1.0 / nShipped + 1.0 / nRun);
    INFO(what << ": shipped " << shippedMean << ", this run " << runMean << ", spread " << sigma << ", 4 SE " << 4 * se);
    CHECK(sigma > 0);
    CHECK(std::abs(shippedMean - runMean) <= 4 * se);
}

}  // namespace

TEST_CASE("the shipped gaincell-poly fit is the gain cell job's, within its Monte-Carlo spread", "[gaincell][fits]") {
    TempDir t("fits-gaincell");
    const fit::FitRecord ref = shipped("gaincell-poly");
    // The nominal read voltage only (the D_i of the record); three devices, sample 0 nominal.
    const auto job = characterize::loadBuiltinJob("gaincell", 3, 1, [](json& doc) { doc["sweep"]["V_in"] = {0.9}; });
    REQUIRE(job.nominalSample0);
    const auto r = characterize::characterizeGainCell(characterize::gainCellSweepFromJob(job), quietGainCellRun(t.dir));
    REQUIRE(r.run.failed == 0);
    const double nShipped = double(ref.provenance.samples.value_or(0));
    REQUIRE(nShipped >= 2);
    const json& stds = ref.spread.at("coefficient_std");
    for (const char* d : {"D_0", "D_1", "D_2", "D_3"})
        checkSameMean(d, ref.coefficient(d), r.record.coefficient(d), stds.at(d).get<double>(), nShipped, 3);
}

TEST_CASE("the shipped readout fits are the c2p jobs', within their Monte-Carlo spread", "[gaincell][c2p][fits]") {
    TempDir t("fits-c2p");
    for (const bool isSigned : {false, true}) {
        const std::string name = isSigned ? "c2p-signed" : "c2p-relu";
        const fit::FitRecord ref = shipped(name);
        const auto job = characterize::builtinReadoutJob(isSigned, 64, 2, 1);
        const auto r = characterize::characterizeChargeToPulse(characterize::chargeToPulseSweepFromJob(job), quietGainCellRun(t.dir / name));
        REQUIRE(r.run.failed == 0);
        const json& stds = ref.spread.at("coefficient_std");
        for (const char* c : {"offset_x", "slope_s_per_x"})
            checkSameMean(name + " " + c, ref.coefficient(c), r.record.coefficient(c), stds.at(c).get<double>(),
                          double(ref.provenance.samples.value_or(0)), 2);
    }
}

TEST_CASE("the shipped retention fit is the retention job's, within its Monte-Carlo spread", "[gaincell][fits]") {
    TempDir t("fits-retention");
    const fit::FitRecord ref = shipped("retention");
    const auto r = characterize::characterizeRetention(
        characterize::retentionSweepFromJob(characterize::loadBuiltinJob("retention", 2, 1)), quietGainCellRun(t.dir));
    REQUIRE(r.run.failed == 0);
    checkSameMean("tau_s", ref.coefficient("tau_s"), r.record.coefficient("tau_s"), ref.spread.at("tau_std_s").get<double>(),
                  double(ref.provenance.samples.value_or(0)), 2);
}

TEST_CASE("the shipped gaincell-array record states the architecture of the array job", "[gaincell][fits]") {
    const fit::FitRecord ref = shipped("gaincell-array");
    const auto a = characterize::arrayCharacterizationFromJob(characterize::loadBuiltinJob("gaincell-array"));
    for (const auto& key : characterize::arrayArchitectureKeys()) {
        INFO(key);
        CHECK(ref.coefficient(key) == a.architecture.at(key).get<double>());
    }
    // The record names the arrays it was checked on.
    CHECK(ref.quality.extra.at("simulated_rows").get<int>() == a.rows);
    CHECK(ref.quality.extra.at("simulated_cols").get<int>() == a.cols);
}
