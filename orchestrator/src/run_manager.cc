#include "tide/orchestrator/run_manager.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <unordered_set>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <google/protobuf/util/json_util.h>

#include "tide/core/log.h"
#include "tide/env/oracle.h"
#include "tide/orchestrator/call_journal.h"
#include "tide/orchestrator/event_replay.h"
#include "tide/orchestrator/swarm.h"
#include "tide/workers/openai_policy.h"

namespace tide::orchestrator {
namespace {

using tide::v1::EventKind;
using tide::v1::RunState;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewRunId(uint64_t counter) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[64];
  std::snprintf(buf, sizeof(buf), "run-%llx-%04llx-%06llx", static_cast<unsigned long long>(NowMs()),
                static_cast<unsigned long long>(counter & 0xffff),
                static_cast<unsigned long long>(rng() & 0xffffff));
  return buf;
}

nlohmann::json ProtoToJson(const google::protobuf::Message& m) {
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &text, opts);
  return nlohmann::json::parse(text, nullptr, false);
}

Result<tide::v1::Run> ParseRun(const std::string& bytes, const std::string& run_id) {
  tide::v1::Run run;
  if (!run.ParseFromString(bytes)) return DataLoss("run record of " + run_id + " is corrupt");
  return run;
}

}  // namespace

struct RunManager::Active {
  std::string id;
  SwarmSpec spec;
  std::mutex mu;
  std::condition_variable cv;
  tide::v1::Run record;  // guarded by mu
  uint64_t next_seq = 0;  // guarded by mu
  bool done = false;      // guarded by mu
  std::atomic<bool> cancelled{false};
  std::string cancel_reason;  // guarded by mu
  std::shared_ptr<workers::Policy> policy;  // what its agents decode through
  std::unique_ptr<CallJournal> journal;
  EventKeys keys;                               // guarded by mu
  std::unordered_set<std::string> stored_keys;  // guarded by mu; events stored before a resume
  nlohmann::json resumed;                       // the RUN_RESUMED payload; null for a fresh run
  bool suspending = false;                      // guarded by mu; the manager is going away
};

// Stores each event of one run, then wakes its watchers. Every write of a run runs on
// that run's strand of the manager's writer pool, so a run's events are stored one at a
// time in seq order whichever agent emits them, and runs write in parallel. The run's
// mutex is held only to publish a stored event to watchers, never across the RocksDB
// write. Emit blocks its caller (an agent) until its event is durable: nothing an agent
// does after an event may happen before the event is stored. The writer pool runs nothing
// but these writes, so waiting on it cannot starve it.
class RunManager::Recorder : public EventSink {
 public:
  Recorder(Store* store, Active* run, boost::asio::thread_pool* writers)
      : store_(store), run_(run), strand_(boost::asio::make_strand(writers->get_executor())) {}

  Status Emit(EventKind kind, const std::string& agent, const std::string& parent,
              const nlohmann::json& payload) override {
    return OnStrand([&] { return Write(kind, agent, parent, payload); });
  }

  // The final event and the final run record, in one atomic write, after every event
  // emitted before it.
  Status Finish(EventKind kind, const nlohmann::json& payload, RunState state, const tide::v1::RunResult& result) {
    return OnStrand([&] { return WriteEnd(kind, payload, state, result); });
  }

 private:
  template <typename Fn>
  Status OnStrand(Fn fn) {
    std::packaged_task<Status()> task(std::move(fn));
    std::future<Status> done = task.get_future();
    boost::asio::post(strand_, std::move(task));
    return done.get();
  }

