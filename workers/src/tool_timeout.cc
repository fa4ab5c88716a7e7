#include "tide/workers/tool_timeout.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace tide::workers {
namespace {

std::atomic<int> g_abandoned{0};

// Shared by the caller and the call's thread; whoever finishes last frees it.
struct CallState {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::string>> result;
  bool abandoned = false;
};

Result<std::string> RunCatching(Tool& tool, const nlohmann::json& arguments) {
  try {
    return tool.Call(arguments);
  } catch (const std::exception& e) {
    return Internal("tool " + tool.spec().name + " failed: " + e.what());
  } catch (...) {
    return Internal("tool " + tool.spec().name + " failed with an unknown exception");
  }
}

}  // namespace

int AbandonedToolCalls() { return g_abandoned.load(); }

TimeoutTool::TimeoutTool(std::shared_ptr<Tool> inner, std::chrono::milliseconds timeout,
                         const std::atomic<bool>* cancelled)
    : inner_(std::move(inner)), timeout_(timeout), cancelled_(cancelled) {}

Result<std::string> TimeoutTool::Call(const nlohmann::json& arguments) {
  auto state = std::make_shared<CallState>();
  try {
    std::thread([state, inner = inner_, arguments] {
      Result<std::string> r = RunCatching(*inner, arguments);
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->abandoned) {
        g_abandoned.fetch_sub(1);
        return;
      }
      state->result = std::move(r);
      state->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return ResourceExhausted("tool " + spec().name + ": no thread to run it: " + e.what());
  }

  // Wake up now and then to see the cancel flag; the tool's answer wakes us at once.
  constexpr auto kPoll = std::chrono::milliseconds(10);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::unique_lock<std::mutex> lock(state->mu);
  while (!state->result) {
    const auto now = std::chrono::steady_clock::now();
    const bool cancelled = cancelled_ != nullptr && cancelled_->load();
    if (now >= deadline || cancelled) {
      state->abandoned = true;
      g_abandoned.fetch_add(1);
      if (cancelled) return Cancelled("the run was cancelled while tool " + spec().name + " ran");
      return DeadlineExceeded("tool " + spec().name + " did not answer within " + std::to_string(timeout_.count()) +
                              " ms; the call was abandoned");
    }
    state->cv.wait_for(lock, std::min<std::chrono::steady_clock::duration>(kPoll, deadline - now));
  }
  return std::move(*state->result);
}

}  // namespace tide::workers
