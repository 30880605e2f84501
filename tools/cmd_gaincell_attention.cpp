// imc gaincell-attention: one head's array step of the behavioral gain-cell attention on a user's
// Q, K, V matrices, printing the scores S, the pulses phi and the output A.
#include "cli.hpp"

#include "behavior/gaincell_attention.hpp"
#include "fit/fit.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace {

namespace behavior = imc::behavior;

struct Options {
    std::string fits_dir, q_path, k_path, v_path, write_paper_dir;
    std::string model = "linear";
    long window = 0;
    int layers = 1;
    bool no_decay = false, no_quantize = false, json = false;
    double pulse_full_scale = 0.0;
    double linear_gain = 0.0;
    bool variability = false;
    std::uint64_t seed = 0, read_index = 0;
    int layer = 0, head = 0;
};

// A T x D matrix from a CSV of numbers; lib/fit's reader names the file and line of bad fields.
behavior::Matrix readMatrix(const std::string& path) {
    const imc::fit::CsvTable table = imc::fit::readCsv(path);
    if (table.rows() == 0 || table.columns.empty()) throw std::runtime_error(path + ": no data rows");
    behavior::Matrix m(static_cast<long>(table.rows()), static_cast<long>(table.columns.size()));
    for (std::size_t c = 0; c < table.columns.size(); ++c)
        for (std::size_t r = 0; r < table.rows(); ++r) m(static_cast<long>(r), static_cast<long>(c)) = static_cast<float>(table.columns[c][r]);
    return m;
}

// Seven significant digits: what a float carries, without binary noise in the JSON.
double tidy(float value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.7g", double(value));
    return std::stod(buffer);
}

nlohmann::json toJson(const behavior::Matrix& m) {
    nlohmann::json rows = nlohmann::json::array();
    for (long i = 0; i < m.rows(); ++i) {
        nlohmann::json row = nlohmann::json::array();
        for (long j = 0; j < m.cols(); ++j) row.push_back(tidy(m(i, j)));
        rows.push_back(std::move(row));
    }
    return rows;
}

void printMatrix(const std::string& title, const behavior::Matrix& m) {
    std::cout << title << " [" << m.rows() << " x " << m.cols() << "]\n";
    for (long i = 0; i < m.rows(); ++i) {
        for (long j = 0; j < m.cols(); ++j) {
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%s%.6g", j ? " " : "  ", double(m(i, j)));
            std::cout << buffer;
        }
        std::cout << "\n";
    }
}

