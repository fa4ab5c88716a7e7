// The api world's catalog: a fixed hierarchy category -> domain (a record type with a
// lifecycle) -> tools, and the seeded generator that turns one category into a concrete
// tool suite. A suite is what one company's back-office API would look like: every domain
// keeps its required fields, lifecycle and verbs, while the seed picks which optional
// fields exist, string length limits, page sizes and list filters, so different seeds give
// different (name, JSON Schema) tool specs for the same kind of API.
//
// Naming conventions every suite follows (the oracle relies on them, as a developer
// relies on an API's documented conventions): owners are found with find_<owner>s and read
// with get_<owner>; a domain <noun> has list_<noun>s, get_<noun>, create_<noun>,
// update_<noun>, delete_<noun> and one <verb>_<noun> per lifecycle action; records carry
// "id", "<owner>_id", "status" and their fields.
//
// Pure data and functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/env/seeded_random.h"
#include "tide/workers/message.h"

namespace tide::env {

enum class ApiFieldType { kString, kInteger, kNumber, kEnum, kDate, kBool };
const char* ApiFieldTypeName(ApiFieldType type);

struct ApiField {
  std::string name;
  ApiFieldType type = ApiFieldType::kString;
  std::string description;
  std::vector<std::string> values;  // kEnum: the allowed values
  double min = 0;                   // kInteger/kNumber: inclusive range
  double max = 0;
  int max_length = 0;  // kString: set per suite
  bool required = false;
};

// A lifecycle transition: `verb` moves a record from one of `from` to `to`.
struct ApiAction {
  std::string verb;
  std::vector<std::string> from;
  std::string to;
};

struct ApiDomain {
  std::string category;
  std::string noun;       // singular, one word; the plural is noun + "s"
  std::string id_prefix;  // record ids are "<prefix>-<number>"
  std::string owner;      // the owner kind of the category, e.g. "customer"
  std::vector<std::string> statuses;  // the first is the status of a newly created record
  std::vector<ApiAction> actions;
  std::vector<ApiField> fields;  // in a suite: the fields this suite's API has

  std::string plural() const { return noun + "s"; }
  std::string owner_key() const { return owner + "_id"; }
  std::string id_key() const { return noun + "_id"; }
  const ApiField* FindField(const std::string& name) const;
  const ApiAction* FindAction(const std::string& verb) const;
  bool IsTerminal(const std::string& status) const;  // no action leaves it
};

struct ApiCategory {
  std::string name;         // e.g. "commerce"
  std::string description;  // e.g. "an online shop"
  std::string owner;        // e.g. "customer"
  std::string owner_prefix;
  std::vector<ApiDomain> domains;  // the full field pools
};

// One generated suite: a category's owner directory and some of its domains.
struct ApiSuite {
  std::string category;
  std::string description;
  std::string owner;
  std::string owner_prefix;
  int max_page_size = 20;
  std::vector<ApiDomain> domains;
  std::vector<std::string> list_filters;  // per domain (parallel to domains): extra enum filter, or ""

  const ApiDomain* FindDomain(const std::string& noun) const;
};

// Every category, in a fixed order.
const std::vector<ApiCategory>& ApiCategories();

// What a tool does; the simulator dispatches on it.
enum class ApiToolKind { kFindOwners, kGetOwner, kList, kGet, kCreate, kUpdate, kDelete, kAction };

struct ApiToolDef {
  ApiToolKind kind;
  int domain = -1;   // index into ApiSuite::domains; -1 for owner tools
  std::string verb;  // kAction
  workers::ToolSpec spec;
};

// A suite: a category drawn from `rng`, its owner directory and 3 of its 4 domains, each
// with its required fields and a drawn subset (at least 2) of its optional ones.
ApiSuite GenerateApiSuite(SeededRandom& rng);

// Every tool of a suite with its JSON Schema, owner tools first, then per domain list, get,
// create, update, each action, delete.
std::vector<ApiToolDef> ApiSuiteTools(const ApiSuite& suite);

}  // namespace tide::env
