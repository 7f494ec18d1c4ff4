// Linear assignment: the permutation-invariant matching of experts, heads, neurons, layers and hidden
// dimensions. Shortest augmenting paths with dual potentials (Kuhn-Munkres in the Jonker-Volgenant form),
// exact, O(n^2 m) worst case and far less on the dense similarity matrices met here; rectangular problems
// (width and depth pruning) assign every row of the smaller side.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <vector>

namespace fromscratch::weights {

// Rows n <= columns m of a row-major cost matrix: each row gets a distinct column, total cost minimal.
// Returns the column of each row. Costs must be finite (NaN/Inf are a UsageError).
std::vector<int> solve_min_cost_assignment(const double* cost, size_t n, size_t m);

// Maximum-similarity matching of the rows of `sim` (n x m, any n, m): result[i] = matched column of row i,
// or -1 for rows left unmatched when n > m.
std::vector<int> max_similarity_assignment(const Eigen::MatrixXd& sim);

// Sum of sim(i, match[i]) over matched rows.
double assignment_value(const Eigen::MatrixXd& sim, const std::vector<int>& match);

}  // namespace fromscratch::weights