  // On the strand: keys, stored_keys and the writes of next_seq are the strand's alone.
  Status Write(EventKind kind, const std::string& agent, const std::string& parent, const nlohmann::json& payload) {
    {
      std::lock_guard<std::mutex> lock(run_->mu);
      // A suspended run stops without recording anything more: the next manager resumes it
      // from what is stored, so an event stored now would be one it cannot account for.
      if (run_->suspending) return Unavailable("run " + run_->id + " is suspended: the server is shutting down");
    }
    if (run_->stored_keys.erase(run_->keys.Next(kind, agent, parent, payload)) > 0) return Status::Ok();
    tide::v1::SwarmEvent ev = Make(kind, agent, parent, payload);
    TIDE_RETURN_IF_ERROR(store_->AppendEvent(run_->id, ev.seq(), ev.SerializeAsString()));
    std::lock_guard<std::mutex> lock(run_->mu);
    ++run_->next_seq;
    run_->cv.notify_all();
    return Status::Ok();
  }

  Status WriteEnd(EventKind kind, const nlohmann::json& payload, RunState state, const tide::v1::RunResult& result) {
    std::lock_guard<std::mutex> lock(run_->mu);  // once a run: the record changes with it
    if (run_->suspending) {  // left RUNNING for the next manager
      run_->done = true;
      run_->cv.notify_all();
      return Status::Ok();
    }
    tide::v1::SwarmEvent ev = Make(kind, "", "", payload);
    tide::v1::Run record = run_->record;
    record.set_state(state);
    record.set_finished_unix_ms(ev.time_unix_ms());
    record.set_num_events(ev.seq() + 1);
    *record.mutable_result() = result;
    Status s = store_->AppendEventAndPutRun(run_->id, ev.seq(), ev.SerializeAsString(), record.SerializeAsString());
    if (s.ok()) {
      ++run_->next_seq;
      run_->record = record;
    }
    run_->done = true;
    run_->cv.notify_all();
    return s;
  }

 private:
  tide::v1::SwarmEvent Make(EventKind kind, const std::string& agent, const std::string& parent,
                            const nlohmann::json& payload) {
    tide::v1::SwarmEvent ev;
    ev.set_run_id(run_->id);
    ev.set_seq(run_->next_seq);
    ev.set_kind(kind);
    ev.set_agent(agent);
    ev.set_parent_agent(parent);
    ev.set_time_unix_ms(NowMs());
    ev.set_payload_json(payload.dump());
    return ev;
  }

  Store* store_;
  Active* run_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;
};

RunManager::RunManager(Store* store, Options options) : store_(store) {
  int threads = options.subagent_threads;
  if (threads <= 0) threads = 64;  // agents block on their policy and tools, so threads are not tied to cores
  pool_ = std::make_unique<boost::asio::thread_pool>(threads);
  runs_pool_ = std::make_unique<boost::asio::thread_pool>(8);
  writers_ = std::make_unique<boost::asio::thread_pool>(2);
  override_policy_ = std::move(options.policy);
  engine_policy_ = std::move(options.engine_policy);
  allow_host_tools_ = options.allow_host_tools;
  oracle_ = std::make_shared<env::OraclePolicy>();
}

Result<std::shared_ptr<workers::Policy>> RunManager::PolicyFor(const SwarmSpec& spec) {
  if (override_policy_) return override_policy_;
  if (spec.policy == "engine") {
    if (!engine_policy_) {
      return FailedPrecondition("policy \"engine\": this server has no model (start it with tide serve --model DIR)");
    }
    return engine_policy_;
  }
  if (spec.policy != "openai") return oracle_;
  const std::string key = spec.base_url + "\n" + spec.model + "\n" + spec.api_key_env;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = openai_policies_.find(key); it != openai_policies_.end()) return it->second;
  workers::OpenAiPolicy::Options o;
  o.base_url = spec.base_url;
  o.model = spec.model;
  o = workers::OpenAiPolicy::WithApiKeyFromEnvironment(o, spec.api_key_env);
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<workers::OpenAiPolicy> policy, workers::OpenAiPolicy::Create(o));
  std::shared_ptr<workers::Policy> shared = std::move(policy);
  openai_policies_[key] = shared;
  return shared;
}

