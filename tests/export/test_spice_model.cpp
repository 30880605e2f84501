// spice-model export against independent references: the exported gain cell in the 8x8 array
// bench against the C++ polynomial (characterizeArray's SPICE-vs-model comparison), the exported
// readouts' pulse widths fitted back to the coefficients they were written from, and the
// Monte-Carlo conductance draws against the fitted distribution.
#include "characterize/gaincell.hpp"
#include "circuits/cell.hpp"
#include "export/export.hpp"
#include "fit/fit.hpp"
#include "spice/worker_pool.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include "../gaincell_run.hpp"
#include "../temp_dir.hpp"

using namespace imc;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
namespace fs = std::filesystem;

namespace {

fs::path shippedFit(const std::string& name) { return fs::path(IMC_SOURCE_DIR) / "fits" / name; }

// The exported text of one shipped fits file, written to dir/name.
fs::path exportShipped(const fs::path& dir, const std::string& fitsName, const std::string& libName) {
    const auto text = exporter::exportFits(exporter::loadFits(shippedFit(fitsName)), exporter::Format::SpiceModel);
    const fs::path lib = dir / libName;
    std::ofstream(lib) << text;
    return lib;
}

spice::SimResult runOne(spice::SimJob job) {
    spice::PoolOptions po;
    po.workers = 1;
    spice::WorkerPool pool(po);
    spice::SimResult out;
    pool.run({std::move(job)}, [&](std::size_t, spice::SimResult&& r) { out = std::move(r); });
    INFO(out.id << ": " << out.error);
    REQUIRE(out.ok);
    return out;
}

}  // namespace

TEST_CASE("the exported gain cell in the 8x8 array matches the C++ polynomial to 1e-3 of full scale", "[export][spice][gaincell]") {
    TempDir t("export-array");
    const fs::path lib = exportShipped(t.dir, "gaincell-poly.json", "gaincell.lib");
    // imc's array job at 8x8, one nominal sample, with the exported cell in place of the transistors.
    characterize::ArrayCharacterization a = characterize::arrayCharacterizationFromJob(
        characterize::loadBuiltinJob("gaincell-array", 1, 1, [](nlohmann::json& doc) {
            auto& tb = doc["testbench"];
            tb["rows"] = 8, tb["cols"] = 8, tb["form"] = "full", tb["mismatch"] = false;
        }));
    a.cell = circuits::cellFromFile(lib, exporter::kGainCellSubckt,
                                    {{"wbl", "wbl"}, {"we", "we"}, {"web", "web"}, {"pwm", "pwm"}, {"pwmb", "pwmb"}, {"bl", "bl"},
                                     {"vdd", "vdd"}, {"vss", "vss"}});
    a.polynomial = fit::readFit(shippedFit("gaincell-poly.json").string());
    const auto res = characterize::characterizeArray(a, quietGainCellRun(t.dir / "out"));
    const double chargeErr = res.report.at("charge_max_err_fs").get<double>();
    INFO(res.report.dump(1));
    INFO("qk wall " << res.report.at("qk").at("wall_s") << " pv wall " << res.report.at("pv").at("wall_s") << " charge " << chargeErr << " pulse qk " << res.report.at("qk").at("max_err_fs") << " pv " << res.report.at("pv").at("max_err_fs") << " rmse " << res.report.at("rmse_fs"));
    // Bit-line charge of every column of both arrays (16 columns, full scale S_sat of each
    // readout) against sum_i S(Q_i, K_ij) of the fit: the cell model itself.
    CHECK(chargeErr < 1e-3);
    // The columns carry real charge, so the bound is not met by empty columns.
    double largest = 0;
    for (const auto& s : {"qk", "pv"}) CHECK(res.report.at(s).at("max_err_fs").get<double>() < 0.05);
    for (const auto& c : res.report.at("charge_full_scale_fC")) largest = std::max(largest, c.get<double>());
    CHECK(largest > 100);
}

