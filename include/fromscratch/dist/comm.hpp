// The MPI layer. Nothing outside src/dist and src/io includes mpi.h; everything else sees this interface.
//
// Without mpiexec/srun the tool runs as one rank and never calls MPI_Init (no singleton start-up cost, no
// daemon): every collective below then degenerates to the obvious single-rank result.
//
// Error rule at the MPI boundary: a rank that fails catches its exception, and before the next collective
// all ranks agree on the outcome with any_failed(), so no rank waits forever in a collective that a failed
// rank never enters. abort() is for the unrecoverable case only and names host, rank and reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fromscratch::dist {

class Comm {
 public:
  // The world communicator; valid after Environment is constructed.
  static Comm& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool mpi_active() const { return mpi_active_; }
  const std::string& host() const { return host_; }

  // Collective over the world: every rank passes its blob; root receives all blobs in rank order,
  // other ranks receive an empty vector.
  std::vector<std::string> gather_to_root(const std::string& mine) const;
  // Collective over the world: root's string arrives on every rank.
  std::string broadcast_from_root(const std::string& from_root) const;
  // Collective over the world: true on every rank when at least one rank passed true.
  bool any(bool mine) const;
  // Collective over the world: element-wise sum over ranks, result on every rank.
  void allreduce_sum(std::vector<double>& values) const;
  void allreduce_sum(std::vector<uint64_t>& values) const;
  // Collective over the world: maximum over ranks, result on every rank.
  double allreduce_max(double mine) const;
  // Collective over the world.
  void barrier() const;
  // Ends every rank of the job. Prints "fromscratch: abort on HOST rank R: WHY" to stderr first.
  [[noreturn]] void abort(int exit_code, const std::string& why) const;

  // For the HDF5 layer only: the MPI_Comm, as an opaque pointer to it (nullptr when MPI is not active).
  const void* native_handle() const;

 private:
  friend class Environment;
  int rank_ = 0;
  int size_ = 1;
  bool mpi_active_ = false;
  std::string host_;
};

// RAII start/stop of MPI. Initialises MPI only when the process was started by an MPI launcher
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK set) or FROMSCRATCH_FORCE_MPI=1.
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  static bool launched_by_mpi();
};

}  // namespace fromscratch::dist
