// The official `openai` npm SDK against `tide serve --model`: a tiny model is fine-tuned
// with `tide train lm` on one tool-calling turn, served, and driven by
// tests/e2e/node/openai_client.mjs (models, chat, streaming, a tool-call round trip,
// completions, a 400 error). Skips when Node or the SDK is missing (scripts/setup.sh
// installs both).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "shell.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(OpenAiSdkTest, OfficialClientDrivesTheServer) {
  const fs::path node_dir = fs::path(TIDE_SOURCE_DIR) / "tests" / "e2e" / "node";
  int status = 0;
  tide::e2e::Shell("node --version >/dev/null 2>&1", &status);
  if (status != 0 || !fs::exists(node_dir / "node_modules" / "openai" / "package.json")) {
    GTEST_SKIP() << "node or the openai package is missing (run scripts/setup.sh)";
  }
  const fs::path dir = tide::e2e::FreshTempDir("tide-openai-sdk-");
  std::string log;
  const std::string model_dir = tide::e2e::TrainTinyToolModel(dir, &log);
  ASSERT_FALSE(model_dir.empty()) << log;

  tide::e2e::ServeProcess server((dir / "db").string(), {"--model", model_dir, "--http-port", "0"});
  ASSERT_GT(server.http_port(), 0) << "the server did not report its HTTP port";
  const std::string base = "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v1";
  std::string out = tide::e2e::Shell("node " + (node_dir / "openai_client.mjs").string() + " " + base + " tiny-tools 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("all OpenAI SDK checks passed"), std::string::npos) << out;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
