#include "report/html.hpp"

#include "../temp_dir.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace imc::report;
using Catch::Matchers::ContainsSubstring;

namespace {
std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
void touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "png";
}
}  // namespace

TEST_CASE("text on the page is HTML-escaped", "[report][html]") {
    CHECK(htmlEscape("a<b & c>\"d\" 'e'") == "a&lt;b &amp; c&gt;&quot;d&quot; &#39;e&#39;");
    const TempDir t("html-escape");
    HtmlPage page;
    page.title = "<script>alert(1)</script>";
    page.command = "imc characterize 'a&b'";
    page.tables.push_back({"T<1>", {"k"}, {{"<b>"}}});
    const std::string html = renderHtml(page, t.dir);
    CHECK_THAT(html, !ContainsSubstring("<script>alert"));
    CHECK_THAT(html, ContainsSubstring("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
    CHECK_THAT(html, ContainsSubstring("imc characterize &#39;a&amp;b&#39;"));
    CHECK_THAT(html, ContainsSubstring("<caption>T&lt;1&gt;</caption>"));
    CHECK_THAT(html, ContainsSubstring("<td>&lt;b&gt;</td>"));
}

TEST_CASE("plots are referenced relative to the page, and only from inside its folder", "[report][html]") {
    const TempDir t("html-images");
    touch(t.dir / "run" / "iv.png");
    touch(t.dir / "run" / "sub dir" / "a#1.png");
    touch(t.dir / "elsewhere.png");
    const auto images = imagesIn(t.dir / "run");
    REQUIRE(images.size() == 2);
    CHECK(images[0].caption == "iv.png");
    CHECK(images[1].caption == "sub dir/a#1.png");
    HtmlPage page;
    page.images = images;
    const fs::path page_path = writeHtmlReport(t.dir / "run", page);
    CHECK(page_path == t.dir / "run" / "report.html");
    const std::string html = slurp(page_path);
    CHECK_THAT(html, ContainsSubstring("src=\"iv.png\""));
    CHECK_THAT(html, ContainsSubstring("src=\"sub%20dir/a%231.png\""));  // a URL: space and '#' encoded
    CHECK_THAT(html, !ContainsSubstring(t.dir.string()));                  // nothing absolute
    page.images.push_back({t.dir / "elsewhere.png", "outside"});
    CHECK_THROWS_WITH(renderHtml(page, t.dir / "run"), ContainsSubstring("is not inside"));
}

TEST_CASE("a run's page holds its command, manifest, summary and every plot", "[report][html]") {
    const TempDir t("html-run");
    const fs::path dir = t.dir / "crossbar-mc-ab12";
    touch(dir / "a.png");
    touch(dir / "sub" / "b.png");
    std::ofstream(dir / "manifest.json") << R"({"netlist_sha256": "ab12cd", "seed": 7, "parameters": {"size": 4}})";
    const nlohmann::json summary = {{"ir_drop_mean", 0.25}, {"qk", {{"rmse_fs", 0.03}}}, {"rows", nlohmann::json::array({{{"ppl", 8.5}}, {{"ppl", 9}}})},
                                    {"sizes", {4, 8}}};
    writeRunReport(dir, "crossbar & more", "imc characterize crossbar-mc --size 4", summary);
    const std::string html = slurp(dir / "report.html");
    CHECK_THAT(html, ContainsSubstring("<h1>crossbar &amp; more</h1>"));
    CHECK_THAT(html, ContainsSubstring("<pre>imc characterize crossbar-mc --size 4</pre>"));
    CHECK_THAT(html, ContainsSubstring("<td>netlist_sha256</td><td>ab12cd</td>"));
    CHECK_THAT(html, ContainsSubstring("<td>seed</td><td>7</td>"));
    CHECK_THAT(html, ContainsSubstring("<td>ir_drop_mean</td><td>0.25</td>"));
    CHECK_THAT(html, ContainsSubstring("<td>qk.rmse_fs</td><td>0.03</td>"));
    CHECK_THAT(html, ContainsSubstring("<td>rows[1].ppl</td><td>9</td>"));
    CHECK_THAT(html, ContainsSubstring("<td>sizes</td><td>[4,8]</td>"));
    CHECK_THAT(html, ContainsSubstring("src=\"a.png\""));
    CHECK_THAT(html, ContainsSubstring("src=\"sub/b.png\""));
    // Only the given plots, when the folder is shared.
    writeRunReport(dir, "one plot", "imc infer --report", summary, std::vector<fs::path>{dir / "a.png"});
    const std::string one = slurp(dir / "report.html");
    CHECK_THAT(one, ContainsSubstring("src=\"a.png\""));
    CHECK_THAT(one, !ContainsSubstring("b.png"));
}
