// End-to-end: `imc gaincell-attention` on CSV files, against the library's reference kernel, and
// `imc characterize rram-mlc --write-paper-fits`, read back through the RRAM model.
#include "behavior/rram_model.hpp"
#include "fit/level_errors.hpp"
#include "fits_fixture.hpp"

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>

using namespace imc::behavior;
using namespace behavior_test;

namespace {

struct Run {
    int status = 0;
    std::string out;
};

Run runImc(const std::string& arguments) {
    const std::string command = std::string(IMC_EXE) + " " + arguments + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    Run run;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe)) run.out += buffer.data();
    const int status = pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

void writeCsv(const std::string& path, const Matrix& m) {
    std::ofstream file(path);
    for (long i = 0; i < m.rows(); ++i)
        for (long j = 0; j < m.cols(); ++j) file << m(i, j) << (j + 1 < m.cols() ? "," : "\n");
}

}  // namespace

TEST_CASE("imc gaincell-attention prints S, phi and A as JSON matching the reference kernel", "[behavior][cli]") {
    const std::string dir = freshDir("cli");
    const Run paper = runImc("gaincell-attention --write-paper-fits " + dir + "/fits");
    REQUIRE(paper.status == 0);
    const Matrix q = uniformMatrix(70, 4, 0, 1, 1), k = uniformMatrix(70, 4, 0, 0.9, 2), v = uniformMatrix(70, 4, 0, 0.9, 3);
    writeCsv(dir + "/q.csv", q);
    writeCsv(dir + "/k.csv", k);
    writeCsv(dir + "/v.csv", v);
    const Run run = runImc("gaincell-attention --fits " + dir + "/fits --q " + dir + "/q.csv --k " + dir + "/k.csv --v " +
                           dir + "/v.csv --model nonlinear --window 64 --layers 12 --json");
    REQUIRE(run.status == 0);
    const auto result = nlohmann::json::parse(run.out);

    // The CSV holds the values as printed, so read them back the same way for the reference.
    const GainCellModel model = GainCellModel::load(dir + "/fits");
    auto reread = [&](const std::string& name) {
        const auto table = imc::fit::readCsv(dir + "/" + name);
        Eigen::MatrixXd m(static_cast<long>(table.rows()), static_cast<long>(table.columns.size()));
        for (long j = 0; j < m.cols(); ++j)
            for (long i = 0; i < m.rows(); ++i) m(i, j) = table.columns[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)];
        return m;
    };
    AttentionOptions o;
    o.model = ArrayModel::Nonlinear;
    o.window = 64;
    o.layers = 12;
    Eigen::MatrixXd S, phi;
    const Eigen::MatrixXd A = gainCellAttentionReference(model, o, {}, {}, reread("q.csv").cast<float>().cast<double>(),
                                                         reread("k.csv").cast<float>().cast<double>(),
                                                         reread("v.csv").cast<float>().cast<double>(), &S, &phi);
    REQUIRE(result["S"].size() == 70);
    REQUIRE(result["S"][0].size() == 70);
    REQUIRE(result["A"][0].size() == 4);
    double worst_S = 0, worst_phi = 0;
    long A_mismatches = 0;
    for (long i = 0; i < 70; ++i) {
        for (long j = 0; j < 70; ++j) {
            worst_S = std::max(worst_S, std::abs(result["S"][i][j].get<double>() - S(i, j)));
            worst_phi = std::max(worst_phi, std::abs(result["phi"][i][j].get<double>() - phi(i, j)));
        }
        for (long d = 0; d < 4; ++d) A_mismatches += std::abs(result["A"][i][d].get<double>() - A(i, d)) > 1e-5;
    }
    CHECK(worst_S < 1e-4);
    CHECK(worst_phi < 1e-6);
    CHECK(A_mismatches <= 2);  // a float/double tie at an output level boundary at most
}

TEST_CASE("imc gaincell-attention names the file and line of a bad CSV field", "[behavior][cli]") {
    const std::string dir = freshDir("cli-bad");
    writePaperModelFits(dir + "/fits");
    std::ofstream(dir + "/q.csv") << "0.1,0.2\n0.3,abc\n";
    std::ofstream(dir + "/kv.csv") << "0.1,0.2\n0.3,0.4\n";
    const Run run = runImc("gaincell-attention --fits " + dir + "/fits --q " + dir + "/q.csv --k " + dir + "/kv.csv --v " +
                           dir + "/kv.csv");
    CHECK(run.status == 1);
    CHECK(run.out.find("q.csv:2") != std::string::npos);
    CHECK(run.out.find("imc: error:") != std::string::npos);

    const Run missing = runImc("gaincell-attention --fits " + dir + "/fits --q " + dir + "/kv.csv");
    CHECK(missing.status != 0);
}

TEST_CASE("imc characterize rram-mlc --write-paper-fits writes the paper's and the public code's constants", "[behavior][cli]") {
    const std::string dir = freshDir("cli-rram-paper");
    const Run code = runImc("characterize rram-mlc --write-paper-fits " + dir + "/code --paper-sigma public-code --json");
    REQUIRE(code.status == 0);
    CHECK(nlohmann::json::parse(code.out).at("rram-mlc").at("sigma_eta").get<double>() == 0.025);
    const RramModel publicCode = loadRramFits(dir + "/code");
    CHECK(publicCode.slc.exact());
    CHECK(publicCode.mlc.sigmaEta[1] == 0.025);
    CHECK(imc::fit::readFit(dir + "/code/rram-mlc.json").provenance.extra.at("constants_from") == "HyFlexPIM public code");

    const Run paper = runImc("characterize rram-mlc --write-paper-fits " + dir + "/paper");
    REQUIRE(paper.status == 0);
    const auto mlc = imc::fit::readFit(dir + "/paper/rram-mlc.json");
    CHECK(mlc.provenance.extra.at("constants_from") == "HyFlexPIM paper");
    CHECK(mlc.provenance.extra.at("measured") == false);
    // The 4.04 % one-day BER, independently: the record's own sigma put back through the forward model.
    CHECK(std::abs(imc::fit::multiplicativeBitErrorRate(4, mlc.coefficient("sigma_eta")) - 0.0404) < 1e-6);
    CHECK(loadRramFits(dir + "/paper").mlc.meanLsb == std::vector<double>{0, 1, 2, 3});
}