void run(const Options& o) {
    if (!o.write_paper_dir.empty()) {
        behavior::writePaperModelFits(o.write_paper_dir);
        std::cerr << "imc: wrote the paper's model (example gain-cell coefficients) to " << o.write_paper_dir << "\n";
        if (o.q_path.empty() && o.k_path.empty() && o.v_path.empty()) return;
    }
    if (o.fits_dir.empty() || o.q_path.empty() || o.k_path.empty() || o.v_path.empty())
        throw imc::cli::UsageError("--fits, --q, --k and --v are required");

    const behavior::GainCellModel model = behavior::GainCellModel::load(o.fits_dir);
    const behavior::Matrix q = readMatrix(o.q_path), k = readMatrix(o.k_path), v = readMatrix(o.v_path);
    if (k.rows() != v.rows() || k.cols() != v.cols())
        throw std::runtime_error(o.k_path + " is " + std::to_string(k.rows()) + " x " + std::to_string(k.cols()) +
                                 " but " + o.v_path + " is " + std::to_string(v.rows()) + " x " + std::to_string(v.cols()));
    if (q.cols() != k.cols())
        throw std::runtime_error(o.q_path + " has " + std::to_string(q.cols()) + " columns but " + o.k_path + " has " +
                                 std::to_string(k.cols()));
    if (q.rows() > k.rows())
        throw std::runtime_error(o.q_path + " has more rows (queries) than " + o.k_path + " (keys)");

    behavior::AttentionOptions options;
    options.model = o.model == "nonlinear" ? behavior::ArrayModel::Nonlinear : behavior::ArrayModel::Linear;
    options.window = o.window;
    options.layers = o.layers;
    options.decay = !o.no_decay;
    options.quantize_inputs = options.quantize_output = !o.no_quantize;
    options.pulse_full_scale = o.pulse_full_scale;
    options.linear = behavior::cellLinearization(model);
    if (o.linear_gain > 0) options.linear.gain = o.linear_gain;
    behavior::Variability variability;
    variability.enabled = o.variability;
    variability.seed = o.seed;
    variability.read_index = o.read_index;

    behavior::Matrix A(q.rows(), q.cols());
    behavior::HeadTrace trace;
    behavior::gainCellAttentionForward(model, options, variability, {o.layer, o.head}, q, k, v, A, &trace);

    if (o.json) {
        nlohmann::ordered_json result;
        result["S"] = toJson(trace.S);
        result["phi"] = toJson(trace.phi);
        result["A"] = toJson(A);
        std::cout << result.dump() << "\n";
    } else {
        std::cout << "gain-cell attention, " << o.model << " model, " << q.rows() << " queries, " << k.rows()
                  << " keys, window " << (o.window == 0 ? std::string("whole prefix") : std::to_string(o.window))
                  << ", decay " << (options.decay ? model.decayPerStep(o.layers) : 0.0) << " per step\n";
        printMatrix("S (first-array charge; 0 outside the window)", trace.S);
        printMatrix("phi (pulse, fraction of T_max)", trace.phi);
        printMatrix("A (sum over tiles of the quantized signed readout)", A);
    }
}

const imc::cli::CommandRegistration registration{
    "gaincell-attention",
    "One head's array step of the behavioral gain-cell attention (paper 002) on Q, K, V CSV matrices",
    [](CLI::App& app) {
        auto o = std::make_shared<Options>();
        app.add_option("--fits", o->fits_dir, "Directory of fits files (gaincell-array, c2p-relu, c2p-signed, ...)");
        app.add_option("--q", o->q_path, "Queries, T_q x D CSV (pulse widths, fraction of T_max)");
        app.add_option("--k", o->k_path, "Keys, T x D CSV (stored voltages, V)");
        app.add_option("--v", o->v_path, "Values, T x D CSV (stored voltages, V)");
        app.add_option("--model", o->model, "Array model")->check(CLI::IsMember({"linear", "nonlinear"}));
        app.add_option("--window", o->window, "Sliding window M in tokens (0: the whole prefix)")->check(CLI::NonNegativeNumber);
        app.add_option("--layers", o->layers, "Layers L in Delta_t = L * delta_t (decay per step)")->check(CLI::PositiveNumber);
        app.add_flag("--no-decay", o->no_decay, "Ignore the retention fit");
        app.add_flag("--no-quantize", o->no_quantize, "Skip the input and output quantizers");
        app.add_option("--pulse-full-scale", o->pulse_full_scale,
                       "A full-length pulse in the polynomial's Q unit (0: the fits' pulse_full_scale_ns, else 1)")
            ->capture_default_str();
        app.add_option("--linear-gain", o->linear_gain,
                       "Linear model's gain (0: the cell's linearization D_1 x full pulse; 1: the bare Q K^T)")
            ->capture_default_str();
        app.add_flag("--variability", o->variability, "Draw device-to-device spread and readout noise from the fits");
        app.add_option("--seed", o->seed, "Seed of the variability draws");
        app.add_option("--layer", o->layer, "Layer index of the head (keys the draws)");
        app.add_option("--head", o->head, "Head index (keys the draws)");
        app.add_option("--read-index", o->read_index, "Read number (keys the readout noise)");
        app.add_option("--write-paper-fits", o->write_paper_dir,
                       "Write the paper's model as fits files into this directory (example gain-cell coefficients)");
        app.add_flag("--json", o->json, "Print {\"S\": [[...]], \"phi\": [[...]], \"A\": [[...]]}");
        app.callback([o] { run(*o); });
    }};

}  // namespace
