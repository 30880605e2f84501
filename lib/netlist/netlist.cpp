#include "netlist/netlist.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

namespace imc::netlist {
namespace {

std::string writeWave(const Waveform& w, const std::string& owner);

std::string shortest(double v) {
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string(buf.data(), end);
}

std::string upper(std::string s) {
    for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

void checkFinite(double v, const std::string& owner, const char* field) {
    if (!std::isfinite(v)) throw NetlistError(owner + ": " + field + " is not a finite number");
}

void checkPositive(double v, const std::string& owner, const char* field) {
    checkFinite(v, owner, field);
    if (v <= 0) throw NetlistError(owner + ": " + field + " must be > 0, got " + shortest(v));
}

void checkNonNegative(double v, const std::string& owner, const char* field) {
    checkFinite(v, owner, field);
    if (v < 0) throw NetlistError(owner + ": " + field + " must be >= 0, got " + shortest(v));
}

char letterOf(const Element& e) {
    return std::visit(
        [](const auto& x) -> char {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Resistor>) return 'R';
            else if constexpr (std::is_same_v<T, Capacitor>) return 'C';
            else if constexpr (std::is_same_v<T, Inductor>) return 'L';
            else if constexpr (std::is_same_v<T, VoltageSource>) return 'V';
            else if constexpr (std::is_same_v<T, CurrentSource>) return 'I';
            else if constexpr (std::is_same_v<T, Vcvs>) return 'E';
            else if constexpr (std::is_same_v<T, Vccs>) return 'G';
            else if constexpr (std::is_same_v<T, Behavioral>) return 'B';
            else if constexpr (std::is_same_v<T, Mosfet>) return 'M';
            else if constexpr (std::is_same_v<T, SubcktInstance>) return 'X';
            else return '\0';
        },
        e);
}

std::string withLetter(char letter, const std::string& name) {
    if (!name.empty() && std::toupper(static_cast<unsigned char>(name[0])) == letter) return name;
    return std::string(1, letter) + name;
}

std::string writeWave(const Waveform& w, const std::string& owner) {
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Dc>) {
                checkFinite(x.value, owner, "DC value");
                return "DC " + formatSI(x.value);
            } else if constexpr (std::is_same_v<T, Pulse>) {
                checkFinite(x.initial, owner, "pulse initial value");
                checkFinite(x.pulsed, owner, "pulse value");
                checkNonNegative(x.delay.si, owner, "pulse delay");
                checkPositive(x.rise.si, owner, "pulse rise time");
                checkPositive(x.fall.si, owner, "pulse fall time");
                checkNonNegative(x.width.si, owner, "pulse width");
                checkNonNegative(x.period.si, owner, "pulse period");
                std::string s = "PULSE(" + formatSI(x.initial) + " " + formatSI(x.pulsed) + " " +
                                formatSI(x.delay.si) + " " + formatSI(x.rise.si) + " " + formatSI(x.fall.si) +
                                " " + formatSI(x.width.si);
                if (x.period.si > 0) s += " " + formatSI(x.period.si);
                return s + ")";
            } else {
                if (x.points.empty()) throw NetlistError(owner + ": PWL needs at least one point");
                std::string s = "PWL(";
                double last = -1;
                for (std::size_t i = 0; i < x.points.size(); ++i) {
                    const auto& [t, v] = x.points[i];
                    checkNonNegative(t.si, owner, "PWL time");
                    checkFinite(v, owner, "PWL value");
                    if (t.si <= last)
                        throw NetlistError(owner + ": PWL times must increase (point " + std::to_string(i) + ")");
                    last = t.si;
                    if (i) s += ' ';
                    s += formatSI(t.si) + " " + formatSI(v);
                }
                return s + ")";
            }
        },
        w);
}

std::string writeParams(const std::map<std::string, std::string>& params) {
    std::string s;
    for (const auto& [k, v] : params) s += " " + k + "=" + v;
    return s;
}

std::string writeModel(const Model& m) {
    checkName(m.name, "model name");
    checkName(m.type, "model type");
    std::string s = ".model " + m.name + " " + m.type + " (";
    bool first = true;
    for (const auto& [k, v] : m.params) {
        checkName(k, "model parameter");
        checkFinite(v, ".model " + m.name, k.c_str());
        s += (first ? "" : " ") + k + "=" + formatSI(v);
        first = false;
    }
    return s + ")";
}

