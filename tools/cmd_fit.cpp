// imc fit ...: fit behavioral models to CSV data, print them, and optionally write a fits file.
#include "cli.hpp"

#include "fit/fit.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace {

using nlohmann::ordered_json;
namespace fit = imc::fit;

// Options shared by every fit subcommand; owned by the callback so they outlive the setup call.
struct CommonOptions {
    std::string data_path;
    bool json = false;
    std::string out_path;
};

void addCommonOptions(CLI::App& app, CommonOptions& options, const std::string& data_help) {
    app.add_option("data", options.data_path, data_help)->required();
    app.add_flag("--json", options.json, "Print the result as JSON");
    app.add_option("--out", options.out_path, "Also write the fit to this fits file (see fits/README.md)");
}

// Library fits report bad input as std::invalid_argument; the command names the file it came from.
template <class Fit>
auto runFit(const std::string& path, Fit&& fit) {
    try {
        return fit();
    } catch (const std::invalid_argument& error) {
        throw std::runtime_error(path + ": " + error.what());
    }
}

std::string formatNumber(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return buffer;
}

std::string commandLine(const std::string& subcommand, const CommonOptions& options, const std::string& extra) {
    std::string command = "imc fit " + subcommand + " " + options.data_path + extra;
    if (options.json) command += " --json";
    if (!options.out_path.empty()) command += " --out " + options.out_path;
    return command;
}

fit::FitRecord newRecord(const std::string& model, const std::string& subcommand, const CommonOptions& options,
                         const std::string& extra_arguments, std::size_t samples) {
    fit::FitRecord record;
    record.model = model;
    record.provenance.generator = "imc fit " + subcommand;
    record.provenance.parameters["data"] = options.data_path;
    record.provenance.samples = samples;
    record.provenance.created_utc = fit::currentUtcTimestamp();
    record.provenance.command = commandLine(subcommand, options, extra_arguments);
    return record;
}

void finish(const CommonOptions& options, const ordered_json& result, const std::string& table,
            const fit::FitRecord* record) {
    if (options.json) std::cout << result.dump(2) << "\n";
    else std::cout << table;
    if (record && !options.out_path.empty()) {
        fit::writeFit(options.out_path, *record);
        std::cerr << "imc: wrote " << options.out_path << "\n";
    }
}

std::pair<double, double> rangeOf(const std::vector<double>& values) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {*lo, *hi};
}

// "Q" with unit "ns" becomes the validity key "Q_ns"; without a unit it stays "Q".
std::string keyWithUnit(const std::string& name, const std::string& unit) { return unit.empty() ? name : name + "_" + unit; }

// Values of column `name` in SI units, using the column's unit suffix ("t_ms" -> seconds).
std::vector<double> columnInSi(const fit::CsvTable& table, const std::string& name) {
    std::vector<double> values = table.column(name);
    const std::string unit = table.unitOf(name);
    const auto scale = fit::siScale(unit);
    if (!scale)
        throw std::runtime_error(table.source + ": unit '" + unit + "' of column " + name +
                                 " is not one this command can convert to SI (use e.g. s, ms, ns, V, mV)");
    for (double& v : values) v *= *scale;
    return values;
}

// One column of samples: the only column, or the one named by --column.
const std::vector<double>& sampleColumn(const fit::CsvTable& table, const std::string& column_name) {
    if (!column_name.empty()) return table.column(column_name);
    if (table.columns.size() != 1)
        throw std::runtime_error(table.source + ": expected one column of samples, found " +
                                 std::to_string(table.columns.size()) + "; choose one with --column");
    return table.columns.front();
}

ordered_json intervalJson(const fit::Interval& interval) { return ordered_json::array({interval.lo, interval.hi}); }

// ------------------------------------------------------------------ gaincell-poly

struct GainCellOptions : CommonOptions {
    double V_in_V = 0.9;
    double K_offset_V = 0.45;
    CLI::Option* vin_option = nullptr;
};

std::string powerUnit(const std::string& S_unit, const std::string& Q_unit, int power) {
    const std::string s = S_unit.empty() ? "[S]" : S_unit;
    const std::string q = Q_unit.empty() ? "[Q]" : Q_unit;
    if (power == 0) return s + "/" + q;
    return s + "/(" + q + "*V" + (power > 1 ? "^" + std::to_string(power) : "") + ")";
}

