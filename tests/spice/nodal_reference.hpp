#pragma once
// An independent nodal solve of a resistive crossbar (Eigen sparse LU), written from the circuit
// description, not from the netlist text: the reference the SPICE results are checked against.
#include <Eigen/Sparse>
#include <Eigen/SparseLU>

#include <stdexcept>

struct CrossbarSolution {
    Eigen::MatrixXd rowNode_V, colNode_V;  // rows x cols
    Eigen::VectorXd columnCurrent_A;       // into each grounded column end
};

inline CrossbarSolution solveCrossbarNodal(const Eigen::MatrixXd& G, const Eigen::VectorXd& vRow, double rWire) {
    const int R = int(G.rows()), C = int(G.cols());
    const double gw = 1.0 / rWire;
    auto rIdx = [&](int i, int j) { return i * C + j; };
    auto cIdx = [&](int i, int j) { return R * C + i * C + j; };
    const int n = 2 * R * C;
    std::vector<Eigen::Triplet<double>> t;
    Eigen::VectorXd b = Eigen::VectorXd::Zero(n);
    auto stamp = [&](int a, int bnode, double g) {  // conductance between two unknown nodes
        t.emplace_back(a, a, g), t.emplace_back(bnode, bnode, g), t.emplace_back(a, bnode, -g), t.emplace_back(bnode, a, -g);
    };
    for (int i = 0; i < R; ++i) {
        t.emplace_back(rIdx(i, 0), rIdx(i, 0), gw);  // wire from the driver (known voltage)
        b[rIdx(i, 0)] += gw * vRow[i];
        for (int j = 1; j < C; ++j) stamp(rIdx(i, j - 1), rIdx(i, j), gw);
    }
    for (int j = 0; j < C; ++j) {
        for (int i = 1; i < R; ++i) stamp(cIdx(i - 1, j), cIdx(i, j), gw);
        t.emplace_back(cIdx(R - 1, j), cIdx(R - 1, j), gw);  // wire to the grounded sense end
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) stamp(rIdx(i, j), cIdx(i, j), G(i, j));
    Eigen::SparseMatrix<double> A(n, n);
    A.setFromTriplets(t.begin(), t.end());
    Eigen::SparseLU<Eigen::SparseMatrix<double>> lu;
    lu.compute(A);
    if (lu.info() != Eigen::Success) throw std::runtime_error("nodal reference: factorization failed");
    Eigen::VectorXd x = lu.solve(b);
    CrossbarSolution s;
    s.rowNode_V.resize(R, C), s.colNode_V.resize(R, C), s.columnCurrent_A.resize(C);
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) s.rowNode_V(i, j) = x[rIdx(i, j)], s.colNode_V(i, j) = x[cIdx(i, j)];
    for (int j = 0; j < C; ++j) s.columnCurrent_A[j] = x[cIdx(R - 1, j)] * gw;
    return s;
}