Result<std::unique_ptr<RunManager>> RunManager::Create(Store* store, Options options) {
  if (!store) return InvalidArgument("RunManager needs a store");
  std::unique_ptr<RunManager> m(new RunManager(store, options));
  TIDE_ASSIGN_OR_RETURN(auto runs, store->ListRuns(0));
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {  // oldest first
    const auto& [id, bytes] = *it;
    TIDE_ASSIGN_OR_RETURN(tide::v1::Run run, ParseRun(bytes, id));
    if (run.state() != RunState::RUN_STATE_RUNNING) continue;
    if (Status resumed = m->Resume(run); !resumed.ok()) {
      TIDE_LOG(Warn) << "run " << id << " cannot be resumed: " << resumed.ToString();
      TIDE_RETURN_IF_ERROR(m->MarkUnresumable(std::move(run), resumed));
    }
  }
  return m;
}

Status RunManager::Resume(tide::v1::Run record) {
  const std::string id = record.run_id();
  auto run = std::make_shared<Active>();
  run->id = id;
  run->spec = SpecFromProto(record.request());
  TIDE_RETURN_IF_ERROR(ValidateSwarmSpec(run->spec, "stored request"));
  TIDE_ASSIGN_OR_RETURN(run->policy, PolicyFor(run->spec));
  TIDE_ASSIGN_OR_RETURN(run->next_seq, store_->NextEventSeq(id));
  TIDE_ASSIGN_OR_RETURN(run->stored_keys, StoredEventKeys(store_, id));
  std::unique_ptr<JournalBackend> backend = MakeStoreJournalBackend(store_, id);
  TIDE_ASSIGN_OR_RETURN(JournalSummary journaled, SummarizeJournal(backend.get()));
  run->journal = std::make_unique<CallJournal>(id, std::move(backend), &run->cancelled, /*replay=*/true);
  record.set_resumes(record.resumes() + 1);
  TIDE_RETURN_IF_ERROR(store_->PutRun(id, record.SerializeAsString()));
  run->record = std::move(record);
  run->resumed = {{"resume", run->record.resumes()},
                  {"stored_events", run->next_seq},
                  {"journaled_policy_calls", journaled.policy_calls},
                  {"journaled_tool_calls", journaled.tool_calls},
                  {"unfinished_tool_calls", journaled.unfinished_tools}};
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_[id] = run;
  }
  TIDE_LOG(Info) << "resuming run " << id << " (" << run->next_seq << " events stored, " << journaled.policy_calls
                 << " policy and " << journaled.tool_calls << " tool calls journaled)";
  boost::asio::post(*runs_pool_, [this, run] { Execute(run); });
  return Status::Ok();
}

Status RunManager::MarkUnresumable(tide::v1::Run run, const Status& why) {
  const std::string& id = run.run_id();
  TIDE_ASSIGN_OR_RETURN(uint64_t seq, store_->NextEventSeq(id));
  tide::v1::SwarmEvent ev;
  ev.set_run_id(id);
  ev.set_seq(seq);
  ev.set_kind(EventKind::EVENT_KIND_RUN_FAILED);
  ev.set_time_unix_ms(NowMs());
  const std::string error = "interrupted: the server stopped while the run was in progress, and it cannot resume: " +
                            why.ToString();
  ev.set_payload_json(nlohmann::json{{"error", error}}.dump());
  run.set_state(RunState::RUN_STATE_FAILED);
  run.set_finished_unix_ms(ev.time_unix_ms());
  run.set_num_events(seq + 1);
  run.mutable_result()->set_error(error);
  return store_->AppendEventAndPutRun(id, seq, ev.SerializeAsString(), run.SerializeAsString());
}

RunManager::~RunManager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, run] : active_) {
      std::lock_guard<std::mutex> run_lock(run->mu);
      run->suspending = true;
      run->cancelled = true;
    }
  }
  runs_pool_->join();
  pool_->join();
  writers_->join();  // last: the agents above write through it until they end
}

