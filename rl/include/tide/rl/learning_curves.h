// Learning curves: a training run's per-step metrics as CSV (one row per step, flushed as
// it is written, so a killed run keeps every finished step) and as a PNG of one small
// panel per metric, drawn by Debian's gnuplot (package gnuplot-nox) in a subprocess.
//
// The CSV: a header "step,<col1>,<col2>,..." then "<step>,<v1>,<v2>,..." rows; a value that
// is not finite is written as an empty field (gnuplot skips it).
// Resume: opening an existing file with a resume step keeps its rows up to that step and
// drops later ones (written by the killed run after its last checkpoint), so a
// kill-and-resume does not duplicate steps. A torn last line (killed mid-write) is dropped.
// Thread safety: a CurveWriter is used by one thread (the training loop); none of it is
// shared. Failure: every error is a Status naming the file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tide/core/status.h"

namespace tide::rl {

struct CurveRow {
  int64_t step = 0;
  std::vector<double> values;  // one per column; NaN where the field was empty
};

struct CurveTable {
  std::vector<std::string> columns;  // without "step"
  std::vector<CurveRow> rows;
};

// Reads a curves CSV. NOT_FOUND for a missing file, INVALID_ARGUMENT (with the line
// number) for a header without "step" first or a malformed row; a torn last line (no
// newline) is ignored.
Result<CurveTable> ReadCurves(const std::string& path);

class CurveWriter {
 public:
  // Opens `path` for a run whose metrics are `columns` (names of [A-Za-z0-9_.]; "step" is
  // implied). resume_step < 0: a fresh run, the file is replaced. resume_step >= 0: an
  // existing file (with the same columns, else INVALID_ARGUMENT naming both) keeps its rows
  // with step <= resume_step; a missing file is started afresh.
  static Result<std::unique_ptr<CurveWriter>> Open(const std::string& path, std::vector<std::string> columns,
                                                   int64_t resume_step = -1);
  ~CurveWriter();
  CurveWriter(const CurveWriter&) = delete;
  CurveWriter& operator=(const CurveWriter&) = delete;

  // Appends and flushes one row. INVALID_ARGUMENT when values.size() differs from the
  // columns or step is not above the last row's step; INTERNAL when the write fails.
  Status Append(int64_t step, const std::vector<double>& values);

  const std::vector<std::string>& columns() const { return columns_; }
  int64_t last_step() const { return last_step_; }  // -1 when the file has no row
  size_t rows() const { return rows_; }

 private:
  CurveWriter() = default;
  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
  int64_t last_step_ = -1;
  size_t rows_ = 0;
};

// Draws every column of the CSV against step, one panel each, into a PNG (gnuplot's
// pngcairo terminal). FAILED_PRECONDITION when gnuplot is not installed (naming the
// package gnuplot-nox) or the CSV has no row; INVALID_ARGUMENT for a path gnuplot cannot
// quote; INTERNAL with gnuplot's message when it fails.
Status RenderCurvesPng(const std::string& csv_path, const std::string& png_path, const std::string& title);

}  // namespace tide::rl
