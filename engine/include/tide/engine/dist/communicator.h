// Communicator: the collectives that expert parallelism needs between the ranks of one
// EP group — all-to-all of variable-sized blocks (token activations as float rows, routing
// metadata as int32) and a barrier. Backends: `local` (LocalCommunicatorGroup below: ranks
// are threads of one process exchanging through shared memory) and `nccl` (one rank per
// GPU; a later issue). The expert-parallel code (expert_parallel.h) sees only this class.
//
// The one primitive a backend implements is AllToAllVRaw with the receive counts known,
// which is the shape of NCCL's grouped point-to-point calls:
//   ncclGroupStart(); for every peer p: ncclSend(send block p), ncclRecv(recv block p);
//   ncclGroupEnd();
// The typed helpers first exchange the counts (a fixed-size all-to-all of one int64 per
// peer, itself one AllToAllVRaw) and then the payload.
//
// Collective semantics (as in MPI / NCCL): every rank of the group calls the same
// collectives in the same order; a call returns once this rank's receive buffer is filled
// and its send buffer is no longer read. A call with bad arguments on any rank fails on
// every rank (InvalidArgument), so no rank is left waiting. Abort() makes every pending
// and later collective of the group return Aborted: a rank that gives up calls it so that
// its peers do not wait for it forever.
//
// Ownership: a Communicator is owned by whoever created it (the group, for the local
// backend); buffers are the caller's.
// Thread safety: one rank's Communicator is used by one thread at a time (that rank's);
// the ranks of a group call concurrently from their own threads. Abort, rank and size
// may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tide/core/status.h"

namespace tide::engine::dist {

enum class CommDataType { kFloat32, kInt32, kInt64 };

// Bytes of one element of `type`.
size_t CommDataTypeSize(CommDataType type);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // This rank sends send_counts[d] elements of `type` to every rank d, the blocks packed in
  // rank order in `send` (block d starts at Σ_{j<d} send_counts[j]), and receives
  // recv_counts[s] elements from every rank s into `recv`, packed likewise. Counts have
  // size() entries, are >= 0 and must agree pairwise (what s sends to r is what r expects
  // from s); the local backend checks this on every rank. Pointers may be null where the
  // total count is zero.
  virtual Status AllToAllVRaw(CommDataType type, const void* send, std::span<const int64_t> send_counts, void* recv,
                              std::span<const int64_t> recv_counts) = 0;
  // Returns once every rank has called it.
  virtual Status Barrier() = 0;
  // See above. Idempotent; the group stays aborted.
  virtual void Abort() = 0;

  // One value to and from every rank: recv[s] = send[rank()] of rank s. Both spans have
  // size() entries.
  Status AllToAll(std::span<const int64_t> send, std::span<int64_t> recv);
  // Row all-to-all: send_rows[d] rows of row_width elements go to rank d (packed in rank
  // order in `send`, whose size must be Σ send_rows × row_width); *recv is resized and
  // gets the rows from every rank in rank order, *recv_rows (resized to size()) how many
  // came from each. row_width >= 1.
  Status AllToAllV(std::span<const float> send, std::span<const int64_t> send_rows, int64_t row_width,
                   std::vector<float>* recv, std::vector<int64_t>* recv_rows);
  Status AllToAllV(std::span<const int32_t> send, std::span<const int64_t> send_rows, int64_t row_width,
                   std::vector<int32_t>* recv, std::vector<int64_t>* recv_rows);
};

// `size` communicators whose ranks run as threads of this process. An all-to-all posts
// each rank's buffers in a shared table, waits for all ranks (a barrier), copies what the
// other ranks send it straight out of their buffers, and waits again so that no sender
// returns (and reuses its buffers) while another rank still reads them.
//
// Ownership: the group owns its communicators; they share the exchange state, so a
// communicator stays usable while the group is alive. Create fails with InvalidArgument
// for size < 1.
// Thread safety: as Communicator; the group's methods may be called from any thread.
class LocalCommunicatorGroup {
 public:
  static Result<LocalCommunicatorGroup> Create(int size);

  LocalCommunicatorGroup(LocalCommunicatorGroup&&) noexcept;
  LocalCommunicatorGroup& operator=(LocalCommunicatorGroup&&) noexcept;
  ~LocalCommunicatorGroup();

  int size() const { return static_cast<int>(comms_.size()); }
  // Rank `rank`'s communicator (0 <= rank < size()), owned by the group.
  Communicator* communicator(int rank) { return comms_[rank].get(); }
  // Aborts the group: every rank's pending and later collectives return Aborted.
  void Abort();

 private:
  LocalCommunicatorGroup() = default;
  std::vector<std::unique_ptr<Communicator>> comms_;
};

}  // namespace tide::engine::dist