Result<std::string> RunManager::Start(const SwarmSpec& spec) {
  TIDE_RETURN_IF_ERROR(ValidateSwarmSpec(spec, "request"));
  if (!allow_host_tools_) {
    const bool run_command =
        std::find(spec.builtin_tools.begin(), spec.builtin_tools.end(), "run_command") != spec.builtin_tools.end();
    if (!spec.mcp_servers.empty() || run_command) {
      return Status(StatusCode::kPermissionDenied,
                    std::string("request: ") + (run_command ? "run_command" : "mcp_servers") +
                        " would start a process on the server, which this server does not allow "
                        "(start it with tide serve --allow-host-tools)");
    }
  }
  TIDE_ASSIGN_OR_RETURN(std::shared_ptr<workers::Policy> policy, PolicyFor(spec));
  auto run = std::make_shared<Active>();
  run->id = NewRunId(counter_++);
  run->spec = spec;
  run->policy = std::move(policy);
  if (run->spec.task_family.empty()) {  // record the family actually run
    TIDE_ASSIGN_OR_RETURN(const env::World* world, env::FindWorld(spec.world));
    run->spec.task_family = world->task_families().front();
  }
  run->record.set_run_id(run->id);
  run->record.set_state(RunState::RUN_STATE_RUNNING);
  *run->record.mutable_request() = SpecToProto(run->spec);
  run->record.set_created_unix_ms(NowMs());
  run->journal = std::make_unique<CallJournal>(run->id, MakeStoreJournalBackend(store_, run->id), &run->cancelled,
                                               /*replay=*/false);
  TIDE_RETURN_IF_ERROR(store_->PutRun(run->id, run->record.SerializeAsString()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_[run->id] = run;
  }
  boost::asio::post(*runs_pool_, [this, run] { Execute(run); });
  return run->id;
}

void RunManager::Execute(std::shared_ptr<Active> run) {
  Recorder recorder(store_, run.get(), writers_.get());
  tide::v1::RunResult result;
  // A resumed run emits RUN_STARTED again too; the recorder knows it is stored.
  Status status = recorder.Emit(EventKind::EVENT_KIND_RUN_STARTED, "", "",
                                {{"request", ProtoToJson(run->record.request())}});
  const bool resumed = !run->resumed.is_null();
  if (status.ok() && resumed) status = recorder.Emit(EventKind::EVENT_KIND_RUN_RESUMED, "", "", run->resumed);
  SwarmSpec spec = run->spec;
  if (status.ok() && resumed && spec.timeout_s > 0) {  // the deadline counts from the run's creation
    const double left = spec.timeout_s - (NowMs() - run->record.created_unix_ms()) / 1000.0;
    if (left <= 0) {
      status = DeadlineExceeded("the run passed its deadline of " + std::to_string(spec.timeout_s) +
                                " s while the server was down");
    }
    spec.timeout_s = std::max(left, 1e-3);
  }
  if (status.ok()) {
    SwarmContext context;
    context.policy = run->policy.get();
    context.pool = pool_.get();
    context.sink = &recorder;
    context.cancelled = &run->cancelled;
    context.journal = run->journal.get();
    Swarm swarm(spec, context);
    Result<tide::v1::RunResult> r = swarm.Run();
    result = r.ok() ? *r : swarm.spent();  // a failed run still reports what it spent
    status = r.status();
  }
  // A journal that failed raised the cancel flag: the run failed, it was not cancelled.
  if (Status journal = run->journal->failure(); !journal.ok()) status = journal;
  if (status.ok() && resumed) result.set_wall_s((NowMs() - run->record.created_unix_ms()) / 1000.0);
  Status stored;
  if (status.ok()) {
    stored = recorder.Finish(EventKind::EVENT_KIND_RUN_FINISHED, ProtoToJson(result), RunState::RUN_STATE_SUCCEEDED,
                             result);
  } else if (status.code() == StatusCode::kCancelled) {
    std::string reason;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      reason = run->cancel_reason;
    }
    result.set_error(status.message() + (reason.empty() ? "" : ": " + reason));
    stored = recorder.Finish(EventKind::EVENT_KIND_RUN_CANCELLED, {{"reason", result.error()}},
                             RunState::RUN_STATE_CANCELLED, result);
  } else {
    result.set_error(status.ToString());
    stored = recorder.Finish(EventKind::EVENT_KIND_RUN_FAILED, {{"error", result.error()}}, RunState::RUN_STATE_FAILED,
                             result);
  }
  if (!stored.ok()) TIDE_LOG(Error) << "run " << run->id << ": could not store its end: " << stored.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  active_.erase(run->id);
}

