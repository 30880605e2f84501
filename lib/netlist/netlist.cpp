#include "netlist/netlist.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

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
                std::string s = "DC ";
                appendSI(s, x.value);
                return s;
            } else if constexpr (std::is_same_v<T, Pulse>) {
                checkFinite(x.initial, owner, "pulse initial value");
                checkFinite(x.pulsed, owner, "pulse value");
                checkNonNegative(x.delay.si, owner, "pulse delay");
                checkPositive(x.rise.si, owner, "pulse rise time");
                checkPositive(x.fall.si, owner, "pulse fall time");
                checkNonNegative(x.width.si, owner, "pulse width");
                checkNonNegative(x.period.si, owner, "pulse period");
                std::string s = "PULSE(";
                appendSI(s, x.initial);
                for (double v : {x.pulsed, x.delay.si, x.rise.si, x.fall.si, x.width.si}) s += ' ', appendSI(s, v);
                if (x.period.si > 0) s += ' ', appendSI(s, x.period.si);
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
                    appendSI(s, t.si);
                    s += ' ';
                    appendSI(s, v);
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

// Letters and digits are the ASCII ones (std::isalnum in the "C" locale imc runs in).
bool nameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '<' || c == '>' || c == '[' || c == ']' || c == '#' || c == '-' || c == '+';
}

bool validName(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), nameChar);
}

// Checks one element. Circuits add elements by the ten thousand, so the fast path builds no
// strings: the owner's name for a message is made only when a check fails.
void validateElement(const Element& e) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, RawLine>) {
                if (x.text.find_first_not_of(" \t") == std::string::npos) throw NetlistError("empty raw netlist line");
                if (x.text.find('\n') != std::string::npos) throw NetlistError("raw netlist line holds a newline: " + x.text);
            } else {
                checkName(x.name, "element name");
                std::string ownerText;
                auto owner = [&]() -> const std::string& {
                    if (ownerText.empty()) ownerText = instanceName(e);
                    return ownerText;
                };
                auto name = [&](const std::string& n, const char* role) {
                    if (!validName(n)) checkName(n, (owner() + role).c_str());
                };
                auto node = [&](const std::string& n) { name(n, " node"); };
                auto finite = [&](double v, const char* field) {
                    if (!std::isfinite(v)) checkFinite(v, owner(), field);
                };
                auto positive = [&](double v, const char* field) {
                    if (!(std::isfinite(v) && v > 0)) checkPositive(v, owner(), field);
                };
                auto nonNegative = [&](double v, const char* field) {
                    if (!(std::isfinite(v) && v >= 0)) checkNonNegative(v, owner(), field);
                };
                if constexpr (std::is_same_v<T, Resistor>) {
                    node(x.n1), node(x.n2);
                    positive(x.value.si, "resistance");
                } else if constexpr (std::is_same_v<T, Capacitor>) {
                    node(x.n1), node(x.n2);
                    nonNegative(x.value.si, "capacitance");
                    if (x.ic) finite(x.ic->si, "initial condition");
                } else if constexpr (std::is_same_v<T, Inductor>) {
                    node(x.n1), node(x.n2);
                    positive(x.value.si, "inductance");
                } else if constexpr (std::is_same_v<T, VoltageSource> || std::is_same_v<T, CurrentSource>) {
                    node(x.plus), node(x.minus);
                    (void)writeWave(x.wave, owner());  // validates the waveform
                } else if constexpr (std::is_same_v<T, Vcvs>) {
                    node(x.plus), node(x.minus), node(x.ctrlPlus), node(x.ctrlMinus);
                    finite(x.gain, "gain");
                } else if constexpr (std::is_same_v<T, Vccs>) {
                    node(x.plus), node(x.minus), node(x.ctrlPlus), node(x.ctrlMinus);
                    finite(x.transconductance_S, "transconductance");
                } else if constexpr (std::is_same_v<T, Behavioral>) {
                    node(x.plus), node(x.minus);
                    if (x.expression.empty()) throw NetlistError(owner() + ": empty expression");
                    if (x.expression.find('\n') != std::string::npos) throw NetlistError(owner() + ": expression holds a newline");
                } else if constexpr (std::is_same_v<T, Mosfet>) {
                    node(x.drain), node(x.gate), node(x.source), node(x.bulk);
                    name(x.model, " model");
                    positive(x.width.si, "W");
                    positive(x.length.si, "L");
                    for (const auto& [k, v] : x.instanceParams) {
                        name(k, " parameter");
                        finite(v, k.c_str());
                    }
                } else if constexpr (std::is_same_v<T, SubcktInstance>) {
                    for (const auto& n : x.nodes) node(n);
                    name(x.subckt, " subcircuit");
                    for (const auto& [k, v] : x.params) {
                        name(k, " parameter");
                        if (v.empty()) throw NetlistError(owner() + ": parameter " + k + " has no value");
                        // A line break would start a card of its own (a job's params could inject a .control block).
                        if (v.find_first_of("\r\n") != std::string::npos)
                            throw NetlistError(owner() + ": parameter " + k + " holds a line break");
                    }
                }
            }
        },
        e);
}

}  // namespace

