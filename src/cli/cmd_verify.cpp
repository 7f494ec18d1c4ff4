// fromscratch verify CANDIDATE --against A [B ...] --out DIR: every channel the inputs allow, one report.
//
// The channels run on rank 0 (each is seconds to minutes on one node; the weight tests use --threads); other
// ranks of an mpiexec/srun launch wait and exit with rank 0's status, so a job file runs unchanged at any
// rank count. The output folder is written next to DIR under a temporary name and renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>

#include "collective.hpp"
#include "behave_verbs.hpp"
#include "matched_draws.hpp"
#include "command.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/report/qa_record.hpp"
#include "fromscratch/report/render.hpp"
#include "fromscratch/report/verify.hpp"
#include "verify_output.hpp"

namespace fromscratch::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

void check_verify_out_dir(const std::string& dir, bool force) {
  std::error_code ec;
  if (dir.empty()) throw UsageError("verify: --out DIR is required");
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw UsageError("verify: --out " + dir + " exists and is not a folder");
  if (fs::is_empty(dir, ec) || force) return;
  throw UsageError("verify: " + dir + " exists and is not empty (an earlier report?); use --force to replace it");
}

namespace {

void write_text(const fs::path& p, const std::string& s) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw IoError(p.string(), "open", errno);
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw IoError(p.string(), "write", e);
    }
    off += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw IoError(p.string(), "close", errno);
}

std::string temp_sibling(const fs::path& target, const char* what) {
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  std::string tmpl = (parent / ("." + target.filename().string() + "." + what + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw IoError(tmpl, "mkdtemp (is the output folder's parent writable?)", errno);
  return std::string(buf.data());
}

}  // namespace

json write_verify_outputs(const std::string& dir_in, const json& results, bool force, const std::vector<std::string>& argv,
                          int ranks, std::vector<std::string>* notes) {
  fs::path dir = fs::path(dir_in).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  check_verify_out_dir(dir.string(), force);
  std::error_code ec;
  if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path(), ec);
  if (ec) throw IoError(dir.parent_path().string(), "create_directories: " + ec.message());
  std::string tmp = temp_sibling(dir, "tmp");
  json summary;
  try {
    report::Gnuplot gp;
    auto figs = report::make_figures(results, gp);
    if (notes) {
      if (!gp.available()) notes->push_back("gnuplot not found: the report has no figures (install gnuplot-nox)");
      for (const auto& f : figs)
        if (f.svg.empty()) notes->push_back(f.title + ": " + f.note);
    }
    summary = report::summary_json(results);
    write_text(fs::path(tmp) / "report.md", report::render_markdown(results, figs));
    write_text(fs::path(tmp) / "report.html", report::render_html(results, figs));
    write_text(fs::path(tmp) / "summary.json", summary.dump(2) + "\n");
    {
      io::H5File f = io::H5File::create((fs::path(tmp) / "results.h5").string(), false);
      f.write_json("/", results);
      f.write_provenance(argv, ranks);
    }
    // Replace: an existing (empty, or --force) folder moves aside first, then the new one takes its name.
    std::string old;
    if (fs::exists(dir, ec)) {
      old = temp_sibling(dir, "old");
      fs::remove(old, ec);
      if (::rename(dir.c_str(), old.c_str()) != 0) throw IoError(dir.string(), "rename", errno);
    }
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      int e = errno;
      if (!old.empty()) (void)::rename(old.c_str(), dir.c_str());
      throw IoError(dir.string(), "rename", e);
    }
    if (!old.empty()) fs::remove_all(old, ec);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return summary;
}