void runGainCellPoly(const GainCellOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& Q = table.column("Q");
    const std::vector<double>& K = table.column("K");
    const std::vector<double>& S = table.column("S");
    std::optional<std::size_t> V_column;
    for (const char* name : {"V_in", "Vin", "V"})
        if ((V_column = table.findColumn(name))) break;
    if (V_column && options.vin_option->count() > 0)
        throw std::runtime_error(options.data_path + ": --vin conflicts with the V_in column '" + table.names[*V_column] +
                                 "'; drop one of them");
    const std::vector<double> V_in = V_column ? table.columns[*V_column] : std::vector<double>(table.rows(), options.V_in_V);

    const fit::GainCellPolyFit result = runFit(options.data_path, [&] {
        return fit::fitGainCellPolynomial(Q, K, S, V_in, options.K_offset_V);
    });

    const std::string Q_unit = table.unitOf("Q"), S_unit = table.unitOf("S");
    std::string K_unit = table.unitOf("K");
    if (K_unit.empty()) K_unit = "V";

    ordered_json coefficients = ordered_json::object();
    ordered_json units = ordered_json::object();
    // Print in (i, j) order rather than the alphabetical order of the map.
    for (int i = 0; i <= 3; ++i) {
        if (result.identifiable) {
            for (int j = 0; j <= 3 - i; ++j) {
                const std::string name = "C_" + std::to_string(i) + "_" + std::to_string(j);
                coefficients[name] = result.C[i][j];
                units[name] = powerUnit(S_unit, Q_unit, i + j);
            }
        } else {
            const std::string name = "D_" + std::to_string(i);
            coefficients[name] = result.D[i];
            units[name] = powerUnit(S_unit, Q_unit, i);
        }
    }
    ordered_json json;
    json["model"] = "gaincell-poly";
    json["coefficients"] = coefficients;
    json["identifiable"] = result.identifiable;
    if (!result.identifiable) json["note"] = result.note;
    json["rmse"] = result.rmse;
    json["r2"] = result.r2;
    json["n"] = result.n;
    json["K_offset"] = result.K_offset_V;
    if (!result.identifiable) json["V_in"] = result.V_in_V;
    json["units"] = units;

    std::ostringstream table_text;
    table_text << "gain-cell polynomial fit of " << options.data_path << " (n = " << result.n
               << ", K_offset = " << formatNumber(result.K_offset_V) << " V)\n";
    if (!result.identifiable) table_text << "  note: " << result.note << "\n";
    for (const auto& [name, value] : coefficients.items())
        table_text << "  " << std::left << std::setw(7) << name << std::setw(14) << formatNumber(value.get<double>())
                   << units[name].get<std::string>() << "\n";
    table_text << "  rmse " << formatNumber(result.rmse) << (S_unit.empty() ? "" : " " + S_unit) << ", r2 "
               << formatNumber(result.r2) << "\n";

    std::ostringstream extra;
    if (options.vin_option->count() > 0) extra << " --vin " << options.V_in_V;
    extra << " --koffset " << options.K_offset_V;
    fit::FitRecord record = newRecord("gaincell-poly", "gaincell-poly", options, extra.str(), result.n);
    record.description = result.identifiable
                             ? "S = sum_i sum_j C_i_j * Q * (K - K_offset)^i * V_in^j (third order, 10 coefficients)"
                             : "S = sum_i D_i * Q * (K - K_offset)^i at the fixed V_in; " + result.note;
    for (const auto& [name, value] : coefficients.items()) {
        record.coefficients[name] = value.get<double>();
        record.units[name] = units[name].get<std::string>();
    }
    record.coefficients["K_offset"] = result.K_offset_V;
    record.units["K_offset"] = "V";
    if (!result.identifiable) {
        record.coefficients["V_in"] = result.V_in_V;
        record.units["V_in"] = "V";
    }
    record.validity[keyWithUnit("Q", Q_unit)] = rangeOf(Q);
    record.validity[keyWithUnit("K", K_unit)] = rangeOf(K);
    record.validity[keyWithUnit("V_in", "V")] = rangeOf(V_in);
    record.quality.rmse = result.rmse;
    record.quality.r2 = result.r2;
    record.quality.n = result.n;
    record.quality.extra["identifiable"] = result.identifiable;
    record.provenance.parameters["K_offset_V"] = result.K_offset_V;
    if (!V_column) record.provenance.parameters["V_in_V"] = options.V_in_V;
    finish(options, json, table_text.str(), &record);
}