void appendSI(std::string& out, double value) {
    if (!std::isfinite(value)) throw NetlistError("cannot write a non-finite number");
    if (value == 0) {
        out += '0';
        return;
    }
    // Shortest round-trip digits in scientific form, then the decimal point moved to an
    // engineering exponent: exact in decimal, so ngspice reads the same number. Written into
    // a local buffer: decks hold one number per element, so this runs once per card.
    char buf[64];
    const char* const begin = buf;
    const char* const end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific).ptr;
    const char* const ePos = std::find(begin, end, 'e');
    int exp10 = 0;
    const char* p = ePos + 1;
    const bool negativeExp = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) ++p;
    for (; p < end; ++p) exp10 = exp10 * 10 + (*p - '0');
    if (negativeExp) exp10 = -exp10;
    if (exp10 < -15 || exp10 >= 15) {
        out.append(begin, end);
        return;
    }
    char digits[40];
    int n = 0;
    for (const char* q = begin; q < ePos; ++q)
        if (*q >= '0' && *q <= '9') digits[n++] = *q;
    const int eng = (exp10 >= 0 ? exp10 / 3 : -((-exp10 + 2) / 3)) * 3;
    const int intDigits = exp10 - eng + 1;  // 1..3 digits before the point
    while (n < intDigits) digits[n++] = '0';
    if (value < 0) out += '-';
    out.append(digits, std::size_t(intDigits));
    if (n > intDigits) out += '.', out.append(digits + intDigits, std::size_t(n - intDigits));
    switch (eng) {
        case 12: out += 't'; break;
        case 9: out += 'g'; break;
        case 6: out += "meg"; break;
        case 3: out += 'k'; break;
        case -3: out += 'm'; break;
        case -6: out += 'u'; break;
        case -9: out += 'n'; break;
        case -12: out += 'p'; break;
        case -15: out += 'f'; break;
        default: break;  // 0: no suffix
    }
}

std::string formatSI(double value) {
    std::string s;
    appendSI(s, value);
    return s;
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
    for (char c : name)
        if (!nameChar(c)) throw NetlistError(std::string(what) + " '" + name + "' holds '" + std::string(1, c) + "'");
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

namespace {

// One element's card appended to `out`, without validating it again: Circuit::add and
// addSubckt have checked it, and writeElement checks before calling this.
void appendElement(std::string& out, const Element& e) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, RawLine>) {
                out += x.text;
            } else {
                const char letter = letterOf(e);
                if (x.name.empty() || std::toupper(static_cast<unsigned char>(x.name[0])) != letter) out += letter;
                out += x.name;
                auto field = [&](const std::string& text) { out += ' ', out += text; };
                auto number = [&](double v) { out += ' ', appendSI(out, v); };
                if constexpr (std::is_same_v<T, Resistor> || std::is_same_v<T, Inductor>) {
                    field(x.n1), field(x.n2), number(x.value.si);
                } else if constexpr (std::is_same_v<T, Capacitor>) {
                    field(x.n1), field(x.n2), number(x.value.si);
                    if (x.ic) out += " IC=", appendSI(out, x.ic->si);
                } else if constexpr (std::is_same_v<T, VoltageSource> || std::is_same_v<T, CurrentSource>) {
                    field(x.plus), field(x.minus), field(writeWave(x.wave, instanceName(e)));
                } else if constexpr (std::is_same_v<T, Vcvs>) {
                    field(x.plus), field(x.minus), field(x.ctrlPlus), field(x.ctrlMinus), number(x.gain);
                } else if constexpr (std::is_same_v<T, Vccs>) {
                    field(x.plus), field(x.minus), field(x.ctrlPlus), field(x.ctrlMinus), number(x.transconductance_S);
                } else if constexpr (std::is_same_v<T, Behavioral>) {
                    field(x.plus), field(x.minus);
                    out += x.kind == Behavioral::Kind::Voltage ? " V=" : " I=";
                    out += x.expression;
                } else if constexpr (std::is_same_v<T, Mosfet>) {
                    field(x.drain), field(x.gate), field(x.source), field(x.bulk), field(x.model);
                    out += " W=", appendSI(out, x.width.si);
                    out += " L=", appendSI(out, x.length.si);
                    for (const auto& [k, v] : x.instanceParams) field(k), out += '=', appendSI(out, v);
                } else if constexpr (std::is_same_v<T, SubcktInstance>) {
                    for (const auto& n : x.nodes) field(n);
                    field(x.subckt);
                    out += writeParams(x.params);
                }
            }
        },
        e);
}

}  // namespace