TEST_CASE("the exported readouts give back the pulse-width law they were written from", "[export][spice][c2p]") {
    TempDir t("export-c2p");
    for (const bool isSigned : {false, true}) {
        const std::string fitsName = isSigned ? "c2p-signed.json" : "c2p-relu.json";
        const fit::FitRecord rec = fit::readFit(shippedFit(fitsName).string());
        const fs::path lib = exportShipped(t.dir, fitsName, isSigned ? "signed.lib" : "relu.lib");
        auto sw = characterize::chargeToPulseSweepFromJob(characterize::builtinReadoutJob(isSigned, 64, 1, 1, 0.0, isSigned ? 16 : 13));  // 16 signed levels: none at x = 0, where the sign is a tie
        std::map<std::string, std::string> roles{{"in", "in"}, {"out", "out"}, {"outb", "outb"}, {"conv", "conv"},
                                                 {"rst", "rst"}, {"vdd", "vdd"}, {"vss", "vss"}};
        if (isSigned) roles["sign"] = "sgn";
        sw.readout = circuits::cellFromFile(lib, isSigned ? exporter::kSignedReadoutSubckt : exporter::kReluReadoutSubckt, roles);
        sw.params = {};  // the exported readout has no Ssat/Cf/Vos: its law is the fit's
        sw.name = isSigned ? "export-c2p-signed" : "export-c2p-relu";
        const auto r = characterize::characterizeChargeToPulse(sw, quietGainCellRun(t.dir / sw.name));
        INFO(fitsName << ": slope " << r.fit.slope_s_per_x << " offset " << r.fit.offset_x << " T_max " << r.fit.T_max_s);
        CHECK_THAT(r.fit.slope_s_per_x, WithinRel(rec.coefficient("slope_s_per_x"), 0.003));
        CHECK_THAT(r.fit.T_max_s, WithinRel(rec.coefficient("T_max_s"), 0.002));
        // offset in fC; 0.02 ns of edge timing is 0.02e-9 / slope fC
        CHECK_THAT(r.fit.offset_x, WithinAbs(rec.coefficient("offset_x"), 0.02e-9 / rec.coefficient("slope_s_per_x")));
        // every level against the law itself, 20 ps
        for (std::size_t k = 0; k < r.x_fC.size(); ++k) {
            fit::HardSigmoidFit law;
            law.slope_s_per_x = rec.coefficient("slope_s_per_x"), law.offset_x = rec.coefficient("offset_x");
            law.T_max_s = rec.coefficient("T_max_s"), law.is_signed = isSigned;
            CHECK_THAT(r.width_s[k], WithinAbs(fit::evaluateHardSigmoid(law, r.x_fC[k]), 20e-12));
        }
    }
}

TEST_CASE("exported lognormal conductances draw per instance from the fitted distribution", "[export][spice][memristor]") {
    TempDir t("export-mc");
    const fs::path lib = exportShipped(t.dir, "memristor-hrs-lognormal.json", "hrs.lib");
    const fit::FitRecord rec = fit::readFit(shippedFit("memristor-hrs-lognormal.json").string());
    const int n = 400;
    std::string deck = "lognormal draws\n.include " + lib.string() + "\n.option seed=7\n";
    spice::SimJob job{"draws", "", {}, {}, 0};
    for (int k = 0; k < n; ++k) {
        const std::string K = std::to_string(k);
        deck += "V" + K + " a" + K + " 0 3\nX" + K + " a" + K + " 0 imc_memristor_hrs_lognormal\n";
        job.vectors.push_back("i(v" + K + ")");
    }
    deck += "R1 b 0 {1/imc_memristor_hrs_lognormal_draw}\nVB b 0 3\n.op\n.end\n";
    job.vectors.push_back("i(vb)");
    job.deck = deck;
    const auto r = runOne(job);
    double m = 0, m2 = 0;
    for (int k = 0; k < n; ++k) {
        const double lnG = std::log(-r.vec("i(v" + std::to_string(k) + ")")(0) / 3.0);
        m += lnG / n, m2 += lnG * lnG / n;
    }
    const double sd = std::sqrt(m2 - m * m), mu = rec.coefficient("mu"), sigma = rec.coefficient("sigma");
    // 4 standard errors: mean sigma/sqrt(n), std sigma/sqrt(2n)
    CHECK_THAT(m, WithinAbs(mu, 4 * sigma / std::sqrt(double(n))));
    CHECK_THAT(sd, WithinAbs(sigma, 4 * sigma / std::sqrt(2.0 * n)));
    const double G1 = -r.vec("i(vb)")(0) / 3.0;  // one top-level draw: a plausible conductance
    CHECK(std::abs(std::log(G1) - mu) < 5 * sigma);
}

