#include "tide/engine/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "tide/core/json_config.h"
#include "tide/engine/safetensors.h"

namespace tide::engine {

namespace {

namespace fs = std::filesystem;

constexpr char kConfigFile[] = "config.json";
constexpr char kWeightsFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// Buffers transformers registers but Tide recomputes.
bool IsHarmless(const std::string& name) { return name.ends_with("rotary_emb.inv_freq"); }

// The checkpoint's safetensors files and where each tensor lives.
struct Shards {
  std::vector<SafetensorsFile> files;
  std::map<std::string, const SafetensorsFile*> where;
};

Status IndexShards(Shards* shards, const std::string& dir) {
  for (const SafetensorsFile& f : shards->files) {
    for (const SafetensorsEntry& e : f.tensors()) {
      const auto [it, inserted] = shards->where.emplace(e.name, &f);
      if (!inserted) {
        return InvalidArgument(dir + ": tensor " + Quoted(e.name) + " is in both " + it->second->path() + " and " +
                               f.path());
      }
    }
  }
  return Status::Ok();
}

Status OpenShards(const fs::path& dir, Shards* shards) {
  const fs::path single = dir / kWeightsFile;
  const fs::path index_path = dir / kIndexFile;
  std::error_code ec;
  if (fs::exists(single, ec) || !fs::exists(index_path, ec)) {
    auto file = SafetensorsFile::Open(single.string());
    if (!file.ok()) {
      if (file.status().code() == StatusCode::kNotFound) {
        return NotFound(dir.string() + ": neither " + kWeightsFile + " nor " + kIndexFile + " exists");
      }
      return file.status();
    }
    shards->files.push_back(std::move(file).value());
    return IndexShards(shards, dir.string());
  }
  const std::string index_name = index_path.string();
  TIDE_ASSIGN_OR_RETURN(nlohmann::json index, LoadJsonFile(index_name));
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return InvalidArgument(index_name + ": field \"weight_map\": must be an object of tensor name -> file name");
  }
  std::map<std::string, std::string> weight_map;
  std::set<std::string> shard_names;
  for (const auto& [name, file] : index["weight_map"].items()) {
    const std::string shard = file.is_string() ? file.get<std::string>() : "";
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos) {
      return InvalidArgument(index_name + ": field \"weight_map." + name +
                             "\": must be a file name in the same folder, got " + file.dump());
    }
    weight_map[name] = shard;
    shard_names.insert(shard);
  }
  for (const std::string& shard : shard_names) {
    TIDE_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open((dir / shard).string()));
    shards->files.push_back(std::move(file));
  }
  TIDE_RETURN_IF_ERROR(IndexShards(shards, dir.string()));
  for (const auto& [name, shard] : weight_map) {
    const auto it = shards->where.find(name);
    if (it == shards->where.end() || fs::path(it->second->path()).filename() != shard) {
      return DataLoss(index_name + ": weight_map puts tensor " + Quoted(name) + " in " + shard +
                      ", which does not hold it");
    }
  }
  return Status::Ok();
}

std::string ListNames(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + Quoted(names[i]);
  if (names.size() > kShown) s += " and " + std::to_string(names.size() - kShown) + " more";
  return s;
}

// config.json's contents written under a temporary name, synced and renamed into place.
Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(path + ": cannot create a temporary file: " + std::strerror(errno));
  const char* p = contents.data();
  size_t left = contents.size();
  bool ok = true;
  while (ok && left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) {
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  ok = ok && ::fsync(fd) == 0;
  const std::string why = ok ? "" : std::strerror(errno);
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = why.empty() ? std::strerror(errno) : why;
    ::unlink(tmp.c_str());
    return IoError(path + ": write failed: " + reason);
  }
  return Status::Ok();
}

}  // namespace

