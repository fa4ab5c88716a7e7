// tide: the one command-line entry point. Subcommands wire the libraries together:
//   tide swarm   run a swarm (in process, or on a server with --server HOST:PORT)
//   tide serve   serve the gRPC services (Orchestrator, Env, health, reflection)
//   tide runs    list stored runs, show one run's trajectory tree and events
//   tide gen     generate verified multi-agent tool-use data (OpenAI fine-tuning JSONL)
//   tide eval    evaluate a model or the oracle on held-out seeds
// Exit codes: 0 success, 1 the run or request failed, 2 bad input.
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "backend.h"
#include "curves_command.h"
#include "train_rl_command.h"
#include "eval_command.h"
#include "gen_command.h"
#include "printer.h"
#include "tide/bench/bench.h"
#include "tide/rl/trajectory_export.h"
#include "tokenizer_command.h"
#include "trace_command.h"
#include "train_command.h"
#include "tide/core/log.h"
#include "tide/engine/checkpoint.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/served_model.h"
#include "tide/engine/tokenizer_json.h"
#include "tide/orchestrator/server.h"
#include "tide/workers/engine_policy.h"

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

Result<std::unique_ptr<Backend>> Connect(const Common& c, std::shared_ptr<workers::Policy> engine_policy = nullptr) {
  if (!c.server.empty()) return MakeRemoteBackend(c.server);
  return MakeLocalBackend(c.db, std::move(engine_policy));
}

// The model `tide swarm --policy engine` loads when neither --model-dir nor --server is
// given: $TIDE_MODEL_DIR, else the default model committed in this checkout.
std::string DefaultModelDir() {
  if (const char* env = std::getenv("TIDE_MODEL_DIR"); env != nullptr && *env != '\0') return env;
  return TIDE_DEFAULT_MODEL_DIR;
}

int RunSwarmCommand(const Common& c, const std::string& config, orchestrator::SwarmSpec spec, const std::string& model_dir,
                    const CLI::App& cmd) {
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
    if (cmd.count("--base-url")) merged.base_url = spec.base_url;
    if (cmd.count("--model")) merged.model = spec.model;
    if (cmd.count("--api-key-env")) merged.api_key_env = spec.api_key_env;
    if (cmd.count("--timeout")) merged.timeout_s = spec.timeout_s;
    if (cmd.count("--swarm-tools")) merged.swarm_tools = spec.swarm_tools;
    if (cmd.count("--max-tokens")) merged.max_tokens = spec.max_tokens;
    if (cmd.count("--max-tool-calls")) merged.max_tool_calls = spec.max_tool_calls;
    if (cmd.count("--tool-timeout-ms")) merged.tool_timeout_ms = spec.tool_timeout_ms;
    if (cmd.count("--builtin-tools")) merged.builtin_tools = spec.builtin_tools;
    if (cmd.count("--mcp-server")) merged.mcp_servers = spec.mcp_servers;
    spec = merged;
  }
  if (Status s = orchestrator::ValidateSwarmSpec(spec, "tide swarm"); !s.ok()) return Fail(s);
  // Policy "engine" here (not through --server): load the model into this process. Declared
  // before the backend so that it outlives the runs decoding on it.
  std::unique_ptr<engine::ServedModel> served;
  std::shared_ptr<workers::Policy> engine_policy;
  if (spec.policy == "engine" && c.server.empty()) {
    const std::string dir = model_dir.empty() ? DefaultModelDir() : model_dir;
    Result<std::unique_ptr<engine::ServedModel>> opened = engine::ServedModel::Open(dir);
    if (!opened.ok()) {
      return Fail(opened.status().WithContext("policy \"engine\": model folder " + dir +
                                              " (give --model-dir DIR, --server HOST:PORT or --policy oracle)"));
    }
    served = std::move(*opened);
    workers::EnginePolicy::Options po;
    po.max_tokens = 4096;  // a coordinator's spawn call for 8 sub-agents runs past 1,000 tokens; the context bounds it
    engine_policy = std::make_shared<workers::EnginePolicy>(served->engine(), po);
  } else if (!model_dir.empty()) {
    return Fail(InvalidArgument("--model-dir is for --policy engine without --server"));
  }
  auto backend = Connect(c, engine_policy);
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

