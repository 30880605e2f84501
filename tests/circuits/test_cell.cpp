#include "circuits/cell.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace imc;
using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

TEST_CASE("a subcircuit's ports and defaults are read from its file", "[circuits]") {
    const fs::path f = fs::temp_directory_path() / ("imc-cell-" + std::to_string(::getpid()) + ".lib");
    std::ofstream(f) << "* a cell\n.subckt other a b\n.ends\n.SUBCKT MyCell top  bot\n+ params: G=2n\n+ x0=0\nR1 top bot {1/G}\n.ends\n";
    const auto sig = circuits::findSubckt(f, "mycell");
    CHECK(sig.name == "MyCell");
    CHECK(sig.ports == std::vector<std::string>{"top", "bot"});
    CHECK(sig.defaults.at("G") == "2n");
    CHECK(sig.defaults.at("x0") == "0");
    CHECK(sig.line == 4);
    CHECK_THROWS_WITH(circuits::findSubckt(f, "missing"), ContainsSubstring("it defines: other, MyCell"));

    auto cell = circuits::cellFromFile(f, "MyCell", {{"top", "top"}, {"bottom", "bot"}});
    CHECK_NOTHROW(cell.validate({"top", "bottom"}));
    const auto x = cell.instance("c1", {{"top", "r1"}, {"bottom", "c3"}}, {{"x0", "1"}});
    CHECK(netlist::writeElement(x) == "Xc1 r1 c3 MyCell x0=1");

    auto twice = circuits::cellFromFile(f, "MyCell", {{"top", "top"}, {"bottom", "top"}});
    CHECK_THROWS_WITH(twice.validate({"top", "bottom"}), ContainsSubstring("bound twice"));
    auto missing = circuits::cellFromFile(f, "MyCell", {{"top", "top"}});
    CHECK_THROWS_WITH(missing.validate({"top", "bottom"}), ContainsSubstring("'bottom' is not bound"));
    auto wrong = circuits::cellFromFile(f, "MyCell", {{"top", "top"}, {"bottom", "nope"}});
    CHECK_THROWS_WITH(wrong.validate({"top", "bottom"}), ContainsSubstring("does not have"));
    fs::remove(f);
}

TEST_CASE("every built-in cell is found with its roles bound", "[circuits]") {
    for (const auto& name : circuits::builtinCellNames()) {
        INFO(name);
        const auto c = circuits::builtinCell(name);
        std::vector<std::string> roles;
        for (const auto& [r, p] : c.roles) roles.push_back(r);
        CHECK_NOTHROW(c.validate(roles));
        for (const auto& inc : c.includes) CHECK(fs::exists(inc));
    }
}