const imc::cli::CommandRegistration gaincell_registration{
    "fit gaincell-poly", "Fit the third-order gain-cell polynomial S(Q, K, V_in) (columns Q, K, S, optional V)",
    [](CLI::App& app) {
        auto options = std::make_shared<GainCellOptions>();
        addCommonOptions(app, *options, "CSV with columns Q, K, S and optionally V (V_in per row); unit suffixes allowed");
        options->vin_option =
            app.add_option("--vin", options->V_in_V, "V_in for every row when the file has no V column [V]")->capture_default_str();
        app.add_option("--koffset", options->K_offset_V, "K_offset subtracted from K [V]")->capture_default_str();
        app.callback([options] { runGainCellPoly(*options); });
    }};

// ------------------------------------------------------------------ lognormal / gaussian

struct DistributionOptions : CommonOptions {
    double confidence = 0.95;
    std::string column;
};

void addDistributionOptions(CLI::App& app, DistributionOptions& options) {
    addCommonOptions(app, options, "CSV with one numeric column of samples, header optional");
    app.add_option("--confidence", options.confidence, "Confidence level of the intervals")
        ->capture_default_str()
        ->check(CLI::Range(0.5, 0.9999));
    app.add_option("--column", options.column, "Column to use when the file has several");
}

std::string distributionExtra(const DistributionOptions& options) {
    std::string extra;
    if (!options.column.empty()) extra += " --column " + options.column;
    if (options.confidence != 0.95) extra += " --confidence " + formatNumber(options.confidence);
    return extra;
}

void runLognormal(const DistributionOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& samples = sampleColumn(table, options.column);
    for (std::size_t row = 0; row < samples.size(); ++row)
        if (!(samples[row] > 0.0))
            throw std::runtime_error(options.data_path + ":" + std::to_string(table.line_of_row[row]) + ": value " +
                                     formatNumber(samples[row]) + " is not positive; lognormal samples must be > 0");
    const fit::LognormalFit result = runFit(options.data_path, [&] { return fit::fitLognormal(samples, options.confidence); });

    ordered_json json;
    json["mu"] = result.mu;
    json["sigma"] = result.sigma;
    json["mu_ci"] = intervalJson(result.mu_ci);
    json["sigma_ci"] = intervalJson(result.sigma_ci);
    json["confidence"] = result.confidence;
    json["ks_D"] = result.ks_D;
    json["ks_p"] = result.ks_p;
    json["n"] = result.n;
    json["median"] = std::exp(result.mu);

    std::ostringstream text;
    text << "lognormal fit of " << options.data_path << " (n = " << result.n << "), ln(x) ~ Normal(mu, sigma)\n"
         << "  mu     " << formatNumber(result.mu) << "  [" << formatNumber(result.mu_ci.lo) << ", "
         << formatNumber(result.mu_ci.hi) << "]  (median exp(mu) = " << formatNumber(std::exp(result.mu)) << ")\n"
         << "  sigma  " << formatNumber(result.sigma) << "  [" << formatNumber(result.sigma_ci.lo) << ", "
         << formatNumber(result.sigma_ci.hi) << "]\n"
         << "  " << formatNumber(100.0 * result.confidence) << " % intervals; KS D = " << formatNumber(result.ks_D)
         << ", p = " << formatNumber(result.ks_p) << "\n";

    const std::string unit = options.column.empty() ? table.unitOf(table.names.front()) : table.unitOf(options.column);
    fit::FitRecord record = fit::lognormalRecord(result, unit);
    record.provenance = newRecord("lognormal", "lognormal", options, distributionExtra(options), result.n).provenance;
    record.description = "ln(x) ~ Normal(mu, sigma); mu and sigma are maximum-likelihood estimates";
    finish(options, json, text.str(), &record);
}

