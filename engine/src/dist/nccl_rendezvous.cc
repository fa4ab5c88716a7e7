// The NCCL backend's control channel: rank 0 hands the 128-byte NCCL unique id to the other
// ranks over TCP. Plain POSIX sockets, non-blocking, every wait bounded by a deadline
// through poll(). Contract and protocol in dist/nccl_communicator.h. Built in every
// configuration (it needs neither CUDA nor NCCL).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tide/engine/dist/nccl_communicator.h"

namespace tide::engine::dist {

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[8] = {'T', 'I', 'D', 'E', 'N', 'C', 'C', 'L'};
constexpr size_t kHelloBytes = 16;                      // magic, rank, size
constexpr size_t kReplyBytes = 4 + kNcclUniqueIdBytes;  // status, id
// Reply status codes (big-endian uint32).
enum ReplyCode : uint32_t {
  kOk = 0,
  kBadMagic = 1,
  kWrongSize = 2,
  kBadRank = 3,
  kDuplicateRank = 4,
  kOtherRank = 5,
  kGaveUp = 6
};

const char* ReplyText(uint32_t code) {
  switch (code) {
    case kBadMagic:
      return "the hello was not a Tide rendezvous hello";
    case kWrongSize:
      return "this rank's group size differs from rank 0's";
    case kBadRank:
      return "this rank's number is out of range for the group";
    case kDuplicateRank:
      return "another process already checked in with this rank";
    case kOtherRank:
      return "another rank's hello was wrong; see rank 0's error";
    case kGaveUp:
      return "rank 0 gave up (not every rank checked in in time, or a socket error); see rank 0's error";
    default:
      return "unknown refusal";
  }
}

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

std::string Errno(int err) { return std::strerror(err); }

std::string Endpoint(const std::string& host, int port) { return host + ":" + std::to_string(port); }

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Unavailable("rendezvous: fcntl(O_NONBLOCK): " + Errno(errno));
  }
  return Status::Ok();
}

// Waits for `events` on fd until the deadline: OK, DeadlineExceeded("timeout") or Unavailable.
Status WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r > 0) return Status::Ok();
    if (r == 0) return DeadlineExceeded("timeout");
    if (errno != EINTR) return Unavailable("poll: " + Errno(errno));
  }
}

// Reads exactly n bytes. Unavailable("connection closed") at EOF before n bytes.
Status ReadFull(int fd, uint8_t* buf, size_t n, Clock::time_point deadline) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, buf + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0) {
      return Unavailable("connection closed after " + std::to_string(got) + " of " + std::to_string(n) + " bytes");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      TIDE_RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline));
    } else if (errno != EINTR) {
      return Unavailable("recv: " + Errno(errno));
    }
  }
  return Status::Ok();
}

Status WriteFull(int fd, const uint8_t* buf, size_t n, Clock::time_point deadline) {
  size_t put = 0;
  while (put < n) {
    const ssize_t r = ::send(fd, buf + put, n - put, MSG_NOSIGNAL);
    if (r > 0) {
      put += static_cast<size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      TIDE_RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline));
    } else if (r < 0 && errno != EINTR) {
      return Unavailable("send: " + Errno(errno));
    }
  }
  return Status::Ok();
}

void PutU32(uint8_t* p, uint32_t v) {
  const uint32_t be = htonl(v);
  std::memcpy(p, &be, 4);
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t be;
  std::memcpy(&be, p, 4);
  return ntohl(be);
}

Status CheckPort(int port, bool allow_zero) {
  if (port < (allow_zero ? 0 : 1) || port > 65535) {
    return InvalidArgument("rendezvous: port " + std::to_string(port) + " is outside [" + (allow_zero ? "0" : "1") +
                           ", 65535]");
  }
  return Status::Ok();
}

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

Result<AddrInfoPtr> Resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return InvalidArgument("rendezvous: cannot resolve host '" + host + "': " + ::gai_strerror(rc));
  }
  return AddrInfoPtr(res);
}

// Sends `code` (and the id when code is kOk) to one rank.
Status Reply(int fd, uint32_t code, const NcclUniqueIdBytes& id, Clock::time_point deadline) {
  uint8_t msg[kReplyBytes] = {};
  PutU32(msg, code);
  if (code == kOk) std::memcpy(msg + 4, id.data(), kNcclUniqueIdBytes);
  return WriteFull(fd, msg, sizeof msg, deadline);
}

}  // namespace

