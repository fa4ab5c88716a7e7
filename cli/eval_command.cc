#include "eval_command.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "tide/engine/served_model.h"
#include "tide/env/oracle.h"
#include "tide/workers/engine_policy.h"

namespace tide::cli {
namespace {

int Fail(const Status& s) {
  std::cerr << "tide eval: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

// The oracle makes at most this many tool calls a turn, as a model calling tools in
// parallel would (the value `tide bench swarm` uses), so its steps compare with a model's.
constexpr int kOracleCallsPerTurn = 4;
// Episodes at once for a model: their agents batch together on the one engine.
constexpr int kEngineJobs = 8;

bool ParseU64(const std::string& s, uint64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// Evaluation's messages start with the option's name ("max_subagents must be ..."); on the
// command line that is a flag.
Status AsFlagError(const Status& s) {
  if (s.ok() || s.code() != StatusCode::kInvalidArgument) return s;
  const std::string& m = s.message();
  const size_t end = m.find_first_of(": ");
  std::string flag = m.substr(0, end);
  for (char& c : flag) c = c == '_' ? '-' : c;
  // "family: world ... has no family" reads "--family: world ..."; "items must be ..." keeps its name.
  const std::string rest = end != std::string::npos && m[end] == ':' ? m.substr(end + 1) : " " + m;
  return InvalidArgument("--" + flag + ":" + rest);
}

}  // namespace

CLI::App* AddEvalCommand(CLI::App& app, EvalCommandArgs* a) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "evaluate a model (or the oracle) on held-out seeds: success, item-F1, spawn rate, critical steps");
  rl::EvalOptions& e = a->eval;
  e.jobs = 0;  // resolved by policy: cores for the oracle, a batch for a model
  cmd->add_option("--model", a->model_dir, "model folder (config.json, model.safetensors, tokenizer.json) run on this process's engine");
  cmd->add_option("--policy", a->policy, "oracle: the env's scripted teacher instead of a model");
  cmd->add_option("--world", e.world, "env world")->capture_default_str();
  cmd->add_option("--family", e.family, "task family")->capture_default_str();
  cmd->add_option("--items", e.items, "task size, 1..200")->capture_default_str();
  cmd->add_option("--seeds", a->seeds, "held-out seeds, A-B inclusive (or one seed)")->required();
  cmd->add_option("--mode", e.mode, "swarm, or single (the same coordinator allowed one sub-agent)")->capture_default_str();
  cmd->add_option("--max-subagents", e.max_subagents, "swarm mode: most sub-agents per episode, 1..100 (default min(items, 100))");
  cmd->add_option("--jobs", e.jobs, "episodes at once (default: cores for the oracle, 8 for a model)");
  cmd->add_option("--max-coordinator-steps", e.max_coordinator_steps, "coordinator turns (default: the swarm's)");
  cmd->add_option("--max-subagent-steps", e.max_subagent_steps, "sub-agent turns (default: the swarm's; 1000 in single mode)");
  cmd->add_option("--tool-latency-ms", e.tool_latency_ms, "simulated latency of every world tool call")->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "model sampling temperature (0 = greedy)")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "model: most tokens per turn")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  cmd->add_flag("--free-tool-calls", a->free_tool_calls,
                "model: write tool calls unconstrained (default: every <tool_call> follows the tools' JSON Schema)");
  cmd->add_option("--episodes-out", a->episodes_out, "write one JSON line per episode to this file");
  cmd->add_flag("--json", a->json, "print the result as one JSON line");
  return cmd;
}

Result<std::pair<uint64_t, uint64_t>> ParseSeedRange(const std::string& text) {
  const size_t dash = text.find('-');
  uint64_t first = 0, last = 0;
  const std::string a = text.substr(0, dash), b = dash == std::string::npos ? a : text.substr(dash + 1);
  if (!ParseU64(a, &first) || !ParseU64(b, &last)) {
    return InvalidArgument("--seeds: expected A-B (two non-negative integers, e.g. 9000-9019) or one seed, got \"" + text + "\"");
  }
  if (last < first) return InvalidArgument("--seeds: the range " + text + " ends before it starts");
  return std::make_pair(first, last);
}

