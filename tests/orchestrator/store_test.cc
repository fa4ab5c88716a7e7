#include "tide/orchestrator/store.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tide::orchestrator {
namespace {

using Table = Store::Table;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "tide_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    dir_ = tmpl;
    path_ = dir_ + "/db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> OpenOrDie(Store::Options options = {}) {
    auto store = Store::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(StoreTest, PutGetListRunsNewestFirst) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutRun("b", "run-b").ok());
  ASSERT_TRUE(store->PutRun("a", "run-a").ok());
  ASSERT_TRUE(store->PutRun("c/with slash", "run-c").ok());
  // Overwriting an existing run updates the record but keeps its place in the order.
  ASSERT_TRUE(store->PutRun("b", "run-b2").ok());

  auto got = store->GetRun("b");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "run-b2");

  auto all = store->ListRuns(0);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (std::pair<std::string, std::string>{"c/with slash", "run-c"}));
  EXPECT_EQ((*all)[1], (std::pair<std::string, std::string>{"a", "run-a"}));
  EXPECT_EQ((*all)[2], (std::pair<std::string, std::string>{"b", "run-b2"}));

  auto two = store->ListRuns(2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].first, "c/with slash");
  EXPECT_EQ((*two)[1].first, "a");
}

TEST_F(StoreTest, UnknownRunIsNotFoundNamingTheId) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto got = store->GetRun("nope-123");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("nope-123"), std::string::npos);
  auto empty = store->ListRuns(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(StoreTest, EventsAppendInOrderAndReadFromSeq) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto next = store->NextEventSeq("r1");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 0u);
  for (uint64_t i = 0; i < 300; ++i) {  // > 255 checks the big-endian key order
    ASSERT_TRUE(store->AppendEvent("r1", i, "e" + std::to_string(i)).ok()) << i;
  }
  // A run whose id is a prefix of another's must not see the other's events.
  ASSERT_TRUE(store->AppendEvent("r", 0, "other").ok());
  ASSERT_TRUE(store->AppendEvent("r10", 0, "other").ok());

  next = store->NextEventSeq("r1");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 300u);

  auto all = store->ReadEvents("r1", 0);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 300u);
  for (uint64_t i = 0; i < 300; ++i) {
    EXPECT_EQ((*all)[i].first, i);
    EXPECT_EQ((*all)[i].second, "e" + std::to_string(i));
  }
  auto tail = store->ReadEvents("r1", 298);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].first, 298u);
  auto limited = store->ReadEvents("r1", 10, 3);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 3u);
  EXPECT_EQ((*limited)[2].first, 12u);
  auto past_end = store->ReadEvents("r1", 1000);
  ASSERT_TRUE(past_end.ok());
  EXPECT_TRUE(past_end->empty());
}

TEST_F(StoreTest, DuplicateSeqIsAlreadyExistsAndGapIsFailedPrecondition) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AppendEvent("run", 0, "first").ok());
  ASSERT_TRUE(store->AppendEvent("run", 1, "second").ok());

  Status dup = store->AppendEvent("run", 1, "overwrite");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  Status gap = store->AppendEvent("run", 5, "gap");
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition) << gap.ToString();
  Status first_gap = store->AppendEvent("fresh", 1, "gap");
  EXPECT_EQ(first_gap.code(), StatusCode::kFailedPrecondition) << first_gap.ToString();

  // Neither failure changed anything.
  auto events = store->ReadEvents("run", 0);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].second, "second");
  EXPECT_EQ(*store->NextEventSeq("fresh"), 0u);
}

TEST_F(StoreTest, AppendEventAndPutRunIsAtomic) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AppendEventAndPutRun("r", 0, "created", "state=pending").ok());
  ASSERT_TRUE(store->AppendEventAndPutRun("r", 1, "started", "state=running").ok());
  EXPECT_EQ(*store->GetRun("r"), "state=running");
  EXPECT_EQ(*store->NextEventSeq("r"), 2u);
  EXPECT_EQ(store->ListRuns(0)->size(), 1u);  // one index entry for the run

  // A rejected event must not write the run record either.
  Status dup = store->AppendEventAndPutRun("r", 1, "again", "state=bogus");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*store->GetRun("r"), "state=running");
  Status gap = store->AppendEventAndPutRun("new", 3, "x", "state=bogus");
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetRun("new").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->ListRuns(0)->size(), 1u);
}

