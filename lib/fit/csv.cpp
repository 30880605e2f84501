#include "fit/fit.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace imc::fit {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view unquote(std::string_view s) {
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
    return s;
}

enum class Delimiter { Comma, Tab, Whitespace };

std::vector<std::string_view> splitFields(std::string_view line, Delimiter delimiter) {
    std::vector<std::string_view> fields;
    if (delimiter == Delimiter::Whitespace) {
        std::size_t pos = 0;
        while (pos < line.size()) {
            while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
            if (pos >= line.size()) break;
            const std::size_t end = line.find_first_of(" \t", pos);
            fields.push_back(line.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
            pos = end == std::string_view::npos ? line.size() : end;
        }
        return fields;
    }
    const char separator = delimiter == Delimiter::Comma ? ',' : '\t';
    std::size_t start = 0;
    while (true) {
        const std::size_t end = line.find(separator, start);
        fields.push_back(trim(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return fields;
}

enum class NumberStatus { Ok, Empty, Text, NotANumber, Infinite };

NumberStatus parseNumber(std::string_view field, double* value) {
    field = unquote(trim(field));
    if (field.empty()) return NumberStatus::Empty;
    if (field.front() == '+') field.remove_prefix(1);
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), *value);
    if (error != std::errc() || end != field.data() + field.size()) {
        // from_chars reports overflow separately; such values are not usable either.
        return error == std::errc::result_out_of_range ? NumberStatus::Infinite : NumberStatus::Text;
    }
    if (std::isnan(*value)) return NumberStatus::NotANumber;
    if (std::isinf(*value)) return NumberStatus::Infinite;
    return NumberStatus::Ok;
}

constexpr std::array<std::string_view, 13> kBaseUnits{"s", "V", "A", "C", "F", "Hz", "ohm", "Ohm", "S", "W", "J", "m", "g"};

struct Prefix {
    std::string_view symbol;
    double factor;
};
constexpr std::array<Prefix, 11> kPrefixes{{{"f", 1e-15},
                                            {"p", 1e-12},
                                            {"n", 1e-9},
                                            {"u", 1e-6},
                                            {"\xC2\xB5", 1e-6},
                                            {"m", 1e-3},
                                            {"c", 1e-2},
                                            {"k", 1e3},
                                            {"M", 1e6},
                                            {"G", 1e9},
                                            {"T", 1e12}}};

std::optional<double> simpleUnitScale(std::string_view unit) {
    if (std::find(kBaseUnits.begin(), kBaseUnits.end(), unit) != kBaseUnits.end()) return 1.0;
    for (const Prefix& prefix : kPrefixes) {
        if (unit.size() > prefix.symbol.size() && unit.starts_with(prefix.symbol)) {
            const std::string_view base = unit.substr(prefix.symbol.size());
            if (std::find(kBaseUnits.begin(), kBaseUnits.end(), base) != kBaseUnits.end()) return prefix.factor;
        }
    }
    return std::nullopt;
}

// "ns", "uA/ns", "fC*V^2": tokens that are each a (prefixed) base unit, with optional powers.
bool looksLikeUnit(std::string_view unit) {
    if (unit.empty()) return false;
    std::size_t start = 0;
    while (start <= unit.size()) {
        const std::size_t end = unit.find_first_of("/*.", start);
        std::string_view token = unit.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (const std::size_t caret = token.find('^'); caret != std::string_view::npos) {
            const std::string_view power = token.substr(caret + 1);
            if (power.empty() || !std::all_of(power.begin(), power.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
                return false;
            token = token.substr(0, caret);
        }
        if (!simpleUnitScale(token)) return false;
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return true;
}

// The unit suffix of `header` when it names `name` with a unit, nullopt when it names something else.
std::optional<std::string> unitSuffixFor(std::string_view header, std::string_view name) {
    if (!header.starts_with(name)) return std::nullopt;
    std::string_view rest = header.substr(name.size());
    if (rest.empty()) return std::string();
    if (rest.front() == '_') {
        rest.remove_prefix(1);
        if (looksLikeUnit(rest)) return std::string(rest);
        return std::nullopt;
    }
    rest = trim(rest);
    if (rest.size() >= 2 && ((rest.front() == '[' && rest.back() == ']') || (rest.front() == '(' && rest.back() == ')')))
        return std::string(trim(rest.substr(1, rest.size() - 2)));
    return std::nullopt;
}

[[noreturn]] void failAt(const std::string& source, std::size_t line, const std::string& message) {
    throw std::runtime_error(source + ":" + std::to_string(line) + ": " + message);
}

}  // namespace

std::optional<double> siScale(std::string_view unit) {
    if (unit.empty()) return 1.0;
    return simpleUnitScale(unit);
}

std::optional<std::size_t> CsvTable::findColumn(std::string_view name) const {
    for (std::size_t c = 0; c < names.size(); ++c)
        if (names[c] == name) return c;
    std::vector<std::size_t> matches;
    for (std::size_t c = 0; c < names.size(); ++c)
        if (unitSuffixFor(names[c], name)) matches.push_back(c);
    if (matches.size() > 1)
        throw std::runtime_error(source + ": column '" + std::string(name) + "' is ambiguous: both '" +
                                 names[matches[0]] + "' and '" + names[matches[1]] + "' match");
    if (matches.empty()) return std::nullopt;
    return matches.front();
}

const std::vector<double>& CsvTable::column(std::string_view name) const {
    if (const auto index = findColumn(name)) return columns[*index];
    std::string present;
    for (const auto& n : names) present += (present.empty() ? "" : ", ") + n;
    throw std::runtime_error(source + ": no column '" + std::string(name) + "' (with or without a unit suffix); columns are: " +
                             present);
}

std::string CsvTable::unitOf(std::string_view name) const {
    const auto index = findColumn(name);
    if (!index) return {};
    return unitSuffixFor(names[*index], name).value_or(std::string());
}

CsvTable parseCsv(std::string_view text, std::string source) {
    CsvTable table;
    table.source = std::move(source);
    std::optional<Delimiter> delimiter;
    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = text.find('\n', pos);
        const std::string_view raw = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
        ++line_number;
        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') continue;

        if (!delimiter) {
            delimiter = line.find(',') != std::string_view::npos  ? Delimiter::Comma
                        : line.find('\t') != std::string_view::npos ? Delimiter::Tab
                                                                    : Delimiter::Whitespace;
        }
        const std::vector<std::string_view> fields = splitFields(line, *delimiter);

        if (table.names.empty()) {
            double ignored = 0.0;
            const bool any_number = std::any_of(fields.begin(), fields.end(), [&](std::string_view f) {
                const NumberStatus status = parseNumber(f, &ignored);
                // A NaN or infinity in the first line is bad data, not a column name.
                return status == NumberStatus::Ok || status == NumberStatus::Infinite ||
                       status == NumberStatus::NotANumber;
            });
            if (!any_number) {
                table.has_header = true;
                for (std::size_t c = 0; c < fields.size(); ++c) {
                    const std::string name(trim(unquote(fields[c])));
                    if (name.empty()) failAt(table.source, line_number, "header column " + std::to_string(c + 1) + " has no name");
                    if (std::find(table.names.begin(), table.names.end(), name) != table.names.end())
                        failAt(table.source, line_number, "header names column '" + name + "' twice");
                    table.names.push_back(name);
                }
                table.columns.resize(table.names.size());
                continue;
            }
            for (std::size_t c = 0; c < fields.size(); ++c) table.names.push_back("col" + std::to_string(c + 1));
            table.columns.resize(table.names.size());
        }

        if (fields.size() != table.names.size())
            failAt(table.source, line_number,
                   "expected " + std::to_string(table.names.size()) + " values, found " + std::to_string(fields.size()));
        for (std::size_t c = 0; c < fields.size(); ++c) {
            double value = 0.0;
            const std::string where = "column '" + table.names[c] + "': ";
            switch (parseNumber(fields[c], &value)) {
                case NumberStatus::Ok: break;
                case NumberStatus::Empty: failAt(table.source, line_number, where + "empty value");
                case NumberStatus::NotANumber: failAt(table.source, line_number, where + "NaN is not a usable value");
                case NumberStatus::Infinite: failAt(table.source, line_number, where + "'" + std::string(fields[c]) + "' is infinite");
                case NumberStatus::Text: failAt(table.source, line_number, where + "'" + std::string(fields[c]) + "' is not a number");
            }
            table.columns[c].push_back(value);
        }
        table.line_of_row.push_back(line_number);
    }
    if (table.line_of_row.empty()) throw std::runtime_error(table.source + ": no data rows");
    return table;
}

CsvTable readCsv(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    std::ostringstream content;
    content << in.rdbuf();
    return parseCsv(content.str(), path);
}

std::string csvField(std::string_view text) {
    if (text.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(text);
    std::string q = "\"";
    for (char c : text) {
        if (c == '"') q += "\"\"";
        else if (c == '\n' || c == '\r') q += ' ';
        else q += c;
    }
    return q + "\"";
}

std::string csvLine(std::initializer_list<std::string_view> fields) {
    std::string line;
    bool first = true;
    for (auto f : fields) {
        if (!first) line += ',';
        line += csvField(f);
        first = false;
    }
    return line;
}

std::string csvLine(const std::vector<std::string>& fields) {
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i) line += ',';
        line += csvField(fields[i]);
    }
    return line;
}

std::vector<std::string> splitCsvLine(std::string_view line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
            else if (c == '"') quoted = false;
            else cur += c;
        } else if (c == '"') quoted = true;
        else if (c == ',') out.push_back(cur), cur.clear();
        else cur += c;
    }
    out.push_back(cur);
    return out;
}

}  // namespace imc::fit
