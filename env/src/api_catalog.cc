#include "tide/env/api_catalog.h"

#include <algorithm>

namespace tide::env {
namespace {

using nlohmann::json;

ApiField Str(std::string name, std::string desc, bool required = false) {
  return {std::move(name), ApiFieldType::kString, std::move(desc), {}, 0, 0, 0, required};
}
ApiField Int(std::string name, std::string desc, double min, double max, bool required = false) {
  return {std::move(name), ApiFieldType::kInteger, std::move(desc), {}, min, max, 0, required};
}
ApiField Num(std::string name, std::string desc, double min, double max, bool required = false) {
  return {std::move(name), ApiFieldType::kNumber, std::move(desc), {}, min, max, 0, required};
}
ApiField Enum(std::string name, std::string desc, std::vector<std::string> values, bool required = false) {
  return {std::move(name), ApiFieldType::kEnum, std::move(desc), std::move(values), 0, 0, 0, required};
}
ApiField Date(std::string name, std::string desc, bool required = false) {
  return {std::move(name), ApiFieldType::kDate, std::move(desc), {}, 0, 0, 0, required};
}
ApiField Bool(std::string name, std::string desc) {
  return {std::move(name), ApiFieldType::kBool, std::move(desc), {}, 0, 0, 0, false};
}
ApiAction Act(std::string verb, std::vector<std::string> from, std::string to) {
  return {std::move(verb), std::move(from), std::move(to)};
}

ApiDomain Dom(std::string noun, std::string prefix, std::vector<std::string> statuses, std::vector<ApiAction> actions,
              std::vector<ApiField> fields) {
  ApiDomain d;
  d.noun = std::move(noun);
  d.id_prefix = std::move(prefix);
  d.statuses = std::move(statuses);
  d.actions = std::move(actions);
  d.fields = std::move(fields);
  // Two optional fields every domain's pool has: real APIs carry free text and a caller's reference.
  d.fields.push_back(Str("notes", "free-text notes"));
  d.fields.push_back(Str("reference", "the caller's own reference for this record"));
  return d;
}

ApiCategory Cat(std::string name, std::string desc, std::string owner, std::string prefix, std::vector<ApiDomain> domains) {
  ApiCategory c{std::move(name), std::move(desc), std::move(owner), std::move(prefix), std::move(domains)};
  for (ApiDomain& d : c.domains) {
    d.category = c.name;
    d.owner = c.owner;
  }
  return c;
}

const std::vector<std::string> kCurrencies = {"USD", "EUR", "GBP", "JPY", "CHF"};

std::vector<ApiCategory> BuildCategories() {
  std::vector<ApiCategory> c;
  c.push_back(Cat(
      "commerce", "an online shop", "customer", "C",
      {Dom("order", "O", {"pending", "confirmed", "shipped", "delivered", "cancelled", "refunded"},
           {Act("confirm", {"pending"}, "confirmed"), Act("cancel", {"pending", "confirmed"}, "cancelled"),
            Act("ship", {"confirmed"}, "shipped"), Act("refund", {"cancelled", "delivered"}, "refunded")},
           {Num("amount", "order total", 1, 5000, true), Enum("currency", "ISO currency", kCurrencies, true),
            Int("items_count", "number of items", 1, 50), Enum("shipping_method", "how it ships", {"standard", "express", "overnight"}),
            Bool("gift_wrap", "wrap as a gift"), Date("delivery_date", "promised delivery day"),
            Str("coupon_code", "coupon applied")}),
       Dom("subscription", "SB", {"active", "paused", "cancelled", "expired"},
           {Act("pause", {"active"}, "paused"), Act("resume", {"paused"}, "active"),
            Act("cancel", {"active", "paused"}, "cancelled"), Act("expire", {"active", "paused"}, "expired")},
           {Enum("plan", "plan tier", {"basic", "plus", "pro", "team"}, true), Num("monthly_price", "price a month", 1, 500, true),
            Int("seats", "seats included", 1, 100), Date("renewal_date", "next renewal"), Bool("auto_renew", "renews itself"),
            Enum("billing_cycle", "billing period", {"monthly", "yearly"})}),
       Dom("return", "R", {"requested", "approved", "received", "rejected", "refunded"},
           {Act("approve", {"requested"}, "approved"), Act("reject", {"requested"}, "rejected"),
            Act("receive", {"approved"}, "received"), Act("refund", {"received"}, "refunded")},
           {Enum("reason", "why it comes back", {"damaged", "wrong_item", "not_needed", "late"}, true),
            Num("amount", "amount to refund", 1, 5000, true), Int("items_count", "items returned", 1, 20),
            Enum("condition", "state of the goods", {"new", "opened", "damaged"}), Date("pickup_date", "courier pickup day")}),
       Dom("coupon", "CP", {"active", "redeemed", "expired", "revoked"},
           {Act("redeem", {"active"}, "redeemed"), Act("expire", {"active"}, "expired"), Act("revoke", {"active"}, "revoked")},
           {Int("discount_percent", "discount in percent", 1, 90, true), Str("code", "the code customers type", true),
            Int("max_uses", "how often it may be used", 1, 1000), Date("expires_on", "last valid day"),
            Num("min_order", "smallest order it applies to", 0, 1000)})}));
  c.push_back(Cat(
      "travel", "a travel agency", "traveler", "T",
      {Dom("booking", "B", {"held", "confirmed", "completed", "cancelled"},
           {Act("confirm", {"held"}, "confirmed"), Act("cancel", {"held", "confirmed"}, "cancelled"),
            Act("complete", {"confirmed"}, "completed")},
           {Str("hotel", "hotel name", true), Int("nights", "nights booked", 1, 30, true),
            Enum("room_type", "room kind", {"single", "double", "suite", "family"}), Date("check_in_date", "arrival day"),
            Num("price", "total price", 20, 20000), Bool("breakfast", "breakfast included"), Int("guests", "guests", 1, 6)}),
       Dom("reservation", "FR", {"held", "ticketed", "flown", "cancelled"},
           {Act("ticket", {"held"}, "ticketed"), Act("cancel", {"held", "ticketed"}, "cancelled"),
            Act("fly", {"ticketed"}, "flown")},
           {Str("route", "origin and destination, e.g. LIS-OSL", true),
            Enum("cabin", "cabin class", {"economy", "premium", "business", "first"}, true), Num("fare", "fare paid", 30, 15000),
            Str("seat", "seat number"), Date("departure_date", "departure day"), Int("bags", "checked bags", 0, 5)}),
       Dom("rental", "CR", {"reserved", "active", "returned", "cancelled"},
           {Act("activate", {"reserved"}, "active"), Act("cancel", {"reserved"}, "cancelled"),
            Act("close", {"active"}, "returned")},
           {Enum("car_class", "car size", {"compact", "midsize", "suv", "van"}, true), Int("days", "rental days", 1, 60, true),
            Num("daily_rate", "price a day", 10, 900), Bool("insurance", "full insurance"), Date("pickup_date", "pickup day"),
            Str("pickup_city", "where the car is picked up")}),
       Dom("trip", "TR", {"draft", "shared", "archived"},
           {Act("share", {"draft"}, "shared"), Act("archive", {"draft", "shared"}, "archived")},
           {Str("title", "trip title", true), Int("trip_days", "length in days", 1, 90, true), Num("budget", "budget", 0, 100000),
            Date("start_date", "first day"), Enum("visibility", "who sees it", {"private", "friends", "public"})})}));
  c.push_back(Cat(
      "healthcare", "a clinic network", "patient", "P",
      {Dom("appointment", "A", {"requested", "scheduled", "completed", "cancelled"},
           {Act("schedule", {"requested"}, "scheduled"), Act("cancel", {"requested", "scheduled"}, "cancelled"),
            Act("complete", {"scheduled"}, "completed")},
           {Enum("department", "clinic department", {"cardiology", "dermatology", "pediatrics", "radiology", "general"}, true),
            Date("date", "appointment day", true), Int("duration_minutes", "length", 10, 240), Bool("telehealth", "video visit"),
            Str("room", "room"), Enum("priority", "urgency", {"routine", "urgent"})}),
       Dom("prescription", "RX", {"pending", "approved", "dispensed", "revoked"},
           {Act("approve", {"pending"}, "approved"), Act("dispense", {"approved"}, "dispensed"),
            Act("revoke", {"pending", "approved"}, "revoked")},
           {Str("drug", "drug name", true), Num("dose_mg", "dose in mg", 0.1, 2000, true), Int("refills", "refills", 0, 12),
            Str("pharmacy", "pharmacy"), Date("start_date", "first day")}),
       Dom("claim", "CL", {"submitted", "approved", "denied", "paid", "appealed"},
           {Act("approve", {"submitted", "appealed"}, "approved"), Act("deny", {"submitted", "appealed"}, "denied"),
            Act("pay", {"approved"}, "paid"), Act("appeal", {"denied"}, "appealed")},
           {Num("amount", "amount claimed", 1, 50000, true), Str("procedure_code", "billing code", true),
            Date("service_date", "day of service"), Str("provider", "provider"), Bool("in_network", "in network")}),
       Dom("referral", "RF", {"open", "accepted", "declined", "closed"},
           {Act("accept", {"open"}, "accepted"), Act("decline", {"open"}, "declined"), Act("close", {"accepted"}, "closed")},
           {Enum("specialty", "specialty", {"orthopedics", "neurology", "oncology", "cardiology"}, true),
            Int("urgency_days", "see within days", 1, 90, true), Str("clinician", "referring clinician"),
            Date("expires_on", "valid until")})}));
  c.push_back(Cat(
      "finance", "a digital bank", "client", "K",
      {Dom("payment", "PM", {"pending", "authorized", "settled", "voided", "refunded"},
           {Act("authorize", {"pending"}, "authorized"), Act("void", {"pending", "authorized"}, "voided"),
            Act("settle", {"authorized"}, "settled"), Act("refund", {"settled"}, "refunded")},
           {Num("amount", "amount", 1, 100000, true), Enum("currency", "ISO currency", kCurrencies, true),
            Enum("method", "payment method", {"card", "ach", "wire"}), Str("memo", "memo"), Date("scheduled_date", "value day")}),
       Dom("transfer", "TF", {"queued", "approved", "sent", "cancelled"},
           {Act("approve", {"queued"}, "approved"), Act("cancel", {"queued", "approved"}, "cancelled"),
            Act("send", {"approved"}, "sent")},
           {Num("amount", "amount", 1, 250000, true), Str("destination", "destination account", true),
            Enum("speed", "speed", {"standard", "instant"}), Date("execute_on", "execution day")}),
       Dom("card", "CD", {"active", "frozen", "closed"},
           {Act("freeze", {"active"}, "frozen"), Act("unfreeze", {"frozen"}, "active"), Act("close", {"active", "frozen"}, "closed")},
           {Enum("card_type", "card type", {"debit", "credit", "prepaid"}, true), Num("limit", "spending limit", 50, 50000, true),
            Str("nickname", "nickname"), Bool("contactless", "contactless on"), Date("expiry", "expiry day")}),
       Dom("loan", "L", {"applied", "approved", "funded", "rejected", "closed"},
           {Act("approve", {"applied"}, "approved"), Act("reject", {"applied"}, "rejected"),
            Act("fund", {"approved"}, "funded"), Act("close", {"funded"}, "closed")},
           {Num("principal", "principal", 500, 1000000, true), Int("term_months", "term", 3, 360, true),
            Num("rate_percent", "yearly rate", 0, 30), Enum("purpose", "purpose", {"home", "car", "education", "business"}),
            Bool("collateral", "secured")})}));
  c.push_back(Cat(
      "logistics", "a freight forwarder", "shipper", "S",
      {Dom("shipment", "SH", {"created", "dispatched", "held", "delivered", "cancelled"},
           {Act("dispatch", {"created"}, "dispatched"), Act("hold", {"created", "dispatched"}, "held"),
            Act("release", {"held"}, "dispatched"), Act("cancel", {"created", "held"}, "cancelled"),
            Act("deliver", {"dispatched"}, "delivered")},
           {Num("weight_kg", "weight", 0.1, 30000, true), Str("destination", "destination city", true),
            Enum("service", "service level", {"ground", "air", "freight"}), Bool("insured", "insured"),
            Int("pieces", "pieces", 1, 500), Date("ship_date", "ship day")}),
       Dom("pickup", "PU", {"requested", "scheduled", "completed", "cancelled"},
           {Act("schedule", {"requested"}, "scheduled"), Act("cancel", {"requested", "scheduled"}, "cancelled"),
            Act("complete", {"scheduled"}, "completed")},
           {Str("address", "pickup address", true), Enum("window", "time window", {"morning", "afternoon", "evening"}, true),
            Date("pickup_date", "pickup day"), Int("packages", "packages", 1, 200)}),
       Dom("invoice", "IN", {"draft", "issued", "paid", "voided"},
           {Act("issue", {"draft"}, "issued"), Act("pay", {"issued"}, "paid"), Act("void", {"draft", "issued"}, "voided")},
           {Num("amount", "amount due", 1, 500000, true), Date("due_date", "due day", true),
            Enum("currency", "ISO currency", kCurrencies), Enum("terms", "payment terms", {"net15", "net30", "net60"}),
            Str("po_number", "purchase order")}),
       Dom("quote", "Q", {"draft", "sent", "accepted", "declined", "expired"},
           {Act("send", {"draft"}, "sent"), Act("accept", {"sent"}, "accepted"), Act("decline", {"sent"}, "declined"),
            Act("expire", {"sent"}, "expired")},
           {Num("price", "quoted price", 10, 200000, true), Str("lane", "origin-destination lane", true),
            Date("valid_until", "valid until"), Enum("equipment", "equipment", {"dry_van", "reefer", "flatbed"}),
            Num("weight_kg", "weight", 1, 40000)})}));
  c.push_back(Cat(
      "hr", "a company's people team", "employee", "E",
      {Dom("leave", "LV", {"requested", "approved", "rejected", "cancelled"},
           {Act("approve", {"requested"}, "approved"), Act("reject", {"requested"}, "rejected"),
            Act("cancel", {"requested", "approved"}, "cancelled")},
           {Enum("leave_type", "kind of leave", {"vacation", "sick", "parental", "unpaid"}, true),
            Date("start_date", "first day", true), Int("days", "working days", 1, 60, true), Bool("half_day", "half day"),
            Str("comment", "comment")}),
       Dom("expense", "EX", {"submitted", "approved", "rejected", "reimbursed"},
           {Act("approve", {"submitted"}, "approved"), Act("reject", {"submitted"}, "rejected"),
            Act("reimburse", {"approved"}, "reimbursed")},
           {Num("amount", "amount", 1, 20000, true), Enum("category", "category", {"travel", "meals", "equipment", "training"}, true),
            Date("incurred_on", "day spent"), Bool("receipt", "receipt attached"), Str("merchant", "merchant")}),
       Dom("review", "RV", {"draft", "submitted", "acknowledged"},
           {Act("submit", {"draft"}, "submitted"), Act("acknowledge", {"submitted"}, "acknowledged")},
           {Int("rating", "rating", 1, 5, true), Enum("period", "period", {"h1", "h2", "annual"}, true),
            Int("goals_met", "goals met", 0, 10), Str("summary", "summary"), Date("due_date", "due day")}),
       Dom("certification", "CT", {"waitlisted", "enrolled", "completed", "dropped"},
           {Act("enroll", {"waitlisted"}, "enrolled"), Act("complete", {"enrolled"}, "completed"),
            Act("drop", {"waitlisted", "enrolled"}, "dropped")},
           {Str("course", "course", true), Num("hours", "hours", 1, 200, true), Bool("mandatory", "mandatory"),
            Date("deadline", "deadline"), Enum("format", "format", {"online", "classroom"})})}));
  c.push_back(Cat(
      "it", "an IT help desk", "user", "U",
      {Dom("ticket", "TK", {"open", "working", "escalated", "resolved", "closed"},
           {Act("start", {"open"}, "working"), Act("escalate", {"open", "working"}, "escalated"),
            Act("resolve", {"working", "escalated"}, "resolved"), Act("close", {"resolved"}, "closed")},
           {Str("subject", "subject", true), Enum("priority", "priority", {"low", "medium", "high", "critical"}, true),
            Enum("component", "component", {"email", "vpn", "laptop", "printer", "access"}), Date("due_date", "due day"),
            Int("reopened_count", "times reopened", 0, 20), Int("sla_hours", "SLA in hours", 1, 240)}),
       Dom("license", "LI", {"active", "suspended", "revoked"},
           {Act("suspend", {"active"}, "suspended"), Act("reactivate", {"suspended"}, "active"),
            Act("revoke", {"active", "suspended"}, "revoked")},
           {Enum("product", "product", {"office", "design", "ide", "crm"}, true), Int("seats", "seats", 1, 500, true),
            Date("renewal_date", "renewal day"), Num("cost", "yearly cost", 0, 100000)}),
       Dom("device", "DV", {"assigned", "repairing", "retired", "lost"},
           {Act("repair", {"assigned"}, "repairing"), Act("restore", {"repairing"}, "assigned"),
            Act("retire", {"assigned", "repairing"}, "retired"), Act("report", {"assigned"}, "lost")},
           {Str("model", "model", true), Str("serial", "serial number", true), Date("purchase_date", "bought on"),
            Bool("warranty", "under warranty"), Enum("os", "operating system", {"linux", "macos", "windows"})}),
       Dom("permission", "PR", {"requested", "approved", "denied", "revoked"},
           {Act("approve", {"requested"}, "approved"), Act("deny", {"requested"}, "denied"), Act("revoke", {"approved"}, "revoked")},
           {Enum("system", "system", {"erp", "crm", "hr", "vpn"}, true), Enum("role", "role", {"viewer", "editor", "admin"}, true),
            Date("expires_on", "valid until"), Str("justification", "why it is needed")})}));
  c.push_back(Cat(
      "education", "a university registrar", "student", "D",
      {Dom("enrollment", "EN", {"pending", "active", "withdrawn", "completed"},
           {Act("approve", {"pending"}, "active"), Act("withdraw", {"pending", "active"}, "withdrawn"),
            Act("complete", {"active"}, "completed")},
           {Str("course", "course code", true), Int("credits", "credits", 1, 10, true),
            Enum("term", "term", {"fall", "spring", "summer"}, true), Bool("audit", "audit only"), Str("section", "section")}),
       Dom("fee", "F", {"due", "overdue", "paid", "waived"},
           {Act("pay", {"due", "overdue"}, "paid"), Act("waive", {"due", "overdue"}, "waived")},
           {Num("amount", "amount", 1, 60000, true), Date("due_date", "due day", true),
            Enum("fee_type", "fee type", {"tuition", "lab", "library", "housing"}), Int("installments", "installments", 1, 12)}),
       Dom("submission", "SU", {"draft", "submitted", "graded", "returned"},
           {Act("submit", {"draft"}, "submitted"), Act("grade", {"submitted"}, "graded"), Act("return", {"graded"}, "returned")},
           {Str("assignment", "assignment", true), Num("score", "score", 0, 100), Bool("late", "late"),
            Int("pages", "pages", 1, 300, true), Date("submitted_on", "day submitted")}),
       Dom("petition", "PT", {"submitted", "approved", "denied", "withdrawn"},
           {Act("approve", {"submitted"}, "approved"), Act("deny", {"submitted"}, "denied"),
            Act("withdraw", {"submitted"}, "withdrawn")},
           {Enum("petition_type", "petition type", {"overload", "late_drop", "grade_change", "waiver"}, true),
            Str("reason", "reason", true), Enum("term", "term", {"fall", "spring", "summer"}), Int("credits", "credits", 0, 30)})}));
  return c;
}

json FieldSchema(const ApiField& f) {
  json s;
  switch (f.type) {
    case ApiFieldType::kString:
      s = {{"type", "string"}, {"minLength", 1}, {"maxLength", f.max_length}};
      break;
    case ApiFieldType::kInteger:
      s = {{"type", "integer"}, {"minimum", static_cast<int64_t>(f.min)}, {"maximum", static_cast<int64_t>(f.max)}};
      break;
    case ApiFieldType::kNumber:
      s = {{"type", "number"}, {"minimum", f.min}, {"maximum", f.max}};
      break;
    case ApiFieldType::kEnum:
      s = {{"type", "string"}, {"enum", f.values}};
      break;
    case ApiFieldType::kDate:
      s = {{"type", "string"}, {"minLength", 10}, {"maxLength", 10}};
      break;
    case ApiFieldType::kBool:
      s = {{"type", "boolean"}};
      break;
  }
  s["description"] = f.description + (f.type == ApiFieldType::kDate ? " (YYYY-MM-DD)" : "");
  return s;
}

json IdSchema(const std::string& what) {
  return {{"type", "string"}, {"minLength", 1}, {"maxLength", 32}, {"description", "the " + what + " id"}};
}

json Object(json properties, std::vector<std::string> required) {
  json s = {{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = std::move(required);
  return s;
}

std::string Article(const std::string& noun) {
  return std::string("aeiou").find(noun[0]) != std::string::npos ? "an " : "a ";
}

}  // namespace

const char* ApiFieldTypeName(ApiFieldType type) {
  switch (type) {
    case ApiFieldType::kString: return "string";
    case ApiFieldType::kInteger: return "integer";
    case ApiFieldType::kNumber: return "number";
    case ApiFieldType::kEnum: return "enum";
    case ApiFieldType::kDate: return "date";
    case ApiFieldType::kBool: return "boolean";
  }
  return "string";
}

const ApiField* ApiDomain::FindField(const std::string& name) const {
  for (const ApiField& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const ApiAction* ApiDomain::FindAction(const std::string& verb) const {
  for (const ApiAction& a : actions) {
    if (a.verb == verb) return &a;
  }
  return nullptr;
}

bool ApiDomain::IsTerminal(const std::string& status) const {
  for (const ApiAction& a : actions) {
    if (std::find(a.from.begin(), a.from.end(), status) != a.from.end()) return false;
  }
  return true;
}

const ApiDomain* ApiSuite::FindDomain(const std::string& noun) const {
  for (const ApiDomain& d : domains) {
    if (d.noun == noun) return &d;
  }
  return nullptr;
}

const std::vector<ApiCategory>& ApiCategories() {
  static const std::vector<ApiCategory> kCategories = BuildCategories();
  return kCategories;
}

ApiSuite GenerateApiSuite(SeededRandom& rng) {
  const ApiCategory& cat = rng.Pick(ApiCategories());
  ApiSuite suite;
  suite.category = cat.name;
  suite.description = cat.description;
  suite.owner = cat.owner;
  suite.owner_prefix = cat.owner_prefix;
  suite.max_page_size = static_cast<int>(rng.Pick(std::vector<int64_t>{10, 20, 25, 50}));
  const int max_length = static_cast<int>(rng.Pick(std::vector<int64_t>{64, 120, 200, 500}));
  std::vector<size_t> picked = rng.Sample(cat.domains.size(), 3);
  std::sort(picked.begin(), picked.end());
  for (size_t i : picked) {
    const ApiDomain& pool = cat.domains[i];
    ApiDomain d = pool;
    d.fields.clear();
    std::vector<const ApiField*> optional;
    for (const ApiField& f : pool.fields) {
      if (!f.required) optional.push_back(&f);
    }
    // At least two optional fields; the rest each with even odds.
    std::vector<bool> keep(optional.size(), false);
    for (size_t k : rng.Sample(optional.size(), 2)) keep[k] = true;
    for (size_t k = 0; k < optional.size(); ++k) keep[k] = keep[k] || rng.Chance(1, 2);
    size_t k = 0;
    for (const ApiField& f : pool.fields) {
      if (f.required || keep[k++]) {
        d.fields.push_back(f);
        if (f.type == ApiFieldType::kString) d.fields.back().max_length = max_length;
      }
    }
    std::vector<std::string> enums;
    for (const ApiField& f : d.fields) {
      if (f.type == ApiFieldType::kEnum) enums.push_back(f.name);
    }
    suite.list_filters.push_back(!enums.empty() && rng.Chance(1, 2) ? rng.Pick(enums) : "");
    suite.domains.push_back(std::move(d));
  }
  return suite;
}

std::vector<ApiToolDef> ApiSuiteTools(const ApiSuite& suite) {
  std::vector<ApiToolDef> tools;
  const std::string owner_key = suite.owner + "_id";
  tools.push_back({ApiToolKind::kFindOwners, -1, "",
                   {"find_" + suite.owner + "s",
                    "Find " + suite.owner + "s of " + suite.description + " whose name contains the text given "
                    "(case-insensitive). Returns up to `limit` matches with their ids.",
                    Object({{"name", {{"type", "string"}, {"minLength", 2}, {"maxLength", 80}, {"description", "part of the name"}}},
                            {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 20}}}},
                           {"name"})}});
  tools.push_back({ApiToolKind::kGetOwner, -1, "",
                   {"get_" + suite.owner, "Read one " + suite.owner + " by id.", Object({{owner_key, IdSchema(suite.owner)}}, {owner_key})}});
  for (size_t di = 0; di < suite.domains.size(); ++di) {
    const ApiDomain& d = suite.domains[di];
    const int domain = static_cast<int>(di);
    json fields = json::object();
    std::vector<std::string> required = {owner_key};
    for (const ApiField& f : d.fields) {
      fields[f.name] = FieldSchema(f);
      if (f.required) required.push_back(f.name);
    }
    json list_props = {{owner_key, IdSchema(suite.owner)},
                       {"status", {{"type", "string"}, {"enum", d.statuses}}},
                       {"page", {{"type", "integer"}, {"minimum", 1}, {"description", "1-based page number"}}},
                       {"page_size", {{"type", "integer"}, {"minimum", 1}, {"maximum", suite.max_page_size},
                                      {"description", "results a page (default 5)"}}}};
    const std::string& filter = suite.list_filters[di];
    if (!filter.empty()) list_props[filter] = FieldSchema(*d.FindField(filter));
    tools.push_back({ApiToolKind::kList, domain, "",
                     {"list_" + d.plural(),
                      "List " + d.plural() + ", optionally filtered; paginated: the reply has `items` and "
                      "`next_page` (null on the last page).",
                      Object(std::move(list_props), {})}});
    tools.push_back({ApiToolKind::kGet, domain, "",
                     {"get_" + d.noun, "Read one " + d.noun + " by id.", Object({{d.id_key(), IdSchema(d.noun)}}, {d.id_key()})}});
    json create_props = fields;
    create_props[owner_key] = IdSchema(suite.owner);
    create_props["request_id"] = {{"type", "string"}, {"minLength", 1}, {"maxLength", 64},
                                  {"description", "idempotency key: a retried create with the same request_id "
                                                  "returns the first result instead of creating a duplicate"}};
    tools.push_back({ApiToolKind::kCreate, domain, "",
                     {"create_" + d.noun,
                      "Create " + Article(d.noun) + d.noun + " (status " + d.statuses.front() + ") for a " + suite.owner + ".",
                      Object(std::move(create_props), required)}});
    json update_props = fields;
    update_props[d.id_key()] = IdSchema(d.noun);
    tools.push_back({ApiToolKind::kUpdate, domain, "",
                     {"update_" + d.noun,
                      "Change fields of " + Article(d.noun) + d.noun + " (not its status: use the lifecycle tools). "
                      "Records in a final status cannot be changed.",
                      Object(std::move(update_props), {d.id_key()})}});
    for (const ApiAction& a : d.actions) {
      std::string from;
      for (const std::string& s : a.from) from += (from.empty() ? "" : " or ") + s;
      tools.push_back({ApiToolKind::kAction, domain, a.verb,
                       {a.verb + "_" + d.noun,
                        "Move " + Article(d.noun) + d.noun + " that is " + from + " to " + a.to + ".",
                        Object({{d.id_key(), IdSchema(d.noun)},
                                {"reason", {{"type", "string"}, {"maxLength", 200}, {"description", "optional reason"}}}},
                               {d.id_key()})}});
    }
    tools.push_back({ApiToolKind::kDelete, domain, "",
                     {"delete_" + d.noun, "Delete " + Article(d.noun) + d.noun + " for good.",
                      Object({{d.id_key(), IdSchema(d.noun)}}, {d.id_key()})}});
  }
  return tools;
}

}  // namespace tide::env
