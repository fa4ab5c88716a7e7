// `tide train curves --csv FILE --png FILE`: draws a training run's learning curves (the
// CSV rl::CurveWriter writes: step plus one column per metric) as a PNG, one panel per
// metric, with Debian's gnuplot (rl/learning_curves.h).
// Exit codes: 0 drawn, 1 gnuplot missing or failing, 2 a bad or missing CSV.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace tide::cli {

struct CurvesCommandArgs {
  std::string csv;
  std::string png;
  std::string title;  // empty: the CSV's file name
};

// Adds `curves` under `train` (the parent subcommand), filling `args` when parsed.
CLI::App* AddCurvesCommand(CLI::App& train, CurvesCommandArgs* args);

int RunCurvesCommand(const CurvesCommandArgs& args);

}  // namespace tide::cli
