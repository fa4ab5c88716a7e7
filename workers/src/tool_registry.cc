#include "tide/workers/tool_registry.h"

#include <exception>

#include "tide/workers/json_schema.h"

namespace tide::workers {
namespace {

ToolObservation FromResult(Result<std::string> out) {
  if (out.ok()) return {std::move(out).value(), false, ToolError::kNone};
  ToolError kind = ToolError::kFailed;
  if (out.status().code() == StatusCode::kDeadlineExceeded) kind = ToolError::kTimedOut;
  if (out.status().code() == StatusCode::kCancelled) kind = ToolError::kCancelled;
  return ErrorObservation(kind, out.status().message());
}

ToolObservation FromException(const std::string& tool, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ErrorObservation(ToolError::kFailed, "tool " + tool + " failed: " + ex.what());
  } catch (...) {
    return ErrorObservation(ToolError::kFailed, "tool " + tool + " failed with an unknown exception");
  }
}

}  // namespace

const char* ToolErrorName(ToolError error) {
  switch (error) {
    case ToolError::kNone: return "none";
    case ToolError::kUnknownTool: return "unknown_tool";
    case ToolError::kBadArguments: return "bad_arguments";
    case ToolError::kFailed: return "failed";
    case ToolError::kTimedOut: return "timed_out";
    case ToolError::kCancelled: return "cancelled";
    case ToolError::kBudget: return "budget_exhausted";
  }
  return "failed";
}

ToolObservation ErrorObservation(ToolError error, const std::string& message) {
  return {"error: " + message, true, error};
}

PendingToolCall PendingToolCall::Ready(ToolObservation observation) {
  PendingToolCall p;
  p.ready_ = std::move(observation);
  return p;
}

PendingToolCall::PendingToolCall(std::string tool, std::chrono::steady_clock::time_point start,
                                 std::future<ToolOutput> future)
    : tool_(std::move(tool)), start_(start), done_(start), future_(std::move(future)) {}

bool PendingToolCall::ready() const {
  if (ready_) return true;
  return !future_.valid() || future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

ToolObservation PendingToolCall::Wait() {
  if (ready_) {
    ToolObservation obs = std::move(*ready_);
    ready_.reset();
    return obs;
  }
  if (!future_.valid()) return ErrorObservation(ToolError::kFailed, "tool " + tool_ + ": its result was already read");
  try {
    ToolOutput out = future_.get();
    done_ = out.done;
    return FromResult(std::move(out.result));
  } catch (...) {
    done_ = std::chrono::steady_clock::now();
    return FromException(tool_, std::current_exception());
  }
}

double PendingToolCall::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(done_ - start_).count();
}

Status ToolRegistry::Add(std::shared_ptr<Tool> tool) {
  if (!tool) return InvalidArgument("tool is null");
  const std::string& name = tool->spec().name;
  if (name.empty()) return InvalidArgument("tool has an empty name");
  if (by_name_.count(name)) return AlreadyExists("tool \"" + name + "\" is already registered");
  by_name_[name] = tool;
  order_.push_back(std::move(tool));
  return Status::Ok();
}

bool ToolRegistry::Has(const std::string& name) const { return by_name_.count(name) > 0; }

std::shared_ptr<Tool> ToolRegistry::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<ToolSpec> ToolRegistry::Specs() const {
  std::vector<ToolSpec> specs;
  specs.reserve(order_.size());
  for (const auto& t : order_) specs.push_back(t->spec());
  return specs;
}

std::vector<std::string> ToolRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& t : order_) names.push_back(t->spec().name);
  return names;
}

PendingToolCall ToolRegistry::Begin(const ToolCall& call) const {
  auto tool = Find(call.name);
  if (!tool) {
    std::string known;
    for (const auto& t : order_) known += (known.empty() ? "" : ", ") + t->spec().name;
    return PendingToolCall::Ready(
        ErrorObservation(ToolError::kUnknownTool, "unknown tool \"" + call.name + "\" (available: " + known + ")"));
  }
  nlohmann::json args;
  const std::string text = call.arguments.empty() ? "{}" : call.arguments;
  try {
    args = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return PendingToolCall::Ready(
        ErrorObservation(ToolError::kBadArguments, "arguments of " + call.name + " are not valid JSON: " + e.what()));
  }
  if (Status s = ValidateJsonSchema(tool->spec().parameters, args); !s.ok()) {
    return PendingToolCall::Ready(
        ErrorObservation(ToolError::kBadArguments, "invalid arguments for " + call.name + ": " + s.message()));
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    return PendingToolCall(call.name, start, tool->Start(args));
  } catch (...) {
    return PendingToolCall::Ready(FromException(call.name, std::current_exception()));
  }
}

ToolObservation ToolRegistry::Invoke(const ToolCall& call) const { return Begin(call).Wait(); }

}  // namespace tide::workers
