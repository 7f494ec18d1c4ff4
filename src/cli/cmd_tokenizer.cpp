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
#include "fromscratch/tokenizer/encoder.hpp"
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

void print_verbs(std::ostream& os) {
  os << "usage: fromscratch tokenizer <verb> [options]   (fromscratch tokenizer <verb> --help)\n\n"
        "verbs:\n"
        "  info     what a tokenizer file holds: format, vocabulary, merges, added tokens, pipeline\n"
        "  encode   token ids of text (JSON lines in, one id array per line out), exact to tokenizers.js\n"
        "  compare  pair metrics of two tokenizers: overlap, ids, merges, specials, pipeline, corpus\n"
        "  matrix   all pairs over many tokenizers, classified and calibrated against independent pairs\n";
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
  throw UsageError(str("tokenizer: unknown verb '", quote_untrusted(verb), "' (see fromscratch tokenizer --help)"));
}

}  // namespace
FROMSCRATCH_COMMAND("tokenizer", "tokenizer provenance: encode, compare two tokenizers, genealogy matrix", run_tokenizer);
}  // namespace fromscratch::cli