void runGaussian(const DistributionOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& samples = sampleColumn(table, options.column);
    const fit::GaussianFit result = runFit(options.data_path, [&] { return fit::fitGaussian(samples, options.confidence); });

    ordered_json json;
    json["mean"] = result.mean;
    json["std"] = result.std;
    json["mean_ci"] = intervalJson(result.mean_ci);
    json["std_ci"] = intervalJson(result.std_ci);
    json["confidence"] = result.confidence;
    json["ks_D"] = result.ks_D;
    json["ks_p"] = result.ks_p;
    json["n"] = result.n;

    std::ostringstream text;
    text << "Gaussian fit of " << options.data_path << " (n = " << result.n << ")\n"
         << "  mean  " << formatNumber(result.mean) << "  [" << formatNumber(result.mean_ci.lo) << ", "
         << formatNumber(result.mean_ci.hi) << "]\n"
         << "  std   " << formatNumber(result.std) << "  [" << formatNumber(result.std_ci.lo) << ", "
         << formatNumber(result.std_ci.hi) << "]\n"
         << "  " << formatNumber(100.0 * result.confidence) << " % intervals; KS D = " << formatNumber(result.ks_D)
         << ", p = " << formatNumber(result.ks_p) << "\n";

    const std::string unit = options.column.empty() ? table.unitOf(table.names.front()) : table.unitOf(options.column);
    fit::FitRecord record = fit::gaussianRecord(result, unit);
    record.provenance = newRecord("gaussian", "gaussian", options, distributionExtra(options), result.n).provenance;
    record.description = "x ~ Normal(mean, std); std is the maximum-likelihood estimate (divides by n)";
    finish(options, json, text.str(), &record);
}

const imc::cli::CommandRegistration lognormal_registration{
    "fit lognormal", "Maximum-likelihood lognormal fit with confidence intervals and a KS test", [](CLI::App& app) {
        auto options = std::make_shared<DistributionOptions>();
        addDistributionOptions(app, *options);
        app.callback([options] { runLognormal(*options); });
    }};

const imc::cli::CommandRegistration gaussian_registration{
    "fit gaussian", "Maximum-likelihood Gaussian fit with confidence intervals and a KS test", [](CLI::App& app) {
        auto options = std::make_shared<DistributionOptions>();
        addDistributionOptions(app, *options);
        app.callback([options] { runGaussian(*options); });
    }};

// ------------------------------------------------------------------ retention

struct RetentionOptions : CommonOptions {
    std::optional<double> V_inf_V;
};

void runRetention(const RetentionOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double> t_s = columnInSi(table, "t");
    const std::vector<double> V = columnInSi(table, "V");
    const fit::ExponentialDecayFit result =
        runFit(options.data_path, [&] { return fit::fitExponentialDecay(t_s, V, options.V_inf_V); });

    ordered_json json;
    json["tau_s"] = result.tau_s;
    json["tau_stderr_s"] = result.tau_stderr_s;
    json["V0_V"] = result.V0_V;
    json["V_inf_V"] = result.V_inf_V;
    json["V_inf_fixed"] = result.V_inf_fixed;
    json["rmse"] = result.rmse;
    json["r2"] = result.r2;
    json["n"] = result.n;

    std::ostringstream text;
    text << "retention fit of " << options.data_path << " (n = " << result.n << "), V(t) = V_inf + (V0 - V_inf) exp(-t/tau)\n"
         << "  tau    " << formatNumber(result.tau_s) << " s  (+- " << formatNumber(result.tau_stderr_s) << " s)\n"
         << "  V0     " << formatNumber(result.V0_V) << " V\n"
         << "  V_inf  " << formatNumber(result.V_inf_V) << " V" << (result.V_inf_fixed ? "  (fixed)" : "") << "\n"
         << "  rmse " << formatNumber(result.rmse) << " V, r2 " << formatNumber(result.r2) << "\n";

    const std::string extra = options.V_inf_V ? " --vinf " + formatNumber(*options.V_inf_V) : "";
    fit::FitRecord record = newRecord("retention", "retention", options, extra, result.n);
    record.description = "V(t) = V_inf + (V0 - V_inf) * exp(-t / tau)";
    record.coefficients = {{"tau_s", result.tau_s}, {"V0_V", result.V0_V}, {"V_inf_V", result.V_inf_V}};
    record.units = {{"tau_s", "s"}, {"V0_V", "V"}, {"V_inf_V", "V"}};
    record.validity["t_s"] = rangeOf(t_s);
    record.quality.rmse = result.rmse;
    record.quality.r2 = result.r2;
    record.quality.n = result.n;
    record.spread = {{"tau_stderr_s", result.tau_stderr_s}};
    record.provenance.parameters["V_inf_fixed"] = result.V_inf_fixed;
    finish(options, json, text.str(), &record);
}

