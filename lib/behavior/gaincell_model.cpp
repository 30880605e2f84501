// Circuit laws, the fits-directory loader and the per-tile device-to-device draws.
#include "behavior/detail.hpp"
#include "behavior/gaincell_attention.hpp"
#include "fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace imc::behavior {

// ---------------------------------------------------------------- quantizers and circuit laws

double HardSigmoidPulse::operator()(double S) const { return std::clamp((S - offset) / S_sat, 0.0, 1.0); }

double HardSigmoidPulse::derivative(double S) const {
    const double u = (S - offset) / S_sat;
    return (u > 0.0 && u < 1.0) ? 1.0 / S_sat : 0.0;
}

double SignedReadout::operator()(double x) const {
    const double magnitude = std::clamp((std::abs(x) - offset) / S_sat, 0.0, 1.0);
    return x < 0.0 ? -magnitude : magnitude;
}

double SignedReadout::derivative(double x) const {
    const double u = (std::abs(x) - offset) / S_sat;
    return (u > 0.0 && u < 1.0) ? 1.0 / S_sat : 0.0;
}

double ReadoutNoiseTable::at(double stored_V) const {
    if (levels_V.empty()) return 0.0;
    if (stored_V <= levels_V.front()) return std.front();
    if (stored_V >= levels_V.back()) return std.back();
    const auto upper = std::upper_bound(levels_V.begin(), levels_V.end(), stored_V);
    const std::size_t i = static_cast<std::size_t>(upper - levels_V.begin());
    const double w = (stored_V - levels_V[i - 1]) / (levels_V[i] - levels_V[i - 1]);
    return std[i - 1] + w * (std[i] - std[i - 1]);
}

// ---------------------------------------------------------------- loading

namespace {

using imc::fit::FitRecord;

[[noreturn]] void fail(const std::string& source, const std::string& message) {
    throw std::runtime_error(source + ": " + message);
}

double required(const FitRecord& record, const std::string& name) { return record.coefficient(name); }

std::optional<double> optionalCoefficient(const FitRecord& record, const std::string& name) {
    const auto it = record.coefficients.find(name);
    if (it == record.coefficients.end()) return std::nullopt;
    return it->second;
}

int integerCoefficient(const FitRecord& record, const std::string& name, int minimum) {
    const double value = required(record, name);
    if (value != std::round(value) || value < minimum || value > 1e6)
        fail(record.source, "coefficient \"" + name + "\" must be an integer >= " + std::to_string(minimum));
    return static_cast<int>(value);
}

UniformQuantizer quantizerFrom(const FitRecord& record, const std::string& prefix, const std::string& unit_suffix) {
    UniformQuantizer quantizer;
    quantizer.levels = integerCoefficient(record, prefix + "_levels", 2);
    quantizer.lo = required(record, prefix + "_min" + unit_suffix);
    quantizer.hi = required(record, prefix + "_max" + unit_suffix);
    if (!(quantizer.lo < quantizer.hi))
        fail(record.source, "\"" + prefix + "_min" + unit_suffix + "\" must be below \"" + prefix + "_max" +
                                unit_suffix + "\"");
    return quantizer;
}

// spread.coefficient_std: absolute std per coefficient name.
std::map<std::string, double> coefficientStd(const FitRecord& record) {
    std::map<std::string, double> result;
    if (!record.spread.is_object()) return result;
    const auto it = record.spread.find("coefficient_std");
    if (it == record.spread.end()) return result;
    if (!it->is_object()) fail(record.source, "field \"spread.coefficient_std\" must be an object");
    for (const auto& [name, value] : it->items()) {
        const std::string field = "field \"spread.coefficient_std." + name + "\"";
        if (!value.is_number() || value.get<double>() < 0.0) fail(record.source, field + " must be a number >= 0");
        if (!record.coefficients.count(name)) fail(record.source, field + " names no coefficient of this model");
        result[name] = value.get<double>();
    }
    return result;
}

CoefficientSet coefficientSet(const FitRecord& record) {
    return CoefficientSet{record.source, record.coefficients, coefficientStd(record)};
}

// spread.readout_noise = {"levels": [V...], "std": [...], ...}; other keys of the table are for people.
ReadoutNoiseTable readoutNoiseFrom(const FitRecord& record) {
    ReadoutNoiseTable table;
    if (!record.spread.is_object()) return table;
    const auto it = record.spread.find("readout_noise");
    if (it == record.spread.end()) return table;
    const std::string field = "field \"spread.readout_noise";
    const auto& value = *it;
    if (!value.is_object()) fail(record.source, field + "\" must be an object");
    const auto levels = value.find("levels");
    const auto stds = value.find("std");
    if (levels == value.end() || stds == value.end() || !levels->is_array() || !stds->is_array())
        fail(record.source, field + "\" needs arrays \"levels\" and \"std\"");
    if (levels->size() != stds->size() || levels->empty())
        fail(record.source, field + "\": \"levels\" and \"std\" must have the same, non-zero length");
    for (std::size_t i = 0; i < levels->size(); ++i) {
        if (!(*levels)[i].is_number() || !(*stds)[i].is_number()) fail(record.source, field + "\": entries must be numbers");
        table.levels_V.push_back((*levels)[i].get<double>());
        table.std.push_back((*stds)[i].get<double>());
        if (table.std.back() < 0.0) fail(record.source, field + ".std\": must be >= 0");
        if (i > 0 && !(table.levels_V[i] > table.levels_V[i - 1]))
            fail(record.source, field + ".levels\": must be strictly ascending");
    }
    return table;
}

double lookup(const std::map<std::string, double>& coefficients, const std::string& source, const std::string& name) {
    const auto it = coefficients.find(name);
    if (it == coefficients.end()) fail(source, "missing coefficient \"" + name + "\"");
    return it->second;
}

}  // namespace

