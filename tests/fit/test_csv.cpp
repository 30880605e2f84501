#include "fit/fit.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace imc::fit;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("CSV with a header and unit suffixes", "[fit][csv]") {
    const CsvTable table = parseCsv("# gain-cell sweep\nQ_ns,K_V,S_fC\n1,0.1,2.5\n\n2,0.2,3e-1\r\n", "sweep.csv");
    CHECK(table.has_header);
    REQUIRE(table.rows() == 2);
    CHECK(table.column("Q") == std::vector<double>{1, 2});
    CHECK(table.column("K") == std::vector<double>{0.1, 0.2});
    CHECK(table.column("S") == std::vector<double>{2.5, 0.3});
    CHECK(table.unitOf("Q") == "ns");
    CHECK(table.unitOf("S") == "fC");
    CHECK(table.line_of_row == std::vector<std::size_t>{3, 5});
    CHECK_FALSE(table.findColumn("V"));
}

TEST_CASE("CSV column lookup does not take a suffix that is not a unit", "[fit][csv]") {
    const CsvTable table = parseCsv("V_in,Q_mean,T [ns],t(ms)\n0.9,1,2,3\n", "x.csv");
    CHECK_FALSE(table.findColumn("V"));  // "in" is not a unit
    CHECK_FALSE(table.findColumn("Q"));
    CHECK(table.findColumn("V_in") == 0u);
    CHECK(table.unitOf("T") == "ns");
    CHECK(table.unitOf("t") == "ms");
    CHECK_THROWS_WITH(table.column("K"), ContainsSubstring("x.csv") && ContainsSubstring("no column 'K'"));
}

TEST_CASE("CSV without a header, one column, whitespace-separated", "[fit][csv]") {
    const CsvTable table = parseCsv("1.5\n2.5\n+3.5\n", "samples.txt");
    CHECK_FALSE(table.has_header);
    CHECK(table.names == std::vector<std::string>{"col1"});
    CHECK(table.columns[0] == std::vector<double>{1.5, 2.5, 3.5});
    const CsvTable spaced = parseCsv("t V\n0 1\n1  0.5\n", "d.dat");
    CHECK(spaced.column("V") == std::vector<double>{1, 0.5});
}

TEST_CASE("CSV errors name the file and the line", "[fit][csv]") {
    const std::string text_at_line_5 = "x,T\n1,2\n3,4\n5,6\n7,abc\n";
    CHECK_THROWS_WITH(parseCsv(text_at_line_5, "data.csv"),
                      ContainsSubstring("data.csv:5:") && ContainsSubstring("'abc' is not a number"));
    CHECK_THROWS_WITH(parseCsv("1\n2\nnan\n", "s.csv"), ContainsSubstring("s.csv:3:") && ContainsSubstring("NaN"));
    CHECK_THROWS_WITH(parseCsv("NaN\n2\n", "s.csv"), ContainsSubstring("s.csv:1:"));
    CHECK_THROWS_WITH(parseCsv("a,b\n1,\n", "e.csv"), ContainsSubstring("e.csv:2:") && ContainsSubstring("empty value"));
    CHECK_THROWS_WITH(parseCsv("a,b\n1,2\n3\n", "r.csv"), ContainsSubstring("r.csv:3:") && ContainsSubstring("expected 2"));
    CHECK_THROWS_WITH(parseCsv("1\ninf\n", "i.csv"), ContainsSubstring("i.csv:2:") && ContainsSubstring("infinite"));
    CHECK_THROWS_WITH(parseCsv("a\n", "h.csv"), ContainsSubstring("no data rows"));
    CHECK_THROWS_WITH(readCsv("/nonexistent/file.csv"), ContainsSubstring("/nonexistent/file.csv"));
}

TEST_CASE("SI scale of unit suffixes", "[fit][csv]") {
    CHECK(siScale("") == 1.0);
    CHECK(siScale("s") == 1.0);
    CHECK(siScale("ns") == 1e-9);
    CHECK(siScale("ms") == 1e-3);
    CHECK(siScale("us") == 1e-6);
    CHECK(siScale("fC") == 1e-15);
    CHECK_FALSE(siScale("furlong"));
}

TEST_CASE("The CSV writer quotes what needs it and reads back", "[fit][csv]") {
    CHECK(csvField("plain") == "plain");
    CHECK(csvField("a,b") == "\"a,b\"");
    CHECK(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csvField("two\nlines") == "\"two lines\"");
    const std::string line = csvLine({"job-1", "failed", "", "1.5", "error: a, b"});
    CHECK(line == "job-1,failed,,1.5,\"error: a, b\"");
    CHECK(splitCsvLine(line) == std::vector<std::string>{"job-1", "failed", "", "1.5", "error: a, b"});
    CHECK(splitCsvLine(csvLine(std::vector<std::string>{"q\"uote", "x"})) == std::vector<std::string>{"q\"uote", "x"});
}
