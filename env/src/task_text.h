// Line and word helpers shared by the task-text parsers (wide_task, question_task,
// compute_task); private to env/src. Pure inline functions.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace tide::env::task_text {

// `s` without leading and trailing blanks (spaces, tabs, carriage returns).
inline std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// The lines of `text`, each trimmed.
inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(Trim(line));
  return out;
}

// The whitespace-separated words of `s`.
inline std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace tide::env::task_text