namespace {

std::string qa_answer(const json& results, const json& summary, const std::string& dir, report::QaLang lang) {
  const bool ko = lang == report::QaLang::kKo;
  std::ostringstream os;
  const auto& v = results["verdict"];
  auto gloss = [&](const std::string& verdict) -> std::string {
    if (!ko) return verdict;
    if (verdict == "derived") return "derived (파생)";
    if (verdict == "independent") return "independent (독립)";
    return verdict + " (판단 불가)";
  };
  os << (ko ? "**판정**: " : "**Verdict**: ") << gloss(v.value("overall", "")) << ". " << v.value("reason", "") << "\n\n";
  for (const auto& p : summary["pairs"]) {
    os << "- " << (ko ? "기준 모델 " : "against ") << p.value("reference", "") << ": " << gloss(p.value("verdict", ""));
    if (p.contains("strongest_evidence")) {
      const auto& s = p["strongest_evidence"];
      std::ostringstream n;
      n << std::setprecision(4) << s.value("effect", 0.0);
      std::ostringstream lp;
      lp << std::setprecision(4) << s.value("log10_p_adjusted", 0.0);
      os << (ko ? " (가장 강한 검정: " : " (strongest test: ") << s.value("test", "") << " " << s.value("scope", "") << ", "
         << s.value("effect_name", "") << " = " << n.str() << ", log10 p (Holm) = " << lp.str() << ")";
    }
    const auto& t = p["channels"]["tokenizer"];
    if (t.value("status", "") == "run")
      os << (ko ? "; 토크나이저: " : "; tokenizer: ") << t.value("verdict", "")
         << (ko ? " (토크나이저 재사용은 가중치 재사용이 아님)" : " (tokenizer reuse is not weight reuse)");
    os << "\n";
  }
  std::string cmd;
  for (const auto& a : results["command"]) {
    std::string s = a.get<std::string>();
    bool plain = !s.empty() && s.find_first_of(" \t'\"$`\\|&;<>()*?[]#~") == std::string::npos;
    cmd += (cmd.empty() ? "" : " ") + (plain ? s : "'" + s + "'");
  }
  os << "\n" << (ko ? "**보고서**: `" : "**Report**: `") << dir << "/report.html`\n\n"
     << (ko ? "**재현 명령**: `" : "**Reproduce**: `") << cmd << "`\n";
  return os.str();
}

// --job FILE: {"command": "verify", "args": [...]} (jobs/README.md); its args come first, the command line's after.
Args job_args(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path, "open", errno);
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw FormatError(Problem{path, "", "", "", "", str("malformed JSON: ", e.what())}, "job");
  }
  if (!j.is_object() || j.value("command", "") != "verify")
    throw UsageError(str("verify --job ", path, ": the job's \"command\" must be \"verify\""));
  if (!j.contains("args") || !j["args"].is_array())
    throw UsageError(str("verify --job ", path, ": \"args\" must be a list of strings"));
  Args out;
  for (const auto& a : j["args"]) {
    if (!a.is_string()) throw UsageError(str("verify --job ", path, ": \"args\" must be a list of strings"));
    out.push_back(a.get<std::string>());
  }
  for (const auto& a : out)
    if (a == "--job") throw UsageError(str("verify --job ", path, ": a job cannot name another job"));
  return out;
}

