#include "report/html.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace imc::report {

namespace fs = std::filesystem;

std::string htmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

namespace {

// A path relative to dir, with '/' separators, refused when it leaves dir.
std::string relativeInside(const fs::path& file, const fs::path& dir) {
    const fs::path base = fs::weakly_canonical(fs::absolute(dir));
    const fs::path target = fs::weakly_canonical(fs::absolute(file));
    const fs::path rel = target.lexically_relative(base);
    if (rel.empty() || *rel.begin() == "..")
        throw std::invalid_argument("report.html: image " + file.string() + " is not inside " + dir.string());
    return rel.generic_string();
}

// Percent-encodes what an URL path may not hold as it is (spaces, '#', '?', '%', non-ASCII).
std::string urlPath(const std::string& path) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : path) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_' || c == '.' || c == '/' || c == '~';
        if (plain) out += char(c);
        else out += '%', out += hex[c >> 4], out += hex[c & 15];
    }
    return out;
}

void renderTable(std::string& h, const HtmlTable& t) {
    h += "<table>\n";
    if (!t.caption.empty()) h += "<caption>" + htmlEscape(t.caption) + "</caption>\n";
    if (!t.header.empty()) {
        h += "<tr>";
        for (const auto& c : t.header) h += "<th>" + htmlEscape(c) + "</th>";
        h += "</tr>\n";
    }
    for (const auto& row : t.rows) {
        h += "<tr>";
        for (const auto& c : row) h += "<td>" + htmlEscape(c) + "</td>";
        h += "</tr>\n";
    }
    h += "</table>\n";
}

std::string cellText(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

void flatten(const std::string& key, const nlohmann::json& v, HtmlTable& t) {
    if (v.is_object() && !v.empty()) {
        for (const auto& [k, x] : v.items()) flatten(key.empty() ? k : key + "." + k, x, t);
    } else if (v.is_array() && std::any_of(v.begin(), v.end(), [](const auto& x) { return x.is_structured(); })) {
        for (std::size_t i = 0; i < v.size(); ++i) flatten(key + "[" + std::to_string(i) + "]", v[i], t);
    } else {
        t.rows.push_back({key, cellText(v)});
    }
}

}  // namespace

std::string renderHtml(const HtmlPage& page, const fs::path& dir) {
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<title>" + htmlEscape(page.title) + "</title>\n";
    h += "<style>\n"
         "body { font-family: sans-serif; margin: 2em; max-width: 1000px; }\n"
         "table { border-collapse: collapse; margin: 1em 0; }\n"
         "caption { text-align: left; font-weight: bold; padding: 0.3em 0; }\n"
         "th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }\n"
         "td { font-family: monospace; }\n"
         "pre { background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; }\n"
         "figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #ddd; }\n"
         "img[data-loaded=no] { outline: 3px solid #c00; }\n"
         "</style>\n</head>\n<body>\n";
    h += "<h1>" + htmlEscape(page.title) + "</h1>\n";
    if (!page.command.empty()) h += "<h2>Command</h2>\n<pre>" + htmlEscape(page.command) + "</pre>\n";
    if (!page.provenance.empty()) {
        HtmlTable p{"Provenance", {}, {}};
        for (const auto& [k, v] : page.provenance) p.rows.push_back({k, v});
        renderTable(h, p);
    }
    if (!page.images.empty()) h += "<h2>Plots</h2>\n";
    for (const auto& im : page.images) {
        // data-loaded tells a reader (and the browser test) whether the plot decoded.
        const std::string src = urlPath(relativeInside(im.file, dir));
        h += "<figure><img src=\"" + htmlEscape(src) + "\" alt=\"" + htmlEscape(im.caption) +
             "\" onload=\"this.dataset.loaded = this.naturalWidth > 0 ? 'yes' : 'no'\" onerror=\"this.dataset.loaded = 'no'\">"
             "<figcaption>" + htmlEscape(im.caption) + "</figcaption></figure>\n";
    }
    if (!page.tables.empty()) h += "<h2>Results</h2>\n";
    for (const auto& t : page.tables) renderTable(h, t);
    h += "</body>\n</html>\n";
    return h;
}

fs::path writeHtmlReport(const fs::path& dir, const HtmlPage& page) {
    fs::create_directories(dir);
    const std::string text = renderHtml(page, dir);
    const fs::path target = dir / "report.html";
    const fs::path temporary = target.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(temporary, std::ios::binary);
        out << text;
        if (!out.flush()) throw std::runtime_error(temporary.string() + ": cannot write");
    }
    fs::rename(temporary, target);
    return target;
}

HtmlTable jsonTable(const std::string& caption, const nlohmann::json& value) {
    HtmlTable t{caption, {"quantity", "value"}, {}};
    flatten("", value, t);
    return t;
}

std::vector<HtmlImage> imagesIn(const fs::path& dir) {
    std::vector<fs::path> found;
    if (fs::is_directory(dir))
        for (const auto& e : fs::recursive_directory_iterator(dir))
            if (e.is_regular_file() && e.path().extension() == ".png") found.push_back(e.path());
    std::sort(found.begin(), found.end());
    std::vector<HtmlImage> images;
    for (const auto& f : found) images.push_back({f, f.lexically_relative(dir).generic_string()});
    return images;
}

namespace {
void addManifest(HtmlPage& page, const fs::path& manifest, const std::string& prefix) {
    std::ifstream in(manifest);
    const auto m = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object()) {
        page.provenance.push_back({prefix + "manifest.json", "unreadable"});
        return;
    }
    for (const auto& [k, v] : m.items())
        if (v.is_primitive()) page.provenance.push_back({prefix + k, cellText(v)});
}
}  // namespace

fs::path writeRunReport(const fs::path& dir, const std::string& title, const std::string& command,
                        const nlohmann::json& summary, const std::optional<std::vector<fs::path>>& plots) {
    HtmlPage page;
    page.title = title;
    page.command = command;
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char written[32];
    std::strftime(written, sizeof written, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
    page.provenance = {{"imc", IMC_VERSION}, {"written", written}, {"folder", fs::absolute(dir).lexically_normal().string()}};
    if (fs::exists(dir / "manifest.json")) addManifest(page, dir / "manifest.json", "");
    if (!plots && fs::is_directory(dir)) {
        std::vector<fs::path> subs;
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_directory() && fs::exists(e.path() / "manifest.json")) subs.push_back(e.path());
        std::sort(subs.begin(), subs.end());
        for (const auto& s : subs) addManifest(page, s / "manifest.json", s.filename().string() + "/");
    }
    if (!summary.is_null()) page.tables.push_back(jsonTable("Summary", summary));
    if (plots) {
        for (const auto& p : *plots)
            if (fs::exists(p)) page.images.push_back({p, p.filename().string()});
    } else {
        page.images = imagesIn(dir);
    }
    return writeHtmlReport(dir, page);
}

}  // namespace imc::report