// The signal handler only writes a byte to a pipe (async-signal-safe); a thread reading
// the pipe shuts the server down. A handler rather than sigwait, because libraries may
// start threads before main (OpenBLAS does) that would otherwise take the signal.
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const char b = static_cast<char>(sig);
  ssize_t ignored = write(g_signal_pipe[1], &b, 1);
  (void)ignored;
}

struct ServeArgs {
  orchestrator::ServerOptions server;
  std::string model_dir;  // empty: no model (runs asking for policy "engine" are refused)
  engine::InferenceEngine::Options engine;
};

int ServeCommand(ServeArgs args) {
  orchestrator::ServerOptions& options = args.server;
  // The served model, when given: the Engine service, the OpenAI HTTP API, and the policy
  // the swarms decode with. Declared before the server so it outlives it.
  std::unique_ptr<engine::ServedModel> served;
  if (!args.model_dir.empty()) {
    Result<std::unique_ptr<engine::ServedModel>> opened = engine::ServedModel::Open(args.model_dir, args.engine);
    if (!opened.ok()) return Fail(opened.status());
    served = std::move(*opened);
    options.engine = served->engine();
    options.model_id = served->id();
    options.model_config_json = engine::ModelConfigToJson(served->weights().config).dump(2);
    options.engine_policy = std::make_shared<workers::EnginePolicy>(served->engine(), workers::EnginePolicy::Options{});
  }
  if (pipe(g_signal_pipe) != 0) return Fail(Internal("cannot create the signal pipe"));
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Result<std::unique_ptr<orchestrator::Server>> server = orchestrator::Server::Start(options);
  if (!server.ok()) return Fail(server.status());
  // One write for the whole banner: a reader that stops after the lines it expects (a
  // test's pipe) must not leave a later line to hit a closed pipe.
  std::ostringstream banner;
  banner << "tide serve: listening on " << options.host << ":" << (*server)->port() << " (db " << options.db_path << ")\n";
  if ((*server)->http_port() >= 0 && options.engine != nullptr) {
    banner << "tide serve: model " << options.model_id << ", OpenAI API on http://" << options.host << ":"
           << (*server)->http_port() << "/v1\n";
  } else if ((*server)->http_port() >= 0) {
    banner << "tide serve: metrics on http://" << options.host << ":" << (*server)->http_port() << "/metrics\n";
  }
  std::cout << banner.str() << std::flush;
  orchestrator::Server* s = server->get();
  std::thread signals([s] {
    char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    std::cerr << "tide serve: signal " << static_cast<int>(sig) << ", shutting down\n";
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

// Appends one OpenAI fine-tuning example per agent of each succeeded run to `out_path`.
int RunsExport(const Common& c, const std::vector<std::string>& run_ids, int last, const std::string& out_path) {
  auto backend = Connect(c);
  if (!backend.ok()) return Fail(backend.status());
  std::vector<tide::v1::Run> runs;
  for (const auto& id : run_ids) {
    auto run = (*backend)->GetRun(id);
    if (!run.ok()) return Fail(run.status());
    runs.push_back(*run);
  }
  if (last > 0) {
    auto recent = (*backend)->ListRuns(last);
    if (!recent.ok()) return Fail(recent.status());
    runs.insert(runs.end(), recent->begin(), recent->end());
  }
  std::ofstream out(out_path, std::ios::app);
  if (!out) return Fail(InvalidArgument("--out " + out_path + " cannot be opened for writing"));
  int examples = 0, skipped = 0;
  for (const auto& run : runs) {
    if (run.state() != tide::v1::RUN_STATE_SUCCEEDED) {
      ++skipped;
      continue;
    }
    std::vector<tide::v1::SwarmEvent> events;
    Status s = (*backend)->Events(run.run_id(), 0, [&](const tide::v1::SwarmEvent& ev) { events.push_back(ev); });
    if (!s.ok()) return Fail(s);
    auto lines = rl::ExportTrajectories(run, events);
    if (!lines.ok()) return Fail(lines.status());
    for (const auto& j : *lines) out << j.dump() << "\n";
    examples += static_cast<int>(lines->size());
  }
  out.flush();
  if (!out) return Fail(Internal("writing " + out_path + " failed"));
  std::cout << nlohmann::json{{"runs", runs.size() - skipped}, {"skipped", skipped}, {"examples", examples}, {"out", out_path}}.dump()
            << std::endl;
  return 0;
}

int RunsTrace(const Common& c, const std::string& run_id, const std::string& html_path) {
  auto backend = Connect(c);
  if (!backend.ok()) return Fail(backend.status());
  nlohmann::json summary;
  if (Status s = WriteRunTrace(backend->get(), run_id, html_path, &summary); !s.ok()) return Fail(s);
  if (c.json) {
    std::cout << summary.dump() << std::endl;
  } else {
    std::cout << "wrote " << html_path << ": run " << run_id << " (" << summary["state"].get<std::string>() << "), "
              << summary["events"] << " events, " << summary["agents"] << " agents, " << summary["critical_steps"]
              << " critical steps" << std::endl;
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
  spec.policy = "engine";  // the CLI runs the default model unless told otherwise
  std::string swarm_model_dir;
  swarm->add_option("--policy", spec.policy,
                    "policy every agent decodes through: engine (--model-dir, default the committed models/swarm-s; "
                    "with --server the served model), oracle (the env's scripted teacher) or openai (--base-url, --model)")
      ->capture_default_str();
  swarm->add_option("--model-dir", swarm_model_dir,
                    "policy engine: model folder to load (default $TIDE_MODEL_DIR, else models/swarm-s of this checkout)");
  swarm->add_option("--base-url", spec.base_url, "policy openai: the server's base URL, e.g. https://api.openai.com/v1");
  swarm->add_option("--model", spec.model, "policy openai: the model name");
  swarm->add_option("--api-key-env", spec.api_key_env, "policy openai: environment variable holding the API key")
      ->capture_default_str();
  swarm->add_option("--timeout", spec.timeout_s, "wall-clock deadline in seconds (0 = none)")->check(CLI::Range(0.0, 604800.0));
  swarm->add_option("--swarm-tools", spec.swarm_tools,
                    "the coordinator's swarm tools: spawn (spawn_subagents) or create_assign (create_subagent + assign_task)")
      ->check(CLI::IsMember({"spawn", "create_assign"}))
      ->capture_default_str();
  swarm->add_option("--max-tokens", spec.max_tokens, "token budget of the whole run, all agents (0 = unlimited)")
      ->check(CLI::Range(int64_t{0}, orchestrator::kMaxTokensLimit));
  swarm->add_option("--max-tool-calls", spec.max_tool_calls, "tool-call budget of the whole run, all agents (0 = unlimited)")
      ->check(CLI::Range(0, orchestrator::kMaxToolCallsLimit));
  swarm->add_option("--tool-timeout-ms", spec.tool_timeout_ms, "a world tool call unanswered after this is a timeout error (0 = none)")
      ->check(CLI::Range(0, orchestrator::kMaxToolTimeoutMs));
  swarm->add_option("--builtin-tools", spec.builtin_tools,
                    "built-in tools for every agent beside the world's: calculator, notes, run_command (sandboxed shell)")
      ->delimiter(',');
  swarm->add_option_function<std::vector<std::string>>(
      "--mcp-server",
      [&spec](const std::vector<std::string>& values) {
        for (const std::string& v : values) {  // NAME=COMMAND ARGS... (split on spaces; env: use --config)
          const size_t eq = v.find('=');
          if (eq == std::string::npos) throw CLI::ValidationError("--mcp-server", "expected NAME=COMMAND [ARGS...], got " + v);
          orchestrator::McpServerSpec server{v.substr(0, eq), {}, {}};
          std::istringstream words(v.substr(eq + 1));
          for (std::string w; words >> w;) server.command.push_back(w);
          spec.mcp_servers.push_back(std::move(server));
        }
      },
      "an MCP server (stdio) the run starts; its tools are offered as NAME__TOOL (repeatable)");

  ServeArgs serve_args;
  orchestrator::ServerOptions& serve_options = serve_args.server;
  serve_options.db_path = DefaultDbPath();
  serve_options.http_port = 8000;
  CLI::App* serve = app.add_subcommand("serve", "serve the gRPC API (Orchestrator, Env, Engine, health, reflection) and, with --model, the OpenAI HTTP API");
  serve->add_option("--host", serve_options.host, "address to bind")->capture_default_str();
  serve->add_option("--port", serve_options.port, "port (0 picks a free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  serve->add_option("--db", serve_options.db_path, "RocksDB database folder (default $TIDE_DB or ~/.tide/db)");
  serve->add_option("--model", serve_args.model_dir, "model folder (config.json, model.safetensors, tokenizer.json) to serve; swarms with --policy engine decode on it");
  CLI::Option* http_port_flag =
      serve->add_option("--http-port", serve_options.http_port,
                        "HTTP port: /metrics (runs, and the engine with --model), /health and, with --model, the OpenAI "
                        "API on /v1; without --model only when given (0 picks a free one, -1 off)")
          ->check(CLI::Range(-1, 65535))
          ->capture_default_str();
  serve->add_flag("--allow-host-tools", serve_options.allow_host_tools,
                  "let clients' runs start processes here: MCP servers and the run_command sandbox");
  serve->add_option("--max-running", serve_args.engine.max_running, "sequences decoding at once")->check(CLI::Range(1, 4096))->capture_default_str();
  serve->add_option("--kv-blocks", serve_args.engine.kv_blocks, "KV cache blocks of 16 tokens (0: sized from --max-running)")->check(CLI::Range(0, 1 << 24));

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
  std::string trace_html;
  CLI::App* trace = runs->add_subcommand("trace", "write a run's trace (timeline, critical path, messages) as one HTML page");
  add_common(trace, true);
  trace->add_option("run_id", run_id, "the run's id")->required();
  trace->add_option("--html", trace_html, "HTML file to write")->required();

  std::string bench_name;
  bench::BenchOptions bench_options;
  bool bench_json = false;
  CLI::App* bench_cmd = app.add_subcommand("bench", "run a benchmark (one JSON object per line with --json)");
  bench_cmd->add_option("name", bench_name, "rmsnorm, swarm, engine (= kernels + decode + train), kernels, decode, train or serve")->required();
  bench_cmd->add_flag("--json", bench_json, "print JSON lines");
  bench_cmd->add_flag("--quick", bench_options.quick, "small shapes, for a smoke run");
  bench_cmd->add_option("--min-seconds", bench_options.min_seconds, "time per measured variant")->check(CLI::Range(0.0, 600.0));
  bench_cmd->add_option("--model-config", bench_options.model_config, "decode/train/serve: model config.json (default swarm-s)");
  bench_cmd->add_option("--policy", bench_options.policy, "swarm: oracle or engine (needs --model)");
  bench_cmd->add_option("--model", bench_options.model_dir, "swarm: model folder for --policy engine");
  bench_cmd->add_option("--tool-latency-ms", bench_options.tool_latency_ms, "swarm: simulated latency of each world tool call (default 100)")->check(CLI::Range(0, 60000));
  bench_cmd->add_option("--items", bench_options.items, "swarm: items of the wide task (default 50)")->check(CLI::Range(1, 1000));

  CLI::App* tokenizer_cmd = app.add_subcommand("tokenizer", "byte-level BPE tokenizers");
  tokenizer_cmd->require_subcommand(1);
  CLI::App* tok_train = tokenizer_cmd->add_subcommand("train", "train a tokenizer.json from a text or JSONL corpus");
  std::string tok_input, tok_out = "tokenizer.json";
  int tok_vocab = 8192;
  tok_train->add_option("--input", tok_input, "text file, or JSONL with \"text\" or \"messages\"")->required();
  tok_train->add_option("--vocab-size", tok_vocab, "vocabulary size")->check(CLI::Range(300, 1 << 20))->capture_default_str();
  tok_train->add_option("--out", tok_out, "tokenizer.json to write")->capture_default_str();

  CLI::App* train_cmd = app.add_subcommand("train", "train the engine's model");
  train_cmd->require_subcommand(1);
  cli::TrainLmArgs train_args;
  CLI::App* train_lm = train_cmd->add_subcommand("lm", "next-token or chat SFT training on JSONL");
  CLI::App* train_sft = train_cmd->add_subcommand(
      "sft", "supervised fine-tuning on `tide gen` chat JSONL (loss on assistant tokens, tool calls included)");
  for (CLI::App* cmd : {train_lm, train_sft}) {
    cmd->add_option("--config", train_args.config_path, "training recipe JSON (e.g. configs/train/swarm-s-sft.json)")->required();
    cmd->add_option("--data", train_args.data_path, "JSONL: {\"text\"} or {\"messages\", \"tools\"} per line (default: the recipe's \"data\")");
    cmd->add_option("--eval-data", train_args.eval_data_path, "held-out JSONL (default: the recipe's \"eval_data\", else the data's tail)");
    cmd->add_option("--out", train_args.out_dir, "output folder (resumes a run found there)")->required();
    cmd->add_flag("--json", train_args.json, "print the summary as JSON");
  }

  cli::GenerateArgs gen;
  CLI::App* generate = app.add_subcommand("generate", "sample text from a trained model folder");
  generate->add_option("--model", gen.model_dir, "folder with config.json, model.safetensors, tokenizer.json")->required();
  generate->add_option("--prompt", gen.prompt, "prompt text")->required();
  generate->add_flag("--chat", gen.chat, "send the prompt as a user turn of the chat template");
  generate->add_option("--max-tokens", gen.max_tokens, "tokens to generate")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  generate->add_option("--temperature", gen.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0))->capture_default_str();
  generate->add_option("--top-k", gen.top_k, "0 = off")->check(CLI::Range(0, 1 << 20));
  generate->add_option("--top-p", gen.top_p, "1 = off")->check(CLI::Range(0.0, 1.0));
  generate->add_option("--seed", gen.seed, "sampling seed");

  GenCommandArgs gen_args;
  CLI::App* gen_cmd = AddGenCommand(app, &gen_args);
  EvalCommandArgs eval_args;
  CLI::App* eval_cmd = AddEvalCommand(app, &eval_args);
  CurvesCommandArgs curves_args;
  CLI::App* curves_cmd = AddCurvesCommand(*train_cmd, &curves_args);
  TrainRlArgs train_rl_args;
  CLI::App* train_rl_cmd = AddTrainRlCommand(*train_cmd, &train_rl_args);

  std::vector<std::string> export_ids;
  int export_last = 0;
  std::string export_out;
  CLI::App* export_cmd = runs->add_subcommand("export", "append runs as OpenAI fine-tuning JSONL (one example per agent)");
  add_common(export_cmd, true);
  export_cmd->add_option("run_ids", export_ids, "run ids");
  export_cmd->add_option("--last", export_last, "also the newest N runs")->check(CLI::Range(1, 1000000));
  export_cmd->add_option("--out", export_out, "JSONL file to append to")->required();

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
  if (*swarm) return RunSwarmCommand(common, config, spec, swarm_model_dir, *swarm);
  if (*serve) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(serve_options.db_path).parent_path(), ec);
    // Without a model the HTTP port only serves metrics: opened when asked for, so that
    // several model-less servers on one machine do not all claim port 8000.
    if (serve_args.model_dir.empty() && http_port_flag->count() == 0) serve_options.http_port = -1;
    return ServeCommand(serve_args);
  }
  if (*list) return RunsList(common, limit);
  if (*tok_train) return RunTokenizerTrain(tok_input, tok_vocab, tok_out);
  if (*train_lm || *train_sft) return RunTrainLm(train_args);
  if (*generate) return RunGenerate(gen);
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
  if (*gen_cmd) return RunGenCommand(gen_args);
  if (*eval_cmd) return RunEvalCommand(eval_args);
  if (*curves_cmd) return RunCurvesCommand(curves_args);
  if (*train_rl_cmd) return RunTrainRlCommand(train_rl_args);
  if (*show) return RunsShow(common, run_id, all_events);
  if (*trace) return RunsTrace(common, run_id, trace_html);
  if (*export_cmd) {
    if (export_ids.empty() && export_last == 0) return Fail(InvalidArgument("name run ids or --last N"));
    return RunsExport(common, export_ids, export_last, export_out);
  }
  return 2;
}

}  // namespace tide::cli

int main(int argc, char** argv) {
  // Training and batched forwards free and reallocate buffers of tens of MB every step;
  // keep them in the heap instead of returning them to the kernel (mmap) each time, which
  // costs a page fault per 4 KiB on the next allocation.
  // (32 MiB is the largest threshold glibc accepts; a rejected value would leave the
  // default, and M_TRIM_THRESHOLD alone switches off glibc's own threshold growth.)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return tide::cli::Main(argc, argv);
}
