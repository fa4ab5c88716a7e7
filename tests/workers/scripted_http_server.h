// A real HTTP server for client tests: Boost.Beast on 127.0.0.1 (a free port), one thread
// per connection, answering each request with what a test's handler returns (status, body,
// headers, and a delay before answering, to exercise timeouts and concurrency limits).
// It counts requests and the most handled at once. Stops and joins in the destructor.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tide::workers::testing {

struct ScriptedRequest {
  std::string method, target, body, authorization;
};
struct ScriptedResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
};

class ScriptedHttpServer {
 public:
  using Handler = std::function<ScriptedResponse(const ScriptedRequest&, int index)>;

  explicit ScriptedHttpServer(Handler handler)
      : handler_(std::move(handler)), acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~ScriptedHttpServer() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    // Wake the blocking accept with a connection of our own.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (auto& t : connections_) t.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() const { return requests_.load(); }
  int max_concurrent() const { return max_concurrent_.load(); }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      std::lock_guard lock(mu_);
      connections_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(boost::asio::ip::tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    const int index = requests_.fetch_add(1);
    const int now = ++concurrent_;
    int seen = max_concurrent_.load();
    while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
    }
    ScriptedRequest in{std::string(req.method_string()), std::string(req.target()), req.body(),
                       std::string(req[http::field::authorization])};
    const ScriptedResponse out = handler_(in, index);
    std::this_thread::sleep_for(out.delay);
    --concurrent_;
    http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
    res.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : out.headers) res.set(name, value);
    res.body() = out.body;
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
  std::atomic<int> requests_{0}, concurrent_{0}, max_concurrent_{0};
};

}  // namespace tide::workers::testing