void validateElement(const Element& e) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, RawLine>) {
                if (x.text.find_first_not_of(" \t") == std::string::npos) throw NetlistError("empty raw netlist line");
                if (x.text.find('\n') != std::string::npos) throw NetlistError("raw netlist line holds a newline: " + x.text);
            } else {
                checkName(x.name, "element name");
                const std::string owner = instanceName(e);
                auto node = [&](const std::string& n) { checkName(n, (owner + " node").c_str()); };
                if constexpr (std::is_same_v<T, Resistor>) {
                    node(x.n1), node(x.n2);
                    checkPositive(x.value.si, owner, "resistance");
                } else if constexpr (std::is_same_v<T, Capacitor>) {
                    node(x.n1), node(x.n2);
                    checkNonNegative(x.value.si, owner, "capacitance");
                    if (x.ic) checkFinite(x.ic->si, owner, "initial condition");
                } else if constexpr (std::is_same_v<T, Inductor>) {
                    node(x.n1), node(x.n2);
                    checkPositive(x.value.si, owner, "inductance");
                } else if constexpr (std::is_same_v<T, VoltageSource> || std::is_same_v<T, CurrentSource>) {
                    node(x.plus), node(x.minus);
                    (void)writeWave(x.wave, owner);  // validates the waveform
                } else if constexpr (std::is_same_v<T, Vcvs>) {
                    node(x.plus), node(x.minus), node(x.ctrlPlus), node(x.ctrlMinus);
                    checkFinite(x.gain, owner, "gain");
                } else if constexpr (std::is_same_v<T, Vccs>) {
                    node(x.plus), node(x.minus), node(x.ctrlPlus), node(x.ctrlMinus);
                    checkFinite(x.transconductance_S, owner, "transconductance");
                } else if constexpr (std::is_same_v<T, Behavioral>) {
                    node(x.plus), node(x.minus);
                    if (x.expression.empty()) throw NetlistError(owner + ": empty expression");
                    if (x.expression.find('\n') != std::string::npos) throw NetlistError(owner + ": expression holds a newline");
                } else if constexpr (std::is_same_v<T, Mosfet>) {
                    node(x.drain), node(x.gate), node(x.source), node(x.bulk);
                    checkName(x.model, (owner + " model").c_str());
                    checkPositive(x.width.si, owner, "W");
                    checkPositive(x.length.si, owner, "L");
                    for (const auto& [k, v] : x.instanceParams) {
                        checkName(k, (owner + " parameter").c_str());
                        checkFinite(v, owner, k.c_str());
                    }
                } else if constexpr (std::is_same_v<T, SubcktInstance>) {
                    for (const auto& n : x.nodes) node(n);
                    checkName(x.subckt, (owner + " subcircuit").c_str());
                    for (const auto& [k, v] : x.params) {
                        checkName(k, (owner + " parameter").c_str());
                        if (v.empty()) throw NetlistError(owner + ": parameter " + k + " has no value");
                    }
                }
            }
        },
        e);
}

}  // namespace

std::string formatSI(double value) {
    if (!std::isfinite(value)) throw NetlistError("cannot write a non-finite number");
    if (value == 0) return "0";
    // Shortest round-trip digits in scientific form, then the decimal point moved to an
    // engineering exponent: exact in decimal, so ngspice reads the same number.
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::scientific);
    const std::string sci(buf.data(), end);
    const auto ePos = sci.find('e');
    const int exp10 = std::stoi(sci.substr(ePos + 1));
    if (exp10 < -15 || exp10 >= 15) return sci;
    std::string digits;
    for (char ch : sci.substr(0, ePos))
        if (std::isdigit(static_cast<unsigned char>(ch))) digits += ch;
    const bool negative = value < 0;
    const int eng = (exp10 >= 0 ? exp10 / 3 : -((-exp10 + 2) / 3)) * 3;
    const int intDigits = exp10 - eng + 1;  // 1..3 digits before the point
    while (int(digits.size()) < intDigits) digits += '0';
    std::string mantissa = digits.substr(0, std::size_t(intDigits));
    if (int(digits.size()) > intDigits) mantissa += "." + digits.substr(std::size_t(intDigits));
    static const std::map<int, const char*> suffix = {{12, "t"}, {9, "g"}, {6, "meg"}, {3, "k"}, {0, ""},
                                                      {-3, "m"}, {-6, "u"}, {-9, "n"},  {-12, "p"}, {-15, "f"}};
    return (negative ? "-" : "") + mantissa + suffix.at(eng);
}

double parseSI(std::string_view text) {
    std::string s(text);
    std::size_t pos = 0;
    double v = 0;
    try {
        v = std::stod(s, &pos);
    } catch (const std::exception&) {
        throw NetlistError("not a number: '" + s + "'");
    }
    std::string rest = s.substr(pos);
    for (auto& ch : rest) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    static const std::vector<std::pair<std::string, int>> suffixes = {
        {"meg", 6}, {"mil", 0}, {"t", 12}, {"g", 9}, {"k", 3}, {"m", -3}, {"u", -6}, {"n", -9}, {"p", -12}, {"f", -15}};
    if (rest.empty()) return v;
    for (const auto& [suf, e] : suffixes)
        if (rest.rfind(suf, 0) == 0 && suf != "mil") {
            // Re-read mantissa and exponent together so the result is correctly rounded.
            const std::string mantissa = s.substr(0, pos);
            const auto ePos = mantissa.find_first_of("eE");
            int exp10 = e;
            std::string m = mantissa;
            if (ePos != std::string::npos) exp10 += std::stoi(mantissa.substr(ePos + 1)), m = mantissa.substr(0, ePos);
            return std::stod(m + "e" + std::to_string(exp10));
        }
    throw NetlistError("unknown unit suffix in '" + s + "'");
}