const GainCellPolynomial& GainCellModel::polynomial() const {
    if (!polynomial_) throw std::runtime_error("the fits directory has no gaincell-poly record (needed by the nonlinear model)");
    return *polynomial_;
}

void GainCellModel::requireSpread(ArrayModel array_model) const {
    const bool nonlinear = array_model == ArrayModel::Nonlinear;
    if (!pulse_set_.std.empty() || !readout_set_.std.empty()) return;
    if (nonlinear && ((poly_set_ && !poly_set_->std.empty()) || !noise_.empty())) return;
    std::string missing = pulse_set_.source + " and " + readout_set_.source + " have no \"spread.coefficient_std\"";
    if (nonlinear)
        missing += ", and " + (poly_set_ ? poly_set_->source : std::string("the gaincell-poly record")) +
                   " has neither \"spread.coefficient_std\" nor \"spread.readout_noise\"";
    throw std::runtime_error("variability is on but the fits give nothing to vary: " + missing +
                             " (regenerate them with `imc characterize gaincell-fits`)");
}

double GainCellModel::decayPerStep(int layers) const {
    if (!tau_s_) return 0.0;
    return layers * *architecture_.step_latency_s / *tau_s_;
}

LinearArray cellLinearization(const GainCellModel& model) {
    const ArrayArchitecture& arch = model.architecture();
    LinearArray linear;
    if (model.hasPolynomial()) {
        const GainCellPolynomial& poly = model.polynomial();
        linear.gain = poly.D[1] * arch.pulse_full_scale;
        linear.K_offset_V = linear.V_offset_V = poly.offset_V;
    } else {
        linear.gain = arch.pulse_full_scale;
        linear.K_offset_V = 0.5 * (arch.key.lo + arch.key.hi);
        linear.V_offset_V = 0.5 * (arch.value.lo + arch.value.hi);
    }
    return linear;
}

GainCellPolynomial GainCellModel::polynomialFrom(const std::map<std::string, double>& c) const {
    return imc::fit::gainCellPolynomial(c, poly_V_in_V_, poly_set_ ? poly_set_->source : std::string("gaincell-poly"));
}

HardSigmoidPulse GainCellModel::pulseFrom(const CoefficientSet& set, const std::map<std::string, double>& c) {
    HardSigmoidPulse pulse;
    if (c.count("S_sat")) {
        pulse.S_sat = c.at("S_sat");
        pulse.offset = c.count("offset") ? c.at("offset") : 0.0;
    } else {
        const double slope = lookup(c, set.source, "slope_s_per_x");
        pulse.S_sat = lookup(c, set.source, "T_max_s") / slope;
        pulse.offset = lookup(c, set.source, "offset_x");
    }
    if (!(pulse.S_sat > 0.0) || !std::isfinite(pulse.S_sat))
        fail(set.source, "the saturation input (S_sat, or T_max_s / slope_s_per_x) must be positive");
    return pulse;
}

SignedReadout GainCellModel::readoutFrom(const CoefficientSet& set, const std::map<std::string, double>& c) {
    const HardSigmoidPulse same = pulseFrom(set, c);
    return SignedReadout{same.offset, same.S_sat};
}

