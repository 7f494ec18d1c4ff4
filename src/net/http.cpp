#include "fromscratch/net/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <set>
#include <thread>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::net {

namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  return true;
}

long env_long(const char* name, long fallback, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  uint64_t x = 0;
  if (!parse_u64(v, x) || x < uint64_t(lo) || x > uint64_t(hi))
    throw UsageError(str(name, " = '", quote_untrusted(v, 40), "': expected an integer in [", lo, ", ", hi, "]"));
  return long(x);
}

bool retryable_curl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
      return true;
    default:
      return false;
  }
}

}  // namespace

HttpOptions HttpOptions::from_env() {
  HttpOptions o;
  o.low_speed_seconds = env_long("FROMSCRATCH_HTTP_TIMEOUT", o.low_speed_seconds, 1, 3600);
  o.connect_timeout_s = std::min(o.connect_timeout_s, std::max(1L, o.low_speed_seconds));
  o.max_retries = int(env_long("FROMSCRATCH_HTTP_RETRIES", o.max_retries, 0, 100));
  long backoff_ms = env_long("FROMSCRATCH_HTTP_BACKOFF_MS", long(o.backoff_initial_s * 1000), 0, 600000);
  o.backoff_initial_s = double(backoff_ms) / 1000.0;
  o.max_in_flight = int(env_long("FROMSCRATCH_HTTP_IN_FLIGHT", o.max_in_flight, 1, 256));
  return o;
}

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string origin_of(const std::string& url) {
  global_init();
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (scheme && host && port) {
      std::string sc = lower(scheme);
      if (sc == "http" || sc == "https") out = str(sc, "://", lower(host), ":", port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  global_init();
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK && full) out = full;
    curl_free(full);
  }
  curl_url_cleanup(u);
  if (out.empty()) throw IoError(redact_url(base), str("redirect to an unusable Location '", quote_untrusted(location, 200), "'"));
  return out;
}

std::string redact_url(const std::string& url) {
  size_t q = url.find_first_of("?#");
  return q == std::string::npos ? url : url.substr(0, q) + "?…";
}

// One request: a HEAD or GET of a URL, optionally one byte range, followed through redirects and retried.
struct Transfer {
  HttpClient* client = nullptr;
  const HttpOptions* opt = nullptr;
  std::string url;
  bool is_head = false;
  bool follow = true;
  // ranged GET into caller memory
  bool ranged = false;
  uint64_t offset = 0, length = 0, file_size = 0;
  uint8_t* out = nullptr;
  // whole-body GET into a string
  uint64_t max_body = 0;

  // outcome
  HttpResponse response;
  bool done = false;
  std::string failure;  // non-empty: failed for good (the message, without the URL)
  std::string failure_url;
  void fail(std::string msg) {
    failure = std::move(msg);
    failure_url = redact_url(url);
  }

  // per attempt
  CURL* easy = nullptr;
  curl_slist* req_headers = nullptr;
  size_t header_bytes = 0;
  std::string hard_error;
  bool stopped_early_ok = false;
  bool content_range_checked = false;
  uint64_t received = 0;  // payload bytes of this attempt
  int attempt = 0;
  int hops = 0;
  std::set<std::string> visited;
  Clock::time_point not_before{};
  std::string last_error;

  void reset_attempt() {
    response.headers.clear();
    response.body.clear();
    response.status = 0;
    header_bytes = 0;
    hard_error.clear();
    stopped_early_ok = false;
    content_range_checked = false;
    received = 0;
  }

  static size_t on_header(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    size_t len = size * n;
    std::string_view line(data, len);
    if (line.substr(0, 5) == "HTTP/") {  // a new response (after 1xx): its headers start afresh
      t->response.headers.clear();
    }
    t->header_bytes += len;
    if (t->header_bytes > t->opt->max_header_bytes) {
      t->hard_error = str("response headers exceed the limit of ", t->opt->max_header_bytes, " bytes");
      return 0;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && line.substr(0, 5) != "HTTP/")
      t->response.headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    return len;
  }