std::shared_ptr<RunManager::Active> RunManager::FindActive(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(run_id);
  return it == active_.end() ? nullptr : it->second;
}

Status RunManager::Watch(const std::string& run_id, uint64_t from_seq, const EventFn& on_event,
                         const std::function<bool()>& stop) {
  std::shared_ptr<Active> active = FindActive(run_id);
  if (!active) TIDE_RETURN_IF_ERROR(store_->GetRun(run_id).status());
  uint64_t seq = from_seq;
  while (true) {
    TIDE_ASSIGN_OR_RETURN(auto batch, store_->ReadEvents(run_id, seq, 256));
    for (const auto& [s, bytes] : batch) {
      tide::v1::SwarmEvent ev;
      if (!ev.ParseFromString(bytes)) return DataLoss("event " + std::to_string(s) + " of run " + run_id + " is corrupt");
      if (!on_event(ev)) return Cancelled("the watcher stopped");
      seq = s + 1;
    }
    if (!batch.empty()) continue;
    if (!active) return Status::Ok();
    {
      std::unique_lock<std::mutex> lock(active->mu);
      if (seq >= active->next_seq) {
        if (active->done) return Status::Ok();
        active->cv.wait_for(lock, std::chrono::milliseconds(100),
                            [&] { return seq < active->next_seq || active->done; });
      }
    }
    if (stop && stop()) return Cancelled("the watcher was cancelled");
  }
}

Result<RunState> RunManager::Cancel(const std::string& run_id, const std::string& reason) {
  if (std::shared_ptr<Active> active = FindActive(run_id)) {
    std::lock_guard<std::mutex> lock(active->mu);
    if (!active->done) {
      active->cancel_reason = reason;
      active->cancelled = true;
      return RunState::RUN_STATE_RUNNING;
    }
  }
  TIDE_ASSIGN_OR_RETURN(tide::v1::Run run, Get(run_id));
  return run.state();
}

Result<tide::v1::Run> RunManager::Get(const std::string& run_id) {
  if (std::shared_ptr<Active> active = FindActive(run_id)) {
    std::lock_guard<std::mutex> lock(active->mu);
    tide::v1::Run run = active->record;
    if (!active->done) run.set_num_events(active->next_seq);
    return run;
  }
  Result<std::string> bytes = store_->GetRun(run_id);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return NotFound("no run with id \"" + run_id + "\"");
    return bytes.status();
  }
  return ParseRun(*bytes, run_id);
}

Result<std::vector<tide::v1::Run>> RunManager::List(size_t limit) {
  TIDE_ASSIGN_OR_RETURN(auto rows, store_->ListRuns(limit));
  std::vector<tide::v1::Run> runs;
  for (const auto& [id, bytes] : rows) {
    TIDE_ASSIGN_OR_RETURN(tide::v1::Run run, Get(id));
    runs.push_back(std::move(run));
  }
  return runs;
}

Result<tide::v1::Run> RunManager::Wait(const std::string& run_id) {
  TIDE_RETURN_IF_ERROR(Watch(run_id, std::numeric_limits<uint64_t>::max(), [](const tide::v1::SwarmEvent&) { return true; }));
  return Get(run_id);
}

}  // namespace tide::orchestrator