void checkName(const std::string& name, const char* what) {
    if (name.empty()) throw NetlistError(std::string(what) + " is empty");
    for (char c : name) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' || c == '<' ||
                        c == '>' || c == '[' || c == ']' || c == '#' || c == '-' || c == '+';
        if (!ok) throw NetlistError(std::string(what) + " '" + name + "' holds '" + std::string(1, c) + "'");
    }
}

std::string instanceName(const Element& e) {
    return std::visit(
        [&](const auto& x) -> std::string {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, RawLine>) {
                auto end = x.text.find_first_of(" \t");
                return x.text.substr(0, end);
            } else {
                return withLetter(letterOf(e), x.name);
            }
        },
        e);
}

std::string writeElement(const Element& e) {
    validateElement(e);
    const std::string id = instanceName(e);
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Resistor>) return id + " " + x.n1 + " " + x.n2 + " " + formatSI(x.value.si);
            else if constexpr (std::is_same_v<T, Capacitor>) {
                std::string s = id + " " + x.n1 + " " + x.n2 + " " + formatSI(x.value.si);
                if (x.ic) s += " IC=" + formatSI(x.ic->si);
                return s;
            } else if constexpr (std::is_same_v<T, Inductor>) return id + " " + x.n1 + " " + x.n2 + " " + formatSI(x.value.si);
            else if constexpr (std::is_same_v<T, VoltageSource> || std::is_same_v<T, CurrentSource>)
                return id + " " + x.plus + " " + x.minus + " " + writeWave(x.wave, id);
            else if constexpr (std::is_same_v<T, Vcvs>)
                return id + " " + x.plus + " " + x.minus + " " + x.ctrlPlus + " " + x.ctrlMinus + " " + formatSI(x.gain);
            else if constexpr (std::is_same_v<T, Vccs>)
                return id + " " + x.plus + " " + x.minus + " " + x.ctrlPlus + " " + x.ctrlMinus + " " +
                       formatSI(x.transconductance_S);
            else if constexpr (std::is_same_v<T, Behavioral>)
                return id + " " + x.plus + " " + x.minus + " " + (x.kind == Behavioral::Kind::Voltage ? "V=" : "I=") +
                       x.expression;
            else if constexpr (std::is_same_v<T, Mosfet>) {
                std::string s = id + " " + x.drain + " " + x.gate + " " + x.source + " " + x.bulk + " " + x.model +
                                " W=" + formatSI(x.width.si) + " L=" + formatSI(x.length.si);
                for (const auto& [k, v] : x.instanceParams) s += " " + k + "=" + formatSI(v);
                return s;
            } else if constexpr (std::is_same_v<T, SubcktInstance>) {
                std::string s = id;
                for (const auto& n : x.nodes) s += " " + n;
                return s + " " + x.subckt + writeParams(x.params);
            } else return x.text;
        },
        e);
}

Circuit& Circuit::add(Element element) {
    validateElement(element);
    if (!std::holds_alternative<RawLine>(element)) {
        const std::string key = upper(instanceName(element));
        if (names_.count(key)) throw NetlistError("duplicate element name " + instanceName(element));
        names_[key] = 1;
    }
    elements_.push_back(std::move(element));
    return *this;
}

Circuit& Circuit::addModel(Model model) {
    (void)writeModel(model);  // validates
    models_.push_back(std::move(model));
    return *this;
}

Circuit& Circuit::addSubckt(Subckt subckt) {
    checkName(subckt.name, "subcircuit name");
    if (subckt.ports.empty()) throw NetlistError("subcircuit " + subckt.name + " has no ports");
    for (const auto& p : subckt.ports) checkName(p, ("subcircuit " + subckt.name + " port").c_str());
    for (const auto& e : subckt.elements) validateElement(e);
    for (const auto& m : subckt.models) (void)writeModel(m);
    subckts_.push_back(std::move(subckt));
    return *this;
}

Circuit& Circuit::include(std::string path) {
    if (path.empty() || path.find('"') != std::string::npos) throw NetlistError(".include path is empty or quoted: " + path);
    includes_.push_back(std::move(path));
    return *this;
}

Circuit& Circuit::param(const std::string& name, const std::string& value) {
    checkName(name, ".param name");
    if (value.empty()) throw NetlistError(".param " + name + " has no value");
    params_.emplace_back(name, value);
    return *this;
}

