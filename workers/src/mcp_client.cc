#include "tide/workers/mcp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "tide/core/log.h"

namespace tide::workers {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kSupportedVersions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};
constexpr size_t kStderrTailBytes = 8192;
constexpr int kMaxToolPages = 1000;

std::string Excerpt(std::string_view text, size_t max = 200) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

// The string at obj[key], or "" when absent or not a string (never throws).
std::string GetString(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// "; its stderr ends: <last lines>" or "" when it logged nothing.
std::string StderrSuffix(const std::string& tail) {
  std::string_view t(tail);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
  if (t.empty()) return "";
  if (t.size() > 600) t = t.substr(t.size() - 600);
  return "; its stderr ends: " + std::string(t);
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// One content block of a tools/call result as text.
std::string BlockText(const json& block) {
  const std::string type = GetString(block, "type");
  if (type == "text") return GetString(block, "text");
  if (type == "image" || type == "audio") return "[" + type + ": " + GetString(block, "mimeType") + "]";
  if (type == "resource_link") return "[resource: " + GetString(block, "uri") + "]";
  if (type == "resource") {
    const json resource = block.is_object() && block.contains("resource") ? block["resource"] : json();
    if (resource.is_object() && resource.contains("text")) return GetString(resource, "text");
    return "[resource: " + GetString(resource, "uri") + "]";
  }
  return "[" + (type.empty() ? std::string("unknown") : type) + " block]";
}

}  // namespace

McpClient::McpClient(McpServerConfig config, McpClientOptions options, std::unique_ptr<Subprocess> process)
    : config_(std::move(config)), options_(std::move(options)), process_(std::move(process)) {
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  reader_ = std::thread([this] { ReaderLoop(); });
}

McpClient::~McpClient() {
  Close();
  for (int fd : wake_fds_) {
    if (fd >= 0) close(fd);
  }
}

std::string McpClient::Describe() const { return "MCP server \"" + config_.name + "\""; }

Result<std::shared_ptr<McpClient>> McpClient::Start(McpServerConfig config, McpClientOptions options) {
  if (config.name.empty()) return InvalidArgument("MCP server config has an empty name");
  if (config.command.empty()) return InvalidArgument("MCP server \"" + config.name + "\" has an empty command");
  Result<std::unique_ptr<Subprocess>> process =
      Subprocess::Start({config.command, config.env, config.working_dir});
  if (!process.ok()) {
    return Status(process.status().code(), "MCP server \"" + config.name + "\": " + process.status().message());
  }
  std::shared_ptr<McpClient> client(new McpClient(std::move(config), std::move(options), std::move(process).value()));
  if (client->wake_fds_[0] < 0) return Internal(client->Describe() + ": cannot create the reader's wake pipe");
  if (Status s = client->Initialize(); !s.ok()) {
    client->Close();
    return s;
  }
  return client;
}

Status McpClient::Initialize() {
  const json params = {{"protocolVersion", options_.protocol_version},
                       {"capabilities", json::object()},
                       {"clientInfo", {{"name", "tide"}, {"version", "0.1.0"}}}};
  TIDE_ASSIGN_OR_RETURN(json result, Request("initialize", params, options_.initialize_timeout));
  if (!result.is_object()) return Internal(Describe() + " initialize: the result is not an object");
  info_.protocol_version = GetString(result, "protocolVersion");
  const auto* end = std::end(kSupportedVersions);
  if (std::find(std::begin(kSupportedVersions), end, info_.protocol_version) == end) {
    std::string supported;
    for (const char* v : kSupportedVersions) supported += (supported.empty() ? "" : ", ") + std::string(v);
    return FailedPrecondition(Describe() + " speaks MCP protocol version \"" + info_.protocol_version +
                              "\"; this client supports " + supported);
  }
  if (result.contains("serverInfo")) {
    info_.name = GetString(result["serverInfo"], "name");
    info_.version = GetString(result["serverInfo"], "version");
  }
  if (result.contains("capabilities") && result["capabilities"].is_object()) info_.capabilities = result["capabilities"];
  info_.instructions = GetString(result, "instructions");
  return Notify("notifications/initialized", nullptr);
}

Status McpClient::Send(const json& message, Clock::time_point deadline) {
  const std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::unique_lock<std::timed_mutex> write_lock(write_mu_, deadline);
  if (!write_lock.owns_lock()) return DeadlineExceeded("another message to the server was still being written");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return dead_status_;
  }
  Status s = process_->WriteStdin(line, deadline);
  if (!s.ok()) {
    // Part of the line may be in the pipe: the stream can no longer be trusted.
    process_->CloseStdin();
    if (s.code() == StatusCode::kDeadlineExceeded) {
      MarkDead(Unavailable("the server stopped reading its stdin (" + s.message() + ")"));
    }
  }
  return s;
}