GainCellModel GainCellModel::load(const std::string& fits_dir) {
    const std::vector<FitRecord> all = imc::fit::readFitsFolder(fits_dir);
    std::map<std::string, FitRecord> records;
    for (const char* model : {"gaincell-array", "c2p-relu", "c2p-signed", "gaincell-poly", "retention"})
        if (auto record = imc::fit::findFit(all, model, fits_dir)) records.emplace(model, std::move(*record));
    auto need = [&](const std::string& role, const std::string& what) -> const FitRecord& {
        const auto it = records.find(role);
        if (it == records.end())
            throw std::runtime_error(fits_dir + ": no fits file with model \"" + role + "\" (" + what + ")");
        return it->second;
    };

    GainCellModel model;
    const FitRecord& array = need("gaincell-array", "quantizers, tile size, V_in and step latency");
    ArrayArchitecture& arch = model.architecture_;
    arch.query = quantizerFrom(array, "Q", "");
    arch.key = quantizerFrom(array, "K", "_V");
    arch.value = quantizerFrom(array, "V", "_V");
    arch.output = quantizerFrom(array, "out", "");
    arch.tile_size = integerCoefficient(array, "tile_size", 1);
    arch.V_in_V = optionalCoefficient(array, "V_in_V");
    arch.step_latency_s = optionalCoefficient(array, "step_latency_s");
    const auto full_scale_ns = optionalCoefficient(array, "pulse_full_scale_ns");
    arch.pulse_full_scale = full_scale_ns ? *full_scale_ns : 1.0;
    if (!(arch.pulse_full_scale > 0.0)) fail(array.source, "\"pulse_full_scale_ns\" must be positive");

    model.pulse_set_ = coefficientSet(need("c2p-relu", "first-array charge-to-pulse"));
    model.pulse_ = pulseFrom(model.pulse_set_, model.pulse_set_.mean);
    model.readout_set_ = coefficientSet(need("c2p-signed", "second-array signed readout"));
    model.readout_ = readoutFrom(model.readout_set_, model.readout_set_.mean);

    if (const auto it = records.find("retention"); it != records.end()) {
        const double tau_s = required(it->second, "tau_s");
        if (!(tau_s > 0.0)) fail(it->second.source, "coefficient \"tau_s\" must be positive");
        if (!arch.step_latency_s || !(*arch.step_latency_s >= 0.0))
            fail(array.source, "a retention fit is given, so \"step_latency_s\" (delta_t per layer) is needed");
        model.tau_s_ = tau_s;
    }

    if (const auto it = records.find("gaincell-poly"); it != records.end()) {
        const FitRecord& poly = it->second;
        const bool full_form = poly.coefficients.count("C_0_0") > 0;
        const std::optional<double> poly_V_in = optionalCoefficient(poly, "V_in");
        if (full_form) {
            if (!arch.V_in_V && !poly_V_in)
                fail(array.source, "the gain-cell polynomial has C_i_j, so the read voltage \"V_in_V\" is needed");
            model.poly_V_in_V_ = arch.V_in_V ? *arch.V_in_V : *poly_V_in;
        } else {
            imc::fit::gainCellPolynomial(poly.coefficients, arch.V_in_V, poly.source);  // the D form and its V_in
        }
        // A polynomial in ns needs to know how long a full pulse is; without it every pulse
        // would be read as a fraction of a nanosecond.
        if (const auto unit = poly.units.find("Q"); unit != poly.units.end() && unit->second == "ns" && !full_scale_ns)
            fail(array.source, "the gain-cell polynomial (" + poly.source +
                                   ") takes Q in ns, so \"pulse_full_scale_ns\" (T_max in ns) is needed");
        model.poly_set_ = coefficientSet(poly);
        model.polynomial_ = model.polynomialFrom(poly.coefficients);
        model.noise_ = readoutNoiseFrom(poly);
        if (arch.V_in_V) poly.checkRange("V_in_V", *arch.V_in_V);
    }
    return model;
}

// ---------------------------------------------------------------- device-to-device draws

namespace {

std::uint64_t nameHash(const std::string& name) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across platforms and builds
    for (const unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
    return h;
}

// Each coefficient draws from its own counter (keyed by its name), so adding a spread entry
// elsewhere never changes the others' values.
std::map<std::string, double> perturbed(const CoefficientSet& set, std::uint64_t key) {
    std::map<std::string, double> values = set.mean;
    for (const auto& [name, sigma] : set.std)
        if (sigma > 0.0) values[name] += sigma * detail::normalAt(detail::combine(key, nameHash(name)), 0);
    return values;
}

}  // namespace

TileCircuits drawTileCircuits(const GainCellModel& model, const Variability& variability, HeadIndex head, int tile) {
    TileCircuits circuits;
    if (!variability.enabled || !variability.device_to_device) {
        if (model.hasPolynomial()) circuits.key_array = circuits.value_array = model.polynomial();
        circuits.pulse = model.pulse();
        circuits.readout = model.readout();
        return circuits;
    }
    const std::uint64_t tile_key =
        detail::combine(detail::headKey(variability.seed, detail::Purpose::TileCircuits, head), static_cast<std::uint64_t>(tile));
    if (const auto& poly = model.polynomialCoefficients()) {
        circuits.key_array = model.polynomialFrom(perturbed(*poly, detail::combine(tile_key, 1)));
        circuits.value_array = model.polynomialFrom(perturbed(*poly, detail::combine(tile_key, 2)));
    }
    circuits.pulse = GainCellModel::pulseFrom(model.pulseCoefficients(),
                                              perturbed(model.pulseCoefficients(), detail::combine(tile_key, 3)));
    circuits.readout = GainCellModel::readoutFrom(model.readoutCoefficients(),
                                                  perturbed(model.readoutCoefficients(), detail::combine(tile_key, 4)));
    return circuits;
}

}  // namespace imc::behavior