Status ResolveEvalArgs(EvalCommandArgs* a) {
  if (a->model_dir.empty() == a->policy.empty()) {
    return InvalidArgument("--model / --policy: give exactly one: --model DIR (a model) or --policy oracle");
  }
  if (!a->policy.empty() && a->policy != "oracle") {
    return InvalidArgument("--policy: only oracle is built in (a model is given with --model DIR), got \"" + a->policy + "\"");
  }
  TIDE_ASSIGN_OR_RETURN(auto seeds, ParseSeedRange(a->seeds));
  a->eval.seed_first = seeds.first;
  a->eval.seed_last = seeds.second;
  a->eval.policy_name = a->model_dir.empty() ? "oracle" : "engine";
  if (a->eval.jobs == 0) {
    a->eval.jobs = a->model_dir.empty() ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : kEngineJobs;
  }
  a->eval.keep_episodes = !a->episodes_out.empty();
  return AsFlagError(rl::ValidateEvalOptions(a->eval));
}

int RunEvalCommand(EvalCommandArgs a) {
  // Bad flags fail before a model is loaded.
  if (Status s = ResolveEvalArgs(&a); !s.ok()) return Fail(s);
  std::unique_ptr<engine::ServedModel> served;  // outlives the policy that decodes on it
  std::unique_ptr<workers::Policy> policy;
  std::string model_id = "oracle";
  if (!a.model_dir.empty()) {
    Result<std::unique_ptr<engine::ServedModel>> opened = engine::ServedModel::Open(a.model_dir);
    if (!opened.ok()) return Fail(opened.status().WithContext("--model " + a.model_dir));
    served = std::move(*opened);
    model_id = served->id();
    workers::EnginePolicy::Options po;
    po.temperature = a.temperature;
    po.max_tokens = a.max_tokens;
    po.constrain_tool_calls = !a.free_tool_calls;
    policy = std::make_unique<workers::EnginePolicy>(served->engine(), po);
  } else {
    policy = std::make_unique<env::OraclePolicy>(env::OraclePolicy::Options{kOracleCallsPerTurn});
  }
  std::ofstream episodes;
  if (!a.episodes_out.empty()) {
    episodes.open(a.episodes_out, std::ios::trunc);
    if (!episodes) return Fail(InvalidArgument("--episodes-out " + a.episodes_out + ": cannot write the file"));
  }
  Result<rl::EvalReport> report = rl::Evaluate(a.eval, policy.get());
  if (!report.ok()) return Fail(AsFlagError(report.status()));
  const rl::EvalReport& r = *report;
  if (episodes.is_open()) {
    for (const rl::EvalEpisode& e : r.episodes_detail) episodes << rl::EvalEpisodeJson(e).dump() << '\n';
    episodes.close();
    if (!episodes) return Fail(Internal("--episodes-out " + a.episodes_out + ": writing failed"));
  }
  nlohmann::json line = rl::EvalReportJson(r);
  line["model"] = model_id;
  if (!a.model_dir.empty()) {
    line["temperature"] = a.temperature;
    line["constrained_tool_calls"] = !a.free_tool_calls;
  }
  if (a.json) {
    std::cout << line.dump() << std::endl;
    return 0;
  }
  const rl::EvalOptions& o = r.options;
  std::printf("tide eval: %s on %s/%s, %d items, %s mode (max %d sub-agents), seeds %s\n", model_id.c_str(), o.world.c_str(),
              o.family.c_str(), o.items, o.mode.c_str(), o.max_subagents, line["seeds"].get<std::string>().c_str());
  std::printf("  %-16s %d (%d failed runs)\n", "episodes", r.episodes, r.failed_runs);
  std::printf("  %-16s %.3f\n", "success", r.success);
  std::printf("  %-16s %.3f\n", "item_f1", r.item_f1);
  std::printf("  %-16s %.3f\n", "reward", r.reward);
  std::printf("  %-16s %.3f (mean %.2f sub-agents)\n", "spawn_rate", r.spawn_rate, r.mean_subagents);
  std::printf("  %-16s %.2f (total steps %.2f, tool calls %.2f)\n", "critical_steps", r.critical_steps, r.total_steps,
              r.tool_calls);
  std::printf("  %-16s %lld\n", "tokens", static_cast<long long>(r.tokens));
  std::printf("  %-16s %.2f\n", "wall_s", r.wall_s);
  return 0;
}

}  // namespace tide::cli
