// A tiny model fine-tuned with `tide train lm` on one tool-calling turn (the user asks to
// find tide; the assistant calls `search`; after the tool result it answers), for the
// end-to-end tests that serve a real model. Trains into dir/tiny-tools in a few seconds.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "shell.h"

namespace tide::e2e {

// The `search` tool the model was trained with, in OpenAI's wrapped form.
inline nlohmann::json TinyToolModelTools() {
  return nlohmann::json::parse(R"([{"type": "function", "function": {"name": "search",
      "description": "search the corpus", "parameters": {"type": "object",
      "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])");
}

// An empty folder of its own under the system temp folder, for one test.
inline std::filesystem::path FreshTempDir(const std::string& prefix) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / (prefix + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Trains the model into dir/tiny-tools and returns that path; "" with *log set on failure.
inline std::string TrainTinyToolModel(const std::filesystem::path& dir, std::string* log) {
  using nlohmann::json;
  const json call = {{"id", "call_0"}, {"type", "function"},
                     {"function", {{"name", "search"}, {"arguments", "{\"query\": \"tide\"}"}}}};
  const json record = {{"messages",
                        {{{"role", "user"}, {"content", "Find tide."}},
                         {{"role", "assistant"}, {"content", ""}, {"tool_calls", {call}}},
                         {{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "Tide is an agent-swarm runtime."}},
                         {{"role", "assistant"}, {"content", "Tide is an agent-swarm runtime."}}}},
                       {"tools", TinyToolModelTools()}};
  {
    std::ofstream data(dir / "sft.jsonl");
    for (int i = 0; i < 32; ++i) data << record.dump() << "\n";
    std::ofstream recipe(dir / "recipe.json");
    recipe << json{{"model", std::string(TIDE_SOURCE_DIR) + "/configs/models/tiny.json"},
                   {"seq_len", 256}, {"batch_windows", 4}, {"steps", 120}, {"warmup_steps", 10},
                   {"lr", 0.01}, {"optimizer", "adamw"}, {"weight_decay", 0.0}, {"eval_fraction", 0.0}}
                  .dump();
  }
  const std::string model_dir = (dir / "tiny-tools").string();
  int status = 0;
  *log = Shell(std::string(TIDE_BIN) + " train lm --json --config " + (dir / "recipe.json").string() + " --data " +
                   (dir / "sft.jsonl").string() + " --out " + model_dir + " 2>&1",
               &status);
  return status == 0 ? model_dir : "";
}

}  // namespace tide::e2e