Status McpClient::Notify(const std::string& method, json params) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  Status s = Send(message, Clock::now() + options_.request_timeout);
  if (!s.ok()) return Status(s.code(), Describe() + " " + method + ": " + s.message());
  return s;
}

Result<json> McpClient::Request(const std::string& method, json params,
                                std::optional<std::chrono::milliseconds> timeout) {
  const std::chrono::milliseconds limit = timeout.value_or(options_.request_timeout);
  const auto deadline = Clock::now() + limit;
  auto with_context = [&](const Status& s) { return Status(s.code(), Describe() + " " + method + ": " + s.message()); };
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (dead_) return with_context(dead_status_);
    id = next_id_++;
    pending_[id];
  }
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (Status s = Send(message, deadline); !s.ok()) {
    lock.lock();
    pending_.erase(id);
    // A broken pipe means the server is going away: report how, once the reader knows.
    if (s.code() == StatusCode::kUnavailable) {
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return dead_; });
      if (dead_) s = dead_status_;
    }
    return with_context(s);
  }
  lock.lock();
  const bool answered = cv_.wait_until(lock, deadline, [&] {
    auto it = pending_.find(id);
    return dead_ || (it != pending_.end() && it->second.has_value());
  });
  auto it = pending_.find(id);
  if (!answered) {
    if (it != pending_.end()) pending_.erase(it);
    lock.unlock();
    // Best effort: tell the server to stop working on it; a late answer is dropped.
    json cancel = {{"jsonrpc", "2.0"},
                   {"method", "notifications/cancelled"},
                   {"params", {{"requestId", id}, {"reason", "timed out after " + Ms(limit)}}}};
    (void)Send(cancel, Clock::now() + std::chrono::seconds(1));
    return DeadlineExceeded(Describe() + " " + method + ": no answer within " + Ms(limit));
  }
  Result<json> answer = it->second.has_value() ? std::move(*it->second) : Result<json>(dead_status_);
  pending_.erase(it);
  if (!answer.ok()) return with_context(answer.status());
  return answer;
}

void McpClient::FailPending(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, answer] : pending_) {
    if (!answer.has_value()) answer = Result<json>(status);
  }
  cv_.notify_all();
}

void McpClient::MarkDead(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!dead_) {
    dead_ = true;
    dead_status_ = std::move(status);
  }
  cv_.notify_all();
}

bool McpClient::alive() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !dead_;
}

std::string McpClient::stderr_tail() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stderr_tail_;
}

void McpClient::ReaderLoop() {
  const int out_fd = process_->stdout_fd();
  const int err_fd = process_->stderr_fd();
  bool out_open = true, err_open = true, stop = false;
  Clock::time_point out_closed_at;
  std::string buffer;
  std::vector<char> chunk(1 << 16);
  while (!stop) {
    pollfd fds[3];
    int n = 0, out_i = -1, err_i = -1;
    fds[n++] = {wake_fds_[0], POLLIN, 0};
    if (out_open) fds[out_i = n++] = {out_fd, POLLIN, 0};
    if (err_open) fds[err_i = n++] = {err_fd, POLLIN, 0};
    int wait_ms = -1;
    if (!out_open) {
      // stdout is closed: drain stderr a little longer, so the error can quote it.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          out_closed_at + std::chrono::milliseconds(200) - Clock::now());
      if (!err_open || left.count() <= 0) break;
      wait_ms = static_cast<int>(left.count());
    }
    const int r = poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      MarkDead(Internal("poll on the server's pipes failed: " + std::string(strerror(errno))));
      return;
    }
    if (fds[0].revents) return;  // Close() asked the reader to stop
    if (err_i >= 0 && fds[err_i].revents) {
      while (true) {
        const ssize_t got = read(err_fd, chunk.data(), chunk.size());
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) err_open = false;
          break;
        }
        std::lock_guard<std::mutex> lock(mu_);
        stderr_tail_.append(chunk.data(), static_cast<size_t>(got));
        if (stderr_tail_.size() > kStderrTailBytes) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
      }
    }
    if (out_i >= 0 && fds[out_i].revents) {
      while (out_open) {
        const ssize_t got = read(out_fd, chunk.data(), chunk.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got <= 0) {
          out_open = false;
          out_closed_at = Clock::now();
          if (!buffer.empty()) HandleLine(buffer);  // a last line without '\n'
          buffer.clear();
          break;
        }
        size_t start = buffer.size();
        buffer.append(chunk.data(), static_cast<size_t>(got));
        size_t line_begin = 0, nl;
        while ((nl = buffer.find('\n', start)) != std::string::npos) {
          HandleLine(std::string_view(buffer).substr(line_begin, nl - line_begin));
          line_begin = start = nl + 1;
        }
        buffer.erase(0, line_begin);
        if (buffer.size() > options_.max_line_bytes) {
          MarkDead(Internal("the server wrote a line longer than " + std::to_string(options_.max_line_bytes) +
                            " bytes"));
          stop = true;
          break;
        }
      }
    }
  }
  if (stop) return;
  // The server closed its stdout: it exited (or is about to), or it is broken.
  std::optional<int> exit_status = process_->WaitFor(std::chrono::milliseconds(500));
  const std::string how = exit_status ? Subprocess::DescribeExit(*exit_status) : "closed its stdout";
  MarkDead(Unavailable("the server " + how + StderrSuffix(stderr_tail())));
}

