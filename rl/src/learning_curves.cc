#include "tide/rl/learning_curves.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "tide/workers/subprocess.h"

namespace tide::rl {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) out.push_back(field);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

bool ValidColumn(const std::string& c) {
  if (c.empty() || c.size() > 64) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.'; });
}

std::string HeaderLine(const std::vector<std::string>& columns) {
  std::string h = "step";
  for (const auto& c : columns) h += "," + c;
  return h;
}

std::string JoinColumns(const std::vector<std::string>& columns) {
  std::string s;
  for (const auto& c : columns) s += (s.empty() ? "" : ",") + c;
  return s;
}

std::string FormatRow(int64_t step, const std::vector<double>& values) {
  std::string line = std::to_string(step);
  char buf[32];
  for (double v : values) {
    line += ',';
    if (std::isfinite(v)) {
      // Shortest text that reads back as the same double.
      const auto res = std::to_chars(buf, buf + sizeof(buf), v);
      line.append(buf, res.ptr);
    }
  }
  return line;
}

// gnuplot's single-quoted strings have no escape for a quote; refuse what cannot be quoted.
Result<std::string> Quote(const std::string& s, const std::string& what) {
  if (s.find('\'') != std::string::npos || s.find('\n') != std::string::npos) {
    return InvalidArgument(what + " \"" + s + "\": quotes and newlines cannot be passed to gnuplot");
  }
  return "'" + s + "'";
}

bool InPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path p = fs::path(dir.empty() ? "." : dir) / program;
    if (access(p.c_str(), X_OK) == 0) return true;
  }
  return false;
}

void DrainFd(int fd, std::string* into) {
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) into->append(buf, static_cast<size_t>(n));
}

}  // namespace

Result<CurveTable> ReadCurves(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("curves file " + path + " cannot be read");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CurveTable table;
  size_t pos = 0;
  int line_no = 0;
  while (pos < content.size()) {
    const size_t end = content.find('\n', pos);
    if (end == std::string::npos) break;  // torn last line: the writer was killed mid-row
    const std::string line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::vector<std::string> fields = SplitCsv(line);
    if (line_no == 1) {
      if (fields.empty() || fields[0] != "step") return InvalidArgument(path + ":1: the header must start with \"step\"");
      table.columns.assign(fields.begin() + 1, fields.end());
      continue;
    }
    if (fields.size() != table.columns.size() + 1) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": " + std::to_string(fields.size()) + " fields, the header has " +
                             std::to_string(table.columns.size() + 1));
    }
    CurveRow row;
    const std::string& s = fields[0];
    if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), row.step); ec != std::errc() || p != s.data() + s.size()) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": step \"" + s + "\" is not an integer");
    }
    for (size_t k = 1; k < fields.size(); ++k) {
      if (fields[k].empty()) {
        row.values.push_back(std::nan(""));
        continue;
      }
      char* stop = nullptr;
      const double v = std::strtod(fields[k].c_str(), &stop);
      if (stop != fields[k].c_str() + fields[k].size()) {
        return InvalidArgument(path + ":" + std::to_string(line_no) + ": " + table.columns[k - 1] + " value \"" + fields[k] +
                               "\" is not a number");
      }
      row.values.push_back(v);
    }
    table.rows.push_back(std::move(row));
  }
  if (line_no == 0) return InvalidArgument(path + ": no header line");
  return table;
}

Result<std::unique_ptr<CurveWriter>> CurveWriter::Open(const std::string& path, std::vector<std::string> columns,
                                                       int64_t resume_step) {
  if (columns.empty()) return InvalidArgument("curves " + path + ": name at least one column");
  for (const auto& c : columns) {
    if (!ValidColumn(c) || c == "step") return InvalidArgument("curves " + path + ": bad column name \"" + c + "\"");
  }
  std::unique_ptr<CurveWriter> w(new CurveWriter());
  w->path_ = path;
  w->columns_ = std::move(columns);
  std::vector<CurveRow> kept;
  std::error_code ec;
  if (resume_step >= 0 && fs::exists(path, ec)) {
    TIDE_ASSIGN_OR_RETURN(CurveTable old, ReadCurves(path));
    if (old.columns != w->columns_) {
      return InvalidArgument("curves " + path + ": the file's columns (" + JoinColumns(old.columns) + ") differ from this run's (" +
                             JoinColumns(w->columns_) + ")");
    }
    for (CurveRow& r : old.rows) {
      if (r.step <= resume_step) kept.push_back(std::move(r));
    }
  }
  // The kept rows go to a new file renamed over the old one, so a kill here loses nothing.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    if (!out) return Internal("curves " + path + ": cannot write " + tmp);
    out << HeaderLine(w->columns_) << '\n';
    for (const CurveRow& r : kept) out << FormatRow(r.step, r.values) << '\n';
    out.close();
    if (!out) return Internal("curves " + path + ": writing " + tmp + " failed");
  }
  fs::rename(tmp, path, ec);
  if (ec) return Internal("curves " + path + ": cannot replace it (" + ec.message() + ")");
  w->file_ = std::fopen(path.c_str(), "ab");
  if (w->file_ == nullptr) return Internal("curves " + path + ": cannot open it for appending");
  w->rows_ = kept.size();
  if (!kept.empty()) w->last_step_ = kept.back().step;
  return w;
}

