// End-to-end tests of `imc export`: the shipped fits folder as an ngspice library that
// `ngspice -b` reads unchanged, and errors that name the file and the model.
#include "run_imc.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

TEST_CASE("imc export writes the fits folder as a library ngspice -b runs unchanged", "[cli][export]") {
    const fs::path dir = fs::temp_directory_path() / ("imc-export-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string lib = (dir / "imc-models.lib").string();
    const ImcRun r = runImc({"export", sourcePath("fits"), "--to", "spice-model", "--out", lib});
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
    std::stringstream text;
    text << std::ifstream(lib).rdbuf();
    for (const char* s : {".subckt imc_gaincell ", ".subckt imc_c2p_relu ", ".subckt imc_c2p_signed ", "agauss("})
        CHECK_THAT(text.str(), ContainsSubstring(s));
    // A deck that includes the library and instantiates every subcircuit, through the ngspice command.
    const std::string deck = (dir / "use.cir").string();
    std::ofstream(deck) << "uses the exported library\n.include " << lib
                        << "\nV1 a 0 1\nX1 a 0 imc_memristor_hrs_lognormal\nX2 a 0 imc_memristor_c2c cycle=10\n"
                           "VK w 0 0.9\nVE e 0 0.9\nVB b 0 0.45\nVP p 0 0.9\nX3 w e 0 p 0 b a 0 imc_gaincell\n"
                           ".control\nop\nprint i(V1) i(VB)\n.endc\n.end\n";
    auto ngspice = [](const std::string& file, int& status) {
        FILE* p = ::popen(("ngspice -b " + file + " 2>&1").c_str(), "r");
        std::string out;
        char buf[512];
        while (p && std::fgets(buf, sizeof buf, p)) out += buf;
        status = p ? ::pclose(p) : -1;
        return out;
    };
    int status = -1;
    const std::string used = ngspice(deck, status);
    INFO(used);
    CHECK(status == 0);
    CHECK_THAT(used, !ContainsSubstring("rror") && !ContainsSubstring("arning"));
    CHECK_THAT(used, ContainsSubstring("i(v1) ="));
    // The library alone parses cleanly; it holds no analysis, which is the only complaint.
    const std::string alone = ngspice(lib, status);
    INFO(alone);
    CHECK_THAT(alone, ContainsSubstring("no simulations run") && !ContainsSubstring("arning") && !ContainsSubstring("on line"));
    fs::remove_all(dir);
}

TEST_CASE("imc export names the file and the model a format cannot express", "[cli][export]") {
    const ImcRun r = runImc({"export", sourcePath("fits/gaincell-poly.json"), "--to", "crosssim", "--out", "/dev/null"});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.err, ContainsSubstring("fits/gaincell-poly.json") && ContainsSubstring("gaincell-poly"));
    const ImcRun u = runImc({"export", sourcePath("fits"), "--to", "hspice", "--out", "/dev/null"});
    CHECK(u.exitCode == 1);
    CHECK_THAT(u.err, ContainsSubstring("spice-model, neurosim, crosssim, aihwkit"));
}