Result<RendezvousServer> RendezvousServer::Listen(const std::string& host, int port) {
  TIDE_RETURN_IF_ERROR(CheckPort(port, /*allow_zero=*/true));
  TIDE_ASSIGN_OR_RETURN(AddrInfoPtr addrs, Resolve(host, port, /*passive=*/true));
  std::string last = "no address";
  for (addrinfo* a = addrs.get(); a != nullptr; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last = "socket: " + Errno(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      last = "bind: " + Errno(errno);
      continue;
    }
    if (::listen(fd.get(), 256) != 0) {
      last = "listen: " + Errno(errno);
      continue;
    }
    TIDE_RETURN_IF_ERROR(SetNonBlocking(fd.get()));
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      return Unavailable("rendezvous: getsockname: " + Errno(errno));
    }
    const int bound_port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return RendezvousServer(fd.release(), host, bound_port);
  }
  return Unavailable("rendezvous: cannot listen on " + Endpoint(host, port) + ": " + last);
}

RendezvousServer::RendezvousServer(RendezvousServer&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), host_(std::move(other.host_)), port_(other.port_) {}

RendezvousServer& RendezvousServer::operator=(RendezvousServer&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    host_ = std::move(other.host_);
    port_ = other.port_;
  }
  return *this;
}

RendezvousServer::~RendezvousServer() {
  if (fd_ >= 0) ::close(fd_);
}

