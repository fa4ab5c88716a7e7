// The `nccl` backend of the expert-parallel Communicator (communicator.h): one rank per
// GPU, usually one process per rank (rank r on CUDA device r), the all-to-all done with
// grouped point-to-point calls
//   ncclGroupStart(); for every peer p: ncclSend(block p), ncclRecv(block p); ncclGroupEnd();
// and the ranks joined through an NCCL unique id that rank 0 hands out over Tide's own
// control channel: a tiny TCP rendezvous (RendezvousServer / RendezvousFetch below, plain
// POSIX sockets, usable without CUDA).
//
// This header includes nothing from CUDA or NCCL and declares the same API whether or not
// Tide was built with them. Without them (TIDE_CUDA=OFF, nvcc or NCCL not found at
// configure time) CreateNcclCommunicator returns FailedPrecondition saying so; the
// rendezvous works in every build.
//
// Buffers: the Communicator API takes host memory. This backend stages every collective
// through device buffers it owns (cudaMemcpyAsync host → device, the NCCL calls, device →
// host, then waits for the stream), so a call costs two PCIe copies on top of the NCCL
// transfer. Correctness first: a device-pointer API is a later step.
//
// Semantics as communicator.h. Every AllToAllVRaw and Barrier first all-gathers a small
// table from every rank (the collective called, the element type, the counts), so that
// every rank checks the whole call exactly as the local backend does and all ranks reach
// the same verdict: bad or mismatched counts, types or collectives fail with the same
// InvalidArgument / FailedPrecondition on every rank instead of hanging or corrupting
// memory. A Barrier is that table exchange alone. So one AllToAllV (counts, then payload)
// is four NCCL rounds and eight host waits: about 0.23 ms for 0.25 MiB on one H100.
//
// The communicator is non-blocking (ncclConfig_t::blocking = 0): the rank's thread polls
// for completion, so Abort() from any thread, or op_timeout, ends a pending collective:
// the rank's thread then aborts the NCCL communicator (ncclCommAbort frees it, so only
// that thread may call it: in its polling loop, at its next call, or in the destructor),
// the call returns Aborted / DeadlineExceeded, and every later call returns Aborted.
// Unlike the local backend, Abort() reaches this rank only: its peers see NCCL's remote
// error once this rank's communicator is aborted, or their own op_timeout.
//
// What ran: the tests run the rendezvous over loopback everywhere, and a one-rank (ep=1)
// NCCL communicator on one H100 (bench/RESULTS.md). NCCL cannot place two ranks on one
// GPU, so ranks > 1 (one process per GPU, or one thread per GPU) is written for a
// multi-GPU machine, and its test skips on one GPU: only ep=1 was run here.
//
// Ownership: CreateNcclCommunicator's result owns the NCCL communicator, its stream and
// its device buffers; they are released (ncclCommDestroy, or ncclCommAbort after a
// failure) when it is destroyed. Buffers passed to the collectives are the caller's.
// Failure: Status results, never exceptions; messages name the failed call
// ("ncclCommInitRankConfig(rank 1 of 2, device 1): unhandled system error: ...",
// "rendezvous: could not connect to 10.0.0.1:29500 within 30000 ms: Connection refused").
// Thread safety: as Communicator (one thread per rank at a time; Abort, rank, size from
// any thread). RendezvousServer is used by one thread at a time.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "tide/core/status.h"
#include "tide/engine/dist/communicator.h"

namespace tide::engine::dist {

// NCCL_UNIQUE_ID_BYTES: an ncclUniqueId as bytes.
inline constexpr size_t kNcclUniqueIdBytes = 128;
using NcclUniqueIdBytes = std::array<uint8_t, kNcclUniqueIdBytes>;

// Rank 0's side of the rendezvous: a listening TCP socket. Protocol: each other rank
// connects and sends a 16-byte hello ("TIDENCCL", its rank and the group size as
// big-endian int32); once all `size - 1` have checked in and agree, each gets a 4-byte
// status 0 and the 128-byte id. If any hello is wrong (bad magic, another group size,
// rank out of range or twice), every rank connected so far gets a non-zero status instead
// and Serve fails.
// Ownership: owns the socket (closed on destruction). Move-only.
class RendezvousServer {
 public:
  // Binds host:port (a numeric address or a name; "0.0.0.0" for every interface; port 0
  // for an ephemeral port, see port()) and listens. InvalidArgument for a port outside
  // [0, 65535] or a host that does not resolve; Unavailable when bind/listen fail (the
  // message carries strerror, e.g. "Address already in use").
  static Result<RendezvousServer> Listen(const std::string& host, int port);

  RendezvousServer(RendezvousServer&& other) noexcept;
  RendezvousServer& operator=(RendezvousServer&& other) noexcept;
  RendezvousServer(const RendezvousServer&) = delete;
  RendezvousServer& operator=(const RendezvousServer&) = delete;
  ~RendezvousServer();

  int port() const { return port_; }
  const std::string& host() const { return host_; }

  // Waits for ranks 1..size-1 of a group of `size` and sends each `id` (see the protocol
  // above). OK at once for size 1. InvalidArgument for size < 1 or a wrong hello (naming
  // what was wrong); DeadlineExceeded when not every rank checked in within `timeout`
  // ("rendezvous on 127.0.0.1:29500: 1 of 2 ranks checked in within 500 ms, missing rank
  // 2"); Unavailable for a socket error.
  Status Serve(const NcclUniqueIdBytes& id, int size, std::chrono::milliseconds timeout);

 private:
  RendezvousServer(int fd, std::string host, int port) : fd_(fd), host_(std::move(host)), port_(port) {}
  int fd_ = -1;
  std::string host_;
  int port_ = 0;
};

// Rank `rank`'s side (1 <= rank < size): connects to rank 0 at host:port, retrying while
// the connection is refused (rank 0 may start later), says who it is and returns the id.
// All within `timeout`: DeadlineExceeded names what did not happen in time (connect or
// reply). InvalidArgument for bad arguments or when rank 0 refused this rank's hello (the
// reason it gave); Unavailable when rank 0 closed the connection or a socket call failed.
Result<NcclUniqueIdBytes> RendezvousFetch(const std::string& host, int port, int rank, int size,
                                          std::chrono::milliseconds timeout);

struct NcclCommunicatorOptions {
  int rank = 0;
  int size = 1;
  // CUDA device of this rank; -1: device `rank` (one process per GPU, rank r on device r).
  int device = -1;
  // Rank 0's rendezvous address: rank 0 listens there, the others connect. Unused for
  // size 1 (the id stays in the process).
  std::string host = "127.0.0.1";
  int port = 29500;
  // The rendezvous and ncclCommInitRank together.
  std::chrono::milliseconds connect_timeout{60000};
  // One collective; past it the communicator is aborted and the call fails.
  std::chrono::milliseconds op_timeout{300000};
};

// True when this build has the NCCL backend (CUDA and NCCL were found at configure time).
// A device may still be missing at run time.
bool NcclCompiledIn();

// Joins rank options.rank of an NCCL group of options.size ranks on options.device
// (rendezvous, then ncclCommInitRankConfig) and returns its Communicator. Every rank of
// the group calls it with the same size, host and port. InvalidArgument for bad options;
// FailedPrecondition when built without CUDA/NCCL, or without a usable device;
// DeadlineExceeded / Unavailable / InvalidArgument from the rendezvous; Internal for a
// failed CUDA or NCCL call (naming it).
Result<std::unique_ptr<Communicator>> CreateNcclCommunicator(const NcclCommunicatorOptions& options);

}  // namespace tide::engine::dist