TEST_F(StoreTest, EverythingSurvivesCloseAndReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutRun("old", "o").ok());
    ASSERT_TRUE(store->PutRun("mid", "m").ok());
    for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(store->AppendEvent("mid", i, "x").ok());
    ASSERT_TRUE(store->Put(Table::kContexts, "ctx/1", "c").ok());
    ASSERT_TRUE(store->Put(Table::kTrajectories, "t/1", "t").ok());
    ASSERT_TRUE(store->Put(Table::kDatasets, "d/1", "d").ok());
  }
  auto store = OpenOrDie(Store::Options{.create_if_missing = false});
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->GetRun("old"), "o");
  EXPECT_EQ(*store->NextEventSeq("mid"), 5u);
  EXPECT_EQ(store->ReadEvents("mid", 0)->size(), 5u);
  EXPECT_EQ(store->AppendEvent("mid", 4, "y").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*store->Get(Table::kContexts, "ctx/1"), "c");
  EXPECT_EQ(*store->Get(Table::kTrajectories, "t/1"), "t");
  EXPECT_EQ(*store->Get(Table::kDatasets, "d/1"), "d");
  // The creation counter resumes after the newest run: a new run lists first.
  ASSERT_TRUE(store->PutRun("new", "n").ok());
  auto runs = store->ListRuns(0);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].first, "new");
  EXPECT_EQ((*runs)[1].first, "mid");
  EXPECT_EQ((*runs)[2].first, "old");
}

TEST_F(StoreTest, UnsyncedJournalPutsSurviveAProcessKilledWithoutClosing) {
  // The call journal writes without fsync (call_journal.h): what a killed process wrote
  // must still be there, in its own table, next to a synced event.
  const std::string key = std::string("run-1") + '\0' + "t/worker/0/abc/0";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = Store::Open(path_);
    if (!store.ok()) _exit(3);
    if (!(*store)->Put(Table::kJournal, key, "{\"content\":\"x\"}", Store::Sync::kNo).ok()) _exit(4);
    if (!(*store)->PutRun("run-1", "r").ok()) _exit(5);
    raise(SIGKILL);  // no destructor, no close, no flush
    _exit(6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  auto store = OpenOrDie(Store::Options{.create_if_missing = false});
  ASSERT_TRUE(store);
  Result<std::string> entry = store->Get(Table::kJournal, key);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(*entry, "{\"content\":\"x\"}");
  EXPECT_EQ(store->Get(Table::kContexts, key).status().code(), StatusCode::kNotFound);  // tables are apart
  // A missing journal key is NOT_FOUND, its NUL written out rather than cutting the message.
  Result<std::string> missing = store->Get(Table::kJournal, std::string("run-1") + '\0' + "p/x");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("run-1\\x00p/x"), std::string::npos) << missing.status().message();
}

TEST_F(StoreTest, MissingDbWithoutCreateIsNotFound) {
  auto store = Store::Open(path_, Store::Options{.create_if_missing = false});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
}

TEST_F(StoreTest, CorruptDbIsDataLossNamingThePath) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutRun("x", "y").ok());
  }
  int manifests = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path_)) {
    if (entry.path().filename().string().rfind("MANIFEST", 0) == 0) {
      std::ofstream(entry.path(), std::ios::trunc) << "not a manifest";
      ++manifests;
    }
  }
  ASSERT_GT(manifests, 0);
  auto store = Store::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status().ToString();
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
}

TEST_F(StoreTest, SecondOpenInSameProcessFailsNamingThePath) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto second = Store::Open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  EXPECT_NE(second.status().message().find(path_), std::string::npos);
  EXPECT_NE(second.status().message().find("locked"), std::string::npos);
  // The first store is unaffected.
  EXPECT_TRUE(store->PutRun("x", "y").ok());
}

// Helper run in a child process by the next test: opens TIDE_STORE_CHILD_PATH and exits 0
// when Open fails with UNAVAILABLE naming the path, 1 otherwise.
TEST(StoreChildProcess, OpenLockedStore) {
  const char* path = std::getenv("TIDE_STORE_CHILD_PATH");
  if (path == nullptr) GTEST_SKIP() << "only run as the child of SecondOpenFromAnotherProcess";
  auto store = Store::Open(path);
  bool ok = !store.ok() && store.status().code() == StatusCode::kUnavailable &&
            store.status().message().find(path) != std::string::npos;
  if (!store.ok()) fprintf(stderr, "child: %s\n", store.status().ToString().c_str());
  std::_Exit(ok ? 0 : 1);
}

