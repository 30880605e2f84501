#include "circuits/memristor_crossbar.hpp"

#include "circuits/crossbar.hpp"

#include <stdexcept>

namespace imc::circuits {

using namespace imc::netlist;

namespace {

std::string idx(int i, int j) { return std::to_string(i) + "_" + std::to_string(j); }
// prefix + index, appended in place (GCC 12 warns falsely on const char* + std::string&&).
std::string nm(const char* prefix, int i) {
    std::string s(prefix);
    s += std::to_string(i);
    return s;
}
std::string nm(const char* prefix, int i, int j) {
    std::string s(prefix);
    s += idx(i, j);
    return s;
}

// Per-instance numbers as literals: ngspice would paste an expression without parentheses.
std::map<std::string, std::string> literalParams(const std::map<std::string, Eigen::MatrixXd>& params, int i, int j) {
    std::map<std::string, std::string> out;
    for (const auto& [name, values] : params) out[name] = formatSI(values(i, j));
    return out;
}

}  // namespace

const char* toString(BiasScheme scheme) {
    switch (scheme) {
        case BiasScheme::Floating: return "floating";
        case BiasScheme::Half: return "v2";
        case BiasScheme::Third: return "v3";
        case BiasScheme::Vmm: return "vmm";
    }
    return "?";
}

BiasScheme parseBiasScheme(const std::string& text) {
    if (text == "floating") return BiasScheme::Floating;
    if (text == "v2" || text == "V/2") return BiasScheme::Half;
    if (text == "v3" || text == "V/3") return BiasScheme::Third;
    if (text == "vmm") return BiasScheme::Vmm;
    throw std::invalid_argument("bias scheme '" + text + "' is unknown (floating, v2, v3, vmm)");
}

std::string senseCurrentVector(int col) { return nm("i(vsense", col) + ")"; }
std::string selectedCellCurrentVector() { return "i(vprobe)"; }
std::string deviceCurrentVector(int device) { return nm("i(vdev", device) + ")"; }

int selectedColumn(const MemristorCrossbarSpec& s) { return s.selectedCol < 0 ? s.cols - 1 : s.selectedCol; }

Circuit buildMemristorCrossbar(const MemristorCrossbarSpec& s) {
    if (s.rows < 1 || s.cols < 1) throw std::invalid_argument("memristor crossbar: rows and cols must be >= 1");
    if (!(s.wireResistance_Ohm > 0)) throw std::invalid_argument("memristor crossbar: wire resistance must be > 0");
    s.cell.validate({"top", "bottom"});
    for (const auto& [name, values] : s.cellParams)
        if (values.rows() != s.rows || values.cols() != s.cols)
            throw std::invalid_argument("memristor crossbar: parameter '" + name + "' must be rows x cols");
    const bool vmm = s.scheme == BiasScheme::Vmm;
    if (vmm && s.rowInput_V.size() != s.rows)
        throw std::invalid_argument("memristor crossbar: vmm needs one input voltage per row");
    const int selRow = s.selectedRow, selCol = selectedColumn(s);
    if (!vmm && (selRow < 0 || selRow >= s.rows || selCol < 0 || selCol >= s.cols))
        throw std::invalid_argument("memristor crossbar: the selected cell lies outside the array");

    // Line voltages by scheme; nullopt leaves the line open.
    const double V = s.readVoltage_V;
    auto rowDrive = [&](int i) -> std::optional<double> {
        if (vmm) return s.rowInput_V[i];
        if (i == selRow) return V;
        switch (s.scheme) {
            case BiasScheme::Half: return V / 2;
            case BiasScheme::Third: return V / 3;
            default: return std::nullopt;
        }
    };
    auto colDrive = [&](int j) -> std::optional<double> {
        if (vmm || j == selCol) return 0.0;
        switch (s.scheme) {
            case BiasScheme::Half: return V / 2;
            case BiasScheme::Third: return 2 * V / 3;
            default: return std::nullopt;
        }
    };

    std::string title = nm("memristor crossbar ", s.rows);
    title += nm("x", s.cols);
    title += " of " + s.cell.subckt + ", " + toString(s.scheme);
    Circuit c(title);
    if (vmm) c.comment("vmm: rows driven by the input vector, columns held at 0 V by vsense<j>");
    else
        c.comment(nm("read of cell (", selRow) + nm(",", selCol) + ") at " + formatSI(V) + " V, scheme " + toString(s.scheme) +
                  "; i(vprobe) = selected cell current, i(vsense<j>) = column current");
    s.cell.includeInto(c);
    // Row by row, then column by column: the regular order keeps the sparse LU fill low.
    for (int i = 0; i < s.rows; ++i) {
        if (auto v = rowDrive(i)) c.add(VoltageSource{nm("row", i), nm("in", i), "0", Dc{*v}});
        c.add(Resistor{nm("wr", i, 0), nm("in", i), rowNode(i, 0), Resistance(s.wireResistance_Ohm)});
        for (int j = 1; j < s.cols; ++j)
            c.add(Resistor{nm("wr", i, j), rowNode(i, j - 1), rowNode(i, j), Resistance(s.wireResistance_Ohm)});
    }
    for (int j = 0; j < s.cols; ++j) {
        for (int i = 1; i < s.rows; ++i)
            c.add(Resistor{nm("wc", i, j), colNode(i - 1, j), colNode(i, j), Resistance(s.wireResistance_Ohm)});
        c.add(Resistor{nm("wc", s.rows, j), colNode(s.rows - 1, j), nm("out", j), Resistance(s.wireResistance_Ohm)});
        if (auto v = colDrive(j)) c.add(VoltageSource{nm("sense", j), nm("out", j), "0", Dc{*v}});
    }
    for (int i = 0; i < s.rows; ++i)
        for (int j = 0; j < s.cols; ++j) {
            std::string top = rowNode(i, j);
            if (!vmm && i == selRow && j == selCol) {
                // 0 V probe: the selected cell's own current, separate from its column's sneak current.
                c.add(VoltageSource{"probe", top, "psel", Dc{0.0}});
                top = "psel";
            }
            c.add(s.cell.instance(nm("m", i, j), {{"top", top}, {"bottom", colNode(i, j)}}, literalParams(s.cellParams, i, j)));
        }
    if (s.useKlu) c.option("klu");
    if (s.transient) {
        c.option("method", "gear");
        c.analysis(*s.transient);
    } else {
        c.analysis(OpAnalysis{});
    }
    return c;
}

Circuit buildDeviceRead(const DeviceReadSpec& s) {
    if (s.devices < 1) throw std::invalid_argument("device read: devices must be >= 1");
    s.cell.validate({"top", "bottom"});
    for (const auto& [name, values] : s.cellParams)
        if (values.size() != s.devices) throw std::invalid_argument("device read: parameter '" + name + "' needs one value per device");
    Circuit c("isolated " + s.cell.subckt + " devices read at " + formatSI(s.readVoltage_V) + " V");
    c.comment("device k: read node -> cell -> vdev<k> (0 V) -> ground; i(vdev<k>) is its read current");
    s.cell.includeInto(c);
    c.add(VoltageSource{"read", "rd", "0", Dc{s.readVoltage_V}});
    for (int k = 0; k < s.devices; ++k) {
        std::map<std::string, std::string> params;
        for (const auto& [name, values] : s.cellParams) params[name] = formatSI(values[k]);
        c.add(s.cell.instance(nm("d", k), {{"top", "rd"}, {"bottom", nm("s", k)}}, params));
        c.add(VoltageSource{nm("dev", k), nm("s", k), "0", Dc{0.0}});
    }
    c.option("klu");
    c.analysis(OpAnalysis{});
    return c;
}

}  // namespace imc::circuits
