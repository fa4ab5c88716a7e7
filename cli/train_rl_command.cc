#include "train_rl_command.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "tide/core/json_config.h"
#include "tide/engine/served_model.h"
#include "tide/rl/learning_curves.h"
#include "tide/rl/swarm_rl.h"

namespace tide::cli {
namespace {

namespace fs = std::filesystem;

int Fail(const Status& s) {
  std::cerr << "tide: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

struct RlRecipe {
  std::string model;  // the starting model folder (an SFT run's out)
  bool parl = false;  // frozen sub-agents: a second engine on the starting model
  rl::SwarmRlOptions options;
};

Result<RlRecipe> LoadRlRecipe(const std::string& path) {
  TIDE_ASSIGN_OR_RETURN(nlohmann::json doc, LoadJsonFile(path));
  ConfigReader r(doc, path);
  RlRecipe rc;
  rl::SwarmRlOptions& o = rc.options;
  orchestrator::SwarmSpec& spec = o.rollout.spec;
  spec.task_family = "wide";
  double lr = 1e-4, wd = 0, min_lr = 1, temperature = o.rollout.temperature;
  double lambda_parallel = o.rollout.reward.lambda_parallel, lambda_finish = o.rollout.reward.lambda_finish;
  std::string optimizer = "adamw", loss = "grpo";
  int64_t micro = o.micro_batch_tokens;
  TIDE_RETURN_IF_ERROR(r.String("model", &rc.model, false));
  TIDE_RETURN_IF_ERROR(r.Bool("parl", &rc.parl, false));
  TIDE_RETURN_IF_ERROR(r.String("world", &spec.world, false));
  TIDE_RETURN_IF_ERROR(r.String("family", &spec.task_family, false));
  TIDE_RETURN_IF_ERROR(r.Int("items", &spec.items, false, 1, 200));
  TIDE_RETURN_IF_ERROR(r.Int("max_subagents", &spec.max_subagents, false, 1, orchestrator::kMaxSubagentsLimit));
  TIDE_RETURN_IF_ERROR(r.Int("max_coordinator_steps", &spec.max_coordinator_steps, false, 1, 1000));
  TIDE_RETURN_IF_ERROR(r.Int("max_subagent_steps", &spec.max_subagent_steps, false, 1, 10000));
  TIDE_RETURN_IF_ERROR(r.Int("group_size", &o.rollout.group_size, false, 2, 256));
  TIDE_RETURN_IF_ERROR(r.Int("max_tokens", &o.rollout.max_tokens, false, 1, 1 << 16));
  TIDE_RETURN_IF_ERROR(r.Double("temperature", &temperature, false, 1e-3, 10));
  TIDE_RETURN_IF_ERROR(r.Int("steps", &o.steps, true, 1, 1000000));
  TIDE_RETURN_IF_ERROR(r.Int("tasks_per_step", &o.tasks_per_step, false, 1, 10000));
  TIDE_RETURN_IF_ERROR(r.UInt64("task_seed_first", &o.task_seed_first, false));
  TIDE_RETURN_IF_ERROR(r.UInt64("task_seed_count", &o.task_seed_count, false));
  TIDE_RETURN_IF_ERROR(r.UInt64("seed", &o.seed, false));
  TIDE_RETURN_IF_ERROR(r.String("optimizer", &optimizer, false, {"adamw", "muon"}));
  TIDE_RETURN_IF_ERROR(r.Double("lr", &lr, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.Double("weight_decay", &wd, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.Int("warmup_steps", &o.warmup_steps, false, 0, 1000000));
  TIDE_RETURN_IF_ERROR(r.Double("min_lr_ratio", &min_lr, false, 0, 1));
  TIDE_RETURN_IF_ERROR(r.String("loss", &loss, false, {"grpo", "gspo"}));
  TIDE_RETURN_IF_ERROR(r.Bool("dynamic_sampling", &o.dynamic_sampling, false));
  TIDE_RETURN_IF_ERROR(r.Bool("routing_replay", &o.policy.routing_replay, false));
  TIDE_RETURN_IF_ERROR(r.Int("micro_batch_tokens", &micro, false, 1, int64_t{1} << 30));
  TIDE_RETURN_IF_ERROR(r.Int("save_every", &o.save_every, false, 0, 1000000));
  TIDE_RETURN_IF_ERROR(r.Int("max_staleness", &o.max_staleness, false, 0, 1000));
  TIDE_RETURN_IF_ERROR(r.Double("lambda_parallel", &lambda_parallel, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.Double("lambda_finish", &lambda_finish, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.Int("anneal_steps", &o.rollout.reward.anneal_steps, false, 0, 100000000));
  TIDE_RETURN_IF_ERROR(r.Int("parallel_target", &o.rollout.reward.parallel_target, false, 1, 100));
  std::string save_dtype = "f32";
  TIDE_RETURN_IF_ERROR(r.String("save_dtype", &save_dtype, false, {"f32", "bf16"}));
  o.save_dtype = save_dtype == "bf16" ? engine::Dtype::kBF16 : engine::Dtype::kF32;
  TIDE_RETURN_IF_ERROR(r.Finish());
  if (o.task_seed_count < 1) return InvalidArgument(path + ": task_seed_count must be >= 1");
  o.rollout.temperature = static_cast<float>(temperature);
  o.rollout.reward.lambda_parallel = lambda_parallel;
  o.rollout.reward.lambda_finish = lambda_finish;
  o.optimizer.kind = optimizer == "muon" ? engine::OptimizerKind::kMuon : engine::OptimizerKind::kAdamW;
  o.optimizer.lr = static_cast<float>(lr);
  o.optimizer.weight_decay = static_cast<float>(wd);
  o.min_lr_ratio = static_cast<float>(min_lr);
  o.policy.loss.level = loss == "gspo" ? rl::RatioLevel::kSequence : rl::RatioLevel::kToken;
  o.micro_batch_tokens = micro;
  if (!rc.model.empty() && !fs::path(rc.model).is_absolute() && !fs::exists(rc.model)) {
    rc.model = (fs::path(path).parent_path() / rc.model).string();  // beside the recipe
  }
  return rc;
}

}  // namespace

CLI::App* AddTrainRlCommand(CLI::App& train, TrainRlArgs* args) {
  CLI::App* cmd = train.add_subcommand("rl", "GRPO on swarms run on the model itself, trained in place (colocated)");
  cmd->add_option("--config", args->config_path, "RL recipe JSON (e.g. configs/train/swarm-s-rl.json)")->required();
  cmd->add_option("--model", args->model_dir, "starting model folder (default: the recipe's \"model\")");
  cmd->add_option("--out", args->out_dir, "output folder (model, checkpoint, curves)")->required();
  cmd->add_option("--stop-after-step", args->stop_after_step, "checkpoint and stop after this step (resume later)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "one JSON line per step");
  return cmd;
}

int RunTrainRlCommand(const TrainRlArgs& args) {
  Result<RlRecipe> recipe = LoadRlRecipe(args.config_path);
  if (!recipe.ok()) return Fail(recipe.status());
  const std::string model_dir = args.model_dir.empty() ? recipe->model : args.model_dir;
  if (model_dir.empty()) return Fail(InvalidArgument("no model: give --model DIR or the recipe's \"model\""));
  rl::SwarmRlOptions o = recipe->options;
  o.stop_after_step = args.stop_after_step;
  Result<std::unique_ptr<engine::ServedModel>> served = engine::ServedModel::Open(model_dir);
  if (!served.ok()) return Fail(served.status().WithContext("--model"));
  std::unique_ptr<engine::ServedModel> frozen;
  if (recipe->parl) {  // sub-agents stay the starting model
    Result<std::unique_ptr<engine::ServedModel>> f = engine::ServedModel::Open(model_dir);
    if (!f.ok()) return Fail(f.status());
    frozen = std::move(*f);
    o.rollout.frozen_subagents = frozen->engine();
  }
  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) return Fail(Internal(args.out_dir + ": cannot create: " + ec.message()));
  fs::copy_file(fs::path(model_dir) / "tokenizer.json", fs::path(args.out_dir) / "tokenizer.json",
                fs::copy_options::overwrite_existing, ec);
  if (ec) return Fail(Internal("copying tokenizer.json: " + ec.message()));

  const std::string csv = (fs::path(args.out_dir) / "curves.csv").string();
  const std::vector<std::string> columns = {"reward", "success", "item_f1", "spawn_rate", "critical_steps",
                                            "failed_episodes", "groups_kept", "rollouts", "loss", "clip_fraction",
                                            "logprob_mismatch", "collect_s", "update_s", "stale_groups",
                                            "partial_episodes", "staleness"};
  std::unique_ptr<rl::CurveWriter> curves;
  Status curve_error;
  auto progress = [&](const rl::SwarmRlStepStats& s) {
    if (!curves && curve_error.ok()) {
      Result<std::unique_ptr<rl::CurveWriter>> w = rl::CurveWriter::Open(csv, columns, s.step - 1);
      if (w.ok()) curves = std::move(*w);
      else curve_error = w.status();
    }
    if (curves) {
      Status a = curves->Append(s.step, {s.reward_mean, s.success, s.item_f1, s.spawn_rate, s.critical_steps,
                                         double(s.failed_episodes), double(s.groups_kept), double(s.rollouts),
                                         s.updated ? s.policy.loss : NAN, s.updated ? s.policy.clip_fraction : NAN,
                                         s.updated ? s.policy.logprob_mismatch : NAN, s.collect_s,
                                         s.updated ? s.update_s : NAN, double(s.stale_groups),
                                         double(s.partial_episodes), s.staleness});
      if (!a.ok() && curve_error.ok()) curve_error = a;
    }
    nlohmann::json line = {{"step", s.step},           {"reward", s.reward_mean},    {"success", s.success},
                           {"item_f1", s.item_f1},     {"spawn_rate", s.spawn_rate}, {"critical_steps", s.critical_steps},
                           {"episodes", s.episodes},   {"failed", s.failed_episodes}, {"groups_kept", s.groups_kept},
                           {"rollouts", s.rollouts},   {"updated", s.updated},       {"loss", s.policy.loss},
                           {"mismatch", s.policy.logprob_mismatch}, {"collect_s", s.collect_s}, {"update_s", s.update_s},
                           {"stale_groups", s.stale_groups}, {"partial_episodes", s.partial_episodes},
                           {"staleness", s.staleness}};
    if (args.json) {
      std::cout << line.dump() << std::endl;
    } else {
      std::fprintf(stderr, "step %d/%d  reward %.3f  success %.2f  spawn %.2f  groups %d/%d  rollouts %d  update %.2fs\n",
                   s.step, o.steps, s.reward_mean, s.success, s.spawn_rate, s.groups_kept, s.episodes > 0 ? s.episodes / o.rollout.group_size : 0,
                   s.rollouts, s.update_s);
    }
  };
  Result<rl::SwarmRlResult> r = rl::TrainSwarmRl((*served)->engine(), o, args.out_dir, progress);
  if (!r.ok()) return Fail(r.status());
  curves.reset();
  if (!curve_error.ok()) return Fail(curve_error);
  if (fs::exists(csv)) {
    const std::string png = (fs::path(args.out_dir) / "curves.png").string();
    if (Status s = rl::RenderCurvesPng(csv, png, "tide train rl"); !s.ok()) {
      std::cerr << "tide: warning: no curves.png: " << s.ToString() << "\n";
    }
  }
  nlohmann::json done = {{"out", args.out_dir}, {"steps", r->steps}, {"resumed_from", r->resumed_from}};
  std::cout << done.dump() << std::endl;
  return 0;
}

}  // namespace tide::cli
