#include "tide/env/api_user.h"

#include <cctype>

#include "tide/core/split_mix.h"
#include "tide/env/seeded_random.h"

namespace tide::env {
namespace {

using nlohmann::json;

// Reply wordings. "{v}" is where the value goes. No template holds a digit, a quote, a
// bracket or the words true/false/null before "{v}", so the first JSON value of a reply is
// always the detail (ParseUserReply relies on it).
struct Persona {
  const char* name;
  std::vector<const char*> answers;
  const char* which;  // the reply to a question that names no detail the user holds
};

const std::vector<Persona>& Personas() {
  static const std::vector<Persona> kPersonas = {
      {"terse", {"{v}.", "It's {v}.", "Use {v}."}, "Which detail? Name it as the task writes it."},
      {"friendly",
       {"Sure thing! It's {v}. Let me know if you need anything else.", "Happy to help: that one is {v}.",
        "Oh, of course, it's {v}. Thanks for asking!"},
       "Sorry, I'm not sure which detail you mean. Could you name it the way the task writes it?"},
      {"formal",
       {"Certainly. The value in question is {v}.", "Please use {v} for that detail.", "As requested: {v}."},
       "I am afraid I cannot tell which detail you mean. Kindly name it as it is written in the task."},
      {"hurried",
       {"{v}, and please be quick about it.", "It's {v}. I'm in a bit of a rush.", "Just use {v}."},
       "Which one? Name the detail as written, please."},
      {"chatty",
       {"Ah, I was wondering when you would ask! It's {v}, I wrote it down this morning.",
        "Let me look at my notes... here it is: {v}. Funny, I almost forgot to mention it.",
        "Good question. It's {v}, that's the one I meant all along."},
       "Hmm, I'm not sure which bit you're asking about. Could you name the detail the way it's written in the task?"},
  };
  return kPersonas;
}

const Persona& FindPersona(const std::string& name) {
  for (const Persona& p : Personas()) {
    if (name == p.name) return p;
  }
  return Personas().front();
}

std::string Fill(const std::string& tmpl, const std::string& value) {
  const size_t at = tmpl.find("{v}");
  return tmpl.substr(0, at) + value + tmpl.substr(at + 3);
}

// The end of the JSON token starting at `pos` (a string, object/array or bare word), or pos.
size_t TokenEnd(const std::string& s, size_t pos) {
  auto skip_string = [&](size_t p) {
    ++p;
    while (p < s.size() && s[p] != '"') p += s[p] == '\\' ? 2 : 1;
    return std::min(p + 1, s.size());
  };
  if (s[pos] == '"') return skip_string(pos);
  if (s[pos] == '{' || s[pos] == '[') {
    int depth = 0;
    for (size_t p = pos; p < s.size();) {
      if (s[p] == '"') {
        p = skip_string(p);
        continue;
      }
      if (s[p] == '{' || s[p] == '[') ++depth;
      if ((s[p] == '}' || s[p] == ']') && --depth == 0) return p + 1;
      ++p;
    }
    return s.size();
  }
  size_t p = pos;
  while (p < s.size() && (std::isalnum(static_cast<unsigned char>(s[p])) || s[p] == '-' || s[p] == '+' ||
                          (s[p] == '.' && p + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[p + 1]))))) {
    ++p;
  }
  return p;
}

class AskUserTool : public workers::Tool {
 public:
  explicit AskUserTool(std::shared_ptr<const ApiUserSimulator> user) : user_(std::move(user)) {
    spec_.name = kAskUserTool;
    spec_.description =
        "Ask the user who gave you the task one question and get their reply. Use it to learn a detail the task "
        "holds back as [detail N]: name the detail in the question, one detail a question.";
    spec_.parameters = {
        {"type", "object"},
        {"properties", {{"question", {{"type", "string"}, {"minLength", 1}, {"description", "e.g. \"What is [detail 1]?\""}}}}},
        {"required", {"question"}},
        {"additionalProperties", false},
    };
  }
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override {
    auto it = arguments.find("question");
    if (it == arguments.end() || !it->is_string() || it->get<std::string>().empty()) {
      return InvalidArgument("ask_user: question must be a non-empty string");
    }
    return user_->Reply(it->get<std::string>());
  }

 private:
  std::shared_ptr<const ApiUserSimulator> user_;
  workers::ToolSpec spec_;
};

}  // namespace

const std::vector<std::string>& ApiUserPersonas() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Persona& p : Personas()) names.push_back(p.name);
    return names;
  }();
  return kNames;
}

