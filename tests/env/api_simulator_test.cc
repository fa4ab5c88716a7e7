#include "tide/env/api_simulator.h"

#include <algorithm>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tide/workers/tool_registry.h"

namespace tide::env {
namespace {

using nlohmann::json;

// A hand-built commerce suite: orders with a known lifecycle, two customers, three orders.
std::shared_ptr<const ApiSuite> Suite() {
  ApiSuite s;
  s.category = "commerce";
  s.description = "an online shop";
  s.owner = "customer";
  s.owner_prefix = "C";
  s.max_page_size = 10;
  for (const ApiCategory& c : ApiCategories()) {
    if (c.name != "commerce") continue;
    ApiDomain d = c.domains[0];  // order
    d.fields.clear();
    for (const ApiField& f : c.domains[0].fields) {
      if (f.required || f.name == "delivery_date" || f.name == "notes") d.fields.push_back(f);
    }
    for (ApiField& f : d.fields) f.max_length = 100;
    s.domains.push_back(d);
  }
  s.list_filters = {"currency"};
  return std::make_shared<const ApiSuite>(s);
}

ApiState State() {
  ApiState st;
  st.owners = {{"C-101", "Ana Silva", "ana.silva@example.com"}, {"C-102", "Ana Silvan", "ana.silvan@example.com"}};
  st.records = {{"O-1001", 0, "C-101", "pending", {{"amount", 10.5}, {"currency", "EUR"}}, false},
                {"O-1002", 0, "C-101", "shipped", {{"amount", 99.0}, {"currency", "USD"}}, false},
                {"O-1003", 0, "C-102", "pending", {{"amount", 5.0}, {"currency", "EUR"}}, false}};
  return st;
}

std::shared_ptr<ApiSimulator> Sim(double rate = 0, uint64_t seed = 1) {
  return std::make_shared<ApiSimulator>(Suite(), State(), ApiFailureOptions{rate, seed, 2});
}

json Ok(ApiSimulator& sim, const std::string& tool, const json& args) {
  Result<std::string> r = sim.Call(tool, args);
  EXPECT_TRUE(r.ok()) << tool << ": " << r.status().ToString();
  return r.ok() ? json::parse(*r) : json();
}

Status Err(ApiSimulator& sim, const std::string& tool, const json& args) {
  Result<std::string> r = sim.Call(tool, args);
  EXPECT_FALSE(r.ok()) << tool << " unexpectedly succeeded: " << (r.ok() ? *r : "");
  return r.status();
}

TEST(ApiSimulatorTest, FindRanksExactNamesFirst) {
  auto sim = Sim();
  json m = Ok(*sim, "find_customers", {{"name", "ana silva"}})["matches"];
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["id"], "C-101");
  EXPECT_EQ(Ok(*sim, "find_customers", {{"name", "silvan"}})["matches"].size(), 1u);
  EXPECT_EQ(Ok(*sim, "find_customers", {{"name", "ana"}, {"limit", 1}})["matches"].size(), 1u);
}

TEST(ApiSimulatorTest, ListFiltersAndPaginates) {
  auto sim = Sim();
  json all = Ok(*sim, "list_orders", {{"page_size", 2}});
  EXPECT_EQ(all["items"].size(), 2u);
  EXPECT_EQ(all["next_page"], 2);
  EXPECT_EQ(all["total"], 3);
  json last = Ok(*sim, "list_orders", {{"page_size", 2}, {"page", 2}});
  EXPECT_EQ(last["items"].size(), 1u);
  EXPECT_TRUE(last["next_page"].is_null());
  json mine = Ok(*sim, "list_orders", {{"customer_id", "C-101"}, {"status", "pending"}});
  ASSERT_EQ(mine["items"].size(), 1u);
  EXPECT_EQ(mine["items"][0]["id"], "O-1001");
  EXPECT_EQ(mine["items"][0]["customer_id"], "C-101");
  EXPECT_EQ(Ok(*sim, "list_orders", {{"currency", "EUR"}})["total"], 2);
  EXPECT_EQ(Err(*sim, "list_orders", {{"customer_id", "C-999"}}).code(), StatusCode::kNotFound);
}

TEST(ApiSimulatorTest, LifecycleActionsAndConflicts) {
  auto sim = Sim();
  EXPECT_EQ(Ok(*sim, "cancel_order", {{"order_id", "O-1001"}})["status"], "cancelled");
  EXPECT_EQ(Ok(*sim, "refund_order", {{"order_id", "O-1001"}})["status"], "refunded");
  Status conflict = Err(*sim, "cancel_order", {{"order_id", "O-1002"}});
  EXPECT_EQ(conflict.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(conflict.message().find("409 conflict: order O-1002 is shipped"), std::string::npos) << conflict.message();
  EXPECT_NE(conflict.message().find("pending or confirmed"), std::string::npos);
  EXPECT_EQ(Err(*sim, "get_order", {{"order_id", "O-4242"}}).code(), StatusCode::kNotFound);
  // A record in a final status can no longer change.
  EXPECT_EQ(Err(*sim, "update_order", {{"order_id", "O-1001"}, {"notes", "x"}}).code(), StatusCode::kFailedPrecondition);
  ApiState st = sim->Snapshot();
  EXPECT_EQ(st.records[0].status, "refunded");
  EXPECT_EQ(st.records[1].status, "shipped");
}

TEST(ApiSimulatorTest, CreatedIdsDoNotDependOnTheOrderOfOwners) {
  auto a = Sim(), b = Sim();
  auto create = [](ApiSimulator& sim, const std::string& owner, int amount) {
    return Ok(sim, "create_order", {{"customer_id", owner}, {"amount", amount}, {"currency", "EUR"}})["id"];
  };
  // Two agents, one per customer, interleaved differently on the two simulators.
  std::vector<json> ids_a = {create(*a, "C-101", 1), create(*a, "C-102", 2), create(*a, "C-101", 3)};
  json b102 = create(*b, "C-102", 2);
  json b101 = create(*b, "C-101", 1), b101_again = create(*b, "C-101", 3);
  EXPECT_EQ(ids_a, (std::vector<json>{b101, b102, b101_again}));
  EXPECT_EQ(ids_a, (std::vector<json>{"O-C101-1", "O-C102-1", "O-C101-2"}));
}

TEST(ApiSimulatorTest, CreateUpdateDeleteAndValidation) {
  auto sim = Sim();
  json made = Ok(*sim, "create_order", {{"customer_id", "C-102"}, {"amount", 20}, {"currency", "GBP"}});
  EXPECT_EQ(made["id"], "O-C102-1");
  EXPECT_EQ(made["status"], "pending");
  EXPECT_EQ(Err(*sim, "create_order", {{"customer_id", "C-999"}, {"amount", 20}, {"currency", "GBP"}}).code(),
            StatusCode::kNotFound);
  Status date = Err(*sim, "update_order", {{"order_id", "O-C102-1"}, {"delivery_date", "2025-02-30"}});
  EXPECT_EQ(date.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(date.message().find("422 validation error: delivery_date"), std::string::npos) << date.message();
  EXPECT_EQ(Err(*sim, "update_order", {{"order_id", "O-C102-1"}, {"notes", "   "}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Err(*sim, "update_order", {{"order_id", "O-C102-1"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ok(*sim, "update_order", {{"order_id", "O-C102-1"}, {"delivery_date", "2024-02-29"}})["delivery_date"],
            "2024-02-29");
  Ok(*sim, "delete_order", {{"order_id", "O-1003"}});
  EXPECT_EQ(Err(*sim, "get_order", {{"order_id", "O-1003"}}).code(), StatusCode::kNotFound);
  ApiState st = sim->Snapshot();
  ASSERT_EQ(st.records.size(), 4u);
  EXPECT_TRUE(st.records[2].deleted);  // deleted records stay visible to a verifier
  std::vector<ApiCallRecord> log = sim->CallLog();
  EXPECT_EQ(log.size(), 8u);
  EXPECT_TRUE(log[0].applied);
  EXPECT_EQ(log[0].record_id, "O-C102-1");
  EXPECT_FALSE(log[1].ok);
  EXPECT_EQ(log[6].kind, ApiToolKind::kDelete);
  EXPECT_TRUE(log[6].applied);
}

TEST(ApiSimulatorTest, RequestIdMakesCreateIdempotent) {
  auto sim = Sim();
  json args = {{"customer_id", "C-101"}, {"amount", 7}, {"currency", "EUR"}, {"request_id", "r1"}};
  json first = Ok(*sim, "create_order", args);
  json again = Ok(*sim, "create_order", args);
  EXPECT_EQ(first["id"], again["id"]);
  EXPECT_EQ(sim->Snapshot().records.size(), 4u);
  args["amount"] = 8;
  EXPECT_EQ(Err(*sim, "create_order", args).code(), StatusCode::kFailedPrecondition);
}

TEST(ApiSimulatorTest, InjectedFailuresAreSeededCappedAndNamed) {
  // With every call failing, the same call fails max_consecutive times and then succeeds.
  auto sim = Sim(1.0);
  for (int k = 0; k < 2; ++k) {
    Result<std::string> r = sim->Call("get_order", {{"order_id", "O-1001"}});
    ASSERT_FALSE(r.ok());
    const std::string m = r.status().message();
    EXPECT_TRUE(m.rfind("503 ", 0) == 0 || m.rfind("429 ", 0) == 0 || m.rfind("504 ", 0) == 0) << m;
  }
  EXPECT_TRUE(sim->Call("get_order", {{"order_id", "O-1001"}}).ok());
  // The same seed gives the same failures whatever else happens in between.
  auto a = Sim(0.3, 9), b = Sim(0.3, 9);
  std::vector<bool> fa, fb;
  for (int i = 0; i < 40; ++i) {
    fa.push_back(a->Call("find_customers", {{"name", "an"}, {"limit", 1 + i % 20}}).ok());
    (void)b->Call("get_customer", {{"customer_id", "C-101"}});
  }
  for (int i = 0; i < 40; ++i) fb.push_back(b->Call("find_customers", {{"name", "an"}, {"limit", 1 + i % 20}}).ok());
  EXPECT_EQ(fa, fb);
  EXPECT_NE(std::count(fa.begin(), fa.end(), false), 0);
  EXPECT_NE(std::count(fa.begin(), fa.end(), true), 0);
}

TEST(ApiSimulatorTest, ATimeoutMayHideAnAppliedChange) {
  // Find a seed whose first cancel times out after applying: the record moved all the same.
  bool seen = false;
  for (uint64_t seed = 0; seed < 200 && !seen; ++seed) {
    auto sim = Sim(1.0, seed);
    Result<std::string> r = sim->Call("cancel_order", {{"order_id", "O-1001"}});
    ASSERT_FALSE(r.ok());
    if (sim->Snapshot().records[0].status == "cancelled") {
      EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
      EXPECT_TRUE(sim->CallLog().back().applied);
      EXPECT_FALSE(sim->CallLog().back().ok);
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
}

TEST(ApiSimulatorTest, MalformedArgumentsAreErrorObservations) {
  auto sim = Sim();
  workers::ToolRegistry registry;
  for (auto& t : MakeApiTools(sim)) ASSERT_TRUE(registry.Add(t).ok());
  for (const std::string& args : {std::string("{not json"), std::string("{\"order_id\": 7}"), std::string("[]"),
                                  std::string("{\"order_id\":\"O-1001\",\"extra\":1}"), std::string("{}")}) {
    workers::ToolObservation o = registry.Invoke({"c1", "cancel_order", args});
    EXPECT_TRUE(o.is_error) << args;
    EXPECT_EQ(o.content.rfind("error: ", 0), 0u) << o.content;
  }
  EXPECT_TRUE(registry.Invoke({"c2", "create_order", R"({"customer_id":"C-101","amount":-3,"currency":"EUR"})"}).is_error);
  EXPECT_EQ(sim->Snapshot().records[0].status, "pending");
}

TEST(ApiSimulatorTest, ConcurrentAgentsKeepTheStateConsistent) {
  auto sim = Sim();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        (void)sim->Call("create_order", {{"customer_id", "C-101"}, {"amount", t * 100 + i + 1}, {"currency", "EUR"}});
        (void)sim->Call("list_orders", {{"customer_id", "C-101"}});
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ApiState st = sim->Snapshot();
  ASSERT_EQ(st.records.size(), 3u + 200u);
  std::set<std::string> ids;
  for (const ApiRecord& r : st.records) EXPECT_TRUE(ids.insert(r.id).second) << "duplicate id " << r.id;
}

TEST(ApiSimulatorTest, IsoDates) {
  EXPECT_TRUE(IsIsoDate("2024-02-29"));
  EXPECT_FALSE(IsIsoDate("2023-02-29"));
  EXPECT_FALSE(IsIsoDate("2024-13-01"));
  EXPECT_FALSE(IsIsoDate("2024-1-01"));
  EXPECT_FALSE(IsIsoDate("2024/01/01"));
}

}  // namespace
}  // namespace tide::env
