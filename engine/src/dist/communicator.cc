// Communicator's typed helpers (counts exchange, then payload) over a backend's
// AllToAllVRaw. Contract in dist/communicator.h.
#include "tide/engine/dist/communicator.h"

#include <string>
#include <vector>

namespace tide::engine::dist {

namespace {

// The body of both AllToAllV overloads. A rank whose arguments are bad still takes part in
// the counts exchange, sending -1 to every peer, so that every rank fails the same call
// instead of waiting for the payload round.
template <typename T>
Status RowAllToAll(Communicator& comm, CommDataType type, std::span<const T> send, std::span<const int64_t> send_rows,
                   int64_t row_width, std::vector<T>* recv, std::vector<int64_t>* recv_rows) {
  const int n = comm.size();
  std::string bad;
  if (recv == nullptr || recv_rows == nullptr) {
    bad = "null output";
  } else if (static_cast<int>(send_rows.size()) != n) {
    bad = std::to_string(send_rows.size()) + " send counts for " + std::to_string(n) + " ranks";
  } else if (row_width < 1) {
    bad = "row width " + std::to_string(row_width);
  } else {
    int64_t total = 0;
    for (int64_t r : send_rows) {
      if (r < 0) bad = "negative send count";
      total += r;
    }
    if (bad.empty() && total * row_width != static_cast<int64_t>(send.size())) {
      bad = std::to_string(send.size()) + " elements to send, counts say " + std::to_string(total * row_width);
    }
  }
  std::vector<int64_t> counts(n, -1), got(n, 0);
  if (bad.empty()) counts.assign(send_rows.begin(), send_rows.end());
  TIDE_RETURN_IF_ERROR(comm.AllToAll(counts, got));
  if (!bad.empty()) return InvalidArgument("AllToAllV on rank " + std::to_string(comm.rank()) + ": " + bad);
  int64_t total = 0;
  for (int s = 0; s < n; ++s) {
    if (got[s] < 0) {
      return InvalidArgument("AllToAllV: rank " + std::to_string(s) + " called it with bad arguments");
    }
    total += got[s];
  }
  recv_rows->assign(got.begin(), got.end());
  recv->resize(static_cast<size_t>(total * row_width));
  std::vector<int64_t> send_elems(n), recv_elems(n);
  for (int r = 0; r < n; ++r) {
    send_elems[r] = send_rows[r] * row_width;
    recv_elems[r] = got[r] * row_width;
  }
  return comm.AllToAllVRaw(type, send.data(), send_elems, recv->data(), recv_elems);
}

}  // namespace

size_t CommDataTypeSize(CommDataType type) {
  switch (type) {
    case CommDataType::kFloat32:
      return sizeof(float);
    case CommDataType::kInt32:
      return sizeof(int32_t);
    case CommDataType::kInt64:
      return sizeof(int64_t);
  }
  return 1;
}

Status Communicator::AllToAll(std::span<const int64_t> send, std::span<int64_t> recv) {
  const size_t n = static_cast<size_t>(size());
  if (send.size() != n || recv.size() != n) {
    // Empty counts make the call fail on every rank (see AllToAllVRaw).
    const Status s = AllToAllVRaw(CommDataType::kInt64, nullptr, {}, nullptr, {});
    return s.code() == StatusCode::kAborted
               ? s
               : InvalidArgument("AllToAll on rank " + std::to_string(rank()) + ": " + std::to_string(send.size()) +
                                 " values to send and room for " + std::to_string(recv.size()) + ", expected " +
                                 std::to_string(n));
  }
  const std::vector<int64_t> ones(n, 1);
  return AllToAllVRaw(CommDataType::kInt64, send.data(), ones, recv.data(), ones);
}

Status Communicator::AllToAllV(std::span<const float> send, std::span<const int64_t> send_rows, int64_t row_width,
                               std::vector<float>* recv, std::vector<int64_t>* recv_rows) {
  return RowAllToAll(*this, CommDataType::kFloat32, send, send_rows, row_width, recv, recv_rows);
}

Status Communicator::AllToAllV(std::span<const int32_t> send, std::span<const int64_t> send_rows, int64_t row_width,
                               std::vector<int32_t>* recv, std::vector<int64_t>* recv_rows) {
  return RowAllToAll(*this, CommDataType::kInt32, send, send_rows, row_width, recv, recv_rows);
}

}  // namespace tide::engine::dist