ApiDialogue HideApiDetails(const ApiTaskSpec& full, uint64_t seed) {
  SeededRandom rng(SplitMix64(seed ^ 0xd1a109eull));
  ApiDialogue d;
  d.persona = rng.Pick(ApiUserPersonas());
  d.shown = full;
  int label = 0;
  for (size_t i = 0; i < d.shown.steps.size(); ++i) {
    ApiStep& s = d.shown.steps[i];
    std::vector<ApiDetail> can = {ApiDetail::kOwnerName};
    if (s.kind == ApiStepKind::kUpdate) can.push_back(ApiDetail::kValue);
    if (s.kind == ApiStepKind::kTransition && !s.above_field.empty()) can.push_back(ApiDetail::kThreshold);
    // Step 1 always hides its owner, so no task can be done without asking.
    const bool hide = i == 0 || rng.Chance(1, 2);
    const ApiDetail what = i == 0 ? ApiDetail::kOwnerName : rng.Pick(can);
    if (!hide) continue;
    ApiUserDetail detail{++label, i, what, json()};
    switch (what) {
      case ApiDetail::kOwnerName:
        detail.value = s.owner_name;
        s.owner_name.clear();
        break;
      case ApiDetail::kValue:
        detail.value = s.value;
        s.value = json();
        break;
      case ApiDetail::kThreshold:
        detail.value = s.above;
        s.above = 0;
        break;
    }
    s.hidden.push_back({what, detail.label});
    d.details.push_back(std::move(detail));
  }
  return d;
}

ApiUserSimulator::ApiUserSimulator(std::vector<ApiUserDetail> details, std::string persona, uint64_t seed)
    : details_(std::move(details)), persona_(std::move(persona)), seed_(seed) {}

std::string ApiUserSimulator::Reply(const std::string& question) const {
  const Persona& p = FindPersona(persona_);
  for (int label : DetailLabelsIn(question)) {
    for (const ApiUserDetail& d : details_) {
      if (d.label != label) continue;
      const uint64_t pick = SplitMix64(seed_ ^ SplitMix64(static_cast<uint64_t>(label))) % p.answers.size();
      return Fill(p.answers[pick], d.value.dump());
    }
  }
  return p.which;
}

std::shared_ptr<workers::Tool> MakeAskUserTool(std::shared_ptr<const ApiUserSimulator> user) {
  return std::make_shared<AskUserTool>(std::move(user));
}

std::vector<int> DetailLabelsIn(const std::string& question) {
  std::string lower = question;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<int> labels;
  const std::string word = "detail";
  for (size_t at = lower.find(word); at != std::string::npos; at = lower.find(word, at + 1)) {
    size_t p = at + word.size();
    while (p < lower.size() && lower[p] == ' ') ++p;
    if (p == at + word.size() || p >= lower.size() || !std::isdigit(static_cast<unsigned char>(lower[p]))) continue;
    int n = 0;
    while (p < lower.size() && std::isdigit(static_cast<unsigned char>(lower[p])) && n < 1000000) n = n * 10 + (lower[p++] - '0');
    labels.push_back(n);
  }
  return labels;
}

Result<json> ParseUserReply(const std::string& reply) {
  for (size_t i = 0; i < reply.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(reply[i]);
    const bool word_start = i == 0 || !std::isalnum(static_cast<unsigned char>(reply[i - 1]));
    const bool number = std::isdigit(c) || (c == '-' && i + 1 < reply.size() && std::isdigit(static_cast<unsigned char>(reply[i + 1])));
    const bool literal = word_start && (reply.compare(i, 4, "true") == 0 || reply.compare(i, 5, "false") == 0);
    if (c != '"' && c != '{' && c != '[' && !(number && word_start) && !literal) continue;
    const size_t end = TokenEnd(reply, i);
    json v = json::parse(reply.substr(i, end - i), nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded()) return v;
  }
  return NotFound("the reply holds no value: " + reply);
}

Status RevealDetail(ApiStep& step, int label, const json& value) {
  for (auto it = step.hidden.begin(); it != step.hidden.end(); ++it) {
    if (it->label != label) continue;
    switch (it->what) {
      case ApiDetail::kOwnerName:
        if (!value.is_string() || value.get<std::string>().empty()) {
          return InvalidArgument(ApiDetailPlaceholder(label) + " is an owner's name, got " + value.dump());
        }
        step.owner_name = value.get<std::string>();
        break;
      case ApiDetail::kValue:
        if (value.is_null()) return InvalidArgument(ApiDetailPlaceholder(label) + " is a value, got null");
        step.value = value;
        break;
      case ApiDetail::kThreshold:
        if (!value.is_number_integer()) {
          return InvalidArgument(ApiDetailPlaceholder(label) + " is a whole-number threshold, got " + value.dump());
        }
        step.above = value.get<int64_t>();
        break;
    }
    step.hidden.erase(it);
    return Status::Ok();
  }
  return InvalidArgument("the step holds no " + ApiDetailPlaceholder(label));
}

}  // namespace tide::env
