// fromscratch tokenizer info|encode|compare|matrix: the tokenizer channel.
//
// The work is small (seconds) and runs on rank 0; other ranks of an MPI launch return at once.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/tokenizer/corpus.hpp"
#include "fromscratch/tokenizer/encoder.hpp"
#include "fromscratch/tokenizer/genealogy.hpp"
#include "fromscratch/tokenizer/metrics.hpp"
#include "fromscratch/tokenizer/report.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::cli {
namespace {

namespace tk = fromscratch::tokenizer;
using nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_array(std::ostream& os, const std::vector<uint32_t>& ids) {
  std::string line;
  line.reserve(ids.size() * 7 + 2);
  line.push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line.push_back(',');
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  os << line;
}

int run_encode(Context& ctx, const Args& args) {
  po::options_description opts("tokenizer encode options");
  opts.add_options()
    ("path", po::value<std::string>()->required(), "tokenizer directory or file (tokenizer.json, vocab.json)")
    ("jsonl", "read JSON lines with a \"text\" field from stdin; write one JSON array of ids per line")
    ("text", po::value<std::string>(), "encode this text instead of reading stdin")
    ("timing", "report load and encoding time (single thread, in-process) on stderr");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "tokenizer encode", "PATH [--jsonl | --text TEXT]   (ids without special tokens)", opts,
                          pos, args, vm))
    return kExitOk;
  if (!ctx.is_root()) return kExitOk;
  if (vm.count("jsonl") && vm.count("text")) throw UsageError("tokenizer encode: --jsonl and --text exclude each other");
  bool timing = vm.count("timing") > 0;
  auto t0 = std::chrono::steady_clock::now();
  tk::Tokenizer tok = tk::load_tokenizer(vm["path"].as<std::string>());
  double load_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  tk::Encoder encoder(tok);
  double pipeline_s = seconds_since(t0);
  std::vector<uint32_t> ids;
  std::ostream& out = ctx.out();
  double encode_s = 0;
  uint64_t bytes = 0, tokens = 0, texts = 0;
  auto timed_encode = [&](std::string_view text) {
    auto t = std::chrono::steady_clock::now();
    encoder.encode(text, ids);
    encode_s += seconds_since(t);
    bytes += text.size();
    tokens += ids.size();
    ++texts;
  };
  auto report = [&] {
    if (!timing) return;
    ctx.err() << str("# load ", load_s, " s, pipeline ", pipeline_s, " s, encode ", texts, " texts, ", bytes, " bytes, ",
                     tokens, " tokens in ", encode_s, " s (", encode_s > 0 ? double(bytes) / encode_s / 1e6 : 0.0,
                     " MB/s)\n");
  };
  if (vm.count("text")) {
    timed_encode(vm["text"].as<std::string>());
    write_array(out, ids);
    report();
    return kExitOk;
  }
  if (!vm.count("jsonl")) {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    timed_encode(all);
    write_array(out, ids);
    report();
    return kExitOk;
  }
  std::string line, clean;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.empty()) continue;
    // Bytes that are not UTF-8 are replaced before parsing, as Node.js does when the reference reads them.
    tk::sanitize_utf8(line, clean);
    json j;
    try {
      j = json::parse(clean);
    } catch (const json::parse_error& e) {
      throw FormatError(Problem{"<stdin>", str("line ", line_no), "", "", "", str("malformed JSON: ", e.what())},
                        "input");
    }
    auto text = j.is_object() ? j.find("text") : j.end();
    if (!j.is_object() || text == j.end() || !text->is_string())
      throw FormatError(Problem{"<stdin>", str("line ", line_no), "text", "", "a string",
                                "input line is not an object with a \"text\" string"},
                        "input");
    timed_encode(text->get_ref<const std::string&>());
    write_array(out, ids);
  }
  out.flush();
  report();
  return kExitOk;
}

