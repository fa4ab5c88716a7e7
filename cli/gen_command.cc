#include "gen_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>

namespace tide::cli {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler stores to it");

void OnStopSignal(int) { g_stop.store(true); }

int Fail(const Status& s) {
  std::cerr << "tide: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

// One line redrawn in place, at most ten times a second.
class ProgressBar {
 public:
  void Draw(const rl::GenProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.done < p.total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 30;
    const int filled = p.total > 0 ? p.done * kWidth / p.total : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    const double per_min = p.elapsed_s > 0 ? p.kept * 60.0 / p.elapsed_s : 0;
    std::fprintf(stderr, "\rtide gen [%s] %d/%d  kept %d  errors %d  %.0f/min ", bar.c_str(), p.done, p.total, p.kept,
                 p.errors, per_min);
    std::fflush(stderr);
    drawn_ = true;
  }
  void Finish() {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  std::chrono::steady_clock::time_point last_{};
  bool drawn_ = false;
};

}  // namespace

CLI::App* AddGenCommand(CLI::App& app, GenCommandArgs* a) {
  CLI::App* cmd = app.add_subcommand(
      "gen", "generate verified multi-agent tool-use data: run swarms, keep passing trajectories, write OpenAI fine-tuning JSONL");
  rl::GenOptions& g = a->gen;
  cmd->add_option("--worlds", g.worlds, "worlds to draw tasks from, comma-separated (e.g. research,api,compute)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--families", g.families, "task families to use, comma-separated: FAMILY or WORLD/FAMILY (default: all)")
      ->delimiter(',');
  cmd->add_option("--tasks", g.tasks, "swarms to run")->check(CLI::Range(1, 100000000))->capture_default_str();
  cmd->add_option("--out", a->out, "output folder: examples.jsonl and stats.json")->required();
  cmd->add_option("--policy", a->policy.policy, "oracle, engine (--model-dir) or openai (--base-url, --model)")
      ->capture_default_str();
  cmd->add_option("--seed", g.seed, "base seed; each task's seed derives from it")->capture_default_str();
  cmd->add_option("--items", g.items, "task size for every task, 1..200 (default: varied per task in 2..10)")
      ->check(CLI::Range(1, 200));
  cmd->add_option("--min-reward", g.min_reward, "keep trajectories whose verified reward is at least this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--subagents", g.max_subagents, "most sub-agents a coordinator may start, 1..100")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--swarm-tools", g.swarm_tools,
                  "the coordinator's swarm tools: spawn (spawn_subagents) or create_assign (create_subagent + assign_task)")
      ->check(CLI::IsMember({"spawn", "create_assign"}))
      ->capture_default_str();
  cmd->add_option("--jobs", g.jobs, "swarms running at once (default: 2 x cores for the oracle, 16 otherwise)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--timeout", g.timeout_s, "per-swarm wall-clock deadline in seconds (0 = none)")->check(CLI::Range(0.0, 604800.0));
  cmd->add_option("--model-dir", a->policy.model_dir, "policy engine: model folder (config.json, model.safetensors, tokenizer.json)");
  cmd->add_option("--base-url", a->policy.base_url, "policy openai: the server's base URL, e.g. http://127.0.0.1:8000/v1");
  cmd->add_option("--model", a->policy.model, "policy openai: the model name");
  cmd->add_option("--api-key-env", a->policy.api_key_env, "policy openai: environment variable holding the API key")
      ->capture_default_str();
  cmd->add_option("--temperature", a->policy.temperature, "policy engine/openai: sampling temperature")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  cmd->add_flag("--no-progress", a->no_progress, "no progress bar even on a terminal");
  cmd->add_flag("--json", a->json, "print the summary as one JSON line");
  return cmd;
}

int RunGenCommand(GenCommandArgs a) {
  a.gen.policy_name = a.policy.policy;
  // Bad options fail before a model is loaded.
  if (Status s = rl::ValidateGenOptions(a.gen); !s.ok()) return Fail(s);
  if (a.gen.jobs == 0 && a.policy.policy != "oracle") a.gen.jobs = 16;  // agents wait on a model, not on cores
  if (a.gen.subagent_threads == 0 && a.policy.policy != "oracle") a.gen.subagent_threads = 64;
  Result<std::unique_ptr<rl::GenPolicy>> policy = rl::GenPolicy::Create(a.policy);
  if (!policy.ok()) return Fail(policy.status());

  // Ctrl-C stops starting new swarms; the ones running finish and everything is written.
  g_stop = false;
  a.gen.stop = &g_stop;
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  ProgressBar bar;
  const bool show = !a.no_progress && isatty(STDERR_FILENO);
  Result<rl::GenReport> report = rl::GenerateToDir(a.gen, (*policy)->policy(), a.out, [&](const rl::GenProgress& p) {
    if (show) bar.Draw(p);
  });
  bar.Finish();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (!report.ok()) return Fail(report.status());

  const rl::GenReport& r = *report;
  if (a.json) {
    std::cout << nlohmann::json{{"tasks", r.tasks},
                                {"planned_tasks", a.gen.tasks},
                                {"errors", r.errors},
                                {"passed", r.passed},
                                {"pass_rate", r.tasks ? double(r.passed) / r.tasks : 0.0},
                                {"duplicates", r.duplicates},
                                {"kept", r.kept},
                                {"examples", r.examples},
                                {"elapsed_s", r.elapsed_s},
                                {"per_min", r.per_min},
                                {"policy", a.policy.policy},
                                {"out", a.out}}
                     .dump()
              << std::endl;
  } else {
    std::printf("tide gen: %d tasks, %d passed (%.1f%%), %d duplicates, %d errors -> kept %d trajectories, %d examples\n",
                r.tasks, r.passed, r.tasks ? 100.0 * r.passed / r.tasks : 0.0, r.duplicates, r.errors, r.kept, r.examples);
    std::printf("tide gen: %.1f s, %.0f kept trajectories a minute; wrote %s/%s and %s/%s\n", r.elapsed_s, r.per_min,
                a.out.c_str(), rl::kGenExamplesFile, a.out.c_str(), rl::kGenStatsFile);
  }
  if (r.kept == 0) {
    std::cerr << "tide gen: no trajectory passed the threshold (--min-reward " << a.gen.min_reward << "); see "
              << a.out << "/" << rl::kGenStatsFile << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tide::cli
