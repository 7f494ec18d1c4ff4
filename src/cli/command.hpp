// How a subcommand plugs into the fromscratch executable.
//
// Each src/cli/cmd_<name>.cpp defines `int run_<name>(cli::Context&, const cli::Args&)` and registers it with
// FROMSCRATCH_COMMAND("name", "one-line summary", run_<name>). main.cpp knows no subcommand by name.
//
// Conventions every subcommand follows:
//   * --help prints usage and exits 0; bad options throw UsageError (exit 2); runtime failures exit 1.
//   * Only rank 0 writes to stdout/stderr (ctx.out(), ctx.err()); other ranks' streams are discarded.
//   * Results go to stdout (text, or JSON with --json); progress and timing go to stderr.
//   * An output file is never overwritten without --force (check_writable()).
#pragma once

#include <boost/program_options.hpp>
#include <iosfwd>
#include <string>
#include <vector>

#include "fromscratch/dist/comm.hpp"

namespace fromscratch::cli {

namespace po = boost::program_options;
using Args = std::vector<std::string>;

enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

class Context {
 public:
  explicit Context(dist::Comm& comm);
  dist::Comm& comm() { return comm_; }
  bool is_root() const { return comm_.is_root(); }
  std::ostream& out();  // stdout on rank 0, discarded elsewhere
  std::ostream& err();  // stderr on rank 0, discarded elsewhere

 private:
  dist::Comm& comm_;
};

using CommandFn = int (*)(Context&, const Args&);
struct CommandInfo {
  std::string name;
  std::string summary;
  CommandFn run;
};

bool register_command(CommandInfo info);
const std::vector<CommandInfo>& commands();

// Parses `args` against `options` (plus --help) and `positional`. Returns false when --help was given
// (usage already printed to ctx.out()). Throws UsageError on unknown/missing/malformed options.
bool parse_command_line(Context& ctx, const std::string& command, const std::string& usage_line,
                        po::options_description& options, const po::positional_options_description& positional,
                        const Args& args, po::variables_map& vm);

// Refuses to replace an existing file unless force is set (throws UsageError naming the file and --force).
void check_writable(const std::string& path, bool force);

// Worker threads: 0 means "all hardware threads"; validated to 1..1024.
unsigned resolve_threads(int requested);

}  // namespace fromscratch::cli

#define FROMSCRATCH_CONCAT_INNER(a, b) a##b
#define FROMSCRATCH_CONCAT(a, b) FROMSCRATCH_CONCAT_INNER(a, b)
#define FROMSCRATCH_COMMAND(name, summary, fn)                                    \
  static const bool FROMSCRATCH_CONCAT(fromscratch_registered_, __LINE__) =       \
      ::fromscratch::cli::register_command({name, summary, fn})