CurveWriter::~CurveWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status CurveWriter::Append(int64_t step, const std::vector<double>& values) {
  if (values.size() != columns_.size()) {
    return InvalidArgument("curves " + path_ + ": " + std::to_string(values.size()) + " values for " +
                           std::to_string(columns_.size()) + " columns (" + JoinColumns(columns_) + ")");
  }
  if (step <= last_step_) {
    return InvalidArgument("curves " + path_ + ": step " + std::to_string(step) + " is not after the last row's step " +
                           std::to_string(last_step_));
  }
  const std::string line = FormatRow(step, values) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return Internal("curves " + path_ + ": write failed (disk full?)");
  }
  last_step_ = step;
  ++rows_;
  return Status::Ok();
}

Status RenderCurvesPng(const std::string& csv_path, const std::string& png_path, const std::string& title) {
  TIDE_ASSIGN_OR_RETURN(CurveTable table, ReadCurves(csv_path));
  if (table.rows.empty()) return FailedPrecondition("curves " + csv_path + ": no rows to draw");
  if (!InPath("gnuplot")) {
    return FailedPrecondition("gnuplot is not installed (Debian package gnuplot-nox: apt-get install gnuplot-nox, or scripts/setup.sh)");
  }
  TIDE_ASSIGN_OR_RETURN(std::string csv_q, Quote(csv_path, "--csv"));
  TIDE_ASSIGN_OR_RETURN(std::string png_q, Quote(png_path, "--png"));
  TIDE_ASSIGN_OR_RETURN(std::string title_q, Quote(title, "title"));
  const int n = static_cast<int>(table.columns.size());
  const int cols = std::min(n, 3);
  const int rows = (n + cols - 1) / cols;
  std::ostringstream s;
  s << "set terminal pngcairo noenhanced size " << 420 * cols << "," << 300 * rows + 40 << " font 'Sans,9'\n"
    << "set output " << png_q << "\n"
    << "set datafile separator ','\n"
    << "set key autotitle columnheader\nset key off\nset grid\nset xlabel 'step'\n"
    << "set multiplot layout " << rows << "," << cols << " title " << title_q << "\n";
  for (int k = 0; k < n; ++k) {
    // Column names are [A-Za-z0-9_.] (checked by the writer; a hand-written file is quoted).
    TIDE_ASSIGN_OR_RETURN(std::string name_q, Quote(table.columns[static_cast<size_t>(k)], "column"));
    s << "set title " << name_q << "\n"
      << "plot " << csv_q << " using 1:" << k + 2 << " with linespoints pointtype 7 pointsize 0.4 linewidth 1.5\n";
  }
  s << "unset multiplot\nset output\n";

  workers::SubprocessOptions so;
  so.argv = {"gnuplot"};
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<workers::Subprocess> proc, workers::Subprocess::Start(so));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  TIDE_RETURN_IF_ERROR(proc->WriteStdin(s.str(), deadline));
  proc->CloseStdin();
  std::string err, out;
  std::optional<int> status;
  while (!(status = proc->WaitFor(std::chrono::milliseconds(20)))) {
    DrainFd(proc->stderr_fd(), &err);
    DrainFd(proc->stdout_fd(), &out);
    if (std::chrono::steady_clock::now() > deadline) {
      proc->Terminate(std::chrono::milliseconds(500));
      return DeadlineExceeded("gnuplot did not finish drawing " + png_path + " in 60 s");
    }
  }
  DrainFd(proc->stderr_fd(), &err);
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return Internal("gnuplot failed drawing " + png_path + ": " + (err.empty() ? "no message" : err));
  }
  std::error_code ec;
  if (!fs::exists(png_path, ec) || fs::file_size(png_path, ec) == 0) {
    return Internal("gnuplot wrote no image to " + png_path + (err.empty() ? "" : ": " + err));
  }
  return Status::Ok();
}

}  // namespace tide::rl
