// Load generator for a running `henbtrust pve serve`: plays a fleet of
// soft-TrE devices over HTTPS with keep-alive and mutual TLS, each appraisal
// a push: POST /v1/evidence with a fresh quote over the nonce that came with
// the device's previous result (the first time, or with --fresh-nonce every
// time, POST /v1/nonces first).
//
//   pve_load setup --work W            makes a test TPM manufacturer CA in W
//   pve_load run --work W --pve-dir D --port P --bundle B [--devices 1000]
//                [--seconds 10] [--rounds 1] [--threads 1] [--concurrency 64]
//                [--appraise-port P2] [--save-answer FILE]
//
// `run` enrolls every device (EK certificate from W's CA, credential
// activation) and opens its connection, then appraises for the given time:
// each load thread drives its share of the devices without blocking (epoll,
// non-blocking OpenSSL), keeping --concurrency appraisals in flight in all,
// so that the generator costs the machine little beyond the devices' own
// quotes. It prints one line:
//   devices=N appraisals=N seconds=S rate=R p50_ms=X p99_ms=Y failures=F
//   rounds=N load_user_us=U load_sys_us=S [server_user_us=U server_sys_us=S]
// for the round (of --rounds windows of --seconds) of median rate; the last
// four are CPU microseconds per appraisal of the generator and, with
// --server-pid, of the PVE.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/bytes.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(const Error& e) {
  std::cerr << "pve_load: " << e.ToString() << "\n";
  return 2;
}

int Setup(const std::string& work) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  if (!key.ok()) return Fail(key.error());
  CertificateSpec spec;
  spec.common_name = "Load-test TPM Manufacturer";
  spec.is_ca = true;
  auto ca = IssueCertificate(spec, key->Public(), *key, nullptr);
  if (!ca.ok()) return Fail(ca.error());
  if (auto st = WriteFileAtomic(work + "/manufacturer-ca.pem", AsBytes(ca->ToPem())); !st.ok())
    return Fail(st.error());
  if (auto st = WriteFileAtomic(work + "/manufacturer-ca.key", AsBytes(key->ToPem()), 0600);
      !st.ok())
    return Fail(st.error());
  return 0;
}

// A device of the fleet: its TrE and its own keep-alive mutual-TLS
// connection, driven without blocking by one load thread.
struct Device {
  std::unique_ptr<SoftTre> tre;
  SSL_CTX* ctx = nullptr;  // its certificate and key
  SSL* ssl = nullptr;
  int fd = -1;
  PushNonce nonce;         // held for its next push
  std::string log_base64;  // its event log, encoded once (it does not change)
  bool closed = false;     // the connection failed: no more pushes

  enum class Phase { kIdle, kNonce, kEvidence } phase = Phase::kIdle;
  std::string out;  // the request being written
  std::string in;   // the response being read
  Clock::time_point started;

  ~Device() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) close(fd);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
};

struct RunArgs {
  std::string work, pve_dir, bundle, host = "127.0.0.1";
  uint16_t port = 0;
  uint16_t appraise_port = 0;  // appraisals go here instead (https_floor)
  std::string save_answer;     // file for one affirming answer's body
  int devices = 1000;
  int threads = 1;
  int concurrency = 64;
  double seconds = 10;
  bool with_log = true;
  bool fresh_nonce = false;
  int server_pid = 0;  // to report the server's CPU time per appraisal
  int rounds = 1;
};

