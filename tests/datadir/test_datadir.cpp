// The data lookup: IMC_DATA_DIR first, the installed layout beside the program, the source tree
// last (and never when IMC_NO_SOURCE_TREE is set).
#include "datadir/datadir.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

// Sets (or unsets, for nullptr) an environment variable for one scope.
struct ScopedEnv {
    std::string name;
    std::string saved;
    bool had;
    ScopedEnv(const char* n, const char* value) : name(n), had(std::getenv(n) != nullptr) {
        if (had) saved = std::getenv(n);
        if (value) setenv(n, value, 1);
        else unsetenv(n);
    }
    ~ScopedEnv() {
        if (had) setenv(name.c_str(), saved.c_str(), 1);
        else unsetenv(name.c_str());
    }
};

}  // namespace

TEST_CASE("IMC_DATA_DIR is taken as given", "[datadir]") {
    ScopedEnv dir("IMC_DATA_DIR", "/nonexistent/imc-data");
    CHECK(imc::dataPath("fits") == fs::path("/nonexistent/imc-data/fits"));
    CHECK(imc::dataPath("netlists/models") == fs::path("/nonexistent/imc-data/netlists/models"));
}

TEST_CASE("A build-tree program falls back to the source tree, unless told not to", "[datadir]") {
    ScopedEnv dir("IMC_DATA_DIR", nullptr);
    {
        ScopedEnv fallback("IMC_NO_SOURCE_TREE", nullptr);
        const fs::path fits = imc::dataPath("fits");
        CHECK(fs::equivalent(fits, fs::path(IMC_SOURCE_DIR) / "fits"));
        CHECK(fs::exists(fits / "gaincell-poly.json"));
    }
    // Without the fallback, the answer is the installed layout beside this test program, which a
    // build tree does not have: <build>/tests/datadir/test_datadir -> <build>/tests/share/imc/fits.
    ScopedEnv fallback("IMC_NO_SOURCE_TREE", "1");
    const fs::path exe = fs::read_symlink("/proc/self/exe");
    CHECK(imc::dataPath("fits") == (exe.parent_path() / ".." / "share" / "imc" / "fits").lexically_normal());
}

TEST_CASE("The installed layout beside the program wins over the source tree", "[datadir]") {
    // A copy of this program in <prefix>/bin with <prefix>/share/imc/models present: it must
    // report the prefix, with the source tree still reachable.
    const fs::path prefix = fs::path(IMC_BINARY_DIR) / "test-scratch" / "datadir-prefix";
    fs::remove_all(prefix);
    fs::create_directories(prefix / "bin");
    fs::create_directories(prefix / "share" / "imc" / "models");
    const fs::path exe = fs::read_symlink("/proc/self/exe");
    fs::copy_file(exe, prefix / "bin" / "test_datadir");
    const fs::path out = prefix / "answer.txt";
    const std::string cmd = "env -u IMC_DATA_DIR -u IMC_NO_SOURCE_TREE IMC_DATADIR_ANSWER='" + out.string() + "' '" +
                            (prefix / "bin" / "test_datadir").string() + "' '[datadir-print]' > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(out);
    std::string models, netlists;
    std::getline(in, models);
    std::getline(in, netlists);
    CHECK(fs::path(models) == prefix / "share" / "imc" / "models");
    // A folder the prefix lacks still comes from the source tree (developer fallback).
    CHECK(fs::path(netlists) == fs::path(IMC_SOURCE_DIR) / "netlists");
}

// Run by the case above in the copied program: writes what dataPath answers there.
TEST_CASE("dataPath answers, written for the copied program", "[.][datadir-print]") {
    const char* answer = std::getenv("IMC_DATADIR_ANSWER");
    REQUIRE(answer != nullptr);
    std::ofstream out(answer);
    out << imc::dataPath("models").string() << "\n" << imc::dataPath("netlists").string() << "\n";
}
