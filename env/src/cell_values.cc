#include "tide/env/cell_values.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace tide::env {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Every numeric token in `text`, commas between digits removed: "-1,200.5" -> "-1200.5".
std::vector<std::string> NumericTokens(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    bool neg = text[i] == '-' && i + 1 < text.size() && IsDigit(text[i + 1]) &&
               (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1])));
    if (!IsDigit(text[i]) && !neg) {
      ++i;
      continue;
    }
    std::string tok;
    if (neg) {
      tok.push_back('-');
      ++i;
    }
    bool seen_dot = false;
    while (i < text.size()) {
      char c = text[i];
      bool next_digit = i + 1 < text.size() && IsDigit(text[i + 1]);
      if (IsDigit(c)) {
        tok.push_back(c);
      } else if (c == ',' && next_digit && !seen_dot) {
        // thousands separator: skip
      } else if (c == '.' && next_digit && !seen_dot) {
        seen_dot = true;
        tok.push_back(c);
      } else {
        break;
      }
      ++i;
    }
    out.push_back(tok);
  }
  return out;
}

int MonthFromWord(std::string_view word) {
  static const char* const kShort[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
  if (word.size() < 3) return 0;
  std::string w;
  for (char c : word) w.push_back(Lower(c));
  for (int m = 1; m <= 12; ++m) {
    std::string full;
    for (const char* p = MonthName(m); *p; ++p) full.push_back(Lower(*p));
    if (w == full || w == kShort[m - 1] || (w == "sept" && m == 9)) return m;
  }
  return 0;
}

std::optional<std::string> CheckedDate(long y, long m, long d) {
  if (y < 1 || y > 9999 || m < 1 || m > 12) return std::nullopt;
  if (d < 1 || d > DaysInMonth(static_cast<int>(y), static_cast<int>(m))) return std::nullopt;
  return IsoDate(static_cast<int>(y), static_cast<int>(m), static_cast<int>(d));
}

// "2021-03-04", "2021/3/4", optionally followed by a time ("T...").
std::optional<std::string> ParseIsoLike(std::string_view s) {
  size_t i = 0;
  long parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) parts[p] = parts[p] * 10 + (s[i++] - '0');
    size_t len = i - start;
    if (len == 0 || (p == 0 && len != 4) || (p > 0 && len > 2)) return std::nullopt;
    if (p < 2) {
      if (i >= s.size() || (s[i] != '-' && s[i] != '/' && s[i] != '.')) return std::nullopt;
      ++i;
    }
  }
  if (i != s.size() && s[i] != 'T' && s[i] != ' ') return std::nullopt;
  return CheckedDate(parts[0], parts[1], parts[2]);
}

// "March 4, 2021", "4 March 2021", "Mar 4th 2021".
std::optional<std::string> ParseWritten(std::string_view s) {
  int month = 0;
  long day = -1, year = -1;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalpha(c)) {
      size_t start = i;
      while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
      std::string_view word = s.substr(start, i - start);
      int m = MonthFromWord(word);
      if (m == 0) {
        std::string w;
        for (char ch : word) w.push_back(Lower(ch));
        if (w != "of" && w != "the") return std::nullopt;
        continue;
      }
      if (month != 0) return std::nullopt;
      month = m;
    } else if (IsDigit(s[i])) {
      size_t start = i;
      long v = 0;
      while (i < s.size() && IsDigit(s[i])) v = v * 10 + (s[i++] - '0');
      size_t len = i - start;
      // ordinal suffix: 1st, 2nd, 3rd, 4th
      if (i + 1 < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) {
        std::string suf{Lower(s[i]), Lower(s[i + 1])};
        if (suf == "st" || suf == "nd" || suf == "rd" || suf == "th") i += 2;
      }
      if (len == 4) {
        if (year != -1) return std::nullopt;
        year = v;
      } else if (len <= 2) {
        if (day != -1) return std::nullopt;
        day = v;
      } else {
        return std::nullopt;
      }
    } else if (c == ',' || c == '.' || IsSpace(s[i])) {
      ++i;
    } else {
      return std::nullopt;
    }
  }
  if (month == 0 || day == -1 || year == -1) return std::nullopt;
  return CheckedDate(year, month, day);
}

}  // namespace

