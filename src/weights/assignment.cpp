#include "fromscratch/weights/assignment.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "fromscratch/core/errors.hpp"

namespace fromscratch::weights {

std::vector<int> solve_min_cost_assignment(const double* cost, size_t n, size_t m) {
  if (n > m) throw UsageError("assignment: " + std::to_string(n) + " rows exceed " + std::to_string(m) + " columns");
  for (size_t i = 0; i < n * m; ++i)
    if (!std::isfinite(cost[i])) throw UsageError("assignment: non-finite cost at entry " + std::to_string(i));
  if (n == 0) return {};
  // 1-based arrays as in the classical formulation: u, v potentials; p[j] row matched to column j; way[j]
  // the previous column on the shortest path.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), minv(m + 1);
  std::vector<size_t> p(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  // Warm start (as Jonker-Volgenant's row reduction): u_i = min_j c_ij, v = 0 is dual feasible, and every row
  // whose cheapest column nobody else took yet is matched along a tight edge. On the similarity matrices met
  // here (derived pairs: one clear best column per row) this matches most rows before any augmenting path.
  std::vector<char> row_done(n + 1, 0);
  for (size_t i = 1; i <= n; ++i) {
    const double* row = cost + (i - 1) * m;
    size_t best = 0;
    double bv = inf;
    for (size_t j = 1; j <= m; ++j)
      if (row[j - 1] < bv) {
        bv = row[j - 1];
        best = j;
      }
    u[i] = bv;
    if (best != 0 && p[best] == 0) {
      p[best] = i;
      row_done[i] = 1;
    }
  }
  for (size_t i = 1; i <= n; ++i) {
    if (row_done[i]) continue;
    p[0] = i;
    size_t j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const size_t i0 = p[j0];
      const double* row = cost + (i0 - 1) * m;
      const double ui0 = u[i0];
      double delta = inf;
      size_t j1 = 0;
      for (size_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        double cur = row[j - 1] - ui0 - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (size_t j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      size_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> result(n, -1);
  for (size_t j = 1; j <= m; ++j)
    if (p[j] != 0) result[p[j] - 1] = int(j - 1);
  return result;
}

std::vector<int> max_similarity_assignment(const Eigen::MatrixXd& sim) {
  const size_t n = size_t(sim.rows()), m = size_t(sim.cols());
  if (n <= m) {
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c = -sim;
    return solve_min_cost_assignment(c.data(), n, m);
  }
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c = -sim.transpose();
  std::vector<int> col_to_row = solve_min_cost_assignment(c.data(), m, n);
  std::vector<int> result(n, -1);
  for (size_t j = 0; j < m; ++j) result[size_t(col_to_row[j])] = int(j);
  return result;
}

double assignment_value(const Eigen::MatrixXd& sim, const std::vector<int>& match) {
  double s = 0;
  for (size_t i = 0; i < match.size(); ++i)
    if (match[i] >= 0) s += sim(Eigen::Index(i), match[i]);
  return s;
}

}  // namespace fromscratch::weights