Circuit& Circuit::initialCondition(const std::string& node, Voltage v) {
    checkName(node, ".ic node");
    checkFinite(v.si, ".ic " + node, "voltage");
    ics_.emplace_back(node, v);
    return *this;
}

Circuit& Circuit::option(const std::string& key, std::optional<std::string> value) {
    checkName(key, ".options key");
    options_.emplace_back(key, std::move(value));
    return *this;
}

Circuit& Circuit::save(std::vector<std::string> vectors) {
    for (auto& v : vectors) {
        if (v.empty() || v.find_first_of(" \t\n") != std::string::npos) throw NetlistError(".save vector '" + v + "' is invalid");
        saves_.push_back(std::move(v));
    }
    return *this;
}

Circuit& Circuit::analysis(Analysis a) {
    std::visit(
        [](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, TranAnalysis>) {
                checkPositive(x.step.si, ".tran", "step");
                checkPositive(x.stop.si, ".tran", "stop time");
                checkNonNegative(x.start.si, ".tran", "start time");
                if (x.start.si >= x.stop.si) throw NetlistError(".tran: start time must be before the stop time");
            } else if constexpr (std::is_same_v<T, DcSweep>) {
                checkName(x.source, ".dc source");
                checkFinite(x.start, ".dc", "start");
                checkFinite(x.stop, ".dc", "stop");
                if (x.step == 0 || !std::isfinite(x.step)) throw NetlistError(".dc: step must be finite and non-zero");
            } else if constexpr (std::is_same_v<T, AcAnalysis>) {
                if (x.variation != "dec" && x.variation != "oct" && x.variation != "lin")
                    throw NetlistError(".ac: variation must be dec, oct or lin");
                if (x.points < 1) throw NetlistError(".ac: points must be >= 1");
                checkPositive(x.fStart_Hz, ".ac", "start frequency");
                checkPositive(x.fStop_Hz, ".ac", "stop frequency");
            }
        },
        a);
    analyses_.push_back(std::move(a));
    return *this;
}

Circuit& Circuit::comment(std::string text) {
    if (text.find('\n') != std::string::npos) throw NetlistError("comment holds a newline");
    comments_.push_back(std::move(text));
    return *this;
}

std::string writeDeck(const Circuit& c) {
    std::ostringstream out;
    std::string title = c.title_;
    std::replace(title.begin(), title.end(), '\n', ' ');
    out << title << '\n';
    for (const auto& s : c.comments_) out << "* " << s << '\n';
    for (const auto& s : c.includes_) out << ".include " << s << '\n';
    for (const auto& [k, v] : c.params_) out << ".param " << k << "=" << v << '\n';
    for (const auto& m : c.models_) out << writeModel(m) << '\n';
    for (const auto& sc : c.subckts_) {
        out << ".subckt " << sc.name;
        for (const auto& p : sc.ports) out << ' ' << p;
        if (!sc.params.empty()) out << " params:" << writeParams(sc.params);
        out << '\n';
        for (const auto& m : sc.models) out << writeModel(m) << '\n';
        for (const auto& e : sc.elements) out << writeElement(e) << '\n';
        out << ".ends " << sc.name << '\n';
    }
    for (const auto& e : c.elements_) out << writeElement(e) << '\n';
    for (const auto& [node, v] : c.ics_) out << ".ic v(" << node << ")=" << formatSI(v.si) << '\n';
    if (!c.options_.empty()) {
        out << ".options";
        for (const auto& [k, v] : c.options_) out << ' ' << k << (v ? "=" + *v : "");
        out << '\n';
    }
    if (!c.saves_.empty()) {
        out << ".save";
        for (const auto& s : c.saves_) out << ' ' << s;
        out << '\n';
    }
    for (const auto& a : c.analyses_) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, OpAnalysis>) out << ".op\n";
                else if constexpr (std::is_same_v<T, TranAnalysis>) {
                    out << ".tran " << formatSI(x.step.si) << ' ' << formatSI(x.stop.si);
                    if (x.start.si > 0 || x.maxStep) out << ' ' << formatSI(x.start.si);
                    if (x.maxStep) out << ' ' << formatSI(x.maxStep->si);
                    if (x.uic) out << " uic";
                    out << '\n';
                } else if constexpr (std::is_same_v<T, DcSweep>)
                    out << ".dc " << x.source << ' ' << formatSI(x.start) << ' ' << formatSI(x.stop) << ' '
                        << formatSI(x.step) << '\n';
                else
                    out << ".ac " << x.variation << ' ' << x.points << ' ' << formatSI(x.fStart_Hz) << ' '
                        << formatSI(x.fStop_Hz) << '\n';
            },
            a);
    }
    out << ".end\n";
    return out.str();
}

}  // namespace imc::netlist