void add_verify_options(po::options_description& opts) {
  opts.add_options()
    ("candidate", po::value<std::string>(), "the model under question (folder with config.json / tokenizer / safetensors)")
    ("against", po::value<std::vector<std::string>>()->multitoken(), "reference models (one or more)")
    ("out", po::value<std::string>(), "output folder: report.html, report.md, summary.json, results.h5")
    ("job", po::value<std::string>(), "a job file {\"command\": \"verify\", \"args\": [...]} (jobs/README.md)")
    ("tokens", po::value<double>(), "training tokens claimed for the candidate (runs the compute channel)")
    ("gpu", po::value<std::string>()->default_value("h100"), "GPU of the compute estimate")
    ("mfu", po::value<double>()->default_value(0.4), "model FLOPs utilisation of the compute estimate")
    ("force", "replace an existing, non-empty --out folder")
    ("json", "print summary.json to stdout")
    ("qa", po::value<std::string>(), "append the findings to this Q&A record (Markdown, above its TUTORIAL_MARKER line)")
    ("lang", po::value<std::string>()->default_value("ko"), "language of the Q&A entry: ko or en")
    ("seed", po::value<uint64_t>()->default_value(20260101), "seed of every null draw and subsample")
    ("null-draws", po::value<uint64_t>()->default_value(200), "joint permutations of the same-basis weight tests")
    ("matched-draws", po::value<uint64_t>()->default_value(39), "decoupled draws of the matched weight tests")
    ("matched-draws-max", po::value<uint64_t>()->default_value(1999), kMatchedDrawsMaxHelp)
    ("matched-budget", po::value<double>()->default_value(2e10, "2e10"), kMatchedBudgetHelp)
    ("alpha", po::value<double>()->default_value(0.01), "family-wise level of the weight verdict")
    ("threads", po::value<int>()->default_value(0), "worker threads (0 = all cores)")
    ("serve", po::value<std::vector<std::string>>(), "LABEL=URL#MODEL: where an input (by its label, the folder name) is "
                                                       "served over the OpenAI-compatible API (runs the behaviour channel)")
    ("behave-reference", po::value<std::vector<std::string>>(), "URL#MODEL of a served model unrelated to the others (give >= 2)")
    ("behave-prompts", po::value<unsigned>()->default_value(200), "prompts of the behaviour channel")
    ("behave-tokens", po::value<int>()->default_value(32), "greedy tokens per continuation in the behaviour channel")
    ("quiet", "no progress messages");
}

}  // namespace

