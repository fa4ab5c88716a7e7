#include "tide/workers/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include <chrono>

#include "scripted_http_server.h"

namespace tide::workers {
namespace {

using testing::ScriptedHttpServer;
using testing::ScriptedRequest;
using testing::ScriptedResponse;

TEST(HttpClientTest, ParsesUrlsAndNamesWhatIsWrong) {
  auto a = ParseUrl("http://127.0.0.1:8000/v1/");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, "8000");
  EXPECT_EQ(a->target, "/v1");
  auto b = ParseUrl("https://api.openai.com/v1");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, "443");
  auto c = ParseUrl("http://localhost");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, "80");
  EXPECT_EQ(c->target, "");
  for (const char* bad : {"ftp://x/v1", "localhost:8000", "http://:80/v1", "http://h:0/", "http://h:99999/",
                          "http://h:8a/", "http://user:pw@h/"}) {
    auto r = ParseUrl(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().ToString();
  }
}

TEST(HttpClientTest, PostsAndReadsStatusBodyAndRetryAfter) {
  ScriptedHttpServer server([](const ScriptedRequest& req, int) {
    ScriptedResponse res;
    res.status = req.target == "/v1/chat/completions" && req.method == "POST" ? 429 : 404;
    res.body = "{\"echo\":" + req.body + ",\"auth\":\"" + req.authorization + "\"}";
    res.headers = {{"Retry-After", "7"}};
    return res;
  });
  auto url = ParseUrl(server.url());
  ASSERT_TRUE(url.ok());
  auto res = HttpRequest(*url, "POST", "/chat/completions", {{"Authorization", "Bearer k"}}, "{\"x\":1}",
                         std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->body, "{\"echo\":{\"x\":1},\"auth\":\"Bearer k\"}");
  EXPECT_EQ(res->retry_after, "7");
  auto get = HttpRequest(*url, "GET", "/models", {}, "", std::chrono::seconds(5));
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 404);
  EXPECT_EQ(server.requests(), 2);
}

TEST(HttpClientTest, OneDeadlineCoversTheExchange) {
  ScriptedHttpServer server([](const ScriptedRequest&, int) {
    return ScriptedResponse{200, "{}", {}, std::chrono::milliseconds(800)};
  });
  auto url = ParseUrl(server.url());
  const auto start = std::chrono::steady_clock::now();
  auto res = HttpRequest(*url, "POST", "/chat/completions", {}, "{}", std::chrono::milliseconds(150));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kDeadlineExceeded) << res.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(700));
}

TEST(HttpClientTest, RefusedConnectionsAndBadTlsAreUnavailable) {
  int closed_port = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  auto url = ParseUrl("http://127.0.0.1:" + std::to_string(closed_port) + "/v1");
  auto res = HttpRequest(*url, "GET", "/models", {}, "", std::chrono::seconds(2));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable) << res.status().ToString();

  // A plain HTTP server cannot complete a TLS handshake.
  ScriptedHttpServer server([](const ScriptedRequest&, int) { return ScriptedResponse{}; });
  auto tls = ParseUrl("https://127.0.0.1:" + std::to_string(server.port()) + "/v1");
  auto r2 = HttpRequest(*tls, "GET", "/models", {}, "", std::chrono::seconds(2));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kUnavailable) << r2.status().ToString();
  EXPECT_NE(r2.status().message().find("TLS"), std::string::npos) << r2.status().ToString();
  EXPECT_EQ(HttpRequest(*tls, "PUT", "/x", {}, "", std::chrono::seconds(1)).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::workers