  // Checks "bytes A-B/TOTAL" against the range asked for.
  bool check_content_range() {
    std::string cr = response.header("content-range");
    std::string want = str("bytes ", offset, "-", offset + length - 1, "/");
    if (cr.compare(0, want.size(), want) != 0) {
      hard_error = str("Content-Range '", quote_untrusted(cr, 80), "' is not the range asked for (", want, "...)");
      return false;
    }
    uint64_t total = 0;
    std::string rest = cr.substr(want.size());
    if (file_size && rest != "*" && (!parse_u64(rest, total) || total != file_size)) {
      hard_error = str("Content-Range '", quote_untrusted(cr, 80), "' gives a file size other than the ", file_size, " bytes expected");
      return false;
    }
    return true;
  }

  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    size_t len = size * n;
    t->client->body_bytes_ += len;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->ranged && status == 206) {
      if (!t->content_range_checked) {
        if (!t->check_content_range()) return 0;
        t->content_range_checked = true;
      }
      if (t->received + len > t->length) {
        t->hard_error = str("server sent more than the ", t->length, " bytes asked for");
        return 0;
      }
      std::memcpy(t->out + t->received, data, len);
      t->received += len;
      return len;
    }
    if (t->ranged && status == 200) {
      // Range ignored: cut [offset, offset + length) out of the whole file.
      if (t->received == 0 && t->file_size) {
        std::string cl = t->response.header("content-length");
        uint64_t v = 0;
        if (!cl.empty() && parse_u64(cl, v) && v != t->file_size) {
          t->hard_error = str("server ignored Range and its Content-Length ", v, " disagrees with the file size ", t->file_size);
          return 0;
        }
      }
      uint64_t pos = t->received;  // file position of data[0]
      uint64_t end = t->offset + t->length;
      uint64_t lo = std::max(pos, t->offset), hi = std::min(pos + len, end);
      if (lo < hi) std::memcpy(t->out + (lo - t->offset), data + (lo - pos), size_t(hi - lo));
      t->received += len;
      if (t->received >= end) {
        t->stopped_early_ok = true;
        return t->received == pos + len && t->received == end ? len : 0;
      }
      return len;
    }
    if (t->ranged) {  // an error page: keep a little of it for the message
      if (t->response.body.size() < 512) t->response.body.append(data, std::min<size_t>(len, 512 - t->response.body.size()));
      return len;
    }
    if (t->response.body.size() + len > t->max_body) {
      t->hard_error = str("response body exceeds the limit of ", t->max_body, " bytes");
      return 0;
    }
    t->response.body.append(data, len);
    t->received += len;
    return len;
  }

  void start(CURLM* multi, std::vector<CURL*>& idle) {
    reset_attempt();
    ++attempt;
    ++client->requests_;
    // Reused handles keep their receive buffer (a fresh 256 KiB buffer per request costs page faults).
    if (!idle.empty()) {
      easy = idle.back();
      idle.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 256L << 10);  // fewer, larger writes (default 16 KiB)
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, opt->connect_timeout_s);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, opt->total_timeout_s);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, opt->low_speed_bytes);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, opt->low_speed_seconds);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, opt->user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
    if (is_head) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    req_headers = curl_slist_append(nullptr, "Accept-Encoding: identity");
    if (ranged) req_headers = curl_slist_append(req_headers, str("Range: bytes=", offset, "-", offset + length - 1).c_str());
    if (!opt->token.empty() && !opt->token_origin.empty() && origin_of(url) == opt->token_origin)
      req_headers = curl_slist_append(req_headers, ("Authorization: Bearer " + opt->token).c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req_headers);
    curl_multi_add_handle(multi, easy);
  }

  void finish_handle(CURLM* multi, std::vector<CURL*>& idle) {
    curl_multi_remove_handle(multi, easy);
    idle.push_back(easy);
    easy = nullptr;
    curl_slist_free_all(req_headers);
    req_headers = nullptr;
  }

  // Decides after one attempt: done, retry (sets not_before) or failed for good.
  void judge(CURLcode res) {
    if (!hard_error.empty()) {
      fail(hard_error);
      return;
    }
    response.url = url;
    if (stopped_early_ok && res == CURLE_WRITE_ERROR) res = CURLE_OK;
    if (stopped_early_ok) {
      ++client->range_ignored_;
      done = true;
      return;
    }
    if (res != CURLE_OK) {
      last_error = curl_easy_strerror(res);
      if (!retryable_curl(res)) {
        fail(last_error);
        return;
      }
      schedule_retry(0);
      return;
    }
    long st = response.status;
    if (st >= 300 && st < 400 && st != 304 && follow) {
      std::string loc = response.header("location");
      if (loc.empty()) {
        fail(str("HTTP ", st, " without a Location header"));
        return;
      }
      std::string next = resolve_url(url, loc);
      if (origin_of(next).empty()) {
        fail(str("redirect to a non-HTTP URL '", quote_untrusted(redact_url(next), 200), "'"));
        return;
      }
      visited.insert(url);
      if (visited.count(next)) {
        fail(str("redirect loop (", redact_url(next), " was already visited)"));
        return;
      }
      if (++hops > opt->max_redirects) {
        fail(str("more than ", opt->max_redirects, " redirects"));
        return;
      }
      url = next;
      attempt = 0;
      not_before = Clock::now();
      return;
    }
    if (st == 429 || st >= 500) {
      last_error = str("HTTP ", st);
      uint64_t ra = 0;
      std::string h = response.header("retry-after");
      schedule_retry(parse_u64(h, ra) ? double(ra) : 0);
      return;
    }
    if (ranged) {
      if (st != 206 && st != 200) {
        fail(str("HTTP ", st, " for bytes ", offset, "-", offset + length - 1,
                 response.body.empty() ? "" : ": " + quote_untrusted(response.body, 200)));
        return;
      }
      if (received != length) {  // a short body without a transport error (server closed cleanly)
        last_error = str("truncated body: ", received, " of ", length, " bytes");
        schedule_retry(0);
        return;
      }
    } else if (!is_head && st == 200) {
      std::string cl = response.header("content-length");
      uint64_t v = 0;
      if (!cl.empty() && parse_u64(cl, v) && v != received) {
        last_error = str("truncated body: ", received, " of ", v, " bytes");
        schedule_retry(0);
        return;
      }
    }
    done = true;
  }

  void schedule_retry(double retry_after_s) {
    if (attempt > opt->max_retries) {
      fail(str("giving up after ", attempt, " attempts: ", last_error));
      return;
    }
    ++client->retries_;
    double wait = opt->backoff_initial_s * double(1u << std::min(attempt - 1, 20));
    wait = std::min(std::max(wait, std::min(retry_after_s, opt->backoff_max_s)), opt->backoff_max_s);
    not_before = Clock::now() + std::chrono::microseconds(int64_t(wait * 1e6));
  }
};

