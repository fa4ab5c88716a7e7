// Training checkpoints shared by the engine's trainers (lm_trainer.h, the RL trainer in
// rl/): the model in f32, the optimizer state and the step, in out_dir/checkpoint/.
//
// Guarantee: SaveTrainCheckpoint writes into checkpoint.tmp/ and renames it into place, so a
// process killed at any moment leaves either the previous checkpoint or the new one whole,
// never a mix. LoadTrainCheckpoint restores weights and optimizer state exactly (f32, the
// optimizer's moments and step), so a resumed run continues bit-identically.
// Errors: IoError for unwritable folders, DataLoss for a corrupt trainer_state.json,
// FailedPrecondition when the saved model has another shape than *weights.
// Thread safety: none; one trainer per out_dir.
#pragma once

#include <string>

#include "tide/core/status.h"
#include "tide/engine/model_weights.h"
#include "tide/engine/optimizer.h"

namespace tide::engine {

Status SaveTrainCheckpoint(const ModelWeights& weights, const Optimizer& optimizer, int step,
                           const std::string& out_dir);

// When out_dir/checkpoint/ holds a checkpoint: replaces *weights with the saved model,
// rebuilds *optimizer over them with `config` (an optimizer keeps pointers into the
// weights, which the replacement moves) and loads its state; returns the saved step.
// Returns 0 and changes nothing when there is no checkpoint.
Result<int> LoadTrainCheckpoint(const std::string& out_dir, const OptimizerConfig& config, ModelWeights* weights,
                                Optimizer* optimizer);

// What a training loop does after step `step` of `steps` (the trainers share it): it
// pauses when stop_after_step (> 0) is reached before the end, and checkpoints every
// save_every (> 0) steps, at its last step and when it pauses.
struct StepEnd {
  bool pause = false;
  bool last = false;  // the run's last step, or its pause
  bool save = false;
};
inline StepEnd EndOfStep(int step, int steps, int save_every, int stop_after_step) {
  StepEnd end;
  end.pause = stop_after_step > 0 && step >= stop_after_step && step < steps;
  end.last = step == steps || end.pause;
  end.save = (save_every > 0 && step % save_every == 0) || end.last;
  return end;
}

}  // namespace tide::engine
