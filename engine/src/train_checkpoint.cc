#include "tide/engine/train_checkpoint.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tide/engine/checkpoint.h"

namespace tide::engine {
namespace {

namespace fs = std::filesystem;

Status WriteState(const std::string& path, int step) {
  std::ofstream out(path, std::ios::trunc);
  out << nlohmann::json{{"step", step}}.dump() << "\n";
  out.flush();
  return out ? Status::Ok() : IoError("cannot write " + path);
}

Result<int> ReadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("step") || !j["step"].is_number_integer()) {
    return DataLoss(path + ": trainer state is corrupt");
  }
  return j["step"].get<int>();
}

}  // namespace

Status SaveTrainCheckpoint(const ModelWeights& weights, const Optimizer& opt, int step, const std::string& out_dir) {
  const fs::path dir(out_dir), tmp = dir / "checkpoint.tmp", final_dir = dir / "checkpoint", old = dir / "checkpoint.old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return IoError("cannot create " + tmp.string() + ": " + ec.message());
  TIDE_RETURN_IF_ERROR(SaveModel(weights, tmp.string(), Dtype::kF32));
  TIDE_RETURN_IF_ERROR(opt.Save((tmp / "optimizer.safetensors").string()));
  TIDE_RETURN_IF_ERROR(WriteState((tmp / "trainer_state.json").string(), step));
  fs::remove_all(old, ec);
  if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return IoError("cannot move checkpoint into " + final_dir.string() + ": " + ec.message());
  fs::remove_all(old, ec);
  return Status::Ok();
}

Result<int> LoadTrainCheckpoint(const std::string& out_dir, const OptimizerConfig& config, ModelWeights* weights,
                                Optimizer* optimizer) {
  const fs::path ckpt = fs::path(out_dir) / "checkpoint";
  if (!fs::exists(ckpt / "trainer_state.json")) return 0;
  TIDE_ASSIGN_OR_RETURN(int step, ReadState((ckpt / "trainer_state.json").string()));
  TIDE_ASSIGN_OR_RETURN(ModelWeights saved, LoadModel(ckpt.string()));
  if (saved.config.hidden_size != weights->config.hidden_size || saved.layers.size() != weights->layers.size()) {
    return FailedPrecondition(ckpt.string() + " holds a model of another shape than the config");
  }
  *weights = std::move(saved);
  *optimizer = Optimizer(config, weights);
  TIDE_RETURN_IF_ERROR(optimizer->Load((ckpt / "optimizer.safetensors").string()));
  return step;
}

}  // namespace tide::engine