struct HttpClient::Engine {
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;  // finished easy handles, reused
  Engine() {
    multi = curl_multi_init();
  }
  ~Engine() {
    for (CURL* e : idle) curl_easy_cleanup(e);
    curl_multi_cleanup(multi);
  }

  // Runs every transfer to completion; throws IoError with the first failure (after all have stopped).
  void run(std::vector<Transfer*>& ts, int max_in_flight, const std::function<void(Transfer*)>& on_done = {}) {
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, long(max_in_flight));
    std::deque<Transfer*> waiting(ts.begin(), ts.end());
    int active = 0;
    std::string first_failure, first_failure_url;
    auto fail_all = [&]() {
      for (Transfer* t : ts)
        if (t->easy) t->finish_handle(multi, idle);
    };
    while (!waiting.empty() || active > 0) {
      auto now = Clock::now();
      Clock::time_point next_due = now + std::chrono::milliseconds(200);
      for (size_t k = 0; k < waiting.size() && active < max_in_flight;) {
        Transfer* t = waiting[k];
        if (t->not_before <= now) {
          waiting.erase(waiting.begin() + long(k));
          t->start(multi, idle);
          ++active;
        } else {
          next_due = std::min(next_due, t->not_before);
          ++k;
        }
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      bool finished_any = false;
      while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
        finished_any = true;
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        CURLcode res = m->data.result;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->response.status);
        t->finish_handle(multi, idle);
        --active;
        t->judge(res);
        if (!t->failure.empty()) {
          if (first_failure.empty()) first_failure = t->failure, first_failure_url = t->failure_url;
        } else if (!t->done) {
          waiting.push_back(t);
        } else if (on_done) {
          on_done(t);
        }
      }
      if (!first_failure.empty()) {
        fail_all();
        throw IoError(first_failure_url, first_failure);
      }
      if (finished_any) continue;  // slots are free: start the next transfers before waiting
      if (active > 0 || !waiting.empty()) {
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - Clock::now()).count();
        wait_ms = std::clamp<long long>(wait_ms, 0, 200);
        if (active > 0) curl_multi_poll(multi, nullptr, 0, int(wait_ms), nullptr);
        else if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      }
    }
  }
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) { global_init(); }
HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Engine> HttpClient::take_engine() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pool_.empty()) return std::make_unique<Engine>();
  auto e = std::move(pool_.back());
  pool_.pop_back();
  return e;
}
void HttpClient::give_engine(std::unique_ptr<Engine> e) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(e));
}