TEST_CASE("exported cycle-dependent and Gaussian conductances draw with the fitted spread", "[export][spice][memristor]") {
    TempDir t("export-mc2");
    const fs::path lib = t.dir / "all.lib";
    std::ofstream(lib) << exporter::exportFits(exporter::loadFits(fs::path(IMC_SOURCE_DIR) / "fits"), exporter::Format::SpiceModel);
    const fit::FitRecord c2c = fit::readFit(shippedFit("memristor-c2c.json").string());
    const fit::FitRecord diff = fit::readFit(shippedFit("memristor-diff-gaussian.json").string());
    const int n = 300;
    std::string deck = "cycle and gaussian draws\n.include " + lib.string() + "\n.option seed=11\n";
    spice::SimJob job{"draws2", "", {}, {}, 0};
    for (int k = 0; k < n; ++k) {
        const std::string K = std::to_string(k);
        deck += "VC" + K + " c" + K + " 0 1\nXC" + K + " c" + K + " 0 imc_memristor_c2c cycle=100\n";
        deck += "VD" + K + " d" + K + " 0 1\nXD" + K + " d" + K + " 0 imc_memristor_diff_gaussian\n";
        job.vectors.push_back("i(vc" + K + ")"), job.vectors.push_back("i(vd" + K + ")");
    }
    job.deck = deck + ".op\n.end\n";
    const auto r = runOne(job);
    double mc = 0, mc2 = 0, md = 0, md2 = 0;
    for (int k = 0; k < n; ++k) {
        const double lnG = std::log(-r.vec("i(vc" + std::to_string(k) + ")")(0)), dG = -r.vec("i(vd" + std::to_string(k) + ")")(0);
        mc += lnG / n, mc2 += lnG * lnG / n, md += dG / n, md2 += dG * dG / n;
    }
    // sigma at cycle 100: sigma_0 + 2 sigma_per_decade
    const double s100 = c2c.coefficient("sigma_0") + 2 * c2c.coefficient("sigma_per_decade"), sd = diff.coefficient("std");
    CHECK_THAT(mc, WithinAbs(c2c.coefficient("mu"), 4 * s100 / std::sqrt(double(n))));
    CHECK_THAT(std::sqrt(mc2 - mc * mc), WithinAbs(s100, 4 * s100 / std::sqrt(2.0 * n)));
    CHECK_THAT(md, WithinAbs(diff.coefficient("mean"), 4 * sd / std::sqrt(double(n))));
    CHECK_THAT(std::sqrt(md2 - md * md), WithinAbs(sd, 4 * sd / std::sqrt(2.0 * n)));
}