const char* CellTypeName(CellType type) {
  switch (type) {
    case CellType::kString: return "string";
    case CellType::kInteger: return "integer";
    case CellType::kNumber: return "number";
    case CellType::kDate: return "date";
  }
  return "string";
}

std::string NormalizeText(std::string_view text) {
  text = Trim(text);
  while (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front()) {
    text = Trim(text.substr(1, text.size() - 2));
  }
  while (!text.empty() && text.back() == '.') text = Trim(text.substr(0, text.size() - 1));
  std::string out;
  bool space = false;
  for (char c : text) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(Lower(c));
  }
  return out;
}

std::optional<double> ParseNumberText(std::string_view text) {
  std::vector<std::string> toks = NumericTokens(text);
  if (toks.size() != 1) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(toks[0].c_str(), &end);
  if (end == toks[0].c_str() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> ParseIntegerText(std::string_view text) {
  std::vector<std::string> toks = NumericTokens(text);
  if (toks.size() != 1) return std::nullopt;
  std::string t = toks[0];
  size_t dot = t.find('.');
  if (dot != std::string::npos) {
    for (size_t i = dot + 1; i < t.size(); ++i) {
      if (t[i] != '0') return std::nullopt;
    }
    t.resize(dot);
  }
  if (t.empty() || t == "-" || t.size() > 18) return std::nullopt;
  return std::strtoll(t.c_str(), nullptr, 10);
}

std::optional<std::string> NormalizeDate(std::string_view text) {
  std::string_view s = Trim(text);
  while (!s.empty() && s.back() == '.') s = Trim(s.substr(0, s.size() - 1));
  if (s.empty()) return std::nullopt;
  if (s.size() >= 8 && IsDigit(s[0]) && IsDigit(s[1]) && IsDigit(s[2]) && IsDigit(s[3]) &&
      (s[4] == '-' || s[4] == '/' || s[4] == '.')) {
    return ParseIsoLike(s);
  }
  return ParseWritten(s);
}

std::string IsoDate(int year, int month, int day) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", year, month, day);
  return buf;
}

const char* MonthName(int month) {
  static const char* const kNames[] = {"January", "February", "March",     "April",   "May",      "June",
                                       "July",    "August",   "September", "October", "November", "December"};
  return month >= 1 && month <= 12 ? kNames[month - 1] : "";
}

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

bool CellEquals(CellType type, const std::string& gold, const nlohmann::json& predicted) {
  if (predicted.is_null()) return false;
  std::string text;
  if (predicted.is_string()) {
    text = predicted.get<std::string>();
  } else if (predicted.is_number() || predicted.is_boolean()) {
    text = predicted.dump();
  } else {
    return false;  // arrays and objects are never a cell value
  }
  switch (type) {
    case CellType::kString:
      return NormalizeText(text) == NormalizeText(gold);
    case CellType::kInteger: {
      std::optional<int64_t> p = ParseIntegerText(text), g = ParseIntegerText(gold);
      return p && g && *p == *g;
    }
    case CellType::kNumber: {
      std::optional<double> p = ParseNumberText(text), g = ParseNumberText(gold);
      if (!p || !g) return false;
      double scale = std::max(std::fabs(*p), std::fabs(*g));
      return std::fabs(*p - *g) <= kNumberTolerance * scale;
    }
    case CellType::kDate: {
      std::optional<std::string> p = NormalizeDate(text), g = NormalizeDate(gold);
      return p && g && *p == *g;
    }
  }
  return false;
}

nlohmann::json CellFromText(CellType type, std::string_view text) {
  switch (type) {
    case CellType::kString: {
      std::string_view t = Trim(text);
      return t.empty() ? nlohmann::json() : nlohmann::json(std::string(t));
    }
    case CellType::kInteger: {
      std::optional<int64_t> v = ParseIntegerText(text);
      return v ? nlohmann::json(*v) : nlohmann::json();
    }
    case CellType::kNumber: {
      std::optional<double> v = ParseNumberText(text);
      return v ? nlohmann::json(*v) : nlohmann::json();
    }
    case CellType::kDate: {
      std::optional<std::string> v = NormalizeDate(text);
      return v ? nlohmann::json(*v) : nlohmann::json();
    }
  }
  return nlohmann::json();
}

}  // namespace tide::env