int run_info(Context& ctx, const Args& args) {
  po::options_description opts("tokenizer info options");
  opts.add_options()
    ("path", po::value<std::string>()->required(), "tokenizer directory or file")
    ("json", "JSON output");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "tokenizer info", "PATH [--json]", opts, pos, args, vm)) return kExitOk;
  if (!ctx.is_root()) return kExitOk;
  tk::Tokenizer tok = tk::load_tokenizer(vm["path"].as<std::string>());
  json j = tk::tokenizer_summary_json(tok);
  if (vm.count("json")) ctx.out() << j.dump(2) << "\n";
  else ctx.out() << tk::tokenizer_summary_text(j);
  return kExitOk;
}

// Shared by compare and matrix: output form, HDF5 file, corpus.
void add_report_options(po::options_description& opts, std::string& h5, std::string& corpus) {
  opts.add_options()
    ("json", "JSON output (the full record)")
    ("markdown", "Markdown tables")
    ("h5", po::value<std::string>(&h5), "also write the JSON record to this HDF5 file")
    ("force", "overwrite the --h5 file if it exists")
    ("corpus", po::value<std::string>(&corpus),
     "JSON lines {\"category\", \"text\"} replacing the built-in multilingual corpus");
}

void check_output_form(const po::variables_map& vm, const std::string& verb) {
  if (vm.count("json") && vm.count("markdown"))
    throw UsageError(str("tokenizer ", verb, ": --json and --markdown exclude each other"));
}

int run_compare(Context& ctx, const Args& args) {
  po::options_description opts("tokenizer compare options");
  std::string h5, corpus_path;
  opts.add_options()
    ("paths", po::value<std::vector<std::string>>()->multitoken(), "A B: two tokenizer directories or files");
  add_report_options(opts, h5, corpus_path);
  po::positional_options_description pos;
  pos.add("paths", -1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "tokenizer compare", "A B [--json | --markdown] [--h5 FILE [--force]] [--corpus FILE]"
                          "   (B is read as the base)", opts, pos, args, vm))
    return kExitOk;
  if (!ctx.is_root()) return kExitOk;
  check_output_form(vm, "compare");
  std::vector<std::string> paths = vm.count("paths") ? vm["paths"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (paths.size() != 2) throw UsageError(str("tokenizer compare: expected two tokenizers, got ", paths.size()));
  bool force = vm.count("force") > 0;
  if (!h5.empty()) check_writable(h5, force);
  tk::Corpus corpus = corpus_path.empty() ? tk::builtin_corpus() : tk::read_corpus(corpus_path);
  // hf://ORG/NAME[@REV] and ORG/NAME (HF cache) name the model's folder of tokenizer files.
  for (auto& p : paths) {
    remote::ModelRef ref = remote::parse_model_ref(p);
    if (!remote::is_repository_ref(ref)) continue;
    remote::OpenOptions oo;
    oo.open_checkpoint = false;
    remote::Model m = remote::open_model(p, oo);
    if (std::string line = m.summary(); !line.empty()) ctx.err() << line << "\n";
    p = m.folder;
  }
  tk::TokenizerProfile a, b;
  {
    tk::Tokenizer ta = tk::load_tokenizer(paths[0]);
    a = tk::make_profile(ta, corpus);
  }
  {
    tk::Tokenizer tb = tk::load_tokenizer(paths[1]);
    b = tk::make_profile(tb, corpus);
  }
  tk::PairMetrics m = tk::compare_profiles(a, b);
  json j = tk::pair_json(m, tk::classify(m));
  if (vm.count("json")) ctx.out() << j.dump(2) << "\n";
  else if (vm.count("markdown")) ctx.out() << tk::pair_markdown(j);
  else ctx.out() << tk::pair_text(j);
  if (!h5.empty()) io::write_json_h5(h5, j, Args(args.begin(), args.end()), force);
  return kExitOk;
}

