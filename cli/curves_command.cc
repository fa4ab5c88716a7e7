#include "curves_command.h"

#include <filesystem>
#include <iostream>

#include "tide/rl/learning_curves.h"

namespace tide::cli {

CLI::App* AddCurvesCommand(CLI::App& train, CurvesCommandArgs* a) {
  CLI::App* cmd = train.add_subcommand("curves", "draw a run's learning curves (CSV: step plus metrics) as a PNG with gnuplot");
  cmd->add_option("--csv", a->csv, "the run's curves CSV")->required();
  cmd->add_option("--png", a->png, "the PNG to write")->required();
  cmd->add_option("--title", a->title, "title above the panels (default: the CSV's name)");
  return cmd;
}

int RunCurvesCommand(const CurvesCommandArgs& a) {
  const std::string title = a.title.empty() ? std::filesystem::path(a.csv).filename().string() : a.title;
  if (Status s = rl::RenderCurvesPng(a.csv, a.png, title); !s.ok()) {
    std::cerr << "tide train curves: error: " << s.ToString() << "\n";
    return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
  }
  std::cout << "tide train curves: wrote " << a.png << "\n";
  return 0;
}

}  // namespace tide::cli