// CPU seconds (user, system) process `pid` has used, from /proc; 0 = this one.
std::pair<double, double> CpuSeconds(int pid) {
  if (pid == 0) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return {sec(u.ru_utime), sec(u.ru_stime)};
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields 14 and 15 (utime, stime, in clock ticks) follow the ')' that ends
  // the command name, which may itself hold spaces.
  const size_t name_end = text.rfind(')');
  if (name_end == std::string::npos || name_end + 2 > text.size()) return {0, 0};
  std::istringstream rest(text.substr(name_end + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {utime / tick, stime / tick};
}

std::string OpensslError() {
  char buf[256];
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A TLS 1.3 client context with the device's identity that trusts only the
// PVE CA and checks that the server certificate names `host` (an address).
Result<SSL_CTX*> DeviceContext(const DeviceCredentials& creds) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Error(ErrorCode::kNetTls, OpensslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  auto fail = [&](const std::string& what) {
    SSL_CTX_free(ctx);
    return Error(ErrorCode::kNetTls, what + ": " + OpensslError());
  };
  BIO* cert_bio =
      BIO_new_mem_buf(creds.certificate_pem.data(), static_cast<int>(creds.certificate_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  if (cert == nullptr || SSL_CTX_use_certificate(ctx, cert) != 1) {
    X509_free(cert);
    return fail("device certificate");
  }
  X509_free(cert);
  BIO* key_bio =
      BIO_new_mem_buf(creds.private_key_pem.data(), static_cast<int>(creds.private_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    EVP_PKEY_free(key);
    return fail("device key");
  }
  EVP_PKEY_free(key);
  BIO* ca_bio = BIO_new_mem_buf(creds.ca_pem.data(), static_cast<int>(creds.ca_pem.size()));
  X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
  BIO_free(ca_bio);
  if (ca == nullptr || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1) {
    X509_free(ca);
    return fail("PVE CA");
  }
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // One read(2) for a record (and whatever follows it in the socket)
  // instead of one for its header and one for the rest.
  SSL_CTX_set_read_ahead(ctx, 1);
  return ctx;
}

// Connects and completes the handshake (blocking), then leaves the socket
// non-blocking for the load loop.
Status ConnectDevice(Device& d, const std::string& host, uint16_t port) {
  d.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (d.fd < 0) return Error(ErrorCode::kNet, std::string("socket: ") + strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return Error(ErrorCode::kInvalidArgument, "--host must be an IPv4 address");
  if (connect(d.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Error(ErrorCode::kNet, "connect " + host + ": " + strerror(errno));
  const int one = 1;
  setsockopt(d.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  d.ssl = SSL_new(d.ctx);
  SSL_set_fd(d.ssl, d.fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(d.ssl), host.c_str());
  if (SSL_connect(d.ssl) != 1) return Error(ErrorCode::kNetTls, "handshake: " + OpensslError());
  fcntl(d.fd, F_SETFL, fcntl(d.fd, F_GETFL) | O_NONBLOCK);
  return OkStatus();
}

std::string HttpPost(const std::string& target, const std::string& host, std::string_view body) {
  std::string r =
      "POST " + target + " HTTP/1.1\r\nHost: " + host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  r += body;
  return r;
}

// The status and body of a complete HTTP/1.1 response in `in`, if complete.
std::optional<std::pair<int, std::string_view>> CompleteResponse(const std::string& in) {
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos || in.size() < 12) return std::nullopt;
  const int status = std::atoi(in.c_str() + 9);
  size_t length = 0;
  const std::string_view head(in.data(), head_end);
  for (size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    const std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
    constexpr std::string_view kName = "content-length:";
    if (line.size() > kName.size() &&
        std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      length = std::strtoul(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
    }
  }
  if (in.size() < head_end + 4 + length) return std::nullopt;
  return std::make_pair(status, std::string_view(in).substr(head_end + 4, length));
}

struct ThreadResult {
  std::vector<float> latencies;
  int64_t failures = 0;
  std::string first_failure;
  std::string answer;  // the first affirming answer's body
};

// One load thread: keeps up to `in_flight` of its devices' appraisals going
// at once over epoll, each device's next push starting when its last ends.
void LoadLoop(const RunArgs& a, std::vector<Device*> mine, int in_flight,
              const std::atomic<bool>& stop, ThreadResult& out) {
  const int ep = epoll_create1(0);
  for (Device* d : mine) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = d;
    epoll_ctl(ep, EPOLL_CTL_ADD, d->fd, &ev);
  }
  out.latencies.reserve(1'000'000);
  size_t next = 0;
  int active = 0;
  auto fail = [&](Device& d, const std::string& why) {
    if (out.failures++ == 0) out.first_failure = why;
    if (d.phase != Device::Phase::kIdle) --active;
    d.phase = Device::Phase::kIdle;
  };
  auto send = [&](Device& d) {
    int n = SSL_write(d.ssl, d.out.data(), static_cast<int>(d.out.size()));
    if (n <= 0) {
      // A request is far smaller than the socket buffer: a short write is a
      // failure here, not a case to wait for.
      fail(d, "write: " + OpensslError());
      return;
    }
    d.in.clear();
  };
  // Quotes over the held nonce, which is then spent, and posts the evidence.
  auto push_evidence = [&](Device& d) {
    d.phase = Device::Phase::kEvidence;
    auto quote = d.tre->MakeQuote(d.nonce.nonce, d.nonce.selection);
    if (!quote.ok()) return fail(d, quote.error().ToString());
    const std::string evidence = EvidenceText(*quote, d.nonce.nonce, d.log_base64);
    d.nonce = {};
    d.out = HttpPost("/v1/evidence", a.host, evidence);
    send(d);
  };
  auto begin = [&](Device& d) {
    d.started = Clock::now();
    ++active;
    if (!a.fresh_nonce && !d.nonce.nonce.empty()) return push_evidence(d);
    d.phase = Device::Phase::kNonce;
    d.out = HttpPost("/v1/nonces", a.host, "{}");
    send(d);
  };
  auto finish = [&](Device& d, int status, std::string_view body) {
    if (d.phase == Device::Phase::kNonce) {
      auto nonce = status == 200 ? NonceFromAnswer(std::string(body))
                                 : Result<PushNonce>(Error(ErrorCode::kNetStatus, "nonce"));
      if (!nonce.ok())
        return fail(d, "nonce: " + std::to_string(status) + " " + std::string(body.substr(0, 300)));
      d.nonce = std::move(nonce).value();
      return push_evidence(d);
    }
    if (status != 200 || body.find("\"status\":\"affirming\"") == std::string_view::npos)
      return fail(d,
                  "appraisal: " + std::to_string(status) + " " + std::string(body.substr(0, 300)));
    if (auto n = NextNonceFromResult(std::string(body))) d.nonce = std::move(*n);
    if (out.answer.empty()) out.answer = body;
    // What completes after the window closed is drained, not counted.
    if (!stop.load(std::memory_order_relaxed)) {
      out.latencies.push_back(
          std::chrono::duration<float, std::milli>(Clock::now() - d.started).count());
    }
    d.phase = Device::Phase::kIdle;
    --active;
  };
  std::vector<epoll_event> events(256);
  char buf[16384];
  // After `stop`, the pushes in flight finish (for up to 10 s), so that the
  // next round starts with every device idle.
  std::optional<Clock::time_point> drain_until;
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) {
      if (!drain_until) drain_until = Clock::now() + std::chrono::seconds(10);
      if (active <= 0 || Clock::now() > *drain_until) break;
    }
    // Start pushes on idle devices, in turn, up to the in-flight limit.
    for (size_t tried = 0; !drain_until && active < in_flight && tried < mine.size(); ++tried) {
      Device& d = *mine[next];
      next = (next + 1) % mine.size();
      if (d.phase == Device::Phase::kIdle && !d.closed) begin(d);
    }
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      Device& d = *static_cast<Device*>(events[static_cast<size_t>(i)].data.ptr);
      for (;;) {
        const int got = SSL_read(d.ssl, buf, sizeof buf);
        if (got > 0) {
          d.in.append(buf, static_cast<size_t>(got));
          // A whole answer is all the server sends until the next request:
          // no read to learn that nothing more is there. Anything else that
          // came is still in the socket (epoll, level-triggered, reports it
          // again) or in OpenSSL's buffer (read on here).
          if (d.phase != Device::Phase::kIdle && !SSL_has_pending(d.ssl) && CompleteResponse(d.in))
            break;
          continue;
        }
        const int err = SSL_get_error(d.ssl, got);
        if (err != SSL_ERROR_WANT_READ) {
          fail(d, "connection closed: " + OpensslError());
          epoll_ctl(ep, EPOLL_CTL_DEL, d.fd, nullptr);
          d.closed = true;
        }
        break;
      }
      if (d.phase == Device::Phase::kIdle) continue;
      if (auto r = CompleteResponse(d.in)) finish(d, r->first, r->second);
    }
  }
  close(ep);
}

int Run(const RunArgs& a) {
  // One connection per device, plus files: raise the descriptor limit.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (a.threads < 1 || a.concurrency < a.threads || a.threads > a.devices) {
    std::cerr << "need 1 <= --threads <= --concurrency and --threads <= --devices\n";
    return 2;
  }
  auto ca_pem = ReadTextFile(a.pve_dir + "/ca.pem");
  auto mfr_pem = ReadTextFile(a.work + "/manufacturer-ca.pem");
  auto mfr_key_pem = ReadTextFile(a.work + "/manufacturer-ca.key");
  if (!ca_pem.ok() || !mfr_pem.ok() || !mfr_key_pem.ok()) {
    return Fail(Error(ErrorCode::kIo, "run `pve_load setup` and `henbtrust pve init` first"));
  }
  auto mfr = Certificate::FromPem(*mfr_pem);
  auto mfr_key = PrivateKey::FromPem(*mfr_key_pem);
  auto header = ReadBundleHeader(a.bundle);
  if (!mfr.ok() || !mfr_key.ok()) return Fail(Error(ErrorCode::kMalformed, "manufacturer CA"));
  if (!header.ok()) return Fail(header.error());
  const ReleaseManifest& release = header->manifest;

  // Enroll the fleet and open its connections, on two threads per core.
  std::vector<Device> fleet(static_cast<size_t>(a.devices));
  std::atomic<int> next{0}, enroll_failures{0};
  const auto enroll_start = Clock::now();
  auto enroll = [&] {
    for (int i = next++; i < a.devices; i = next++) {
      Device& d = fleet[static_cast<size_t>(i)];
      d.tre = std::make_unique<SoftTre>(*SoftTre::Create());
      for (const auto& c : release.components)
        (void)d.tre->MeasureComponent(c.pcr, {c.id, c.version}, c.sha256);
      if (a.with_log) d.log_base64 = Base64Encode(d.tre->event_log().Serialize());
      auto ek = ParseTpmPublic(d.tre->EkPublic());
      auto cert = IssueEkCertificate(ek->key, *mfr_key, *mfr);
      char id[32];
      std::snprintf(id, sizeof id, "load-%06d", i);
      EnrollmentRequest req{
          id, release.hardware_models.front(), release.release_id, release.version, cert->ToDer(),
          ""};
      auto creds = Enroll(a.host, a.port, *ca_pem, *d.tre, req);
      Status connected = creds.ok() ? OkStatus() : Status(creds.error());
      if (connected.ok()) {
        auto ctx = DeviceContext(*creds);
        connected = ctx.ok() ? OkStatus() : Status(ctx.error());
        if (ctx.ok()) {
          d.ctx = *ctx;
          connected = ConnectDevice(d, a.host, a.appraise_port != 0 ? a.appraise_port : a.port);
        }
      }
      if (!connected.ok() && enroll_failures++ == 0)
        std::cerr << "device " << id << ": " << connected.error().ToString() << "\n";
    }
  };
  {
    std::vector<std::thread> pool;
    const unsigned n = std::max(2u, 2 * std::thread::hardware_concurrency());
    for (unsigned t = 0; t < n; ++t) pool.emplace_back(enroll);
    for (auto& t : pool) t.join();
  }
  if (enroll_failures > 0) {
    std::cerr << enroll_failures << " devices failed to enroll or connect\n";
    return 1;
  }
  const double enroll_seconds = std::chrono::duration<double>(Clock::now() - enroll_start).count();
  std::cerr << "enrolled " << a.devices << " devices in " << enroll_seconds << " s\n";

  // Appraise in rounds: each load thread drives its own share of the fleet.
  struct Round {
    size_t appraisals = 0;
    double seconds = 0, rate = 0, p50 = 0, p99 = 0;
    int64_t failures = 0;
    std::string first_failure, answer;
    std::pair<double, double> server_cpu, load_cpu;  // seconds, user and system
  };
  auto round = [&] {
    std::atomic<bool> stop{false};
    std::vector<ThreadResult> results(static_cast<size_t>(a.threads));
    std::vector<std::thread> pool;
    const auto server_before = CpuSeconds(a.server_pid);
    const auto load_before = CpuSeconds(0);
    const auto start = Clock::now();
    for (int t = 0; t < a.threads; ++t) {
      std::vector<Device*> mine;
      for (size_t i = static_cast<size_t>(t); i < fleet.size(); i += static_cast<size_t>(a.threads))
        mine.push_back(&fleet[i]);
      const int in_flight = a.concurrency / a.threads + (t < a.concurrency % a.threads ? 1 : 0);
      pool.emplace_back(LoadLoop, std::cref(a), std::move(mine), in_flight, std::cref(stop),
                        std::ref(results[static_cast<size_t>(t)]));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    stop = true;
    Round r;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto server_after = CpuSeconds(a.server_pid);
    const auto load_after = CpuSeconds(0);
    for (auto& t : pool) t.join();
    r.server_cpu = {server_after.first - server_before.first,
                    server_after.second - server_before.second};
    r.load_cpu = {load_after.first - load_before.first, load_after.second - load_before.second};
    std::vector<float> all;
    for (auto& t : results) {
      all.insert(all.end(), t.latencies.begin(), t.latencies.end());
      if (t.failures > 0 && r.failures == 0) r.first_failure = t.first_failure;
      if (r.answer.empty()) r.answer = std::move(t.answer);
      r.failures += t.failures;
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
    };
    r.appraisals = all.size();
    r.rate = static_cast<double>(all.size()) / r.seconds;
    r.p50 = pct(0.50);
    r.p99 = pct(0.99);
    return r;
  };
  std::vector<Round> rounds;
  int64_t failures = 0;
  for (int i = 0; i < a.rounds; ++i) {
    rounds.push_back(round());
    if (!a.save_answer.empty() && !rounds.back().answer.empty()) {
      if (auto st = WriteFileAtomic(a.save_answer, AsBytes(rounds.back().answer)); !st.ok())
        return Fail(st.error());
    }
    const Round& r = rounds.back();
    std::cerr << "round " << i + 1 << ": " << r.appraisals << " appraisals, " << r.rate
              << "/s, p50 " << r.p50 << " ms, p99 " << r.p99 << " ms\n";
    if (r.failures > 0 && failures == 0)
      std::cerr << "appraisal failed: " << r.first_failure << "\n";
    failures += r.failures;
  }
  // The round of median rate stands for the run.
  std::sort(rounds.begin(), rounds.end(),
            [](const Round& x, const Round& y) { return x.rate < y.rate; });
  const Round& m = rounds[rounds.size() / 2];
  // CPU time per appraisal in microseconds.
  const double n = std::max<double>(1, static_cast<double>(m.appraisals));
  std::printf(
      "devices=%d appraisals=%zu seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f failures=%lld "
      "rounds=%d load_user_us=%.0f load_sys_us=%.0f",
      a.devices, m.appraisals, m.seconds, m.rate, m.p50, m.p99, static_cast<long long>(failures),
      a.rounds, 1e6 * m.load_cpu.first / n, 1e6 * m.load_cpu.second / n);
  if (a.server_pid != 0) {
    std::printf(" server_user_us=%.0f server_sys_us=%.0f", 1e6 * m.server_cpu.first / n,
                1e6 * m.server_cpu.second / n);
  }
  std::printf("\n");
  return failures > 0 ? 1 : 0;
}

}  // namespace
}  // namespace henbtrust

int main(int argc, char** argv) {
  using namespace henbtrust;
  CLI::App app{"Load generator for henbtrust pve serve: a fleet of soft-TrE devices over HTTPS"};
  app.require_subcommand(1);
  std::string setup_work;
  CLI::App* setup = app.add_subcommand("setup", "Create a test TPM manufacturer CA in --work");
  setup->add_option("--work", setup_work, "work directory")->required();
  RunArgs a;
  CLI::App* run = app.add_subcommand("run", "Enroll the fleet, then appraise for --seconds");
  run->add_option("--work", a.work, "work directory of `setup`")->required();
  run->add_option("--pve-dir", a.pve_dir, "the PVE directory (for its CA)")->required();
  run->add_option("--bundle", a.bundle, "the release bundle the devices run")->required();
  run->add_option("--host", a.host, "PVE address")->capture_default_str();
  run->add_option("--port", a.port, "PVE port")->required();
  run->add_option("--appraise-port", a.appraise_port,
                  "send the appraisals to this port of --host instead (https_floor), after "
                  "enrolling with the PVE");
  run->add_option("--save-answer", a.save_answer, "write one affirming answer's body here");
  run->add_option("--devices", a.devices, "fleet size")->capture_default_str();
  run->add_option("--threads", a.threads, "load threads, each driving its share of the fleet")
      ->capture_default_str();
  run->add_option("--concurrency", a.concurrency, "appraisals in flight at once, over all threads")
      ->capture_default_str();
  run->add_option("--seconds", a.seconds, "duration of the appraisal phase")->capture_default_str();
  run->add_option("--rounds", a.rounds,
                  "appraisal windows of --seconds each; the one of median rate is printed")
      ->capture_default_str()
      ->check(CLI::Range(1, 99));
  run->add_option("--server-pid", a.server_pid,
                  "the PVE's process id, to report its CPU time per appraisal");
  bool no_log = false;
  run->add_flag("--no-log", no_log, "send quotes without the event log");
  run->add_flag("--fresh-nonce", a.fresh_nonce,
                "fetch a nonce before every push (two requests per appraisal) instead of using "
                "the next nonce that came with the previous result");
  CLI11_PARSE(app, argc, argv);
  a.with_log = !no_log;
  if (*setup) return Setup(setup_work);
  return Run(a);
}
