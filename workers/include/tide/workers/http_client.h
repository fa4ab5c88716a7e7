// A small blocking HTTP/1.1 client for calling model servers: one request per connection,
// http:// and https:// (TLS with the system's CA certificates and SNI, peer verified),
// a deadline that covers resolve, connect, handshake, write and read.
//
// Errors: InvalidArgument for a URL it cannot use (scheme other than http/https, no host,
// bad port); Unavailable for a failed resolve / connect / TLS handshake / a connection
// dropped mid-response; DeadlineExceeded when the deadline passes. An HTTP error status
// is not an error here: it comes back in HttpResponse::status for the caller to judge.
// Thread safety: HttpRequest may be called from any number of threads at once (each call
// has its own connection and I/O context).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "tide/core/status.h"

namespace tide::workers {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;    // "80" / "443" by default
  std::string target;  // path (and query), "/" when empty, without a trailing '/'
};
// "http://host:port/base/path" → its parts. The path keeps its case; a trailing '/' is dropped.
Result<Url> ParseUrl(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, if the server sent one
};

// `method` "GET" or "POST"; `path` is appended to url.target ("/chat/completions").
// headers: extra (name, value) pairs; Content-Type is application/json when body is set.
Result<HttpResponse> HttpRequest(const Url& url, const std::string& method, const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& body, std::chrono::milliseconds timeout);

}  // namespace tide::workers
