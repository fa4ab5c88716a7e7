// LmTrainer: trains a model on packed windows (lm_data.h) with token-weighted
// cross-entropy plus the router balance loss, gradient accumulation over `batch_windows`
// windows per step, global-norm clipping, a warmup + cosine learning-rate schedule,
// AdamW or Muon, and the aux-loss-free expert-bias update when the config uses it.
//
// Checkpoints go to out_dir/checkpoint/ (model in f32, optimizer state, trainer_state.json
// with the step), written to a temporary folder and renamed into place, so a kill at any
// moment leaves the previous checkpoint whole. Run resumes from it when present: the
// window order is a pure function of (seed, step), so a resumed run continues exactly
// where the killed one left off. The final model is also written to out_dir itself
// (config.json, model.safetensors in f32).
// Not thread-safe; uses the engine's thread pool inside the model's kernels.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/lm_data.h"
#include "tide/engine/model_weights.h"
#include "tide/engine/optimizer.h"

namespace tide::engine {

struct LmTrainOptions {
  int steps = 100;
  int batch_windows = 4;       // windows per optimizer step
  int windows_per_forward = 0; // windows packed into one forward/backward (0: the whole step)
  int warmup_steps = 10;
  float min_lr_ratio = 0.1f;   // the cosine schedule ends at lr × this
  double clip_norm = 1.0;      // <= 0: no clipping
  OptimizerConfig optimizer;
  uint64_t seed = 1;
  int eval_every = 0;          // steps between eval losses (0: only at the end)
  int save_every = 0;          // steps between checkpoints (0: only at the end)
  float expert_bias_gamma = 0.001f;
  int stop_after_step = 0;     // > 0: checkpoint and return once this step is done (a time-boxed
                               // slice of a longer run; the next call resumes it)
};

struct LmTrainProgress {
  int step = 0;
  int steps = 0;
  float loss = 0;           // this step's mean weighted cross-entropy + aux loss
  float eval_loss = -1;     // latest eval loss, -1 before the first
  double lr = 0;
  double tokens_per_s = 0;  // over this run (not counting resumed steps)
  double eta_s = 0;
};

struct LmTrainResult {
  int steps = 0;
  int resumed_from = 0;  // the checkpoint step this run started at (0 = fresh)
  float first_loss = 0;  // first step of this run
  float final_loss = 0;
  float eval_loss = -1;
  double tokens_per_s = 0;
};

// Learning-rate factor at `step` (1-based): linear warmup, then cosine to min_lr_ratio.
double LrScale(const LmTrainOptions& options, int step);

// Mean weighted cross-entropy of the model over windows (no gradients).
Result<float> EvalLoss(ModelWeights* weights, const std::vector<LmWindow>& windows);

Result<LmTrainResult> TrainLm(ModelWeights* weights, const std::vector<LmWindow>& train,
                              const std::vector<LmWindow>& eval, const LmTrainOptions& options,
                              const std::string& out_dir, const std::function<void(const LmTrainProgress&)>& progress);

}  // namespace tide::engine