int run_matrix(Context& ctx, const Args& args) {
  po::options_description opts("tokenizer matrix options");
  std::string h5, corpus_path;
  int threads = 0;
  opts.add_options()
    ("paths", po::value<std::vector<std::string>>()->multitoken(),
     "tokenizer directories or files (directories without a tokenizer are listed as skipped)")
    ("threads", po::value<int>(&threads)->default_value(0), "worker threads (0 = all cores); results do not depend on it");
  add_report_options(opts, h5, corpus_path);
  po::positional_options_description pos;
  pos.add("paths", -1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "tokenizer matrix", "DIR... [--json | --markdown] [--h5 FILE [--force]] [--corpus FILE]",
                          opts, pos, args, vm))
    return kExitOk;
  if (!ctx.is_root()) return kExitOk;
  check_output_form(vm, "matrix");
  std::vector<std::string> paths = vm.count("paths") ? vm["paths"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (paths.empty()) throw UsageError("tokenizer matrix: give at least two tokenizer directories");
  bool force = vm.count("force") > 0;
  if (!h5.empty()) check_writable(h5, force);
  tk::Corpus corpus = corpus_path.empty() ? tk::builtin_corpus() : tk::read_corpus(corpus_path);
  std::vector<std::filesystem::path> inputs(paths.begin(), paths.end());
  tk::Matrix mx = tk::build_matrix(inputs, corpus, resolve_threads(threads));
  if (mx.profiles.size() < 2) {
    std::string why;
    for (const auto& s : mx.skipped) why += str("\n  ", s.path, ": ", s.reason);
    throw UsageError(str("tokenizer matrix: fewer than two readable tokenizers among ", paths.size(), " inputs", why));
  }
  json j = tk::matrix_json(mx);
  if (vm.count("json")) ctx.out() << j.dump(2) << "\n";
  else if (vm.count("markdown")) ctx.out() << tk::matrix_markdown(j);
  else ctx.out() << tk::matrix_text(j);
  if (!h5.empty()) io::write_json_h5(h5, j, Args(args.begin(), args.end()), force);
  return kExitOk;
}

int run_corpus(Context& ctx, const Args& args) {
  po::options_description opts("tokenizer corpus options");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "tokenizer corpus", "   (prints the built-in corpus as JSON lines, the --corpus format)",
                          opts, pos, args, vm))
    return kExitOk;
  for (const auto& e : tk::builtin_corpus()) ctx.out() << json{{"category", e.category}, {"text", e.text}}.dump() << "\n";
  return kExitOk;
}

void print_verbs(std::ostream& os) {
  os << "usage: fromscratch tokenizer <verb> [options]   (fromscratch tokenizer <verb> --help)\n\n"
        "verbs:\n"
        "  info     what a tokenizer file holds: format, vocabulary, merges, added tokens, pipeline\n"
        "  encode   token ids of text (JSON lines in, one id array per line out), exact to tokenizers.js\n"
        "  compare  pair metrics of two tokenizers: overlap, ids, merges, specials, pipeline, corpus\n"
        "  matrix   all pairs over many tokenizers, classified and calibrated against independent pairs\n"
        "  corpus   the built-in multilingual corpus as JSON lines (the format --corpus reads)\n";
}

int run_tokenizer(Context& ctx, const Args& args) {
  if (args.empty()) {
    print_verbs(ctx.err());
    return kExitUsage;
  }
  const std::string& verb = args[0];
  Args rest(args.begin() + 1, args.end());
  if (verb == "--help" || verb == "-h" || verb == "help") {
    print_verbs(ctx.out());
    return kExitOk;
  }
  if (verb == "encode") return run_encode(ctx, rest);
  if (verb == "info") return run_info(ctx, rest);
  if (verb == "compare") return run_compare(ctx, rest);
  if (verb == "matrix") return run_matrix(ctx, rest);
  if (verb == "corpus") return run_corpus(ctx, rest);
  throw UsageError(str("tokenizer: unknown verb '", quote_untrusted(verb), "' (see fromscratch tokenizer --help)"));
}

}  // namespace
FROMSCRATCH_COMMAND("tokenizer", "tokenizer provenance: encode, compare two tokenizers, genealogy matrix", run_tokenizer);
}  // namespace fromscratch::cli
