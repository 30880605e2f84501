// The device formats against the layouts of the tools that read them, with parsers written here:
// NeuroSim V1.4 (Inference_pytorch/inference.py arguments, NeuroSIM/Param.cpp resistances),
// CrossSim (simulator/parameters/xbar_parameters.py: DeviceParameters, WeightErrorParameters)
// and aihwkit (inference/noise/reram.py: ReRamWan2022NoiseModel's coeff_dic polynomial).
#include "export/export.hpp"
#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

using namespace imc;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// A 2-bit MLC: four levels, 5..40 uS, sigma 1.0, 1.2, 1.9, 3.1 uS (not proportional, not constant).
const double kMean[4] = {5e-6, 15e-6, 27e-6, 40e-6};
const double kStd[4] = {1.0e-6, 1.2e-6, 1.9e-6, 3.1e-6};

fit::FitRecord mlc(int levels = 4) {
    fit::FitRecord r;
    r.model = "rram-levels";
    r.source = "fits/rram-mlc.json";
    r.coefficients["levels"] = levels;
    r.coefficients["read_V"] = 0.2;
    for (int k = 0; k < levels; ++k) {
        r.coefficients["G_mean_" + std::to_string(k) + "_S"] = kMean[k];
        r.coefficients["G_std_" + std::to_string(k) + "_S"] = kStd[k];
    }
    r.validity["retention_s"] = {3600.0, 3600.0};
    return r;
}

std::vector<std::string> splitCsv(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
    return out;
}

}  // namespace

TEST_CASE("neurosim: the per-state table and the cellBit / onoffratio / vari NeuroSim reads", "[export][neurosim]") {
    const std::string text = exporter::exportFits({mlc()}, exporter::Format::NeuroSim);
    std::stringstream in(text);
    std::string line, args, params;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header;
    while (std::getline(in, line)) {
        if (line.rfind("# DNN_NeuroSim", 0) == 0) args = line;
        else if (line.rfind("# NeuroSIM/Param.cpp", 0) == 0) params = line;
        else if (line.rfind("#", 0) == 0) continue;
        else if (header.empty()) header = splitCsv(line);
        else rows.push_back(splitCsv(line));
    }
    REQUIRE(header == std::vector<std::string>{"state", "G_mean_S", "G_std_S", "std_over_mean", "R_mean_ohm", "vari"});
    REQUIRE(rows.size() == 4);
    double ms = 0;
    for (int k = 0; k < 4; ++k) {
        REQUIRE(rows[k].size() == 6);
        CHECK(std::stoi(rows[k][0]) == k);
        CHECK(std::stod(rows[k][1]) == kMean[k]);
        CHECK(std::stod(rows[k][2]) == kStd[k]);
        CHECK_THAT(std::stod(rows[k][3]), WithinRel(kStd[k] / kMean[k], 1e-12));
        CHECK_THAT(std::stod(rows[k][4]), WithinRel(1 / kMean[k], 1e-12));
        // NeuroSim's noise is relative to the weight digit: sigma_G = vari (G_k - G_0)
        const double v = k == 0 ? 0.0 : kStd[k] / (kMean[k] - kMean[0]);
        CHECK_THAT(std::stod(rows[k][5]), WithinAbs(v, 1e-15));
        ms += v * v / 3;
    }
    const double vari = std::sqrt(ms);  // 1.2/10, 1.9/22, 3.1/35 -> 0.0995
    CHECK_THAT(vari, WithinAbs(0.0995, 1e-4));
    // inference.py's argument names and meaning: cellBit bits per cell, onoffratio Gmax/Gmin, vari relative sigma
    std::smatch m;
    REQUIRE(std::regex_search(args, m, std::regex("--cellBit (\\d+) --onoffratio ([0-9.eE+-]+) --vari ([0-9.eE+-]+)")));
    CHECK(std::stoi(m[1]) == 2);
    CHECK_THAT(std::stod(m[2]), WithinRel(8.0, 1e-12));
    CHECK_THAT(std::stod(m[3]), WithinRel(vari, 1e-12));
    // Param.cpp: resistanceOn (ohm) is the high-conductance state
    REQUIRE(std::regex_search(params, m, std::regex("resistanceOn = ([0-9.eE+-]+); resistanceOff = ([0-9.eE+-]+); readVoltage = ([0-9.eE+-]+);")));
    CHECK_THAT(std::stod(m[1]), WithinRel(1 / 40e-6, 1e-12));
    CHECK_THAT(std::stod(m[2]), WithinRel(1 / 5e-6, 1e-12));
    CHECK(std::stod(m[3]) == 0.2);
}

