#pragma once
// Circuits as data: typed elements with unit-carrying parameters, written to ngspice text by
// one writer (writeDeck) with one SI-number formatter (formatSI). A written deck runs
// unchanged with `ngspice -b`. Invalid names or values throw NetlistError naming the element.
#include "netlist/units.hpp"

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

namespace imc::netlist {

struct NetlistError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Shortest text that reads back to the same double, with an SI suffix where one fits
// (f p n u m k meg g t): 1.5e-9 -> "1.5n", 2 -> "2", 1e6 -> "1meg". Non-finite values throw.
std::string formatSI(double value);
// The same text, appended to `out` (the deck writer's form: no temporary strings).
void appendSI(std::string& out, double value);

// Reads a number with an optional SI suffix as ngspice does ("1.5n", "2meg", "10k"), correctly
// rounded; anything else after the number is an error.
double parseSI(std::string_view text);

// Names of elements, nodes, models and parameters: letters, digits and _ . : < > [ ] # only.
void checkName(const std::string& name, const char* what);

// ---- source waveforms (values in V for V sources, A for I sources) ----
struct Dc { double value = 0; };
struct Pulse {
    double initial = 0, pulsed = 0;
    Time delay{0}, rise{1e-12}, fall{1e-12}, width{0}, period{0};
};
struct Pwl { std::vector<std::pair<Time, double>> points; };
using Waveform = std::variant<Dc, Pulse, Pwl>;

// ---- elements ----
struct Resistor { std::string name, n1, n2; Resistance value; };
struct Capacitor { std::string name, n1, n2; Capacitance value; std::optional<Voltage> ic; };
struct Inductor { std::string name, n1, n2; Inductance value; };
struct VoltageSource { std::string name, plus, minus; Waveform wave; };
struct CurrentSource { std::string name, plus, minus; Waveform wave; };
// E: V(plus,minus) = gain * V(ctrl_plus, ctrl_minus)
struct Vcvs { std::string name, plus, minus, ctrlPlus, ctrlMinus; double gain = 1; };
// G: I(plus->minus) = transconductance_S * V(ctrl_plus, ctrl_minus)
struct Vccs { std::string name, plus, minus, ctrlPlus, ctrlMinus; double transconductance_S = 0; };
// B: behavioral source, `expression` in ngspice syntax (V=... or I=...).
struct Behavioral {
    enum class Kind { Voltage, Current };
    std::string name, plus, minus;
    Kind kind = Kind::Current;
    std::string expression;
};
struct Mosfet {
    std::string name, drain, gate, source, bulk, model;
    Length width{0}, length{0};
    std::map<std::string, double> instanceParams;  // e.g. delvto (V), mulu0, m
};
// X: instance of a subcircuit, with parameter overrides (numbers or {expressions}).
struct SubcktInstance {
    std::string name;
    std::vector<std::string> nodes;
    std::string subckt;
    std::map<std::string, std::string> params;
};
// A line written as given, for devices this builder does not type (checked non-empty only).
struct RawLine { std::string text; };

using Element = std::variant<Resistor, Capacitor, Inductor, VoltageSource, CurrentSource, Vcvs, Vccs,
                             Behavioral, Mosfet, SubcktInstance, RawLine>;

struct Model {
    std::string name, type;  // type: nmos, pmos, r, c, d, sw, ...
    std::map<std::string, double> params;
};

struct Subckt {
    std::string name;
    std::vector<std::string> ports;
    std::map<std::string, std::string> params;  // defaults
    std::vector<Element> elements;
    std::vector<Model> models;
};

// ---- analyses ----
struct OpAnalysis {};
struct TranAnalysis { Time step{0}, stop{0}, start{0}; std::optional<Time> maxStep; bool uic = false; };
struct DcSweep { std::string source; double start = 0, stop = 0, step = 0; };
struct AcAnalysis { std::string variation = "dec"; int points = 10; double fStart_Hz = 1, fStop_Hz = 1e9; };
using Analysis = std::variant<OpAnalysis, TranAnalysis, DcSweep, AcAnalysis>;

class Circuit {
public:
    explicit Circuit(std::string title = "imc circuit") : title_(std::move(title)) {}

    Circuit& add(Element element);  // validates and rejects duplicate names
    Circuit& addModel(Model model);
    Circuit& addSubckt(Subckt subckt);
    Circuit& include(std::string path);
    Circuit& param(const std::string& name, const std::string& valueOrExpression);
    Circuit& initialCondition(const std::string& node, Voltage v);
    Circuit& option(const std::string& key, std::optional<std::string> value = std::nullopt);
    Circuit& save(std::vector<std::string> vectors);
    Circuit& analysis(Analysis a);
    Circuit& comment(std::string text);

    const std::string& title() const { return title_; }
    const std::vector<Element>& elements() const { return elements_; }

    friend std::string writeDeck(const Circuit& circuit);

private:
    std::string title_;
    std::vector<std::string> comments_, includes_;
    std::vector<std::pair<std::string, std::string>> params_;
    std::vector<Model> models_;
    std::vector<Subckt> subckts_;
    std::vector<Element> elements_;
    std::vector<std::pair<std::string, Voltage>> ics_;
    std::vector<std::pair<std::string, std::optional<std::string>>> options_;
    std::vector<std::string> saves_;
    std::vector<Analysis> analyses_;
    std::unordered_set<std::string> names_;  // upper-cased instance names already used
};

// The one deck writer: title, includes, params, models, subcircuits, elements, .ic, .options,
// .save, analyses, .end, one card per line.
std::string writeDeck(const Circuit& circuit);

// One element as an ngspice card; the element letter is prefixed when the name lacks it.
std::string writeElement(const Element& element);

// Instance name as written (with its element letter), e.g. Resistor{"1",...} -> "R1".
std::string instanceName(const Element& element);

}  // namespace imc::netlist