TEST_CASE("exported RRAM levels draw each level's fitted mean and spread", "[export][spice][rram]") {
    TempDir t("export-rram");
    const fs::path lib = exportShipped(t.dir, "rram-mlc.json", "mlc.lib");
    const fit::FitRecord rec = fit::readFit(shippedFit("rram-mlc.json").string());
    const int n = 200;
    spice::SimJob job{"rram", "rram levels\n.include " + lib.string() + "\n.option seed=3\n", {}, {}, 0};
    for (int level = 1; level <= 3; ++level)
        for (int k = 0; k < n; ++k) {
            const std::string K = std::to_string(level) + "_" + std::to_string(k);
            job.deck += "V" + K + " a" + K + " 0 0.2\nX" + K + " a" + K + " 0 imc_rram_mlc level=" + std::to_string(level) + "\n";
            job.vectors.push_back("i(v" + K + ")");
        }
    job.deck += ".op\n.end\n";
    const auto r = runOne(job);
    for (int level = 1; level <= 3; ++level) {
        double m = 0, m2 = 0;
        for (int k = 0; k < n; ++k) {
            const double G = -r.vec("i(v" + std::to_string(level) + "_" + std::to_string(k) + ")")(0) / 0.2;
            m += G / n, m2 += G * G / n;
        }
        const std::string L = std::to_string(level);
        const double mu = rec.coefficient("G_mean_" + L + "_S"), sd = rec.coefficient("G_std_" + L + "_S");
        INFO("level " << level);
        CHECK_THAT(m, WithinAbs(mu, 4 * sd / std::sqrt(double(n))));
        CHECK_THAT(std::sqrt(m2 - m * m), WithinAbs(sd, 4 * sd / std::sqrt(2.0 * n)));
    }
}

TEST_CASE("the exported gain cell with the retention parameters decays as the retention fit", "[export][spice][retention]") {
    TempDir t("export-ret");
    const fs::path lib = t.dir / "all.lib";
    std::ofstream(lib) << exporter::exportFits(exporter::loadFits(fs::path(IMC_SOURCE_DIR) / "fits"), exporter::Format::SpiceModel);
    const fit::FitRecord ret = fit::readFit(shippedFit("retention.json").string());
    const double tau = ret.coefficient("tau_s"), vinf = ret.coefficient("V_inf_V"), tw = 11e-9;
    spice::SimJob job{"retention", "", {"time", "v(x1.sn)"}, {}, 0};
    job.deck = "retention of the exported cell\n.include " + lib.string() +
               "\nVW wbl 0 0.9\nVE we 0 pulse(0 0.9 1n 20p 20p 10n 1)\nVP pwm 0 0\nVB bl 0 0.45\nVD vdd 0 0.9\n"
               "X1 wbl we 0 pwm 0 bl vdd 0 imc_gaincell tau={imc_retention_tau_s} Vinf={imc_retention_V_inf_V}\n"
               ".tran 1u 3m 0 2u\n.end\n";
    const auto r = runOne(job);
    const Eigen::VectorXd time = r.vec("time"), v = r.vec("v(x1.sn)");
    for (const double after : {0.5 * tau, tau, 2 * tau}) {
        Eigen::Index k = 0;
        while (k + 1 < time.size() && time(k + 1) < tw + after) ++k;
        const double f = (tw + after - time(k)) / (time(k + 1) - time(k)), got = v(k) + f * (v(k + 1) - v(k));
        // V(t) = V_inf + (K - V_inf) exp(-t / tau), K = 0.9 V written
        CHECK_THAT(got, WithinAbs(vinf + (0.9 - vinf) * std::exp(-after / tau), 2e-3));
    }
}

TEST_CASE("spice-model names the file and the model it cannot express", "[export]") {
    fit::FitRecord r;
    r.model = "passive-0t1r";
    r.source = "fits/passive.json";
    CHECK_THROWS_WITH(exporter::exportFits({r}, exporter::Format::SpiceModel),
                      ContainsSubstring("fits/passive.json") && ContainsSubstring("passive-0t1r"));
    fit::FitRecord g = fit::readFit(shippedFit("gaincell-poly.json").string());
    g.units.erase("S");
    CHECK_THROWS_WITH(exporter::spiceModel(g), ContainsSubstring("units.S"));
    CHECK_THROWS_WITH(exporter::parseFormat("spice"), ContainsSubstring("spice-model"));
}
