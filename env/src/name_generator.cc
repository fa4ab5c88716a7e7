#include "tide/env/name_generator.h"

#include <cctype>
#include <vector>

namespace tide::env {
namespace {

const std::vector<std::string>& Onsets() {
  static const std::vector<std::string> k = {"b",  "d",  "f",  "g",  "k",  "l",  "m",  "n",
                                             "p",  "r",  "s",  "t",  "v",  "z",  "br", "dr",
                                             "kr", "tr", "st", "th", "sh", "gl", "pl", "fr"};
  return k;
}
const std::vector<std::string>& Vowels() {
  static const std::vector<std::string> k = {"a", "e", "i", "o", "u", "a", "e", "o", "a", "i", "ia", "ou"};
  return k;
}
const std::vector<std::string>& Codas() {  // closing a word
  static const std::vector<std::string> k = {"", "", "", "n", "r", "l", "s", "m", "th"};
  return k;
}
const std::vector<std::string>& InnerCodas() {  // inside a word, before the next onset
  static const std::vector<std::string> k = {"n", "r", "l", "s"};
  return k;
}
const std::vector<std::string>& OrganisationSuffixes() {
  static const std::vector<std::string> k = {
      "Dynamics", "Systems",  "Labs",      "Holdings",     "Works",    "Industries",
      "Analytics", "Logistics", "Robotics", "Networks",    "Foods",    "Materials",
      "Capital",  "Partners", "Technologies", "Ventures", "Instruments", "Biosciences"};
  return k;
}
const std::vector<std::string>& GroupWords() {
  static const std::vector<std::string> k = {"Group", "International", "Global", "Holdings", "Partners"};
  return k;
}
const std::vector<std::string>& CitySuffixes() {
  static const std::vector<std::string> k = {"", "", "", "", "port", "ford", "burg", "ton", "mere"};
  return k;
}

bool IsVowel(char c) {
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

std::string Capitalise(std::string w) {
  if (!w.empty()) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
  return w;
}

// Changes one letter of `word` so it still reads as almost the same word.
std::string Misspell(SeededRandom& rng, const std::string& word) {
  std::vector<size_t> consonants, vowels;
  for (size_t i = 1; i < word.size(); ++i) (IsVowel(word[i]) ? vowels : consonants).push_back(i);
  if (!consonants.empty() && rng.Chance(1, 2)) {
    size_t i = rng.Pick(consonants);
    return word.substr(0, i + 1) + word[i] + word.substr(i + 1);  // double a consonant
  }
  if (!vowels.empty()) {
    size_t i = rng.Pick(vowels);
    static const std::string kSwap = "aeiou";
    char c = word[i];
    char repl = c;
    while (repl == c) repl = kSwap[rng.Below(kSwap.size())];
    std::string out = word;
    out[i] = repl;
    return out;
  }
  return word + "a";
}

}  // namespace

std::string SyllableWord(SeededRandom& rng, int min_syllables, int max_syllables) {
  int n = static_cast<int>(rng.Range(min_syllables, max_syllables));
  std::string w;
  for (int i = 0; i < n; ++i) {
    bool vowel_start = i == 0 && rng.Chance(1, 4);
    if (!vowel_start) w += rng.Pick(Onsets());
    w += rng.Pick(Vowels());
    if (i == n - 1) {
      w += rng.Pick(Codas());
    } else if (rng.Chance(1, 4)) {
      w += rng.Pick(InnerCodas());
    }
  }
  return Capitalise(w);
}

std::string OrganisationName(SeededRandom& rng) {
  std::string root = SyllableWord(rng, 2, 3);
  return root + " " + rng.Pick(OrganisationSuffixes());
}

std::string PersonName(SeededRandom& rng) {
  return SyllableWord(rng, 1, 2) + " " + SyllableWord(rng, 2, 3);
}

std::string CityName(SeededRandom& rng) {
  std::string w = SyllableWord(rng, 2, 3);
  return w + rng.Pick(CitySuffixes());
}

std::string NearName(SeededRandom& rng, const std::string& name) {
  size_t space = name.find(' ');
  std::string root = space == std::string::npos ? name : name.substr(0, space);
  std::string rest = space == std::string::npos ? "" : name.substr(space + 1);
  switch (rng.Below(4)) {
    case 0: {  // "Orvana Dynamics Group"
      std::string g = rng.Pick(GroupWords());
      if (rest.find(g) != std::string::npos) g = "Group";
      if (rest.find(g) != std::string::npos) g = "International";
      return name + " " + g;
    }
    case 1: {  // "Orvanna Dynamics"
      return Misspell(rng, root) + (rest.empty() ? "" : " " + rest);
    }
    case 2: {  // "Orvana Dynamic Systems"
      std::string stem = rest;
      if (!stem.empty() && stem.back() == 's') stem.pop_back();
      std::string tail = stem == "System" ? "Solutions" : "Systems";
      return root + " " + (stem.empty() ? tail : stem + " " + tail);
    }
    default: {  // "Orvana Networks": same root, another suffix
      std::string s = rng.Pick(OrganisationSuffixes());
      if (s == rest) s = rest == "Labs" ? "Works" : "Labs";
      return root + " " + s;
    }
  }
}

}  // namespace tide::env