Status RendezvousServer::Serve(const NcclUniqueIdBytes& id, int size, std::chrono::milliseconds timeout) {
  if (size < 1) return InvalidArgument("rendezvous: group size " + std::to_string(size) + " < 1");
  if (fd_ < 0) return FailedPrecondition("rendezvous: server was moved from");
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string where = "rendezvous on " + Endpoint(host_, port_);
  std::vector<Fd> ranks(size);  // [rank]; slot 0 is rank 0 itself
  int checked_in = 0;
  // Tells every rank connected so far that the rendezvous failed, then returns `why`.
  // The culprit (if any) gets culprit_code, the others kOtherRank, or all kGaveUp.
  auto fail_all = [&](const Status& why, int culprit_fd, uint32_t culprit_code) {
    const Clock::time_point soon = Clock::now() + std::chrono::milliseconds(200);
    if (culprit_fd >= 0) (void)Reply(culprit_fd, culprit_code, id, soon);
    for (Fd& f : ranks) {
      if (f.get() >= 0) (void)Reply(f.get(), culprit_fd >= 0 ? kOtherRank : kGaveUp, id, soon);
    }
    return why;
  };
  while (checked_in < size - 1) {
    const Status ready = WaitFor(fd_, POLLIN, deadline);
    if (ready.code() == StatusCode::kDeadlineExceeded) {
      std::string missing;
      for (int r = 1; r < size; ++r) {
        if (ranks[r].get() < 0) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      return fail_all(DeadlineExceeded(where + ": " + std::to_string(checked_in) + " of " + std::to_string(size - 1) +
                                       " ranks checked in within " + std::to_string(timeout.count()) +
                                       " ms, missing rank" + (size - 1 - checked_in > 1 ? "s " : " ") + missing),
                      -1, kOk);
    }
    if (!ready.ok()) return fail_all(Unavailable(where + ": " + ready.message()), -1, kOk);
    Fd conn(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (conn.get() < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) continue;
      return fail_all(Unavailable(where + ": accept: " + Errno(errno)), -1, kOk);
    }
    const int one = 1;
    ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t hello[kHelloBytes];
    const Status read = ReadFull(conn.get(), hello, sizeof hello, deadline);
    if (read.code() == StatusCode::kDeadlineExceeded) continue;  // the loop reports the timeout
    if (!read.ok()) continue;  // a peer that went away before its hello (e.g. a port probe)
    if (std::memcmp(hello, kMagic, sizeof kMagic) != 0) {
      return fail_all(InvalidArgument(where + ": a connection sent something other than a Tide rendezvous hello"),
                      conn.get(), kBadMagic);
    }
    const int rank = static_cast<int>(GetU32(hello + 8));
    const int their_size = static_cast<int>(GetU32(hello + 12));
    if (their_size != size) {
      return fail_all(InvalidArgument(where + ": rank " + std::to_string(rank) + " says the group has " +
                                      std::to_string(their_size) + " ranks, rank 0 has " + std::to_string(size)),
                      conn.get(), kWrongSize);
    }
    if (rank < 1 || rank >= size) {
      return fail_all(InvalidArgument(where + ": a process checked in as rank " + std::to_string(rank) +
                                      ", outside [1, " + std::to_string(size) + ")"),
                      conn.get(), kBadRank);
    }
    if (ranks[rank].get() >= 0) {
      return fail_all(InvalidArgument(where + ": rank " + std::to_string(rank) + " checked in twice"), conn.get(),
                      kDuplicateRank);
    }
    ranks[rank] = std::move(conn);
    ++checked_in;
  }
  const Clock::time_point send_deadline = std::max(deadline, Clock::now() + std::chrono::seconds(5));
  for (int r = 1; r < size; ++r) {
    const Status sent = Reply(ranks[r].get(), kOk, id, send_deadline);
    if (!sent.ok()) {
      return Unavailable(where + ": sending the NCCL id to rank " + std::to_string(r) + " failed: " + sent.message());
    }
  }
  return Status::Ok();
}

Result<NcclUniqueIdBytes> RendezvousFetch(const std::string& host, int port, int rank, int size,
                                          std::chrono::milliseconds timeout) {
  TIDE_RETURN_IF_ERROR(CheckPort(port, /*allow_zero=*/false));
  if (size < 2 || rank < 1 || rank >= size) {
    return InvalidArgument("rendezvous: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                           " cannot fetch an id (needs 1 <= rank < size)");
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string where = Endpoint(host, port);
  TIDE_ASSIGN_OR_RETURN(AddrInfoPtr addrs, Resolve(host, port, /*passive=*/false));
  Fd conn;
  std::string last = "no address";
  // Rank 0 may not listen yet: retry refused connections until the deadline.
  while (conn.get() < 0) {
    for (addrinfo* a = addrs.get(); a != nullptr && conn.get() < 0; a = a->ai_next) {
      Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
      if (fd.get() < 0) {
        last = "socket: " + Errno(errno);
        continue;
      }
      int err = 0;
      if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
          const Status w = WaitFor(fd.get(), POLLOUT, deadline);
          if (w.code() == StatusCode::kDeadlineExceeded) {
            err = ETIMEDOUT;
          } else if (!w.ok()) {
            return Unavailable("rendezvous: connecting to " + where + ": " + w.message());
          } else {
            socklen_t len = sizeof err;
            if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
          }
        }
      }
      if (err == 0) {
        conn = std::move(fd);
      } else {
        last = Errno(err);
      }
    }
    if (conn.get() >= 0) break;
    if (RemainingMs(deadline) == 0) {
      return DeadlineExceeded("rendezvous: could not connect to rank 0 at " + where + " within " +
                              std::to_string(timeout.count()) + " ms: " + last);
    }
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50),
                                                                    std::chrono::milliseconds(RemainingMs(deadline))));
  }
  const int one = 1;
  ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint8_t hello[kHelloBytes];
  std::memcpy(hello, kMagic, sizeof kMagic);
  PutU32(hello + 8, static_cast<uint32_t>(rank));
  PutU32(hello + 12, static_cast<uint32_t>(size));
  if (Status s = WriteFull(conn.get(), hello, sizeof hello, deadline); !s.ok()) {
    return s.code() == StatusCode::kDeadlineExceeded
               ? DeadlineExceeded("rendezvous: could not send rank " + std::to_string(rank) + "'s hello to " + where +
                                  " within " + std::to_string(timeout.count()) + " ms")
               : Unavailable("rendezvous: sending rank " + std::to_string(rank) + "'s hello to " + where + ": " +
                             s.message());
  }
  uint8_t reply[kReplyBytes];
  if (Status s = ReadFull(conn.get(), reply, sizeof reply, deadline); !s.ok()) {
    return s.code() == StatusCode::kDeadlineExceeded
               ? DeadlineExceeded("rendezvous: rank 0 at " + where + " did not send the NCCL id to rank " +
                                  std::to_string(rank) + " within " + std::to_string(timeout.count()) +
                                  " ms (are all " + std::to_string(size) + " ranks started?)")
               : Unavailable("rendezvous: waiting for the NCCL id from " + where + ": " + s.message());
  }
  const uint32_t code = GetU32(reply);
  if (code == kGaveUp) {
    return Unavailable("rendezvous: rank 0 at " + where + " did not hand out the NCCL id to rank " +
                       std::to_string(rank) + ": " + ReplyText(code));
  }
  if (code != kOk) {
    return InvalidArgument("rendezvous: rank 0 at " + where + " refused rank " + std::to_string(rank) + " of " +
                           std::to_string(size) + ": " + ReplyText(code));
  }
  NcclUniqueIdBytes id;
  std::memcpy(id.data(), reply + 4, kNcclUniqueIdBytes);
  return id;
}

#if !TIDE_HAS_NCCL
// Without NCCL (TIDE_CUDA=OFF, or nvcc or libnccl not found at configure time) the backend
// is absent; with it, engine/cuda/nccl_communicator.cc defines these two.
bool NcclCompiledIn() { return false; }

Result<std::unique_ptr<Communicator>> CreateNcclCommunicator(const NcclCommunicatorOptions& /*options*/) {
  return FailedPrecondition(
      "the nccl EP backend is not in this build: Tide was built without CUDA or without NCCL "
      "(TIDE_CUDA=OFF, or nvcc / libnccl.so / nccl.h not found in /usr/local/cuda at configure time)");
}
#endif

}  // namespace tide::engine::dist
