// HttpRequest (http_client.h) on Boost.Beast: every step is an asynchronous operation run
// on a private io_context until it completes or the request's deadline passes, so one
// deadline bounds the whole exchange (Beast's synchronous calls would ignore it); on
// expiry the socket or resolver is cancelled and the call returns DeadlineExceeded.
#include "tide/workers/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>

namespace tide::workers {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Runs `ioc` until `*done` or the deadline; on expiry calls `cancel` and drains the
// cancelled handlers. True when the operation completed in time.
template <class Cancel>
bool RunUntil(asio::io_context& ioc, const bool* done, Clock::time_point deadline, Cancel cancel) {
  ioc.restart();
  while (!*done && Clock::now() < deadline) {
    if (ioc.run_one_until(deadline) == 0 && ioc.stopped()) break;
  }
  if (*done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

Status NetError(const char* step, const Url& url, const beast::error_code& ec) {
  return Unavailable(std::string(step) + " " + url.host + ":" + url.port + ": " + ec.message());
}

template <class Stream>
Result<HttpResponse> Exchange(asio::io_context& ioc, Stream& stream, const Url& url,
                              http::request<http::string_body>& req, Clock::time_point deadline,
                              const std::function<void()>& cancel) {
  bool done = false;
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_at(deadline);
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, &done, deadline, cancel)) return DeadlineExceeded("sending the request to " + url.host);
  if (ec == beast::error::timeout) return DeadlineExceeded("sending the request to " + url.host);
  if (ec) return NetError("write to", url, ec);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  done = false;
  http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, &done, deadline, cancel)) return DeadlineExceeded("waiting for " + url.host + "'s response");
  if (ec == beast::error::timeout) return DeadlineExceeded("waiting for " + url.host + "'s response");
  if (ec) return NetError("read from", url, ec);
  const auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
  return out;
}

}  // namespace

Result<Url> ParseUrl(const std::string& url) {
  Url out;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return InvalidArgument("url \"" + url + "\": the scheme must be http:// or https://");
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.target.empty() && out.target.back() == '/') out.target.pop_back();
  if (authority.find('@') != std::string::npos) return InvalidArgument("url \"" + url + "\": credentials in URLs are not supported");
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out.port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    if (out.port.empty() || out.port.size() > 5 ||
        !std::all_of(out.port.begin(), out.port.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) ||
        std::stoi(out.port) == 0 || std::stoi(out.port) > 65535) {
      return InvalidArgument("url \"" + url + "\": bad port");
    }
  } else {
    out.port = out.tls ? "443" : "80";
  }
  if (authority.empty()) return InvalidArgument("url \"" + url + "\": no host");
  out.host = authority;
  return out;
}

Result<HttpResponse> HttpRequest(const Url& url, const std::string& method, const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& body, std::chrono::milliseconds timeout) {
  if (method != "GET" && method != "POST") return InvalidArgument("http method \"" + method + "\" is not supported");
  const auto deadline = Clock::now() + timeout;
  asio::io_context ioc;

  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  beast::error_code ec;
  bool done = false;
  resolver.async_resolve(url.host, url.port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    done = true;
  });
  if (!RunUntil(ioc, &done, deadline, [&] { resolver.cancel(); })) return DeadlineExceeded("resolving " + url.host);
  if (ec) return NetError("resolve", url, ec);

  http::request<http::string_body> req{method == "GET" ? http::verb::get : http::verb::post,
                                       url.target + path, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "tide");
  req.set(http::field::accept, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();

  auto connect = [&](beast::tcp_stream& tcp) -> Status {
    done = false;
    tcp.expires_at(deadline);
    tcp.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, &done, deadline, [&] { tcp.cancel(); }) || ec == beast::error::timeout) {
      return DeadlineExceeded("connecting to " + url.host + ":" + url.port);
    }
    if (ec) return NetError("connect to", url, ec);
    return Status::Ok();
  };

  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    TIDE_RETURN_IF_ERROR(connect(stream));
    auto result = Exchange(ioc, stream, url, req, deadline, [&] { stream.cancel(); });
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return result;
  }

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths(ec);
  if (ec) return Unavailable("loading the system CA certificates: " + ec.message());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    return Unavailable("TLS: cannot set the server name " + url.host);
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  TIDE_RETURN_IF_ERROR(connect(beast::get_lowest_layer(stream)));
  done = false;
  beast::get_lowest_layer(stream).expires_at(deadline);
  stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, &done, deadline, [&] { beast::get_lowest_layer(stream).cancel(); }) ||
      ec == beast::error::timeout) {
    return DeadlineExceeded("TLS handshake with " + url.host);
  }
  if (ec) return NetError("TLS handshake with", url, ec);
  return Exchange(ioc, stream, url, req, deadline, [&] { beast::get_lowest_layer(stream).cancel(); });
}

}  // namespace tide::workers
