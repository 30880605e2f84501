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

fit::FitProvenance provenanceOf(const std::string& subcommand, const CommonOptions& options,
                                const std::string& extra_arguments, std::size_t samples) {
    return fit::fitProvenance("imc fit " + subcommand, commandLine(subcommand, options, extra_arguments),
                              {{"data", options.data_path}}, samples);
}

// One line per coefficient with its unit, then the quality: the table form of a fits record.
std::string recordTable(const fit::FitRecord& record, const std::string& data_path) {
    std::ostringstream text;
    text << record.model << " fit of " << data_path;
    if (record.quality.n) text << " (n = " << *record.quality.n << ")";
    text << "\n  " << record.description << "\n";
    for (const auto& [name, value] : record.coefficients) {
        const auto unit = record.units.find(name);
        text << "  " << std::left << std::setw(14) << name << std::setw(14) << formatNumber(value)
             << (unit == record.units.end() ? "" : unit->second) << "\n";
    }
    text << " ";
    if (record.quality.rmse) text << " rmse " << formatNumber(*record.quality.rmse);
    if (record.quality.r2) text << ", r2 " << formatNumber(*record.quality.r2);
    for (const auto& [name, value] : record.quality.extra.items()) text << ", " << name << " " << value.dump();
    text << "\n";
    if (!record.spread.empty()) text << "  spread " << record.spread.dump() << "\n";
    return text.str();
}

// Prints the record (--json: exactly what --out writes) and writes it when asked.
void finish(const CommonOptions& options, const fit::FitRecord& record) {
    if (options.json) std::cout << fit::toJson(record).dump(2) << "\n";
    else std::cout << recordTable(record, options.data_path);
    if (!options.out_path.empty()) {
        fit::writeFit(options.out_path, record);
        std::cerr << "imc: wrote " << options.out_path << "\n";
    }
}

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

// ------------------------------------------------------------------ gaincell-poly

struct GainCellOptions : CommonOptions {
    double V_in_V = 0.9;
    double K_offset_V = 0.45;
    CLI::Option* vin_option = nullptr;
};

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
    fit::FitRecord record = fit::gainCellPolyRecord(result, table.unitOf("S"), table.unitOf("Q"), fit::rangeOf(Q),
                                                    fit::rangeOf(K), fit::rangeOf(V_in));
    std::ostringstream extra;
    if (options.vin_option->count() > 0) extra << " --vin " << options.V_in_V;
    extra << " --koffset " << options.K_offset_V;
    record.provenance = provenanceOf("gaincell-poly", options, extra.str(), result.n);
    record.provenance.parameters["K_offset_V"] = result.K_offset_V;
    if (!V_column) record.provenance.parameters["V_in_V"] = options.V_in_V;
    finish(options, record);
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

std::string sampleUnit(const fit::CsvTable& table, const DistributionOptions& options) {
    return options.column.empty() ? table.unitOf(table.names.front()) : table.unitOf(options.column);
}

void runLognormal(const DistributionOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& samples = sampleColumn(table, options.column);
    for (std::size_t row = 0; row < samples.size(); ++row)
        if (!(samples[row] > 0.0))
            throw std::runtime_error(options.data_path + ":" + std::to_string(table.line_of_row[row]) + ": value " +
                                     formatNumber(samples[row]) + " is not positive; lognormal samples must be > 0");
    const fit::LognormalFit result = runFit(options.data_path, [&] { return fit::fitLognormal(samples, options.confidence); });
    fit::FitRecord record = fit::lognormalRecord(result, sampleUnit(table, options));
    record.provenance = provenanceOf("lognormal", options, distributionExtra(options), result.n);
    record.description = "ln(x) ~ Normal(mu, sigma); mu and sigma are maximum-likelihood estimates";
    finish(options, record);
}

void runGaussian(const DistributionOptions& options) {
    const fit::CsvTable table = fit::readCsv(options.data_path);
    const std::vector<double>& samples = sampleColumn(table, options.column);
    const fit::GaussianFit result = runFit(options.data_path, [&] { return fit::fitGaussian(samples, options.confidence); });
    fit::FitRecord record = fit::gaussianRecord(result, sampleUnit(table, options));
    record.provenance = provenanceOf("gaussian", options, distributionExtra(options), result.n);
    record.description = "x ~ Normal(mean, std); std is the maximum-likelihood estimate (divides by n)";
    finish(options, record);
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
    fit::FitRecord record = fit::retentionRecord(result, fit::rangeOf(t_s));
    const std::string extra = options.V_inf_V ? " --vinf " + formatNumber(*options.V_inf_V) : "";
    record.provenance = provenanceOf("retention", options, extra, result.n);
    record.provenance.parameters["V_inf_fixed"] = result.V_inf_fixed;
    finish(options, record);
}

const imc::cli::CommandRegistration retention_registration{
    "fit retention", "Fit the storage decay V(t) = V_inf + (V0 - V_inf) exp(-t/tau) (columns t, V)", [](CLI::App& app) {
        auto options = std::make_shared<RetentionOptions>();
        addCommonOptions(app, *options, "CSV with columns t and V; unit suffixes (t_ms, V_mV) are converted to SI");
        app.add_option("--vinf", options->V_inf_V, "Fix the asymptote V_inf [V] (needed when tau >> the time span)");
        app.callback([options] { runRetention(*options); });
    }};

// ------------------------------------------------------------------ hardsigmoid (charge-to-pulse)

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
    fit::FitRecord record = fit::chargeToPulseRecord(result, table.unitOf("x"), fit::rangeOf(x));
    record.provenance = provenanceOf("hardsigmoid", options, result.is_signed ? " --signed" : "", result.n);
    finish(options, record);
}

const imc::cli::CommandRegistration hardsigmoid_registration{
    "fit hardsigmoid",
    "Fit the charge-to-pulse law T = clamp(slope (x - offset), 0, T_max) (columns x, T) as a c2p-relu (or c2p-signed) record",
    [](CLI::App& app) {
        auto options = std::make_shared<HardSigmoidOptions>();
        addCommonOptions(app, *options, "CSV with columns x (input) and T (pulse width; T_ns etc. converted to s)");
        app.add_flag("--signed", options->is_signed, "Signed variant: T = sign(x) * clamp(slope (|x| - offset), 0, T_max)");
        app.callback([options] { runHardSigmoid(*options); });
    }};

}  // namespace