const imc::cli::CommandRegistration retention_registration{
    "fit retention", "Fit the storage decay V(t) = V_inf + (V0 - V_inf) exp(-t/tau) (columns t, V)", [](CLI::App& app) {
        auto options = std::make_shared<RetentionOptions>();
        addCommonOptions(app, *options, "CSV with columns t and V; unit suffixes (t_ms, V_mV) are converted to SI");
        app.add_option("--vinf", options->V_inf_V, "Fix the asymptote V_inf [V] (needed when tau >> the time span)");
        app.callback([options] { runRetention(*options); });
    }};

// ------------------------------------------------------------------ hardsigmoid

struct HardSigmoidOptions : CommonOptions {
    bool is_signed = false;
};

void runHardSigmoid(const HardSigmoidOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& x = table.column("x");
    const std::vector<double> T_s = columnInSi(table, "T");
    const fit::HardSigmoidFit result = runFit(options.data_path, [&] {
        return options.is_signed ? fit::fitSignedHardSigmoid(x, T_s) : fit::fitHardSigmoid(x, T_s);
    });
    const std::string x_unit = table.unitOf("x");

    ordered_json json;
    json["slope_s_per_x"] = result.slope_s_per_x;
    json["offset_x"] = result.offset_x;
    json["T_max_s"] = result.T_max_s;
    json["signed"] = result.is_signed;
    json["offset_observed"] = result.offset_observed;
    json["saturation_observed"] = result.saturation_observed;
    json["rmse"] = result.rmse;
    json["r2"] = result.r2;
    json["n"] = result.n;
    if (!x_unit.empty()) json["x_unit"] = x_unit;

    const std::string xu = x_unit.empty() ? "[x]" : x_unit;
    std::ostringstream text;
    text << (result.is_signed ? "signed " : "") << "HardSigmoid fit of " << options.data_path << " (n = " << result.n
         << "), T = " << (result.is_signed ? "sign(x) * clamp(slope * (|x| - offset), 0, T_max)" : "clamp(slope * (x - offset), 0, T_max)")
         << "\n"
         << "  slope   " << formatNumber(result.slope_s_per_x) << " s/" << xu << "\n"
         << "  offset  " << formatNumber(result.offset_x) << " " << xu
         << (result.offset_observed ? "" : "  (extrapolated: no samples below it)") << "\n"
         << "  T_max   " << formatNumber(result.T_max_s) << " s"
         << (result.saturation_observed ? "" : "  (lower bound: no saturated samples)") << "\n"
         << "  rmse " << formatNumber(result.rmse) << " s, r2 " << formatNumber(result.r2) << "\n";

    const std::string model = result.is_signed ? "hardsigmoid-signed" : "hardsigmoid";
    fit::FitRecord record = newRecord(model, "hardsigmoid", options, result.is_signed ? " --signed" : "", result.n);
    record.description = result.is_signed ? "T = sign(x) * clamp(slope * (|x| - offset), 0, T_max)"
                                          : "T = clamp(slope * (x - offset), 0, T_max)";
    record.coefficients = {{"slope_s_per_x", result.slope_s_per_x}, {"offset_x", result.offset_x}, {"T_max_s", result.T_max_s}};
    record.units = {{"slope_s_per_x", "s/" + xu}, {"offset_x", xu}, {"T_max_s", "s"}};
    record.validity[keyWithUnit("x", x_unit)] = rangeOf(x);
    record.quality.rmse = result.rmse;
    record.quality.r2 = result.r2;
    record.quality.n = result.n;
    record.quality.extra = {{"offset_observed", result.offset_observed}, {"saturation_observed", result.saturation_observed}};
    finish(options, json, text.str(), &record);
}

const imc::cli::CommandRegistration hardsigmoid_registration{
    "fit hardsigmoid", "Fit the charge-to-pulse law T = clamp(slope (x - offset), 0, T_max) (columns x, T)",
    [](CLI::App& app) {
        auto options = std::make_shared<HardSigmoidOptions>();
        addCommonOptions(app, *options, "CSV with columns x (input) and T (pulse width; T_ns etc. converted to s)");
        app.add_flag("--signed", options->is_signed, "Signed variant: T = sign(x) * clamp(slope (|x| - offset), 0, T_max)");
        app.callback([options] { runHardSigmoid(*options); });
    }};

}  // namespace
