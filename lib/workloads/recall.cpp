// Needed-key recall: how often the key a query needs lands in the query's bucket, per round and
// for the union of rounds, and how correlated the rounds' hits are.
#include "workloads/lsh.hpp"

#include <cmath>
#include <stdexcept>

namespace imc::lsh {

NeededKeyRecall::NeededKeyRecall(int roundCount)
    : rounds(roundCount), unionHits(roundCount, 0), roundHits(roundCount, 0),
      jointHits(std::size_t(roundCount) * roundCount, 0) {
    if (roundCount < 1) throw std::invalid_argument("needed-key recall: rounds must be >= 1");
}

void NeededKeyRecall::add(const std::vector<std::vector<int>>& bucketsPerRound, const std::vector<int>& neededKey) {
    if (int(bucketsPerRound.size()) < rounds)
        throw std::invalid_argument("needed-key recall: " + std::to_string(bucketsPerRound.size()) +
                                    " rounds of buckets, expected " + std::to_string(rounds));
    std::vector<char> hit(rounds);
    for (std::size_t i = 0; i < neededKey.size(); ++i) {
        const int j = neededKey[i];
        if (j < 0) continue;
        ++queries;
        bool any = false;
        for (int r = 0; r < rounds; ++r) {
            hit[r] = bucketsPerRound[r].at(i) == bucketsPerRound[r].at(std::size_t(j));
            roundHits[r] += hit[r];
            any = any || hit[r];
            unionHits[r] += any;
        }
        for (int r = 0; r < rounds; ++r)
            for (int s = 0; s < rounds; ++s) jointHits[std::size_t(r) * rounds + s] += hit[r] && hit[s];
    }
}

double NeededKeyRecall::recall(int roundCount) const {
    if (roundCount < 1 || roundCount > rounds) throw std::out_of_range("needed-key recall: round count out of range");
    return queries ? double(unionHits[roundCount - 1]) / double(queries) : 0.0;
}

double NeededKeyRecall::roundRecall(int round) const {
    return queries ? double(roundHits.at(round)) / double(queries) : 0.0;
}

double NeededKeyRecall::roundCorrelation() const {
    double sum = 0;
    int pairs = 0;
    const double n = double(queries);
    for (int r = 0; r < rounds; ++r)
        for (int s = r + 1; s < rounds; ++s) {
            const double a = double(roundHits[r]), b = double(roundHits[s]);
            const double both = double(jointHits[std::size_t(r) * rounds + s]);
            const double denominator = std::sqrt(a * (n - a) * b * (n - b));
            if (denominator > 0) {
                sum += (both * n - a * b) / denominator;
                ++pairs;
            }
        }
    return pairs ? sum / pairs : 0.0;
}

}  // namespace imc::lsh
