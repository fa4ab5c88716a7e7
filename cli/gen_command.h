// `tide gen`: verified multi-agent tool-use data. Flags in, rl::GenerateToDir does the work
// (rl/data_gen.h); this file only parses flags, builds the policy, draws the progress bar
// on a terminal and prints the summary.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "tide/rl/data_gen.h"
#include "tide/rl/gen_policy.h"

namespace tide::cli {

struct GenCommandArgs {
  rl::GenOptions gen;
  rl::GenPolicyOptions policy;
  std::string out;
  bool json = false;
  bool no_progress = false;
};

// Adds the `gen` subcommand and its flags to `app`, filling `args` when parsed.
CLI::App* AddGenCommand(CLI::App& app, GenCommandArgs* args);

// Runs it; returns the exit code (0 data written, 1 nothing kept or a failure, 2 bad input).
int RunGenCommand(GenCommandArgs args);

}  // namespace tide::cli
