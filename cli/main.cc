// tide: the one command-line entry point. Subcommands wire the libraries together:
//   tide swarm   run a swarm (in process, or on a server with --server HOST:PORT)
//   tide serve   serve the gRPC services (Orchestrator, Env, health, reflection)
//   tide runs    list stored runs, show one run's trajectory tree and events
// Exit codes: 0 success, 1 the run or request failed, 2 bad input.
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "backend.h"
#include "printer.h"
#include "tide/bench/bench.h"
#include "tide/core/log.h"
#include "tide/orchestrator/server.h"

namespace tide::cli {
namespace {

int Fail(const Status& s) {
  std::cerr << "tide: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

struct Common {
  std::string db = DefaultDbPath();
  std::string server;
  bool json = false;
};

Result<std::unique_ptr<Backend>> Connect(const Common& c) {
  if (!c.server.empty()) return MakeRemoteBackend(c.server);
  return MakeLocalBackend(c.db);
}

int RunSwarmCommand(const Common& c, const std::string& config, orchestrator::SwarmSpec spec, const CLI::App& cmd) {
  if (!config.empty()) {
    // Flags given on the command line win over the config file.
    Result<orchestrator::SwarmSpec> loaded = orchestrator::LoadSwarmConfig(config, spec);
    if (!loaded.ok()) return Fail(loaded.status());
    orchestrator::SwarmSpec merged = *loaded;
    if (cmd.count("--world")) merged.world = spec.world;
    if (cmd.count("--family")) merged.task_family = spec.task_family;
    if (cmd.count("--seed")) merged.seed = spec.seed;
    if (cmd.count("--items")) merged.items = spec.items;
    if (cmd.count("--subagents")) merged.max_subagents = spec.max_subagents;
    if (cmd.count("--policy")) merged.policy = spec.policy;
    if (cmd.count("--timeout")) merged.timeout_s = spec.timeout_s;
    spec = merged;
  }
  if (Status s = orchestrator::ValidateSwarmSpec(spec, "tide swarm"); !s.ok()) return Fail(s);
  auto backend = Connect(c);
  if (!backend.ok()) return Fail(backend.status());
  Result<tide::v1::Run> run = (*backend)->RunSwarm(spec, [&](const tide::v1::SwarmEvent& ev) {
    if (!c.json) PrintEventLine(std::cout, ev);
  });
  if (!run.ok()) return Fail(run.status());
  if (c.json) {
    std::cout << RunJson(*run).dump() << std::endl;
  } else {
    PrintRunSummary(std::cout, *run);
  }
  return run->state() == tide::v1::RUN_STATE_SUCCEEDED ? 0 : 1;
}

int ServeCommand(const orchestrator::ServerOptions& options) {
  // Signals are taken by a dedicated thread, so shutdown runs outside a signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  Result<std::unique_ptr<orchestrator::Server>> server = orchestrator::Server::Start(options);
  if (!server.ok()) return Fail(server.status());
  std::cout << "tide serve: listening on " << options.host << ":" << (*server)->port() << " (db " << options.db_path
            << ")" << std::endl;
  orchestrator::Server* s = server->get();
  std::thread signals([&set, s] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "tide serve: signal " << sig << ", shutting down\n";
    s->Shutdown();
  });
  signals.detach();
  s->Wait();
  return 0;
}

int RunsList(const Common& c, int limit) {
  auto backend = Connect(c);
  if (!backend.ok()) return Fail(backend.status());
  auto runs = (*backend)->ListRuns(limit);
  if (!runs.ok()) return Fail(runs.status());
  if (c.json) {
    for (const auto& r : *runs) std::cout << RunJson(r).dump() << "\n";
  } else {
    PrintRunTable(std::cout, *runs);
  }
  return 0;
}

int RunsShow(const Common& c, const std::string& run_id, bool all_events) {
  auto backend = Connect(c);
  if (!backend.ok()) return Fail(backend.status());
  auto run = (*backend)->GetRun(run_id);
  if (!run.ok()) return Fail(run.status());
  std::vector<tide::v1::SwarmEvent> events;
  Status s = (*backend)->Events(run_id, 0, [&](const tide::v1::SwarmEvent& ev) { events.push_back(ev); });
  if (!s.ok()) return Fail(s);
  if (c.json) {
    nlohmann::json j = RunJson(*run);
    j["events"] = nlohmann::json::array();
    for (const auto& ev : events) {
      j["events"].push_back({{"seq", ev.seq()},
                             {"kind", tide::v1::EventKind_Name(ev.kind())},
                             {"agent", ev.agent()},
                             {"parent_agent", ev.parent_agent()},
                             {"time_unix_ms", ev.time_unix_ms()},
                             {"payload", nlohmann::json::parse(ev.payload_json(), nullptr, false)}});
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  PrintTrajectoryTree(std::cout, *run, events);
  if (all_events) {
    for (const auto& ev : events) {
      std::cout << ev.seq() << "\t" << tide::v1::EventKind_Name(ev.kind()) << "\t"
                << (ev.agent().empty() ? "-" : ev.agent()) << "\t" << ev.payload_json() << "\n";
    }
  }
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"tide: an agent-swarm runtime and RL environment"};
  app.require_subcommand(1);
  std::string log_level;
  app.add_option("--log-level", log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  Common common;
  auto add_common = [&](CLI::App* cmd, bool server) {
    cmd->add_option("--db", common.db, "RocksDB database folder (default $TIDE_DB or ~/.tide/db)");
    if (server) cmd->add_option("--server", common.server, "talk to `tide serve` at HOST:PORT instead");
    cmd->add_flag("--json", common.json, "print JSON");
  };

  orchestrator::SwarmSpec spec;
  std::string config;
  CLI::App* swarm = app.add_subcommand("swarm", "run a swarm and print its verified score");
  add_common(swarm, true);
  swarm->add_option("--config", config, "swarm config JSON (fields as SwarmSpec; flags override it)");
  swarm->add_option("--world", spec.world, "env world")->capture_default_str();
  swarm->add_option("--family", spec.task_family, "task family (default: the world's first)");
  swarm->add_option("--seed", spec.seed, "task seed")->capture_default_str();
  swarm->add_option("--items", spec.items, "task size, 1..200")->check(CLI::Range(1, 200))->capture_default_str();
  swarm->add_option("--subagents", spec.max_subagents, "most sub-agents the coordinator may start, 1..100")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  swarm->add_option("--policy", spec.policy, "policy every agent decodes through")->capture_default_str();
  swarm->add_option("--timeout", spec.timeout_s, "wall-clock deadline in seconds (0 = none)")->check(CLI::Range(0.0, 604800.0));

  orchestrator::ServerOptions serve_options;
  serve_options.db_path = DefaultDbPath();
  CLI::App* serve = app.add_subcommand("serve", "serve the gRPC API (Orchestrator, Env, health, reflection)");
  serve->add_option("--host", serve_options.host, "address to bind")->capture_default_str();
  serve->add_option("--port", serve_options.port, "port (0 picks a free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  serve->add_option("--db", serve_options.db_path, "RocksDB database folder (default $TIDE_DB or ~/.tide/db)");

  CLI::App* runs = app.add_subcommand("runs", "stored runs");
  runs->require_subcommand(1);
  int limit = 20;
  CLI::App* list = runs->add_subcommand("list", "list runs, newest first");
  add_common(list, true);
  list->add_option("--limit", limit, "how many")->check(CLI::Range(1, 100000))->capture_default_str();
  std::string run_id;
  bool all_events = false;
  CLI::App* show = runs->add_subcommand("show", "show a run's trajectory tree");
  add_common(show, true);
  show->add_option("run_id", run_id, "the run's id")->required();
  show->add_flag("--events", all_events, "also print every stored event");

  std::string bench_name;
  bench::BenchOptions bench_options;
  bool bench_json = false;
  CLI::App* bench_cmd = app.add_subcommand("bench", "run a benchmark (one JSON object per line with --json)");
  bench_cmd->add_option("name", bench_name, "rmsnorm or swarm")->required();
  bench_cmd->add_flag("--json", bench_json, "print JSON lines");
  bench_cmd->add_flag("--quick", bench_options.quick, "small shapes, for a smoke run");
  bench_cmd->add_option("--min-seconds", bench_options.min_seconds, "time per measured variant")->check(CLI::Range(0.0, 600.0));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!log_level.empty()) {
    LogLevel level;
    ParseLogLevel(log_level, &level);
    SetLogLevel(level);
  }
  if (*swarm) return RunSwarmCommand(common, config, spec, *swarm);
  if (*serve) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(serve_options.db_path).parent_path(), ec);
    return ServeCommand(serve_options);
  }
  if (*list) return RunsList(common, limit);
  if (*bench_cmd) {
    Status s = bench::RunBench(bench_name, bench_options, [&](const nlohmann::json& j) {
      if (bench_json) {
        std::cout << j.dump() << std::endl;
      } else {
        std::cout << j.dump(2) << std::endl;
      }
    });
    return s.ok() ? 0 : Fail(s);
  }
  if (*show) return RunsShow(common, run_id, all_events);
  return 2;
}

}  // namespace tide::cli

int main(int argc, char** argv) { return tide::cli::Main(argc, argv); }
