#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>

using namespace imc::fit;
using Catch::Matchers::ContainsSubstring;

namespace {

std::filesystem::path scratch(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / "imc_test_fit";
    std::filesystem::create_directories(dir);
    return dir / name;
}

void writeText(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

FitRecord sampleRecord() {
    FitRecord r;
    r.model = "gaincell-poly";
    r.description = "third-order gain-cell read polynomial";
    r.coefficients = {{"C_0_0", 1.2345678901234567}, {"C_1_0", -3.3e-17}, {"K_offset", 0.45}};
    r.units = {{"C_0_0", "uA/ns"}, {"K_offset", "V"}};
    r.validity = {{"K_V", {0.0, 0.9}}, {"Q_s", {0.0, 1.5e-8}}};
    r.quality.rmse = 1e-3;
    r.quality.r2 = 0.9991;
    r.quality.n = 512;
    r.quality.extra["ks_p"] = 0.4;
    r.spread = {{"C_0_0", {{"mc_std", 0.01}}}, {"readout_noise", {0.1, 0.2}}};
    r.provenance.generator = "imc characterize gaincell";
    r.provenance.parameters = {{"C_store_F", 8e-16}};
    r.provenance.netlist_sha256 = std::string(64, 'a');
    r.provenance.seed = 18446744073709551615ull;
    r.provenance.samples = 1000;
    r.provenance.ngspice_version = "44";
    r.provenance.created_utc = "2025-01-01T00:00:00Z";
    r.provenance.command = "imc fit gaincell-poly sweep.csv";
    r.provenance.extra["host_note"] = "kept";
    return r;
}

}  // namespace

TEST_CASE("fits file round trip keeps every field bit for bit", "[fit][fitsfile]") {
    const auto path = scratch("roundtrip.json");
    const FitRecord written = sampleRecord();
    writeFit(path.string(), written);
    const FitRecord read = readFit(path.string());
    CHECK(read.source == path.string());
    CHECK(read.model == written.model);
    CHECK(read.description == written.description);
    CHECK(read.coefficients == written.coefficients);  // exact: shortest round-trip printing
    CHECK(read.units == written.units);
    CHECK(read.validity == written.validity);
    CHECK(read.quality.rmse == written.quality.rmse);
    CHECK(read.quality.r2 == written.quality.r2);
    CHECK(read.quality.n == written.quality.n);
    CHECK(read.quality.extra == written.quality.extra);
    CHECK(read.spread == written.spread);
    CHECK(read.provenance.generator == written.provenance.generator);
    CHECK(read.provenance.parameters == written.provenance.parameters);
    CHECK(read.provenance.netlist_sha256 == written.provenance.netlist_sha256);
    CHECK(read.provenance.seed == written.provenance.seed);
    CHECK(read.provenance.samples == written.provenance.samples);
    CHECK(read.provenance.ngspice_version == written.provenance.ngspice_version);
    CHECK(read.provenance.created_utc == written.provenance.created_utc);
    CHECK(read.provenance.command == written.provenance.command);
    CHECK(read.provenance.extra == written.provenance.extra);
    CHECK(read.coefficient("K_offset") == 0.45);
    // The document starts with format and version, for people reading it.
    std::ifstream in(path);
    std::string head((std::istreambuf_iterator<char>(in)), {});
    CHECK(head.find("\"format\"") < head.find("\"version\""));
    CHECK(head.find("\"version\"") < head.find("\"coefficients\""));
}

TEST_CASE("fits file errors name the file and the field", "[fit][fitsfile]") {
    const auto path = scratch("bad.json");
    writeText(path, R"({"format": "imc-fit", "version": 2, "model": "x", "coefficients": {}})");
    CHECK_THROWS_AS(readFit(path.string()), FitsFormatError);
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring(path.string()) && ContainsSubstring("\"version\"") &&
                                                  ContainsSubstring("version 1"));

    writeText(path, R"({"version": 1, "model": "x", "coefficients": {}})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring(path.string()) && ContainsSubstring("missing field \"format\""));

    writeText(path, R"({"format": "imc-fit", "version": 1, "coefficients": {}})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring("missing field \"model\""));

    writeText(path, R"({"format": "imc-fit", "version": 1, "model": "x"})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring("missing field \"coefficients\""));

    writeText(path, R"({"format": "imc-fit", "version": 1, "model": "x", "coefficients": {"C_0_0": "1.2"}})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring("\"coefficients.C_0_0\" must be a number"));

    writeText(path, R"({"format": "imc-fit", "version": 1, "model": "x", "coefficients": {}, "validity": {"K_V": [1]}})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring("\"validity.K_V\""));

    writeText(path, R"({"format": "imc-fit", "version": 1, "model": "x", "coeficients": {}})");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring("\"coeficients\""));

    writeText(path, R"({"format": "imc-fit", "version": 1, "model": )");
    CHECK_THROWS_WITH(readFit(path.string()), ContainsSubstring(path.string()) && ContainsSubstring("not valid JSON"));

    CHECK_THROWS_AS(readFit(scratch("missing.json").string()), FitsFormatError);
}

TEST_CASE("missing coefficient names the file and the key", "[fit][fitsfile]") {
    const auto path = scratch("coefficient.json");
    writeFit(path.string(), sampleRecord());
    const FitRecord record = readFit(path.string());
    CHECK_THROWS_AS(record.coefficient("C_3_0"), FitsFormatError);
    CHECK_THROWS_WITH(record.coefficient("C_3_0"),
                      ContainsSubstring(path.string()) && ContainsSubstring("\"C_3_0\"") && ContainsSubstring("C_0_0"));
}

TEST_CASE("checkRange flags extrapolation and ignores keys without a range", "[fit][fitsfile]") {
    FitRecord record = sampleRecord();
    record.source = "range-test";
    CHECK(record.checkRange("K_V", 0.45));
    CHECK(record.checkRange("K_V", 0.0));
    CHECK(record.checkRange("K_V", 0.9));
    CHECK_FALSE(record.checkRange("K_V", 0.95));
    CHECK_FALSE(record.checkRange("K_V", -0.1));  // second warning suppressed, still reported
    CHECK(record.checkRange("unlisted", 1e9));
}

TEST_CASE("hand-written minimal fits file is accepted", "[fit][fitsfile]") {
    const auto path = scratch("minimal.json");
    writeText(path, R"({"format": "imc-fit", "version": 1, "model": "retention", "coefficients": {"tau_s": 0.005}})");
    const FitRecord record = readFit(path.string());
    CHECK(record.coefficient("tau_s") == 0.005);
    CHECK(record.validity.empty());
    CHECK_FALSE(record.quality.rmse);
}

TEST_CASE("every JSON example in fits/README.md is a valid fits file", "[fit][fitsfile]") {
    // Keeps the documentation in step with the reader.
    std::ifstream in(std::string(IMC_SOURCE_DIR) + "/fits/README.md");
    REQUIRE(in);
    const std::string readme((std::istreambuf_iterator<char>(in)), {});
    int examples = 0;
    for (std::size_t start = readme.find("```json\n"); start != std::string::npos; start = readme.find("```json\n", start)) {
        start += 8;
        const std::size_t end = readme.find("```", start);
        REQUIRE(end != std::string::npos);
        const FitRecord record = fitFromJson(nlohmann::json::parse(readme.substr(start, end - start)), "README example");
        CHECK(record.model == "gaincell-poly");
        CHECK(record.coefficient("K_offset") == 0.45);
        ++examples;
    }
    CHECK(examples == 2);
}
