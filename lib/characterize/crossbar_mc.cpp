#include "characterize/crossbar_mc.hpp"

#include "circuits/crossbar.hpp"

#include <cmath>
#include <memory>

namespace imc::characterize {

CrossbarMcSweep crossbarMonteCarloSweep(const CrossbarMcSpec& s) {
    if (s.size < 1 || s.samples < 1) throw std::invalid_argument("crossbar Monte-Carlo: size and samples must be >= 1");
    CrossbarMcSweep sweep;
    auto ideal = std::make_shared<std::vector<Eigen::VectorXd>>();
    auto logMean = std::make_shared<std::vector<double>>();
    const int n = s.size;
    for (int sample = 0; sample < s.samples; ++sample) {
        circuits::CrossbarSpec spec;
        spec.rows = spec.cols = n;
        spec.wireResistance_Ohm = s.wireResistance_Ohm;
        spec.cellConductance_S.resize(n, n);
        spec.rowVoltage_V.resize(n);
        double sumLog = 0;
        for (int i = 0; i < n; ++i) {
            spec.rowVoltage_V[i] = (i % 3 == 0) ? s.inputHigh_V : 0.0;
            for (int j = 0; j < n; ++j) {
                const double g = variability::drawDeviceToDevice(s.cell, s.seed, std::uint64_t(sample), std::uint64_t(i * n + j));
                spec.cellConductance_S(i, j) = g;
                sumLog += variability::log(g);
            }
        }
        // The ideal product in plain loops (no Eigen kernel): its summation order and rounding
        // must not depend on the vector width, so a portable build writes the same results.csv.
        Eigen::VectorXd product(n);
        for (int j = 0; j < n; ++j) {
            double sum = 0;
            for (int i = 0; i < n; ++i) sum += spec.cellConductance_S(i, j) * spec.rowVoltage_V[i];
            product[j] = sum;
        }
        ideal->push_back(std::move(product));
        logMean->push_back(sumLog / double(n * n));
        PlannedJob job;
        job.sim.id = "crossbar" + std::to_string(n) + "x" + std::to_string(n) + "_s" + std::to_string(sample);
        // The deck text (n^2 cells, 2n^2 wires) is most of the cost: built by the rank that needs it.
        job.makeDeck = [cells = std::make_shared<const circuits::CrossbarSpec>(std::move(spec))] {
            return netlist::writeDeck(circuits::buildResistiveCrossbar(*cells));
        };
        for (int j = 0; j < n; ++j) job.sim.vectors.push_back(circuits::columnCurrentVector(j));
        job.point = {{"sample", sample}};
        sweep.jobs.push_back(std::move(job));
    }
    sweep.columns = {"ir_drop_mean", "ir_drop_max", "column_current_sum_A", "log_g_mean"};
    sweep.measure = [ideal, logMean, n](const PlannedJob& job, const spice::SimResult& r) {
        const auto s = std::size_t(job.point[0].second);
        double worst = 0, mean = 0, total = 0;
        for (int j = 0; j < n; ++j) {
            const double i = r.vec(circuits::columnCurrentVector(j))[0];
            const double err = std::abs(i - (*ideal)[s][j]) / std::abs((*ideal)[s][j]);
            worst = std::max(worst, err), mean += err / n, total += i;
        }
        return std::vector<std::pair<std::string, double>>{
            {"ir_drop_mean", mean}, {"ir_drop_max", worst}, {"column_current_sum_A", total}, {"log_g_mean", (*logMean)[s]}};
    };
    return sweep;
}

}  // namespace imc::characterize