HttpResponse HttpClient::head(const std::string& url, bool follow) {
  Transfer t;
  t.client = this;
  t.opt = &options_;
  t.url = url;
  t.is_head = true;
  t.follow = follow;
  std::vector<Transfer*> ts{&t};
  auto e = take_engine();
  e->run(ts, 1);
  give_engine(std::move(e));
  return std::move(t.response);
}

HttpResponse HttpClient::get(const std::string& url, uint64_t max_body) {
  Transfer t;
  t.client = this;
  t.opt = &options_;
  t.url = url;
  t.max_body = max_body;
  std::vector<Transfer*> ts{&t};
  auto e = take_engine();
  e->run(ts, 1);
  give_engine(std::move(e));
  if (t.response.status != 200)
    throw IoError(redact_url(t.response.url), str("HTTP ", t.response.status,
                          t.response.body.empty() ? "" : ": " + quote_untrusted(t.response.body, 200)));
  return std::move(t.response);
}

void HttpClient::get_ranges(const std::string& url, std::vector<RangeRequest>& ranges, uint64_t file_size,
                            const std::function<void(size_t)>& on_done) {
  std::vector<Transfer> store(ranges.size());
  std::vector<Transfer*> ts;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].length == 0) continue;
    if (file_size && (ranges[i].offset > file_size || ranges[i].length > file_size - ranges[i].offset))
      throw IoError(redact_url(url), str("range ", ranges[i].offset, "+", ranges[i].length, " leaves the file (", file_size, " bytes)"));
    Transfer& t = store[i];
    t.client = this;
    t.opt = &options_;
    t.url = url;
    t.ranged = true;
    t.follow = true;
    t.offset = ranges[i].offset;
    t.length = ranges[i].length;
    t.file_size = file_size;
    t.out = ranges[i].out;
    ts.push_back(&t);
  }
  if (ts.empty()) return;
  auto e = take_engine();
  try {
    std::function<void(Transfer*)> done_fn;
    if (on_done) done_fn = [&](Transfer* t) { on_done(size_t(t - store.data())); };
    e->run(ts, options_.max_in_flight, done_fn);
  } catch (...) {
    give_engine(std::move(e));
    throw;
  }
  give_engine(std::move(e));
}

HttpStats HttpClient::stats() const {
  return HttpStats{body_bytes_.load(), requests_.load(), retries_.load(), range_ignored_.load()};
}

}  // namespace fromscratch::net
