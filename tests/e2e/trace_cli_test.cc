// End to end: `tide runs trace ID --html FILE` on a real run (from a local database and
// from a `tide serve` over loopback), its errors (unknown run, unwritable file), and the
// page rendered in headless Chromium: the screenshot has real content (a PNG of more than
// one colour), the console stays silent and the page's script ran. A deliberately broken
// page must fail the same checks. Skips the browser part when Chromium is absent.
#include <png.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "shell.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tide::e2e::Shell;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "tide_trace_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Ran {
  int code = -1;
  std::string out, err;
};

Ran Tide(const std::string& args, const std::string& err_file) {
  Ran r;
  int status = 0;
  r.out = Shell(std::string(TIDE_BIN) + " " + args + " 2>" + err_file, &status);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FindChromium() {
  if (const char* env = std::getenv("TIDE_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    int status = 0;
    std::string path = Shell(std::string("command -v ") + name + " 2>/dev/null", &status);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    if (status == 0 && !path.empty()) return path;
  }
  return "";
}

// What a headless render of `html` showed.
struct Render {
  int code = -1;
  std::string dom;                    // --dump-dom after the page's scripts ran
  std::vector<std::string> console;   // every console message (the page logs none)
  int width = 0, height = 0;
  size_t colours = 0;                 // distinct RGBA values in the screenshot
  double off_background = 0;          // share of pixels unlike the top-left one
};

Render RenderPage(const std::string& chromium, const std::string& html, const std::string& dir) {
  Render r;
  const std::string shot = dir + "/shot.png", err = dir + "/chromium.err";
  fs::remove(shot);
  int status = 0;
  // DBUS_SESSION_BUS_ADDRESS: no session bus here; without it Chromium waits on D-Bus.
  r.dom = Shell("DBUS_SESSION_BUS_ADDRESS=disabled: timeout 60 " + chromium +
                    " --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions"
                    " --disable-background-networking --disable-component-update --disable-sync"
                    " --user-data-dir=" + dir + "/profile --enable-logging=stderr --v=0"
                    " --window-size=1280,900 --screenshot=" + shot + " --dump-dom file://" + html + " 2>" + err,
                &status);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream log(ReadFile(err));
  for (std::string line; std::getline(log, line);) {
    if (line.find(":CONSOLE") != std::string::npos) r.console.push_back(line);
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, shot.c_str())) return r;
  image.format = PNG_FORMAT_RGBA;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return r;
  r.width = static_cast<int>(image.width);
  r.height = static_cast<int>(image.height);
  std::set<uint32_t> colours;
  size_t off = 0;
  const uint32_t* px = reinterpret_cast<const uint32_t*>(pixels.data());
  const size_t n = static_cast<size_t>(r.width) * r.height;
  for (size_t i = 0; i < n; ++i) {
    colours.insert(px[i]);
    if (px[i] != px[0]) ++off;
  }
  r.colours = colours.size();
  r.off_background = n ? static_cast<double>(off) / n : 0;
  return r;
}

// The page is good when it drew something, said nothing on the console and its script ran.
bool PageIsGood(const Render& r, std::string* why) {
  std::ostringstream w;
  if (r.code != 0) w << "chromium exited " << r.code << "; ";
  if (r.width == 0) w << "no screenshot; ";
  if (r.colours < 3 || r.off_background < 0.01) {
    w << "screenshot nearly uniform (" << r.colours << " colours, " << r.off_background * 100 << "% off background); ";
  }
  for (const auto& line : r.console) w << "console: " << line << "; ";
  if (r.dom.find("data-trace-ready=\"true\"") == std::string::npos) w << "the page's script did not finish; ";
  *why = w.str();
  return why->empty();
}

class TraceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.path() + "/db";
    const Ran swarm = Tide("swarm --policy oracle --db " + db_ + " --items 8 --subagents 4 --json", dir_.path() + "/swarm.err");
    ASSERT_EQ(swarm.code, 0) << swarm.err;
    run_ = json::parse(swarm.out);
  }
  TempDir dir_;
  std::string db_;
  json run_;
};