TEST_F(StoreTest, SecondOpenFromAnotherProcessFailsNamingThePath) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=StoreChildProcess.OpenLockedStore";
  std::string env_path = "TIDE_STORE_CHILD_PATH=" + path_;
  std::vector<char*> argv = {exe.data(), filter.data(), nullptr};
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(env_path.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "child did not see a clear lock error";
}

TEST_F(StoreTest, ConcurrentAppendsFromEightThreads) {
  auto store = OpenOrDie(Store::Options{.sync_writes = false});  // keep the test fast
  ASSERT_TRUE(store);
  constexpr int kThreads = 8;
  constexpr uint64_t kEvents = 200;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string run = "run-" + std::to_string(t);
      for (uint64_t i = 0; i < kEvents; ++i) {
        if (!store->AppendEventAndPutRun(run, i, run + ":" + std::to_string(i),
                                         "at " + std::to_string(i)).ok()) {
          ++failures[t];
        }
        // A racing duplicate from the same thread must be rejected.
        if (store->AppendEvent(run, i, "dup").code() != StatusCode::kAlreadyExists) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;

  auto runs = store->ListRuns(0);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), static_cast<size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    const std::string run = "run-" + std::to_string(t);
    auto events = store->ReadEvents(run, 0);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), kEvents);
    for (uint64_t i = 0; i < kEvents; ++i) {
      EXPECT_EQ((*events)[i].first, i);
      EXPECT_EQ((*events)[i].second, run + ":" + std::to_string(i));
    }
    EXPECT_EQ(*store->GetRun(run), "at " + std::to_string(kEvents - 1));
  }
}

TEST_F(StoreTest, ConcurrentAppendsToOneRunNeverGapOrOverwrite) {
  auto store = OpenOrDie(Store::Options{.sync_writes = false});
  ASSERT_TRUE(store);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto next = store->NextEventSeq("shared");
        if (next.ok()) (void)store->AppendEvent("shared", *next, "e");
      }
    });
  }
  for (auto& th : threads) th.join();
  auto events = store->ReadEvents("shared", 0);
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->empty());
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].first, i);
  EXPECT_EQ(*store->NextEventSeq("shared"), events->size());
}

TEST_F(StoreTest, ScanByPrefix) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(Table::kContexts, "a/1", "1").ok());
  ASSERT_TRUE(store->Put(Table::kContexts, "a/2", "2").ok());
  ASSERT_TRUE(store->Put(Table::kContexts, "a0", "no").ok());
  ASSERT_TRUE(store->Put(Table::kContexts, "b/1", "no").ok());
  ASSERT_TRUE(store->Put(Table::kContexts, "a/2", "2b").ok());  // overwrite
  ASSERT_TRUE(store->Put(Table::kDatasets, "a/3", "other table").ok());
  ASSERT_TRUE(store->Put(Table::kContexts, std::string("\xff\xff", 2), "ff").ok());

  auto a = store->Scan(Table::kContexts, "a/");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0], (std::pair<std::string, std::string>{"a/1", "1"}));
  EXPECT_EQ((*a)[1], (std::pair<std::string, std::string>{"a/2", "2b"}));
  EXPECT_EQ(store->Scan(Table::kContexts, "")->size(), 5u);
  EXPECT_EQ(store->Scan(Table::kContexts, "\xff")->size(), 1u);
  EXPECT_TRUE(store->Scan(Table::kTrajectories, "a/")->empty());
  EXPECT_EQ(store->Get(Table::kTrajectories, "a/1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Put(Table::kContexts, "", "x").code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, BadRunIdsAreRejected) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  const std::string with_nul("a\0b", 3);
  for (const std::string& id : {std::string(), with_nul}) {
    EXPECT_EQ(store->PutRun(id, "x").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->GetRun(id).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->AppendEvent(id, 0, "x").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->ReadEvents(id, 0).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->NextEventSeq(id).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->AppendEventAndPutRun(id, 0, "e", "r").code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(store->ListRuns(0)->empty());
  // Any other printable characters are fine.
  const std::string odd = "run id/with:odd chars!~ \t";
  ASSERT_TRUE(store->PutRun(odd, "ok").ok());
  ASSERT_TRUE(store->AppendEvent(odd, 0, "e").ok());
  EXPECT_EQ(*store->GetRun(odd), "ok");
}

}  // namespace
}  // namespace tide::orchestrator
