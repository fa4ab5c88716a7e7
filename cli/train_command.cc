#include "train_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "tide/core/json_config.h"
#include "tide/engine/bpe_trainer.h"
#include "tide/engine/chat_template.h"
#include "tide/engine/checkpoint.h"
#include "tide/engine/lm_data.h"
#include "tide/engine/lm_trainer.h"
#include "tide/engine/model.h"
#include "tide/engine/sampler.h"
#include "tide/engine/tokenizer_json.h"

namespace tide::cli {
namespace {

namespace fs = std::filesystem;
using namespace tide::engine;

int Fail(const Status& s) {
  std::cerr << "tide: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

struct Recipe {
  std::string model;      // model config.json path (relative paths: from the recipe's folder, then cwd)
  std::string tokenizer;  // tokenizer.json path; empty = train one on the data with the model's vocab size
  std::string data;       // training JSONL (the --data flag overrides it)
  std::string eval_data;  // held-out JSONL (e.g. `tide gen` on other seeds); empty = the data's tail
  std::string init_model; // a model folder to start from (same config), e.g. a shorter-context SFT; empty = random
  int seq_len = 128;
  bool whole_examples = true;  // "packing": "examples" (default) or "stream"
  double eval_fraction = 0.05;
  uint64_t init_seed = 1;
  LmTrainOptions train;
};

std::string Resolve(const std::string& path, const std::string& recipe_path) {
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path)) return path;
  const fs::path beside = fs::path(recipe_path).parent_path() / path;
  return fs::exists(beside) ? beside.string() : path;
}

Result<Recipe> LoadRecipe(const std::string& path) {
  TIDE_ASSIGN_OR_RETURN(nlohmann::json doc, LoadJsonFile(path));
  ConfigReader r(doc, path);
  Recipe rc;
  std::string optimizer = "muon";
  double lr = rc.train.optimizer.lr, wd = rc.train.optimizer.weight_decay, min_lr = rc.train.min_lr_ratio;
  TIDE_RETURN_IF_ERROR(r.String("model", &rc.model, true));
  TIDE_RETURN_IF_ERROR(r.String("tokenizer", &rc.tokenizer, false));
  TIDE_RETURN_IF_ERROR(r.String("data", &rc.data, false));
  TIDE_RETURN_IF_ERROR(r.String("eval_data", &rc.eval_data, false));
  TIDE_RETURN_IF_ERROR(r.String("init_model", &rc.init_model, false));
  TIDE_RETURN_IF_ERROR(r.Int("seq_len", &rc.seq_len, false, 2, 1 << 16));
  std::string packing = "examples";
  TIDE_RETURN_IF_ERROR(r.String("packing", &packing, false, {"examples", "stream"}));
  rc.whole_examples = packing == "examples";
  TIDE_RETURN_IF_ERROR(r.Double("eval_fraction", &rc.eval_fraction, false, 0, 0.5));
  TIDE_RETURN_IF_ERROR(r.UInt64("init_seed", &rc.init_seed, false));
  TIDE_RETURN_IF_ERROR(r.UInt64("seed", &rc.train.seed, false));
  TIDE_RETURN_IF_ERROR(r.Int("steps", &rc.train.steps, true, 1, 100000000));
  TIDE_RETURN_IF_ERROR(r.Int("batch_windows", &rc.train.batch_windows, false, 1, 1 << 20));
  TIDE_RETURN_IF_ERROR(r.Int("windows_per_forward", &rc.train.windows_per_forward, false, 0, 1 << 20));
  TIDE_RETURN_IF_ERROR(r.Int("warmup_steps", &rc.train.warmup_steps, false, 0, 100000000));
  TIDE_RETURN_IF_ERROR(r.Int("eval_every", &rc.train.eval_every, false, 0, 100000000));
  TIDE_RETURN_IF_ERROR(r.Int("save_every", &rc.train.save_every, false, 0, 100000000));
  TIDE_RETURN_IF_ERROR(r.Int("stop_after_step", &rc.train.stop_after_step, false, 0, 100000000));
  TIDE_RETURN_IF_ERROR(r.Double("clip_norm", &rc.train.clip_norm, false, 0, 1e9));
  TIDE_RETURN_IF_ERROR(r.Double("lr", &lr, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.Double("min_lr_ratio", &min_lr, false, 0, 1));
  TIDE_RETURN_IF_ERROR(r.Double("weight_decay", &wd, false, 0, 10));
  TIDE_RETURN_IF_ERROR(r.String("optimizer", &optimizer, false, {"muon", "adamw"}));
  TIDE_RETURN_IF_ERROR(r.Bool("qk_clip", &rc.train.optimizer.qk_clip, false));
  TIDE_RETURN_IF_ERROR(r.Finish());
  rc.train.optimizer.kind = optimizer == "muon" ? OptimizerKind::kMuon : OptimizerKind::kAdamW;
  rc.train.optimizer.lr = static_cast<float>(lr);
  rc.train.optimizer.weight_decay = static_cast<float>(wd);
  rc.train.min_lr_ratio = static_cast<float>(min_lr);
  rc.model = Resolve(rc.model, path);
  rc.tokenizer = Resolve(rc.tokenizer, path);
  rc.data = Resolve(rc.data, path);
  rc.eval_data = Resolve(rc.eval_data, path);
  rc.init_model = Resolve(rc.init_model, path);
  return rc;
}

// Texts for tokenizer training: each record's text, or its rendered chat.
Result<std::vector<std::string>> CorpusTexts(const std::string& data_path) {
  std::FILE* f = std::fopen(data_path.c_str(), "r");
  if (!f) return NotFound(data_path + ": cannot open data file");
  std::vector<std::string> texts;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    nlohmann::json j = nlohmann::json::parse(std::string(line, static_cast<size_t>(len)), nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("text") && j["text"].is_string()) {
      texts.push_back(j["text"].get<std::string>());
    } else if (j.contains("messages")) {
      Result<std::string> r = RenderChat(j["messages"], j.value("tools", nlohmann::json::array()));
      if (r.ok()) texts.push_back(*r);
    }
  }
  std::free(line);
  std::fclose(f);
  return texts;
}

std::string Duration(double s) {
  char buf[32];
  const int t = static_cast<int>(s);
  std::snprintf(buf, sizeof(buf), "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

}  // namespace

int RunTrainLm(const TrainLmArgs& args) {
  const std::string& config_path = args.config_path;
  const std::string& out_dir = args.out_dir;
  const bool json = args.json;
  Result<Recipe> recipe = LoadRecipe(config_path);
  if (!recipe.ok()) return Fail(recipe.status());
  const std::string data_path = args.data_path.empty() ? recipe->data : args.data_path;
  const std::string eval_path = args.eval_data_path.empty() ? recipe->eval_data : args.eval_data_path;
  if (data_path.empty()) return Fail(InvalidArgument(config_path + ": no training data: pass --data or set \"data\""));
  Result<ModelConfig> config = LoadModelConfig(recipe->model);
  if (!config.ok()) return Fail(config.status());
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Fail(IoError("cannot create " + out_dir + ": " + ec.message()));

  // The tokenizer: the recipe's, one saved by an earlier (resumed) run, or a new one.
  const std::string saved_tokenizer = (fs::path(out_dir) / "tokenizer.json").string();
  Result<Tokenizer> tokenizer = InvalidArgument("no tokenizer");
  if (!recipe->tokenizer.empty()) {
    tokenizer = LoadTokenizerJson(recipe->tokenizer);
  } else if (fs::exists(saved_tokenizer)) {
    tokenizer = LoadTokenizerJson(saved_tokenizer);
  } else {
    Result<std::vector<std::string>> texts = CorpusTexts(data_path);
    if (!texts.ok()) return Fail(texts.status());
    BpeTrainOptions bo;
    bo.vocab_size = config->vocab_size;
    tokenizer = TrainBpe(*texts, bo);
  }
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  if (tokenizer->vocab_size() > config->vocab_size) {
    return Fail(InvalidArgument("tokenizer has " + std::to_string(tokenizer->vocab_size()) + " tokens but " +
                                recipe->model + " has vocab_size " + std::to_string(config->vocab_size)));
  }
  if (Status s = SaveTokenizerJson(*tokenizer, saved_tokenizer); !s.ok()) return Fail(s);

  Result<std::vector<LmExample>> examples = LoadJsonlExamples(*tokenizer, data_path);
  if (!examples.ok()) return Fail(examples.status());
  // Held-out examples: the eval file's (tasks of seeds never trained on), else the last
  // eval_fraction of the data file, so they never reach training either way.
  std::vector<LmExample> train_ex, eval_ex;
  if (!eval_path.empty()) {
    Result<std::vector<LmExample>> held_out = LoadJsonlExamples(*tokenizer, eval_path);
    if (!held_out.ok()) return Fail(held_out.status());
    train_ex = std::move(*examples);
    eval_ex = std::move(*held_out);
  } else {
    const size_t n_eval = static_cast<size_t>(examples->size() * recipe->eval_fraction);
    train_ex.assign(examples->begin(), examples->end() - static_cast<long>(n_eval));
    eval_ex.assign(examples->end() - static_cast<long>(n_eval), examples->end());
  }
  const int32_t sep = tokenizer->special_ids().end_of_text;
  PackStats packed;
  const std::vector<LmWindow> train = recipe->whole_examples ? PackWholeExamples(train_ex, recipe->seq_len, sep, &packed)
                                                             : PackWindows(train_ex, recipe->seq_len, sep);
  const std::vector<LmWindow> eval = recipe->whole_examples ? PackWholeExamples(eval_ex, recipe->seq_len, sep)
                                                            : PackWindows(eval_ex, recipe->seq_len, sep);

  ModelWeights weights = ModelWeights::Allocate(*config);
  weights.InitRandom(recipe->init_seed);
  if (!recipe->init_model.empty()) {  // a resumed run's checkpoint still wins (TrainLm loads it)
    Result<ModelWeights> init = LoadModel(recipe->init_model);
    if (!init.ok()) return Fail(init.status().WithContext("init_model"));
    if (Status same = CheckWeightShapes(*init, ("init_model " + recipe->init_model).c_str()); !same.ok()) return Fail(same);
    if (init->config.vocab_size != config->vocab_size || init->config.hidden_size != config->hidden_size ||
        init->config.num_hidden_layers != config->num_hidden_layers || init->config.num_experts != config->num_experts) {
      return Fail(InvalidArgument("init_model " + recipe->init_model + " is not a model of " + recipe->model));
    }
    init->config = weights.config;  // the recipe's config (e.g. a longer max_position_embeddings)
    weights = std::move(*init);
  }
  std::cerr << "train lm: " << config->NumParameters() << " parameters (" << config->NumActiveParameters()
            << " active), " << train.size() << " train / " << eval.size() << " eval windows of " << recipe->seq_len
            << " tokens";
  if (recipe->whole_examples) {
    std::cerr << " (whole examples: " << packed.split_examples << " of " << packed.examples
              << " longer than a window were cut; padding " << (packed.tokens + packed.padding
              ? 100 * packed.padding / (packed.tokens + packed.padding) : 0) << "%)";
  }
  std::cerr << "\n";
  const bool tty = isatty(STDERR_FILENO);
  int last_printed = 0;
  auto progress = [&](const LmTrainProgress& p) {
    const bool milestone = p.step == p.steps || p.step - last_printed >= std::max(1, p.steps / 20);
    if (!tty && !milestone) return;
    last_printed = p.step;
    const int width = 24, filled = static_cast<int>(static_cast<double>(p.step) / p.steps * width);
    char line[256];
    std::snprintf(line, sizeof(line), "[%s%s] step %d/%d  loss %.4f%s  %.0f tok/s  eta %s", std::string(filled, '#').c_str(),
                  std::string(width - filled, '.').c_str(), p.step, p.steps, p.loss,
                  p.eval_loss >= 0 ? ("  eval " + std::to_string(p.eval_loss).substr(0, 6)).c_str() : "",
                  p.tokens_per_s, Duration(p.eta_s).c_str());
    std::cerr << (tty ? "\r" : "") << line << (tty && p.step != p.steps ? "" : "\n") << std::flush;
  };
  Result<LmTrainResult> result = TrainLm(&weights, train, eval, recipe->train, out_dir, progress);
  if (!result.ok()) return Fail(result.status());
  const nlohmann::json summary = {{"steps", result->steps},           {"resumed_from", result->resumed_from},
                                  {"first_loss", result->first_loss}, {"final_loss", result->final_loss},
                                  {"eval_loss", result->eval_loss},   {"tokens_per_s", result->tokens_per_s},
                                  {"train_windows", train.size()},    {"eval_windows", eval.size()},
                                  {"out", out_dir}};
  if (json) {
    std::cout << summary.dump() << std::endl;
  } else {
    std::cout << "trained " << out_dir << ": " << summary.dump() << std::endl;
  }
  return 0;
}

int RunGenerate(const GenerateArgs& args) {
  Result<ModelWeights> weights = LoadModel(args.model_dir);
  if (!weights.ok()) return Fail(weights.status());
  Result<Tokenizer> tokenizer = LoadTokenizerJson((fs::path(args.model_dir) / "tokenizer.json").string());
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  Result<Model> model = Model::Create(&*weights);
  if (!model.ok()) return Fail(model.status());
  std::string prompt = args.prompt;
  if (args.chat) {
    ChatTemplateOptions opts;
    opts.add_generation_prompt = true;
    Result<std::string> r = RenderChat(nlohmann::json::array({{{"role", "user"}, {"content", args.prompt}}}),
                                       nlohmann::json::array(), opts);
    if (!r.ok()) return Fail(r.status());
    prompt = *r;
  }
  const std::vector<TokenId> ids = tokenizer->Encode(prompt, /*allow_special=*/args.chat);
  if (ids.empty()) return Fail(InvalidArgument("--prompt is empty"));
  KvCache cache;
  std::vector<int32_t> input(ids.begin(), ids.end());
  std::mt19937_64 rng(args.seed);
  const SamplingOptions sampling{args.temperature, args.top_k, args.top_p};
  const SpecialTokenIds& special = tokenizer->special_ids();
  std::cout << args.prompt << std::flush;
  for (int i = 0; i < args.max_tokens; ++i) {
    Result<Tensor> logits = model->Forward(input, &cache);
    if (!logits.ok()) return Fail(logits.status());
    const int vocab = static_cast<int>(logits->shape[1]);
    std::span<const float> last(logits->data.data() + logits->data.size() - vocab, static_cast<size_t>(vocab));
    const SampledToken t = SampleToken(last, sampling, rng);
    if (t.id == special.end_of_text || t.id == special.im_end) break;
    if (t.id < tokenizer->vocab_size()) {
      Result<std::string> piece = tokenizer->Decode(std::vector<TokenId>{t.id});
      if (piece.ok()) std::cout << *piece << std::flush;
    }
    input.assign(1, t.id);
  }
  std::cout << std::endl;
  return 0;
}

}  // namespace tide::cli
