#include "fromscratch/tokenizer/report.hpp"

#include <sstream>

#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/metrics.hpp"

namespace fromscratch::tokenizer {

using nlohmann::json;

json tokenizer_summary_json(const Tokenizer& tok) {
  json j;
  j["name"] = tok.name;
  j["path"] = tok.path;
  j["file_sha256"] = tok.file_sha256;
  j["format"] = std::string(to_string(tok.format));
  j["model_type"] = tok.model_type;
  j["spelling"] = std::string(to_string(tok.spelling));
  j["vocab_size"] = tok.vocab_count;
  j["vocab_id_span"] = tok.vocab.size();
  j["merges"] = tok.merges.size();
  j["duplicate_merges"] = tok.duplicate_merges;
  if (tok.format == SourceFormat::kTiktoken) j["tiktoken_tokens_without_merge"] = tok.merges_not_derivable;
  j["merges_sha256"] = merges_sha256(tok, tok.merge_lines.size());
  j["merges_sha256_first1000"] = merges_sha256(tok, 1000);
  json bpe;
  bpe["unk_token"] = tok.bpe.unk_token ? json(*tok.bpe.unk_token) : json(nullptr);
  bpe["byte_fallback"] = tok.bpe.byte_fallback;
  bpe["fuse_unk"] = tok.bpe.fuse_unk;
  bpe["ignore_merges"] = tok.bpe.ignore_merges;
  j["bpe"] = bpe;
  json added = json::array();
  for (const auto& a : tok.added_tokens)
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"special", a.special},
                     {"normalized", a.normalized},
                     {"lstrip", a.lstrip},
                     {"rstrip", a.rstrip},
                     {"single_word", a.single_word},
                     {"in_model_vocab", tok.has_id(a.id) && tok.vocab[a.id] == a.content}});
  j["added_tokens"] = added;
  j["normalizer"] = tok.normalizer;
  j["pre_tokenizer"] = tok.pre_tokenizer;
  j["config_path"] = tok.config_path;
  return j;
}

std::string tokenizer_summary_text(const json& s) {
  std::ostringstream os;
  os << s["name"].get<std::string>() << "  (" << s["format"].get<std::string>() << ", " << s["model_type"].get<std::string>()
     << ", " << s["spelling"].get<std::string>() << " spelling)\n";
  os << "  file            " << s["path"].get<std::string>() << "\n";
  os << "  sha256          " << s["file_sha256"].get<std::string>() << "\n";
  os << "  vocabulary      " << s["vocab_size"].get<size_t>() << " tokens (ids 0.." << s["vocab_id_span"].get<size_t>() - 1
     << ")\n";
  os << "  merges          " << s["merges"].get<size_t>() << " (sha256 " << s["merges_sha256"].get<std::string>() << ")\n";
  if (s["duplicate_merges"].get<size_t>() > 0) os << "  duplicate merges " << s["duplicate_merges"].get<size_t>() << "\n";
  const json& bpe = s["bpe"];
  os << "  byte_fallback   " << (bpe["byte_fallback"].get<bool>() ? "yes" : "no") << ", ignore_merges "
     << (bpe["ignore_merges"].get<bool>() ? "yes" : "no") << ", unk_token "
     << (bpe["unk_token"].is_null() ? std::string("none") : quote_untrusted(bpe["unk_token"].get<std::string>())) << "\n";
  const json& added = s["added_tokens"];
  size_t special = 0;
  for (const auto& a : added) special += a["special"].get<bool>() ? 1 : 0;
  os << "  added tokens    " << added.size() << " (" << special << " special)";
  size_t shown = 0;
  for (const auto& a : added) {
    if (shown == 8) {
      os << " ...";
      break;
    }
    os << (shown ? ", " : ": ") << quote_untrusted(a["content"].get<std::string>(), 40) << "=" << a["id"].get<uint32_t>();
    ++shown;
  }
  os << "\n";
  os << "  normalizer      " << (s["normalizer"].is_null() ? std::string("none") : s["normalizer"].dump()) << "\n";
  std::string pre = s["pre_tokenizer"].is_null() ? std::string("none") : s["pre_tokenizer"].dump();
  os << "  pre_tokenizer   " << quote_untrusted(pre, 300) << "\n";
  return os.str();
}

}  // namespace fromscratch::tokenizer
