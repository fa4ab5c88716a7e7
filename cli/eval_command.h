// `tide eval`: evaluates a policy on held-out seeds of one world/family (rl/evaluation.h
// does the work). The policy is a model folder decoded on this process's engine
// (engine::ServedModel + workers::EnginePolicy, as `tide bench swarm --policy engine`) or
// the env's oracle teacher. Prints a short table, or one JSON line with --json; writes one
// JSONL row per episode with --episodes-out.
// Exit codes: 0 evaluated (whatever the scores), 1 a failure (model, output file), 2 bad
// flags (the message names the flag).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "tide/core/status.h"
#include "tide/rl/evaluation.h"

namespace tide::cli {

struct EvalCommandArgs {
  rl::EvalOptions eval;
  std::string model_dir;  // --model
  std::string policy;     // --policy (only "oracle"; a model is given with --model)
  std::string seeds;      // "A-B" or "A"
  std::string episodes_out;
  float temperature = 0.f;  // engine policy; 0 = greedy, so an evaluation is reproducible
  int max_tokens = 512;     // engine policy: most tokens per turn
  bool free_tool_calls = false;  // engine policy: tool calls not decoded under the tools' schema
  bool json = false;
};

// Adds the `eval` subcommand and its flags to `app`, filling `args` when parsed.
CLI::App* AddEvalCommand(CLI::App& app, EvalCommandArgs* args);

// "9000-9019" -> {9000, 9019}; "9000" -> {9000, 9000}. INVALID_ARGUMENT naming --seeds.
Result<std::pair<uint64_t, uint64_t>> ParseSeedRange(const std::string& text);

// Checks the flags together and fills args->eval's seeds and policy name: exactly one of
// --model / --policy oracle, a valid seed range, the evaluation options.
Status ResolveEvalArgs(EvalCommandArgs* args);

// Runs it; returns the exit code.
int RunEvalCommand(EvalCommandArgs args);

}  // namespace tide::cli