std::string writeElement(const Element& e) {
    validateElement(e);
    std::string s;
    appendElement(s, e);
    return s;
}

Circuit& Circuit::add(Element element) {
    validateElement(element);
    if (!std::holds_alternative<RawLine>(element)) {
        if (!names_.insert(upper(instanceName(element))).second)
            throw NetlistError("duplicate element name " + instanceName(element));
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
    // One string grown in place: a crossbar deck is ten thousand cards.
    std::string out;
    out.reserve(64 + 40 * (c.elements_.size() + c.saves_.size()));
    auto line = [&](const std::string& text) { out += text, out += '\n'; };
    std::string title = c.title_;
    std::replace(title.begin(), title.end(), '\n', ' ');
    line(title);
    for (const auto& s : c.comments_) out += "* ", line(s);
    for (const auto& s : c.includes_) out += ".include ", line(s);
    for (const auto& [k, v] : c.params_) out += ".param ", out += k, out += '=', line(v);
    for (const auto& m : c.models_) line(writeModel(m));
    for (const auto& sc : c.subckts_) {
        out += ".subckt ", out += sc.name;
        for (const auto& p : sc.ports) out += ' ', out += p;
        if (!sc.params.empty()) out += " params:", out += writeParams(sc.params);
        out += '\n';
        for (const auto& m : sc.models) line(writeModel(m));
        for (const auto& e : sc.elements) appendElement(out, e), out += '\n';
        out += ".ends ", line(sc.name);
    }
    for (const auto& e : c.elements_) appendElement(out, e), out += '\n';
    for (const auto& [node, v] : c.ics_) out += ".ic v(", out += node, out += ")=", appendSI(out, v.si), out += '\n';
    if (!c.options_.empty()) {
        out += ".options";
        for (const auto& [k, v] : c.options_) {
            out += ' ', out += k;
            if (v) out += '=', out += *v;
        }
        out += '\n';
    }
    if (!c.saves_.empty()) {
        out += ".save";
        for (const auto& s : c.saves_) out += ' ', out += s;
        out += '\n';
    }
    auto number = [&](double v) { out += ' ', appendSI(out, v); };
    for (const auto& a : c.analyses_) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, OpAnalysis>) out += ".op";
                else if constexpr (std::is_same_v<T, TranAnalysis>) {
                    out += ".tran", number(x.step.si), number(x.stop.si);
                    if (x.start.si > 0 || x.maxStep) number(x.start.si);
                    if (x.maxStep) number(x.maxStep->si);
                    if (x.uic) out += " uic";
                } else if constexpr (std::is_same_v<T, DcSweep>) {
                    out += ".dc ", out += x.source, number(x.start), number(x.stop), number(x.step);
                } else {
                    out += ".ac ", out += x.variation, out += ' ', out += std::to_string(x.points);
                    number(x.fStart_Hz), number(x.fStop_Hz);
                }
                out += '\n';
            },
            a);
    }
    out += ".end\n";
    return out;
}

}  // namespace imc::netlist