int run_verify_command(Context& ctx, const Args& args_in) {
  po::options_description opts("verify options");
  add_verify_options(opts);
  po::positional_options_description pos;
  pos.add("candidate", 1);
  po::variables_map vm;
  const std::string usage = "CANDIDATE --against A [B ...] --out DIR [--tokens N] [--force] [--json] [--qa FILE]\n"
                            "       fromscratch verify --job jobs/X.json --out DIR";
  if (!parse_command_line(ctx, "verify", usage, opts, pos, args_in, vm)) return kExitOk;
  Args args = args_in;
  if (vm.count("job")) {
    Args merged = job_args(vm["job"].as<std::string>());
    for (size_t i = 0; i < args_in.size(); ++i) {
      if (args_in[i] == "--job") {
        ++i;
        continue;
      }
      if (args_in[i].rfind("--job=", 0) == 0) continue;
      merged.push_back(args_in[i]);
    }
    args = merged;
    vm = po::variables_map();
    po::options_description again("verify options");
    add_verify_options(again);
    if (!parse_command_line(ctx, "verify", usage, again, pos, args, vm)) return kExitOk;
  }
  if (!vm.count("candidate")) throw UsageError("verify: give the candidate model (fromscratch verify CANDIDATE --against A ...)");
  if (!vm.count("against")) throw UsageError("verify: give at least one reference (--against A [B ...])");
  if (!vm.count("out")) throw UsageError("verify: --out DIR is required");
  const std::string out = vm["out"].as<std::string>();
  const bool force = vm.count("force") > 0;
  report::QaLang lang = report::parse_qa_lang(vm["lang"].as<std::string>());

  report::VerifyOptions o;
  o.read_fingerprint = [](const std::string& path) { return io::read_fingerprint(path); };
  if (vm.count("serve"))
    for (const auto& kv : vm["serve"].as<std::vector<std::string>>()) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
        throw UsageError("--serve '" + kv + "': expected LABEL=URL#MODEL (LABEL is the input's folder name)");
      o.served[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  if (vm.count("behave-reference")) o.behave_references = vm["behave-reference"].as<std::vector<std::string>>();
  {
    const unsigned bprompts = vm["behave-prompts"].as<unsigned>();
    const int btokens = vm["behave-tokens"].as<int>();
    if (bprompts < 1 || bprompts > 100000) throw UsageError("--behave-prompts must be in 1..100000");
    if (btokens < 1 || btokens > 512) throw UsageError("--behave-tokens must be in 1..512");
    const uint64_t bseed = vm["seed"].as<uint64_t>();
    o.behave_compare = [&ctx, bprompts, btokens, bseed](const std::string& a, const std::string& b,
                                                       const std::vector<std::string>& refs) {
      return behave_compare_served(ctx, a, b, refs, bprompts, btokens, bseed);
    };
  }
  o.open_remote = [](const std::string& ref) {
    remote::Model m = remote::open_model(ref);
    report::OpenedModel om;
    om.source = m.is_hub() ? m.checkpoint.source : ref;
    om.folder = m.folder;
    om.keep_alive = m.session;
    om.checkpoint = std::move(m.checkpoint);
    return om;
  };
  o.candidate = {report::default_label(vm["candidate"].as<std::string>()), vm["candidate"].as<std::string>()};
  for (const auto& r : vm["against"].as<std::vector<std::string>>()) o.references.push_back({report::default_label(r), r});
  if (vm.count("tokens")) {
    o.compute.tokens = vm["tokens"].as<double>();
    if (!(o.compute.tokens > 0)) throw UsageError("verify: --tokens must be positive");
  }
  o.compute.gpu = vm["gpu"].as<std::string>();
  o.compute.mfu = vm["mfu"].as<double>();
  o.weights.seed = vm["seed"].as<uint64_t>();
  auto in_range = [&](const char* name, uint64_t lo, uint64_t hi) {
    uint64_t v = vm[name].as<uint64_t>();
    if (v < lo || v > hi) throw UsageError(str("verify: --", name, " = ", v, " outside [", lo, ", ", hi, "]"));
    return v;
  };
  o.weights.null_draws = in_range("null-draws", 19, 100000);
  o.weights.matched_null_draws = in_range("matched-draws", 9, 10000);
  apply_matched_draws_max(vm, "verify", o.weights);
  o.weights.alpha = vm["alpha"].as<double>();
  if (!(o.weights.alpha > 0 && o.weights.alpha < 1)) throw UsageError("verify: --alpha must lie in (0, 1)");
  o.weights.threads = resolve_threads(vm["threads"].as<int>());
  o.command = {"fromscratch", "verify"};
  o.command.insert(o.command.end(), args.begin(), args.end());
  const bool quiet = vm.count("quiet") > 0;
  auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    if (quiet) return;
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.err() << "[" << std::fixed << std::setprecision(1) << t << " s] " << s << "\n" << std::defaultfloat;
  };
  o.progress = say;
  o.weights.progress = nullptr;

  json summary, results;
  std::vector<std::string> notes;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    check_verify_out_dir(out, force);  // before any work: a usage error costs nothing
    results = report::run_verify(o);
    say("writing the report");
    summary = write_verify_outputs(out, results, force, o.command, ctx.comm().size(), &notes);
    if (vm.count("qa")) {
      report::QaEntry e;
      std::vector<std::string> refs;
      for (const auto& r : o.references) refs.push_back(r.label);
      e.question = report::derivation_question(o.candidate.label, refs, lang);
      e.date = report::today_iso_date();
      e.answer_markdown = qa_answer(results, summary, out, lang);
      auto r = report::append_qa_entry_to_file(vm["qa"].as<std::string>(), e, lang);
      notes.push_back(str("Q&A record: entry Q", r.number, " appended to ", vm["qa"].as<std::string>()));
    }
  });
  if (ctx.is_root()) {
    for (const auto& n : notes) ctx.err() << "note: " << n << "\n";
    if (vm.count("json")) {
      ctx.out() << summary.dump(2) << "\n";
    } else {
      ctx.out() << report::verdict_text(results);
      ctx.out() << "report: " << (fs::path(out) / "report.html").string() << " (also report.md, summary.json, results.h5)\n";
    }
  }
  return kExitOk;
}

FROMSCRATCH_COMMAND("verify",
                    "was CANDIDATE trained from scratch or derived from A, B...? every channel, one report with figures",
                    run_verify_command);

}  // namespace fromscratch::cli
