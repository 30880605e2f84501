#pragma once
// report.html: one page per results folder with what a run produced (the command, its provenance,
// its numbers as tables, its plots), for a person with a browser rather than a JSON reader.
// Plain HTML with inline CSS, no external resources; images are referenced relative to the page,
// so the folder can be copied or served as it is. All text is HTML-escaped. Plots come before the
// tables, which can be long.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imc::report {

struct HtmlTable {
    std::string caption;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

struct HtmlImage {
    std::filesystem::path file;  // as the program reaches it; must lie in the page's folder
    std::string caption;
};

struct HtmlPage {
    std::string title;
    std::string command;  // the command line that made the folder
    std::vector<std::pair<std::string, std::string>> provenance;
    std::vector<HtmlTable> tables;
    std::vector<HtmlImage> images;
};

// &, <, >, " and ' as entities.
std::string htmlEscape(std::string_view text);

// The page's text (pure). `dir` is the folder the page will live in: image paths are written
// relative to it, and an image outside it is an error (the page would break when copied).
std::string renderHtml(const HtmlPage& page, const std::filesystem::path& dir);

// Writes dir/report.html (through a temporary renamed into place) and returns its path.
std::filesystem::path writeHtmlReport(const std::filesystem::path& dir, const HtmlPage& page);

// A JSON value as a two-column table: nested objects become dotted keys ("qk.rmse_fs"), arrays of
// numbers or strings one cell, arrays of objects one row per element ("rows[2].ppl").
HtmlTable jsonTable(const std::string& caption, const nlohmann::json& value);

// The PNGs in dir and its subfolders, sorted by path, captioned with their path inside dir.
std::vector<HtmlImage> imagesIn(const std::filesystem::path& dir);

// The page of one run's results folder: `command`, provenance (imc's version, the time written,
// the scalar fields of dir/manifest.json and of each subfolder's manifest), `summary` (the JSON
// the command printed) as a table, and every PNG in the folder and its subfolders, or only
// `plots` when given (a folder the run shares with others). Returns the page's path.
std::filesystem::path writeRunReport(const std::filesystem::path& dir, const std::string& title,
                                     const std::string& command, const nlohmann::json& summary,
                                     const std::optional<std::vector<std::filesystem::path>>& plots = std::nullopt);

}  // namespace imc::report
