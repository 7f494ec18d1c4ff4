#include "fromscratch/dist/comm.hpp"

#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "fromscratch/core/strings.hpp"

namespace fromscratch::dist {

namespace {
Comm g_world;
MPI_Comm g_mpi_world = MPI_COMM_NULL;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    g_world.abort(1, str(what, ": ", std::string(msg, len)));
  }
}
}  // namespace

Comm& Comm::world() { return g_world; }

bool Environment::launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(var)) return true;
  const char* force = std::getenv("FROMSCRATCH_FORCE_MPI");
  return force && std::string(force) == "1";
}

Environment::Environment(int& argc, char**& argv) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  g_world.host_ = host;
  if (!launched_by_mpi()) return;
  int provided = 0;
  // FUNNELED: worker threads never call MPI; only the main thread does.
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_mpi_world = MPI_COMM_WORLD;
  // Errors come back as codes so check() can name the call before aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size_);
  g_world.mpi_active_ = true;
}

Environment::~Environment() {
  if (g_world.mpi_active_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
}

std::vector<std::string> Comm::gather_to_root(const std::string& mine) const {
  if (!mpi_active_) return {mine};
  if (mine.size() > static_cast<size_t>(INT_MAX)) abort(1, "gather_to_root: blob over 2 GiB");
  int my_len = static_cast<int>(mine.size());
  std::vector<int> lens(is_root() ? size_ : 0);
  check(MPI_Gather(&my_len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, g_mpi_world), "MPI_Gather");
  std::vector<int> displs;
  std::string all;
  if (is_root()) {
    displs.resize(size_);
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = static_cast<int>(total);
      total += lens[r];
      if (total > INT_MAX) abort(1, "gather_to_root: gathered data over 2 GiB");
    }
    all.resize(static_cast<size_t>(total));
  }
  check(MPI_Gatherv(mine.data(), my_len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0,
                    g_mpi_world),
        "MPI_Gatherv");
  std::vector<std::string> out;
  if (is_root())
    for (int r = 0; r < size_; ++r) out.emplace_back(all.substr(displs[r], lens[r]));
  return out;
}

std::string Comm::broadcast_from_root(const std::string& from_root) const {
  if (!mpi_active_) return from_root;
  unsigned long long len = from_root.size();
  check(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, g_mpi_world), "MPI_Bcast");
  std::string s = is_root() ? from_root : std::string(len, '\0');
  if (len > static_cast<unsigned long long>(INT_MAX)) abort(1, "broadcast_from_root: over 2 GiB");
  check(MPI_Bcast(s.data(), static_cast<int>(len), MPI_CHAR, 0, g_mpi_world), "MPI_Bcast");
  return s;
}

bool Comm::any(bool mine) const {
  if (!mpi_active_) return mine;
  int in = mine ? 1 : 0, out = 0;
  check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, g_mpi_world), "MPI_Allreduce");
  return out != 0;
}

void Comm::allreduce_sum(std::vector<double>& values) const {
  if (!mpi_active_ || values.empty()) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM,
                      g_mpi_world),
        "MPI_Allreduce");
}

void Comm::allreduce_sum(std::vector<uint64_t>& values) const {
  if (!mpi_active_ || values.empty()) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_UINT64_T, MPI_SUM,
                      g_mpi_world),
        "MPI_Allreduce");
}

double Comm::allreduce_max(double mine) const {
  if (!mpi_active_) return mine;
  double out = mine;
  check(MPI_Allreduce(&mine, &out, 1, MPI_DOUBLE, MPI_MAX, g_mpi_world), "MPI_Allreduce");
  return out;
}

void Comm::barrier() const {
  if (mpi_active_) check(MPI_Barrier(g_mpi_world), "MPI_Barrier");
}

void Comm::abort(int exit_code, const std::string& why) const {
  std::fprintf(stderr, "fromscratch: abort on %s rank %d: %s\n", host_.c_str(), rank_, why.c_str());
  std::fflush(stderr);
  if (mpi_active_) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

const void* Comm::native_handle() const { return mpi_active_ ? &g_mpi_world : nullptr; }

}  // namespace fromscratch::dist