TEST_CASE("crosssim: DeviceParameters keys, ohms and normalized programming error", "[export][crosssim]") {
    const auto doc = nlohmann::json::parse(exporter::exportFits({mlc()}, exporter::Format::CrossSim));
    REQUIRE(doc.size() == 1);
    const auto& dev = doc.at("xbar").at("device");
    // every key is a DeviceParameters field, every error block a WeightErrorParameters
    const std::set<std::string> deviceFields{"cell_bits", "Rmin", "Rmax", "Vread", "time", "infinite_on_off_ratio",
                                             "clip_conductance", "read_noise", "programming_error", "drift_error", "nonlinear_IV"};
    for (const auto& [k, v] : dev.items()) {
        CHECK(deviceFields.count(k) == 1);
        if (v.is_object()) {
            CHECK(v.size() == 3);
            CHECK(v.at("enable").is_boolean());
            CHECK(v.at("model").is_string());
            CHECK(v.at("magnitude").is_number());
        }
    }
    CHECK(dev.at("cell_bits").get<int>() == 2);
    CHECK_THAT(dev.at("Rmin").get<double>(), WithinRel(25e3, 1e-12));  // 1 / 40 uS
    CHECK_THAT(dev.at("Rmax").get<double>(), WithinRel(200e3, 1e-12));
    CHECK(dev.at("Vread").get<double>() == 0.2);
    const auto& pe = dev.at("programming_error");
    CHECK(pe.at("enable").get<bool>());
    CHECK((pe.at("model") == "NormalProportionalDevice" || pe.at("model") == "NormalIndependentDevice"));
    // sigma proportional to G: the proportional model, magnitude sigma / G
    auto scaled = mlc();
    for (int k = 0; k < 4; ++k) scaled.coefficients["G_std_" + std::to_string(k) + "_S"] = 0.08 * kMean[k];
    const auto d1 = nlohmann::json::parse(exporter::exportFits({scaled}, exporter::Format::CrossSim));
    CHECK(d1["xbar"]["device"]["programming_error"]["model"] == "NormalProportionalDevice");
    CHECK_THAT(d1["xbar"]["device"]["programming_error"]["magnitude"].get<double>(), WithinRel(0.08, 1e-12));
    // constant sigma: the independent model, normalized to G_max
    auto flat = mlc();
    for (int k = 0; k < 4; ++k) flat.coefficients["G_std_" + std::to_string(k) + "_S"] = 2e-6;
    const auto d2 = nlohmann::json::parse(exporter::exportFits({flat}, exporter::Format::CrossSim));
    CHECK(d2["xbar"]["device"]["programming_error"]["model"] == "NormalIndependentDevice");
    CHECK_THAT(d2["xbar"]["device"]["programming_error"]["magnitude"].get<double>(), WithinRel(2e-6 / 40e-6, 1e-12));
}

TEST_CASE("aihwkit: coeff_dic polynomial in g/g_max reproduces every state's sigma in uS", "[export][aihwkit]") {
    const auto doc = nlohmann::json::parse(exporter::exportFits({mlc()}, exporter::Format::Aihwkit));
    CHECK(doc.at("noise_model") == "ReRamWan2022NoiseModel");
    const double gMax = doc.at("g_max").get<double>(), ref = doc.at("coeff_g_max_reference").get<double>();
    CHECK_THAT(gMax, WithinRel(40.0, 1e-12));  // uS
    REQUIRE(doc.at("coeff_dic").size() == 1);
    // The object's own iterator: a binding to *items().begin() would refer into the temporary proxy
    // iterator, gone at the end of the statement (ASan: stack-use-after-scope).
    const auto first = doc.at("coeff_dic").begin();
    const std::string tKey = first.key();
    const auto& coeff = first.value();
    CHECK(std::stod(tKey) == 3600.0);  // the fit's retention time, in s
    REQUIRE(coeff.size() == 4);        // four states: a cubic through them
    // reram.py's _apply_poly: sig = c0 + c1 x + c2 x^2 ..., x = g/g_max, times g_max / reference
    for (int k = 0; k < 4; ++k) {
        const double g = kMean[k] * 1e6, x = g / gMax;
        double sig = 0, p = 1;
        for (const auto& c : coeff) sig += c.get<double>() * p, p *= x;
        CHECK_THAT(sig * gMax / ref, WithinAbs(kStd[k] * 1e6, 1e-9));
    }
    // two states: a line
    const auto d2 = nlohmann::json::parse(exporter::exportFits({mlc(2)}, exporter::Format::Aihwkit));
    CHECK(d2["coeff_dic"].begin()->size() == 2);
}

