// fromscratch: was a large language model trained from scratch, or derived from another model?
//
// Dispatches to the registered subcommands (src/cli/cmd_*.cpp), owns the MPI environment and maps errors
// to exit codes: 0 ok, 1 failure, 2 usage.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/version.hpp"

namespace fromscratch::cli {

namespace {
std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> r;
  return r;
}
std::ofstream& null_stream() {
  static std::ofstream s;  // never opened: writes are discarded
  return s;
}
}  // namespace

bool register_command(CommandInfo info) {
  registry().push_back(std::move(info));
  return true;
}

const std::vector<CommandInfo>& commands() {
  auto& r = registry();
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return r;
}

Context::Context(dist::Comm& comm) : comm_(comm) {}
std::ostream& Context::out() { return is_root() ? std::cout : null_stream(); }
std::ostream& Context::err() { return is_root() ? std::cerr : null_stream(); }

bool parse_command_line(Context& ctx, const std::string& command, const std::string& usage_line,
                        po::options_description& options, const po::positional_options_description& positional,
                        const Args& args, po::variables_map& vm) {
  options.add_options()("help,h", "show this help and exit");
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      ctx.out() << "usage: fromscratch " << command << " " << usage_line << "\n\n" << options << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(str(command, ": ", e.what(), " (see fromscratch ", command, " --help)"));
  }
  return true;
}

void check_writable(const std::string& path, bool force) {
  if (!force && std::filesystem::exists(path))
    throw UsageError(str(path, " exists; pass --force to overwrite it"));
}

unsigned resolve_threads(int requested) {
  if (requested < 0 || requested > 1024)
    throw UsageError(str("--threads = ", requested, " is out of range (limit: 0..1024, 0 = all cores)"));
  if (requested == 0) return std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(requested);
}

static void print_usage(std::ostream& os) {
  os << "fromscratch " << tool_version() << " (" << tool_git_sha() << ")\n"
     << "Was a large language model trained from scratch, or derived from another model?\n\n"
     << "usage: fromscratch <command> [options]    (fromscratch <command> --help for details)\n\n"
     << "commands:\n";
  for (const auto& c : commands()) {
    os << "  " << c.name;
    for (size_t i = c.name.size(); i < 12; ++i) os << ' ';
    os << c.summary << "\n";
  }
  os << "\nexit codes: 0 ok, 1 failure, 2 usage error. Run under mpiexec/srun to spread work over ranks.\n";
}

static int dispatch(Context& ctx, int argc, char** argv) {
  if (argc < 2) {
    print_usage(ctx.err());
    return kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(ctx.out());
    return kExitOk;
  }
  if (name == "--version" || name == "version") {
    ctx.out() << "fromscratch " << tool_version() << " (" << tool_git_sha() << ")\n";
    return kExitOk;
  }
  for (const auto& c : commands()) {
    if (c.name == name) {
      Args args(argv + 2, argv + argc);
      return c.run(ctx, args);
    }
  }
  ctx.err() << "fromscratch: unknown command '" << quote_untrusted(name) << "'\n\n";
  print_usage(ctx.err());
  return kExitUsage;
}

}  // namespace fromscratch::cli

int main(int argc, char** argv) {
  using namespace fromscratch;
  dist::Environment env(argc, argv);
  auto& comm = dist::Comm::world();
  cli::Context ctx(comm);
  int rc = cli::kExitOk;
  std::string message;
  try {
    rc = cli::dispatch(ctx, argc, argv);
  } catch (const cli::SilentFailure&) {
    rc = cli::kExitFailure;  // rank 0 reports it
  } catch (const UsageError& e) {
    rc = cli::kExitUsage;
    message = e.what();
  } catch (const std::exception& e) {
    rc = cli::kExitFailure;
    message = e.what();
  }
  // Only rank 0 prints. Commands run their rank-local steps through run_collectively(), which carries every
  // rank's failure to rank 0; an error thrown identically on all ranks (bad option, unreadable input) is
  // printed once.
  if (!message.empty() && comm.is_root()) std::cerr << "fromscratch: error: " << message << "\n";
  return rc;
}