Result<ModelWeights> LoadModel(const std::string& dir) {
  const fs::path folder(dir);
  TIDE_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig((folder / kConfigFile).string()));
  Shards shards;
  TIDE_RETURN_IF_ERROR(OpenShards(folder, &shards));
  ModelWeights w = ModelWeights::Allocate(config);
  std::set<std::string> used;
  for (NamedTensor& p : NamedParameters(w)) {
    const auto it = shards.where.find(p.name);
    if (it == shards.where.end()) {
      return NotFound(dir + ": tensor " + Quoted(p.name) + " is missing (expected shape " +
                      ShapeString(p.tensor->shape) + ")");
    }
    const SafetensorsFile& file = *it->second;
    const SafetensorsEntry& entry = *file.Find(p.name);
    if (entry.shape != p.tensor->shape) {
      return InvalidArgument(file.path() + ": tensor " + Quoted(p.name) + ": expected shape " +
                             ShapeString(p.tensor->shape) + ", found " + ShapeString(entry.shape));
    }
    TIDE_RETURN_IF_ERROR(file.ReadF32(p.name, p.tensor->data.data(), p.tensor->data.size()));
    used.insert(p.name);
  }
  if (config.tie_word_embeddings) {
    const auto it = shards.where.find("lm_head.weight");
    if (it != shards.where.end()) {
      TIDE_ASSIGN_OR_RETURN(std::vector<float> head, it->second->ReadF32("lm_head.weight"));
      const bool same = it->second->Find("lm_head.weight")->shape == w.embed_tokens.shape &&
                        std::memcmp(head.data(), w.embed_tokens.data.data(), head.size() * sizeof(float)) == 0;
      if (!same) {
        return InvalidArgument(it->second->path() +
                               ": tensor \"lm_head.weight\" differs from \"model.embed_tokens.weight\" although "
                               "tie_word_embeddings is true");
      }
      used.insert("lm_head.weight");
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, file] : shards.where) {
    if (!used.count(name) && !IsHarmless(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    return InvalidArgument(dir + ": " + std::to_string(unexpected.size()) +
                           " tensor(s) that config.json does not describe: " + ListNames(unexpected));
  }
  return w;
}

Status SaveModel(const ModelWeights& weights, const std::string& dir, Dtype dtype) {
  const fs::path folder(dir);
  const std::string config_path = (folder / kConfigFile).string();
  ModelConfig config = weights.config;
  config.torch_dtype = std::string(DtypeTorchName(dtype));
  TIDE_RETURN_IF_ERROR(ValidateModelConfig(config, config_path));
  if (weights.layers.size() != static_cast<size_t>(config.num_hidden_layers)) {
    return InvalidArgument(dir + ": the weights have " + std::to_string(weights.layers.size()) +
                           " layers, the config " + std::to_string(config.num_hidden_layers));
  }
  // NamedParameters hands out mutable pointers; nothing here writes through them.
  std::vector<NamedTensor> params = NamedParameters(const_cast<ModelWeights&>(weights));
  // The shapes the config implies, spelled once in ModelWeights::Allocate.
  ModelWeights expected_model = ModelWeights::Allocate(config);
  const std::vector<NamedTensor> expected = NamedParameters(expected_model);
  if (params.size() != expected.size()) {
    return InvalidArgument(dir + ": the weights hold " + std::to_string(params.size()) + " tensors, the config needs " +
                           std::to_string(expected.size()) + " (wrong number of experts?)");
  }
  std::vector<SafetensorsTensor> tensors;
  tensors.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& t = *params[i].tensor;
    const std::vector<int64_t>& want = expected[i].tensor->shape;
    if (params[i].name != expected[i].name || t.shape != want || t.data.size() != static_cast<size_t>(t.numel())) {
      return InvalidArgument(dir + ": tensor " + Quoted(params[i].name) + ": expected shape " + ShapeString(want) +
                             ", found " + ShapeString(t.shape) + " holding " + std::to_string(t.data.size()) +
                             " values");
    }
    // The expert bias moves by small steps; it stays f32 (as DeepSeek-V3 stores it).
    const Dtype stored = params[i].kind == NamedTensor::Kind::kBias ? Dtype::kF32 : dtype;
    tensors.push_back({params[i].name, stored, t.shape, t.data.data(), nullptr});
  }
  expected_model = ModelWeights();  // free before writing
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return IoError(dir + ": cannot create the folder: " + ec.message());
  TIDE_RETURN_IF_ERROR(WriteSafetensors((folder / kWeightsFile).string(), tensors, {{"format", "pt"}}));
  return WriteFileAtomically(config_path, ModelConfigToJson(config).dump(2) + "\n");
}

}  // namespace tide::engine
