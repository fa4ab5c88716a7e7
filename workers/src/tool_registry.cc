#include "tide/workers/tool_registry.h"

#include <exception>

#include "tide/workers/json_schema.h"

namespace tide::workers {

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

ToolObservation ToolRegistry::Invoke(const ToolCall& call) const {
  auto tool = Find(call.name);
  if (!tool) {
    std::string known;
    for (const auto& t : order_) known += (known.empty() ? "" : ", ") + t->spec().name;
    return {"error: unknown tool \"" + call.name + "\" (available: " + known + ")", true};
  }
  nlohmann::json args;
  const std::string text = call.arguments.empty() ? "{}" : call.arguments;
  try {
    args = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return {"error: arguments of " + call.name + " are not valid JSON: " + e.what(), true};
  }
  if (Status s = ValidateJsonSchema(tool->spec().parameters, args); !s.ok()) {
    return {"error: invalid arguments for " + call.name + ": " + s.message(), true};
  }
  try {
    Result<std::string> out = tool->Call(args);
    if (!out.ok()) return {"error: " + out.status().message(), true};
    return {std::move(out).value(), false};
  } catch (const std::exception& e) {
    return {"error: tool " + call.name + " failed: " + e.what(), true};
  } catch (...) {
    return {"error: tool " + call.name + " failed with an unknown exception", true};
  }
}

}  // namespace tide::workers