TEST_CASE("device formats name the file and the model they cannot express", "[export]") {
    const fit::FitRecord gc = [] {
        fit::FitRecord r;
        r.model = "gaincell-poly";
        r.source = "fits/gaincell-poly.json";
        return r;
    }();
    for (auto f : {exporter::Format::NeuroSim, exporter::Format::CrossSim, exporter::Format::Aihwkit})
        CHECK_THROWS_WITH(exporter::exportFits({gc}, f), ContainsSubstring("fits/gaincell-poly.json") &&
                                                             ContainsSubstring("gaincell-poly") && ContainsSubstring("spice-model"));
    // one lognormal state: aihwkit gets a constant sigma, CrossSim and NeuroSim need two states
    fit::FitRecord hrs;
    hrs.model = "lognormal";
    hrs.source = "fits/memristor-hrs-lognormal.json";
    hrs.coefficients = {{"mu", std::log(1e-10)}, {"sigma", 0.1}};
    CHECK_THROWS_WITH(exporter::exportFits({hrs}, exporter::Format::CrossSim),
                      ContainsSubstring("memristor-hrs-lognormal.json") && ContainsSubstring("at least 2"));
    const auto a = nlohmann::json::parse(exporter::exportFits({hrs}, exporter::Format::Aihwkit));
    // lognormal moments: mean exp(mu + s^2/2), std mean sqrt(exp(s^2) - 1)
    const double mean_uS = 1e-4 * std::exp(0.005), std_uS = mean_uS * std::sqrt(std::expm1(0.01));
    CHECK_THAT(a["g_max"].get<double>(), WithinRel(mean_uS, 1e-12));
    CHECK_THAT((*a["coeff_dic"].begin())[0].get<double>(), WithinRel(std_uS, 1e-9));
    auto three = mlc(3);
    CHECK_THROWS_WITH(exporter::exportFits({three}, exporter::Format::NeuroSim), ContainsSubstring("2^k"));
    CHECK_THROWS_WITH(exporter::exportFits({mlc(), hrs}, exporter::Format::CrossSim), ContainsSubstring("one device"));
}

TEST_CASE("the shipped RRAM fits export their levels to CrossSim and NeuroSim", "[export]") {
    for (const char* name : {"rram-slc.json", "rram-mlc.json"}) {
        const fit::FitRecord rec = fit::readFit(std::string(IMC_SOURCE_DIR) + "/fits/" + name);
        const int levels = int(rec.coefficient("levels"));
        const double g0 = rec.coefficient("G_mean_0_S"), gTop = rec.coefficient("G_mean_" + std::to_string(levels - 1) + "_S");
        const auto dev = nlohmann::json::parse(exporter::exportFits({rec}, exporter::Format::CrossSim))["xbar"]["device"];
        INFO(name);
        CHECK(dev["cell_bits"].get<double>() == rec.coefficient("bits_per_cell"));
        CHECK_THAT(dev["Rmin"].get<double>(), WithinRel(1 / gTop, 1e-12));
        CHECK_THAT(dev["Rmax"].get<double>(), WithinRel(1 / g0, 1e-12));
        CHECK(dev["Vread"].get<double>() == rec.coefficient("read_V"));
        std::stringstream in(exporter::exportFits({rec}, exporter::Format::NeuroSim));
        int rows = 0;
        for (std::string line; std::getline(in, line);)
            if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) {
                const auto f = splitCsv(line);
                CHECK(std::stod(f[1]) == rec.coefficient("G_mean_" + f[0] + "_S"));
                CHECK(std::stod(f[2]) == rec.coefficient("G_std_" + f[0] + "_S"));
                ++rows;
            }
        CHECK(rows == levels);
    }
}
