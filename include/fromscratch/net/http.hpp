// One HTTP client for the whole tool (libcurl): range requests with many transfers in flight, retries with
// backoff, timeouts, and the checks a hostile server calls for.
//
//   * Redirects are followed here, not by libcurl, so that every hop is checked: at most max_redirects, no
//     loop, only http/https, relative Locations resolved against the request URL.
//   * The token (Authorization: Bearer) is sent only to token_origin (scheme://host:port of the endpoint):
//     never to a host a redirect leads to, never logged, never part of an error message.
//   * 429, 5xx, dropped connections, truncated bodies and timeouts are retried (exponential backoff, honouring
//     a short Retry-After); 4xx other than 429, oversized headers, a Content-Range that is not the range asked
//     for and redirect loops are not: they throw IoError naming the URL.
//   * A server that ignores Range (200 with the whole file) still gives the right bytes: the requested range
//     is cut out of the stream, the transfer stopped at its end, and stats().range_ignored counts it.
//   * Slow-loris: a transfer slower than low_speed_bytes per second for low_speed_seconds is aborted (and
//     retried); every request also has a total timeout.
//
// Thread-safe: any number of threads may call it; each call runs its own curl multi handle taken from a pool
// (connections are reused within a handle).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fromscratch::net {

struct HttpOptions {
  long connect_timeout_s = 15;
  long total_timeout_s = 900;       // one request, whole transfer
  long low_speed_seconds = 30;      // abort a transfer slower than low_speed_bytes/s for this long
  long low_speed_bytes = 1024;
  int max_retries = 6;              // attempts after the first
  double backoff_initial_s = 0.5;   // doubled each retry
  double backoff_max_s = 30;
  size_t max_header_bytes = 64 << 10;  // all response header lines of one response together
  int max_redirects = 8;
  int max_in_flight = 16;           // parallel transfers of one get_ranges call
  std::string token;                // bearer token, sent only to token_origin
  std::string token_origin;         // "https://huggingface.co:443" form, see origin_of()
  std::string user_agent = "fromscratch";

  // Values from the environment: FROMSCRATCH_HTTP_TIMEOUT (low-speed seconds), FROMSCRATCH_HTTP_RETRIES,
  // FROMSCRATCH_HTTP_BACKOFF (initial seconds), FROMSCRATCH_HTTP_IN_FLIGHT. Throws UsageError on bad values.
  static HttpOptions from_env();
};

struct HttpResponse {
  long status = 0;
  std::string url;                            // the URL that answered (after redirects)
  std::map<std::string, std::string> headers;  // lower-case names, last value wins
  std::string body;
  std::string header(const std::string& lower_name) const;
};

struct HttpStats {
  uint64_t body_bytes = 0;   // payload bytes received (including bytes cut away when Range was ignored)
  uint64_t requests = 0;     // transfers started, retries included
  uint64_t retries = 0;
  uint64_t range_ignored = 0;
};

// A range of one URL to fetch into caller memory: [offset, offset + length) into out.
struct RangeRequest {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint8_t* out = nullptr;
};

// "scheme://host:port" of a URL (default ports filled in), lower-case; empty when not an http(s) URL.
std::string origin_of(const std::string& url);
// Resolves a Location header value against the URL it came from (relative or absolute).
std::string resolve_url(const std::string& base, const std::string& location);
// A URL with query string and fragment removed (for messages: signed CDN URLs carry credentials there).
std::string redact_url(const std::string& url);

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // HEAD, following redirects when follow is set; the response of the last hop (its url is that hop's).
  // Throws IoError on transport failure after retries, on a redirect loop or too many redirects. With
  // follow = false a 3xx is returned as is.
  HttpResponse head(const std::string& url, bool follow = true);
  // GET of a whole (small) document, redirects followed; throws IoError when the body exceeds max_body or the
  // final status is not 200.
  HttpResponse get(const std::string& url, uint64_t max_body);
  // Fetches every range of `url` (no redirects: pass the URL head() resolved), many in flight, each checked
  // against its Content-Range and, when file_size is not 0, that total. Throws IoError naming the URL and
  // range when a range cannot be fetched.
  // on_done(i), when given, runs in the calling thread as soon as range i is complete (e.g. to store it while
  // the other transfers go on).
  void get_ranges(const std::string& url, std::vector<RangeRequest>& ranges, uint64_t file_size,
                  const std::function<void(size_t)>& on_done = {});

  HttpStats stats() const;
  const HttpOptions& options() const { return options_; }

 private:
  struct Engine;
  std::unique_ptr<Engine> take_engine();
  void give_engine(std::unique_ptr<Engine> e);
  HttpOptions options_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Engine>> pool_;
  std::atomic<uint64_t> body_bytes_{0}, requests_{0}, retries_{0}, range_ignored_{0};
  friend struct Transfer;
};

}  // namespace fromscratch::net
