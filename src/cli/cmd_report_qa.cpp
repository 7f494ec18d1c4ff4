// fromscratch qa: the Q&A record (include/fromscratch/report/qa_record.hpp) from the command line.
//
//   fromscratch qa append FILE --question Q (--answer-file F | --answer TEXT) [--lang ko|en] [--date YYYY-MM-DD]
//   fromscratch qa scan FILE
//
// `verify --qa FILE` appends its findings through the same library call; this command lets a person (or a
// script) add an entry by hand and check where the next one would go.
#include <filesystem>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/report/qa_record.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::json;
using namespace fromscratch::report;

// The answer text: a regular file (File::open_read refuses FIFOs and devices) or "-" for stdin, both capped.
std::string read_answer(const std::string& path) {
  if (path == "-") {
    std::string s;
    char buf[65536];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
      s.append(buf, size_t(std::cin.gcount()));
      if (s.size() > kQaMaxFileBytes)
        throw UsageError(str("--answer-file -: stdin holds more than ", kQaMaxFileBytes, " bytes"));
    }
    return s;
  }
  File f = File::open_read(path);
  if (f.size() > kQaMaxFileBytes)
    throw UsageError(str("--answer-file ", path, ": ", f.size(), " bytes, limit ", kQaMaxFileBytes));
  std::string s(f.size(), '\0');
  if (!s.empty()) f.read_exact(s.data(), s.size(), 0);
  return s;
}

int run_append(Context& ctx, const Args& args) {
  po::options_description opts("qa append options");
  std::string question, answer_file, answer, lang = "ko", date;
  opts.add_options()
    ("file", po::value<std::string>()->required(), "the Q&A record (Markdown); created with a marker when missing")
    ("question", po::value<std::string>(&question)->required(), "the question, one line (the ### Q{N}: heading)")
    ("answer-file", po::value<std::string>(&answer_file), "the answer, Markdown, from this file ('-': stdin)")
    ("answer", po::value<std::string>(&answer), "the answer as text, instead of --answer-file")
    ("lang", po::value<std::string>(&lang)->default_value("ko"), "ko (**질문 시각** / **답변**) or en (**Asked** / **Answer**)")
    ("date", po::value<std::string>(&date), "YYYY-MM-DD (default: today, local time)")
    ("json", "print what was appended as JSON");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "qa append",
                          "FILE --question Q (--answer-file F | --answer TEXT) [--lang ko|en] [--date YYYY-MM-DD] [--json]",
                          opts, pos, args, vm))
    return kExitOk;
  const std::string file = vm["file"].as<std::string>();
  const QaLang ql = parse_qa_lang(lang);
  if (vm.count("answer-file") == vm.count("answer"))
    throw UsageError("qa append: give exactly one of --answer-file and --answer (see fromscratch qa append --help)");
  if (date.empty()) date = today_iso_date();
  check_iso_date(date);

  QaAppendResult r;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;  // one writer: rank 0
    QaEntry e{question, date, vm.count("answer") ? answer : read_answer(answer_file)};
    r = append_qa_entry_to_file(file, e, ql);
  });
  if (vm.count("json")) {
    ctx.out() << json{{"file", file},
                      {"number", r.number},
                      {"lang", qa_lang_name(ql)},
                      {"date", date},
                      {"created", r.created},
                      {"marker_added", r.marker_added},
                      {"inserted_at", r.inserted_at},
                      {"inserted_bytes", r.inserted_bytes}}
                     .dump(2)
              << "\n";
  } else {
    ctx.out() << "Q" << r.number << " appended to " << file << " (" << r.inserted_bytes << " bytes at byte "
              << r.inserted_at << (r.created ? "; file created" : r.marker_added ? "; marker added at the end" : "")
              << ")\n";
  }
  return kExitOk;
}

int run_scan(Context& ctx, const Args& args) {
  po::options_description opts("qa scan options");
  opts.add_options()
    ("file", po::value<std::string>()->required(), "the Q&A record")
    ("json", "print JSON");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "qa scan", "FILE [--json]", opts, pos, args, vm)) return kExitOk;
  const std::string file = vm["file"].as<std::string>();
  QaScan s;
  run_collectively(ctx, [&] {
    File f = File::open_read(file);
    if (f.size() > kQaMaxFileBytes)
      throw FormatError(Problem{file, "", "size", str(f.size(), " bytes"), str("<= ", kQaMaxFileBytes, " bytes"),
                                "too large for a Q&A record"},
                        "entry");
    std::string text(f.size(), '\0');
    if (!text.empty()) f.read_exact(text.data(), text.size(), 0);
    s = scan_qa_text(text, file);
  });
  if (vm.count("json")) {
    json j{{"file", file}, {"entries", s.entries}, {"highest_number", s.highest_number},
           {"next_number", s.highest_number + 1}, {"marker", s.has_marker}, {"marker_lines", s.marker_lines},
           {"line_ending", s.crlf ? "crlf" : "lf"}};
    if (s.has_marker) j["marker_line"] = s.marker_line;
    ctx.out() << j.dump(2) << "\n";
  } else {
    ctx.out() << file << ": " << s.entries << " entries, highest Q" << s.highest_number << ", next Q"
              << s.highest_number + 1 << "; ";
    if (s.has_marker)
      ctx.out() << "marker on line " << s.marker_line
                << (s.marker_lines > 1 ? str(" (first of ", s.marker_lines, " marker lines)") : std::string());
    else
      ctx.out() << "no marker (the next entry and a marker go at the end)";
    ctx.out() << (s.crlf ? "; CRLF" : "") << "\n";
  }
  return kExitOk;
}

void print_verbs(std::ostream& os) {
  os << "usage: fromscratch qa <verb> [options]   (fromscratch qa <verb> --help)\n\n"
        "The Q&A record: a Markdown file that grows by one numbered entry (### Q{N}: question, date, answer)\n"
        "per investigation, inserted directly above its <!-- TUTORIAL_MARKER line; nothing else changes.\n\n"
        "verbs:\n"
        "  append  add an entry (the file is created with a marker when missing)\n"
        "  scan    entries, next number and where the marker is\n";
}

int run_qa(Context& ctx, const Args& args) {
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
  if (verb == "append") return run_append(ctx, rest);
  if (verb == "scan") return run_scan(ctx, rest);
  throw UsageError(str("qa: unknown verb '", quote_untrusted(verb), "' (see fromscratch qa --help)"));
}

}  // namespace
FROMSCRATCH_COMMAND("qa", "the Q&A record: append a numbered entry above the TUTORIAL_MARKER line, or scan one",
                    run_qa);
}  // namespace fromscratch::cli
