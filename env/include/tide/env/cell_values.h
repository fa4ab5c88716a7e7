// Cell values of a table answer: their types and how text turns into comparable values.
// Shared by the verifier (which compares an answer with the ground truth) and the oracle's
// reader (which parses values out of documents), so both read "1,200", "March 4, 2021" and
// "US$ 345.6 million" the same way.
//
// All functions are pure and thread-safe. Parsers return std::nullopt for text that is not
// a value of that type (or is ambiguous, e.g. two numbers); they never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tide::env {

enum class CellType { kString, kInteger, kNumber, kDate };

const char* CellTypeName(CellType type);  // "string", "integer", "number", "date"

// Lowercase (ASCII), whitespace runs collapsed to one space, trimmed, surrounding quotes
// and a trailing period removed.
std::string NormalizeText(std::string_view text);

// The single number in `text` ("1,200", "1200 people", "$345.6M"); commas between digits
// are thousands separators. nullopt when there is none or more than one.
std::optional<double> ParseNumberText(std::string_view text);
// As ParseNumberText, but the number must be integral ("1,200", "1200.0").
std::optional<int64_t> ParseIntegerText(std::string_view text);

// "YYYY-MM-DD" for ISO-like ("2021-03-04", "2021/3/4", "2021-03-04T10:00Z") and written
// forms ("March 4, 2021", "Mar 4th 2021", "4 March 2021"); nullopt for anything else,
// including invalid days and all-numeric forms other than year-first.
std::optional<std::string> NormalizeDate(std::string_view text);
// "YYYY-MM-DD" from parts; months 1..12.
std::string IsoDate(int year, int month, int day);
const char* MonthName(int month);  // "January".."December"; "" outside 1..12
int DaysInMonth(int year, int month);

// Relative tolerance for number cells: |a - b| <= 1e-3 * max(|a|, |b|) (and exact at 0).
inline constexpr double kNumberTolerance = 1e-3;

// Whether `predicted` (any JSON: string, number, null...) equals the gold cell, given as
// its canonical text (string, decimal integer, decimal number, ISO date).
bool CellEquals(CellType type, const std::string& gold, const nlohmann::json& predicted);

// The canonical JSON value of a cell read from text: string as written (trimmed), integer
// and number as JSON numbers, date as an ISO string; null when the text does not parse.
nlohmann::json CellFromText(CellType type, std::string_view text);

}  // namespace tide::env
