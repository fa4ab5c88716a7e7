// The tide.v1.Env service of a real `tide serve` process, driven from Node with
// @grpc/grpc-js and @grpc/proto-loader (tests/e2e/node/env_client.mjs), the way a trainer
// written in another language would use Tide's worlds. Skips when Node or the packages are
// missing (scripts/setup.sh installs them).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "serve_process.h"
#include "shell.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;

TEST(EnvNodeTest, GrpcJsClientDrivesTheEnvService) {
  const fs::path node_dir = fs::path(TIDE_SOURCE_DIR) / "tests" / "e2e" / "node";
  int status = 0;
  tide::e2e::Shell("node --version >/dev/null 2>&1", &status);
  if (status != 0 || !fs::exists(node_dir / "node_modules" / "@grpc" / "grpc-js" / "package.json") ||
      !fs::exists(node_dir / "node_modules" / "@grpc" / "proto-loader" / "package.json")) {
    GTEST_SKIP() << "node or @grpc/grpc-js / @grpc/proto-loader is missing (run scripts/setup.sh)";
  }
  const fs::path dir = tide::e2e::FreshTempDir("tide-env-node-");
  tide::e2e::ServeProcess server((dir / "db").string());
  ASSERT_GT(server.port(), 0) << "the server did not report its port";
  const std::string out = tide::e2e::Shell("node " + (node_dir / "env_client.mjs").string() + " " + server.address() + " " +
                                               (fs::path(TIDE_SOURCE_DIR) / "proto").string() + " 2>&1",
                                           &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("all Env service checks passed"), std::string::npos) << out;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