void McpClient::HandleLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.empty()) return;
  json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    FailPending(Internal("the server wrote a line that is not JSON: \"" + Excerpt(line) + "\""));
    return;
  }
  if (message.is_array() && !message.empty()) {  // a JSON-RPC batch (2025-03-26)
    for (const json& m : message) HandleMessage(m);
    return;
  }
  HandleMessage(message);
}

void McpClient::HandleMessage(const json& message) {
  auto not_jsonrpc = [&] {
    FailPending(Internal("the server wrote a message that is not JSON-RPC: " + Excerpt(message.dump())));
  };
  if (!message.is_object()) return not_jsonrpc();
  const std::string method = GetString(message, "method");
  auto id_it = message.find("id");
  if (!method.empty()) {
    if (id_it != message.end()) {  // a request from the server
      json reply = {{"jsonrpc", "2.0"}, {"id", *id_it}};
      if (method == "ping") {
        reply["result"] = json::object();
      } else {
        reply["error"] = {{"code", -32601},
                          {"message", "Method not found: " + method + " (tide's MCP client offers no client capabilities)"}};
      }
      if (Status s = Send(reply, Clock::now() + std::chrono::seconds(5)); !s.ok()) {
        TIDE_LOG(Warn) << Describe() << ": cannot answer its " << method << " request: " << s.message();
      }
      return;
    }
    notifications_.fetch_add(1);
    if (method == "notifications/tools/list_changed") tools_changed_.store(true);
    TIDE_LOG(Debug) << Describe() << " notification " << method;
    return;
  }
  if (id_it == message.end()) return not_jsonrpc();
  if (!id_it->is_number_integer()) {
    // id null: the server could not read one of our messages; it cannot say which.
    if (id_it->is_null() && message.contains("error")) {
      FailPending(Internal("the server rejected a message: " + Excerpt(message["error"].dump())));
    } else {
      TIDE_LOG(Warn) << Describe() << ": a response with an id this client never sent: " << Excerpt(message.dump());
    }
    return;
  }
  const int64_t id = id_it->get<int64_t>();
  std::optional<Result<json>> answer;
  if (auto err = message.find("error"); err != message.end()) {
    const int code = err->is_object() && err->contains("code") && (*err)["code"].is_number_integer()
                         ? (*err)["code"].get<int>()
                         : 0;
    std::string text = "error " + std::to_string(code) + ": " + GetString(*err, "message");
    if (err->is_object() && err->contains("data")) text += " (" + Excerpt((*err)["data"].dump()) + ")";
    const bool caller_error = code == -32602 || code == -32601;
    answer = Result<json>(Status(caller_error ? StatusCode::kInvalidArgument : StatusCode::kInternal, text));
  } else if (auto result = message.find("result"); result != message.end()) {
    answer = Result<json>(*result);
  } else {
    answer = Result<json>(Internal("a response with neither result nor error: " + Excerpt(message.dump())));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.has_value()) {
    TIDE_LOG(Debug) << Describe() << ": dropped an answer to request " << id << " (timed out or unknown)";
    return;
  }
  it->second = std::move(answer);
  cv_.notify_all();
}

void McpClient::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    closing_ = true;
    if (!dead_) {
      dead_ = true;
      dead_status_ = Unavailable("the client was closed");
    }
    cv_.notify_all();
  }
  {
    // A writer stuck on a full pipe holds the lock until its deadline: kill the server
    // then, so the write fails at once (broken pipe) and the lock comes free.
    std::unique_lock<std::timed_mutex> write_lock(write_mu_, options_.shutdown_grace);
    if (!write_lock.owns_lock()) {
      process_->Kill();
      write_lock.lock();
    }
    process_->CloseStdin();
  }
  process_->Terminate(options_.shutdown_grace);
  if (wake_fds_[1] >= 0) (void)!write(wake_fds_[1], "x", 1);
  if (reader_.joinable()) reader_.join();
}

