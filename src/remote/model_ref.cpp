#include "fromscratch/remote/model_ref.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fs = std::filesystem;

namespace fromscratch::remote {

namespace {

bool repo_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string check_part(const std::string& p, const char* what) {
  if (p.empty() || p.size() > 96) return str(what, " must be 1..96 characters");
  for (char c : p)
    if (!repo_char(c)) return str(what, " holds a character outside [A-Za-z0-9._-]");
  if (p.front() == '.' || p.front() == '-' || p.back() == '.' || p.back() == '-')
    return str(what, " must not start or end with '.' or '-'");
  if (p.find("..") != std::string::npos) return str(what, " must not contain \"..\"");
  return "";
}

bool is_sha(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string read_small(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string check_repo_id(const std::string& repo) {
  size_t slash = repo.find('/');
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos)
    return "a repository id is ORG/NAME (exactly one '/')";
  std::string a = check_part(repo.substr(0, slash), "ORG");
  if (!a.empty()) return a;
  return check_part(repo.substr(slash + 1), "NAME");
}

std::string check_revision(const std::string& rev) {
  if (rev.empty() || rev.size() > 256) return "a revision must be 1..256 characters";
  for (char c : rev)
    if (!repo_char(c) && c != '/') return "a revision holds a character outside [A-Za-z0-9._/-]";
  if (rev.front() == '/' || rev.back() == '/' || rev.find("..") != std::string::npos || rev.find("//") != std::string::npos)
    return "a revision must not start or end with '/', nor contain \"..\" or \"//\"";
  return "";
}

std::string hf_hub_cache_dir() {
  if (const char* v = std::getenv("HF_HUB_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("HF_HOME"); v && *v) return (fs::path(v) / "hub").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".cache" / "huggingface" / "hub").string();
}

ModelRef parse_model_ref(const std::string& text) {
  ModelRef r;
  r.text = text;
  std::string body;
  bool hub = text.rfind("hf://", 0) == 0;
  if (hub) {
    body = text.substr(5);
  } else {
    std::error_code ec;
    if (fs::exists(fs::path(text), ec)) {
      r.kind = RefKind::Local;
      r.path = text;
      return r;
    }
    body = text;
  }
  size_t at = body.find('@');
  r.repo = body.substr(0, at);
  r.revision = at == std::string::npos ? "main" : body.substr(at + 1);
  std::string why = check_repo_id(r.repo);
  if (why.empty()) why = check_revision(r.revision);
  if (!why.empty()) {
    if (hub) throw UsageError(str("'", quote_untrusted(text, 200), "': ", why));
    r.kind = RefKind::NotFound;
    r.repo.clear();
    r.looked_for.push_back(str(text, " (no such file or folder)"));
    return r;
  }
  if (hub) {
    r.kind = RefKind::Hub;
    return r;
  }
  // The local Hugging Face cache.
  const std::string org = r.repo.substr(0, r.repo.find('/')), name = r.repo.substr(r.repo.find('/') + 1);
  fs::path repo_dir = fs::path(hf_hub_cache_dir()) / str("models--", org, "--", name);
  r.looked_for.push_back(str(text, " (no such file or folder)"));
  std::error_code ec;
  std::string commit;
  fs::path ref_file = repo_dir / "refs" / r.revision;
  if (fs::is_regular_file(ref_file, ec)) commit = read_small(ref_file);
  else if (is_sha(r.revision)) commit = r.revision;
  if (!commit.empty() && is_sha(commit) && fs::is_directory(repo_dir / "snapshots" / commit, ec)) {
    r.kind = RefKind::HfCache;
    r.commit = commit;
    r.path = (repo_dir / "snapshots" / commit).string();
    r.cache_repo_dir = repo_dir.string();
    return r;
  }
  r.kind = RefKind::NotFound;
  r.looked_for.push_back(str((repo_dir / "refs" / r.revision).string(), " and ", (repo_dir / "snapshots").string(),
                             " (Hugging Face cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)"));
  return r;
}

}  // namespace fromscratch::remote
