// Loading and saving a model folder in the Hugging Face layout: config.json (see
// model_config.h) plus model.safetensors, or, for a sharded checkpoint,
// model.safetensors.index.json whose "weight_map" names the shard of each tensor.
//
// LoadModel is strict: every tensor NamedParameters expects must be present with exactly
// the expected shape (F32, BF16 or F16, converted to f32), and every tensor in the files
// must be one the model uses, except known-harmless buffers (rotary "inv_freq"). With
// tie_word_embeddings an "lm_head.weight" is accepted only if it equals the embeddings.
// Errors name the file and the tensor (and for shapes, expected and found).
//
// SaveModel writes config.json (torch_dtype set to the stored dtype) and a single
// model.safetensors with metadata {"format": "pt"}, each file atomically (temporary
// file, fsync, rename), creating `dir` if needed. transformers loads the result as
// Qwen3MoeForCausalLM; DeepSeek-style extension tensors (shared experts, expert bias)
// keep their DeepSeek-V3 names.
//
// Both functions are safe to call concurrently on different folders.
#pragma once

#include <string>

#include "tide/core/status.h"
#include "tide/engine/dtype.h"
#include "tide/engine/model_weights.h"

namespace tide::engine {

Result<ModelWeights> LoadModel(const std::string& dir);

// INVALID_ARGUMENT if the config is invalid or a tensor's shape does not match it.
Status SaveModel(const ModelWeights& weights, const std::string& dir, Dtype dtype);

}  // namespace tide::engine