Result<std::vector<McpToolInfo>> McpClient::ListTools() {
  if (!info_.capabilities.contains("tools")) {
    return FailedPrecondition(Describe() + " offers no tools (its capabilities have no \"tools\")");
  }
  std::vector<McpToolInfo> tools;
  json params = json::object();
  std::set<std::string> cursors;
  for (int page = 0; page < kMaxToolPages; ++page) {
    TIDE_ASSIGN_OR_RETURN(json result, Request("tools/list", params));
    auto list = result.is_object() ? result.find("tools") : result.end();
    if (!result.is_object() || list == result.end() || !list->is_array()) {
      return Internal(Describe() + " tools/list: the result has no \"tools\" array");
    }
    for (const json& t : *list) {
      if (GetString(t, "name").empty()) return Internal(Describe() + " tools/list: a tool without a name: " + Excerpt(t.dump()));
      McpToolInfo info;
      info.name = GetString(t, "name");
      info.title = GetString(t, "title");
      info.description = GetString(t, "description");
      if (t.contains("inputSchema") && t["inputSchema"].is_object()) {
        info.input_schema = t["inputSchema"];
      } else {
        info.input_schema = {{"type", "object"}};
      }
      if (t.contains("annotations")) info.annotations = t["annotations"];
      tools.push_back(std::move(info));
    }
    const std::string next = GetString(result, "nextCursor");
    if (next.empty()) return tools;
    if (!cursors.insert(next).second) {
      return Internal(Describe() + " tools/list: the server repeated the cursor \"" + Excerpt(next) + "\"");
    }
    params = {{"cursor", next}};
  }
  return Internal(Describe() + " tools/list: more than " + std::to_string(kMaxToolPages) + " pages");
}

Result<McpCallResult> McpClient::CallTool(const std::string& tool, const json& arguments,
                                          std::optional<std::chrono::milliseconds> timeout) {
  json params = {{"name", tool}, {"arguments", arguments.is_null() ? json::object() : arguments}};
  TIDE_ASSIGN_OR_RETURN(json result, Request("tools/call", std::move(params), timeout));
  if (!result.is_object()) return Internal(Describe() + " tools/call " + tool + ": the result is not an object");
  McpCallResult out;
  out.is_error = result.contains("isError") && result["isError"].is_boolean() && result["isError"].get<bool>();
  if (result.contains("structuredContent")) out.structured_content = result["structuredContent"];
  bool any_block = false;
  if (result.contains("content") && result["content"].is_array()) {
    for (const json& block : result["content"]) {
      if (any_block) out.text += "\n";
      out.text += BlockText(block);
      any_block = true;
    }
  }
  if (!any_block && !out.structured_content.is_null()) out.text = out.structured_content.dump();
  out.raw = std::move(result);
  return out;
}

McpTool::McpTool(std::shared_ptr<McpClient> client, McpToolInfo info, std::string registered_name)
    : client_(std::move(client)), info_(std::move(info)) {
  spec_.name = std::move(registered_name);
  spec_.description = !info_.description.empty() ? info_.description : info_.title;
  spec_.parameters = info_.input_schema;
}

Result<std::string> McpTool::Call(const json& arguments) {
  TIDE_ASSIGN_OR_RETURN(McpCallResult result, client_->CallTool(info_.name, arguments));
  if (result.is_error) {
    return Status(StatusCode::kUnknown, result.text.empty() ? "the tool reported an error without a message" : result.text);
  }
  return std::move(result.text);
}

Result<std::vector<std::string>> RegisterMcpTools(const std::shared_ptr<McpClient>& client, ToolRegistry& registry,
                                                  const McpToolNaming& naming) {
  if (!client) return InvalidArgument("RegisterMcpTools: the client is null");
  TIDE_ASSIGN_OR_RETURN(std::vector<McpToolInfo> tools, client->ListTools());
  std::vector<std::string> names;
  for (McpToolInfo& info : tools) {
    if (!naming.only.empty() && std::find(naming.only.begin(), naming.only.end(), info.name) == naming.only.end()) {
      continue;
    }
    std::string name = naming.prefix_with_server ? client->name() + naming.separator + info.name : info.name;
    for (char& c : name) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (!ok) c = '_';
    }
    TIDE_RETURN_IF_ERROR(registry.Add(std::make_shared<McpTool>(client, std::move(info), name)));
    names.push_back(std::move(name));
  }
  return names;
}

}  // namespace tide::workers