TEST_F(TraceCliTest, WritesThePageOfARealRunAndItRendersCleanly) {
  const std::string html = dir_.path() + "/trace.html";
  const std::string id = run_["run_id"];
  const Ran trace = Tide("runs trace " + id + " --html " + html + " --db " + db_ + " --json", dir_.path() + "/t.err");
  ASSERT_EQ(trace.code, 0) << trace.err;
  const json summary = json::parse(trace.out);
  EXPECT_EQ(summary["run_id"], id);
  EXPECT_EQ(summary["state"], "succeeded");
  EXPECT_EQ(summary["critical_steps"], run_["critical_steps"]);
  EXPECT_EQ(summary["agents"].get<int>(), 1 + run_["subagents"].get<int>());
  EXPECT_EQ(summary["events"], run_["events"]);
  const std::string page = ReadFile(html);
  ASSERT_EQ(page.size(), summary["bytes"].get<size_t>());
  EXPECT_NE(page.find("Critical steps: <b>" + std::to_string(run_["critical_steps"].get<int>()) + "</b>"),
            std::string::npos);
  EXPECT_NE(page.find("the run's result agrees"), std::string::npos);

  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "Chromium not found (Debian: apt-get install chromium; or set TIDE_CHROMIUM): the trace page "
                    "was written and checked, but not rendered";
  }
  const Render good = RenderPage(chromium, html, dir_.path());
  std::string why;
  EXPECT_TRUE(PageIsGood(good, &why)) << why;
  EXPECT_EQ(good.width, 1280);
  EXPECT_EQ(good.height, 900);
  EXPECT_NE(good.dom.find("id=\"steps-chart\""), std::string::npos);

  // The same page with its script altered: the CSP refuses it (a console error) and the
  // ready mark never comes. The check must catch it, or it proves nothing.
  std::string broken = page;
  const size_t at = broken.find("<script>");
  ASSERT_NE(at, std::string::npos);
  broken.insert(at + 8, "undefinedFunctionOfABrokenPage();");
  const std::string broken_html = dir_.path() + "/broken.html";
  std::ofstream(broken_html) << broken;
  const Render bad = RenderPage(chromium, broken_html, dir_.path());
  EXPECT_FALSE(PageIsGood(bad, &why));
  EXPECT_FALSE(bad.console.empty()) << "a refused script must show on the console";
  EXPECT_GT(bad.colours, 2u) << "the broken page still draws (its charts are static SVG)";
}

TEST_F(TraceCliTest, UnknownRunAndUnwritableFileAreClearErrors) {
  const std::string html = dir_.path() + "/nope.html";
  const Ran unknown = Tide("runs trace no-such-run --html " + html + " --db " + db_, dir_.path() + "/u.err");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("no-such-run"), std::string::npos) << unknown.err;
  EXPECT_FALSE(fs::exists(html)) << "no file for a run that does not exist";

  const std::string bad_path = dir_.path() + "/no/such/dir/trace.html";
  const Ran unwritable = Tide("runs trace " + run_["run_id"].get<std::string>() + " --html " + bad_path + " --db " + db_,
                             dir_.path() + "/w.err");
  EXPECT_EQ(unwritable.code, 2);
  EXPECT_NE(unwritable.err.find(bad_path), std::string::npos) << unwritable.err;
  EXPECT_NE(unwritable.err.find("cannot be opened for writing"), std::string::npos) << unwritable.err;

  const Ran missing = Tide("runs trace " + run_["run_id"].get<std::string>() + " --db " + db_, dir_.path() + "/m.err");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--html"), std::string::npos) << missing.err;
}

TEST(TraceCliServerTest, TracesARunOfATideServe) {
  TempDir dir;
  tide::e2e::ServeProcess server(dir.path() + "/db");
  ASSERT_GT(server.port(), 0);
  const Ran swarm = Tide("swarm --policy oracle --server " + server.address() + " --items 6 --subagents 3 --json", dir.path() + "/s.err");
  ASSERT_EQ(swarm.code, 0) << swarm.err;
  const json run = json::parse(swarm.out);
  const std::string html = dir.path() + "/remote.html";
  const Ran trace = Tide("runs trace " + run["run_id"].get<std::string>() + " --server " + server.address() + " --html " +
                            html + " --json",
                        dir.path() + "/t.err");
  ASSERT_EQ(trace.code, 0) << trace.err;
  EXPECT_EQ(json::parse(trace.out)["critical_steps"], run["critical_steps"]);
  EXPECT_NE(ReadFile(html).find("<svg class=\"chart\" id=\"time-chart\""), std::string::npos);

  const Ran unknown = Tide("runs trace nope --server " + server.address() + " --html " + html, dir.path() + "/u.err");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
}

}  // namespace
