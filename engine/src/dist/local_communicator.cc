// The `local` backend: EP ranks as threads of one process, exchanging through a shared
// table of posted buffers. Contract in dist/communicator.h.
//
// Every collective is two phases around a generation barrier:
//   1. post: the rank writes what it calls and its buffers into its slot, then waits for
//      all ranks (abortable: Abort releases the waiters and no one has read anything yet);
//   2. read: every rank checks the whole table (so all ranks reach the same verdict),
//      copies its incoming blocks straight out of the senders' buffers, and waits for all
//      ranks again. This wait ignores Abort: once phase 1 completed every rank is copying
//      and will arrive, and no sender may return while its buffers are still being read.
// A slot is rewritten only by its own rank, and only after the previous round's phase 2,
// so no one reads a slot while it changes. The mutex orders the slot writes before the
// reads.
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tide/engine/dist/communicator.h"

namespace tide::engine::dist {

namespace {

enum class Op { kNone, kAllToAll, kBarrier };

const char* OpName(Op op) { return op == Op::kBarrier ? "Barrier" : op == Op::kAllToAll ? "AllToAllV" : "nothing"; }

struct Slot {
  Op op = Op::kNone;
  CommDataType type = CommDataType::kFloat32;
  bool valid = false;
  const void* send = nullptr;
  void* recv = nullptr;
  std::span<const int64_t> send_counts, recv_counts;
};

struct SharedState {
  explicit SharedState(int n) : size(n), slots(n) {}

  // Waits until all `size` ranks have arrived in this generation. False when the group
  // was aborted before the generation completed (only if abortable).
  bool Sync(bool abortable) {
    std::unique_lock<std::mutex> lock(mu);
    if (abortable && aborted) return false;
    const uint64_t gen = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      cv.notify_all();
      return true;
    }
    cv.wait(lock, [&] { return generation != gen || (abortable && aborted); });
    return generation != gen;
  }

  void Abort() {
    std::lock_guard<std::mutex> lock(mu);
    aborted = true;
    cv.notify_all();
  }

  const int size;
  std::vector<Slot> slots;  // [rank]; see the file comment for who touches them when
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  bool aborted = false;
};

Status AbortedStatus() { return Status(StatusCode::kAborted, "communicator group aborted"); }

bool CountsOk(std::span<const int64_t> counts, int n, const void* buffer) {
  if (static_cast<int>(counts.size()) != n) return false;
  int64_t total = 0;
  for (int64_t c : counts) {
    if (c < 0) return false;
    total += c;
  }
  return total == 0 || buffer != nullptr;
}

// The verdict on a round, computed alike by every rank from the whole table.
Status CheckRound(const std::vector<Slot>& slots) {
  const int n = static_cast<int>(slots.size());
  for (int r = 1; r < n; ++r) {
    if (slots[r].op != slots[0].op) {
      return FailedPrecondition(std::string("collective mismatch: rank 0 called ") + OpName(slots[0].op) +
                                ", rank " + std::to_string(r) + " " + OpName(slots[r].op));
    }
  }
  if (slots[0].op != Op::kAllToAll) return Status::Ok();
  for (int r = 0; r < n; ++r) {
    if (!slots[r].valid) {
      return InvalidArgument("AllToAllVRaw: rank " + std::to_string(r) +
                             " gave counts that are not size() non-negative values, or a null buffer");
    }
    if (slots[r].type != slots[0].type) {
      return InvalidArgument("AllToAllVRaw: ranks 0 and " + std::to_string(r) + " exchange different types");
    }
  }
  for (int s = 0; s < n; ++s) {
    for (int d = 0; d < n; ++d) {
      if (slots[s].send_counts[d] != slots[d].recv_counts[s]) {
        return InvalidArgument("AllToAllVRaw: rank " + std::to_string(s) + " sends " +
                               std::to_string(slots[s].send_counts[d]) + " elements to rank " + std::to_string(d) +
                               ", which expects " + std::to_string(slots[d].recv_counts[s]));
      }
    }
  }
  return Status::Ok();
}

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<SharedState> state, int rank) : state_(std::move(state)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return state_->size; }

  Status AllToAllVRaw(CommDataType type, const void* send, std::span<const int64_t> send_counts, void* recv,
                      std::span<const int64_t> recv_counts) override {
    Slot& me = state_->slots[rank_];
    me.op = Op::kAllToAll;
    me.type = type;
    me.send = send;
    me.recv = recv;
    me.send_counts = send_counts;
    me.recv_counts = recv_counts;
    me.valid = CountsOk(send_counts, size(), send) && CountsOk(recv_counts, size(), recv);
    return RunRound([&] { CopyIncoming(); });
  }

  Status Barrier() override {
    state_->slots[rank_].op = Op::kBarrier;
    return RunRound([] {});
  }

  void Abort() override { state_->Abort(); }

 private:
  template <typename F>
  Status RunRound(F&& on_success) {
    if (!state_->Sync(/*abortable=*/true)) return AbortedStatus();
    const Status verdict = CheckRound(state_->slots);
    if (verdict.ok()) on_success();
    state_->Sync(/*abortable=*/false);
    return verdict;
  }

  // Block `rank_` of every sender's buffer into block `s` of ours.
  void CopyIncoming() {
    const std::vector<Slot>& slots = state_->slots;
    const Slot& me = slots[rank_];
    const size_t elem = CommDataTypeSize(me.type);
    size_t dst = 0;
    for (int s = 0; s < size(); ++s) {
      const Slot& from = slots[s];
      size_t src = 0;
      for (int d = 0; d < rank_; ++d) src += static_cast<size_t>(from.send_counts[d]);
      const size_t count = static_cast<size_t>(from.send_counts[rank_]);
      if (count > 0) {
        std::memcpy(static_cast<char*>(me.recv) + dst * elem, static_cast<const char*>(from.send) + src * elem,
                    count * elem);
      }
      dst += count;
    }
  }

  std::shared_ptr<SharedState> state_;
  const int rank_;
};

}  // namespace

Result<LocalCommunicatorGroup> LocalCommunicatorGroup::Create(int size) {
  if (size < 1) return InvalidArgument("LocalCommunicatorGroup: size " + std::to_string(size) + " < 1");
  auto state = std::make_shared<SharedState>(size);
  LocalCommunicatorGroup group;
  for (int r = 0; r < size; ++r) group.comms_.push_back(std::make_unique<LocalCommunicator>(state, r));
  return group;
}

LocalCommunicatorGroup::LocalCommunicatorGroup(LocalCommunicatorGroup&&) noexcept = default;
LocalCommunicatorGroup& LocalCommunicatorGroup::operator=(LocalCommunicatorGroup&&) noexcept = default;
LocalCommunicatorGroup::~LocalCommunicatorGroup() = default;

void LocalCommunicatorGroup::Abort() {
  if (!comms_.empty()) comms_[0]->Abort();
}

}  // namespace tide::engine::dist
