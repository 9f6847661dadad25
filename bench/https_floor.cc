// The machine's floor for an appraisal over HTTPS: a server that does only
// what no PVE can avoid, so that the load generator measures how many
// appraisals per second this machine could carry at best.
//
// Per request it reads an HTTP/1.1 request over its keep-alive mutual-TLS
// connection, hashes the body (SHA-256), verifies one P-256 ECDSA signature
// (the quote's), makes one (the attestation result's), and answers with a
// fixed body: the bytes of a real PVE answer, saved by
// `pve_load run --save-answer`, so that the wire and the device's own parsing
// are the same as against the PVE. A nonce request (a device's first push)
// gets that answer's next_nonce object. No JSON, no policy, no store, no logging:
// everything a real PVE adds is above this floor.
//
//   https_floor --cert C --key K --client-ca CA --answer A [--port-file F]
//               [--threads N (the number of cores)]
//
// Each thread owns an epoll loop and a listening socket on the shared port
// (SO_REUSEPORT), so that a connection stays on one core and requests never
// cross threads. It runs until SIGINT or SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};

[[noreturn]] void Die(const std::string& what) {
  char buf[256] = "";
  if (const unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
  std::cerr << "https_floor: " << what << (buf[0] != 0 ? std::string(": ") + buf : "") << "\n";
  std::exit(2);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The unavoidable crypto of one appraisal, with contexts made once per
// thread (the cheapest way OpenSSL offers).
class Crypto {
 public:
  Crypto() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) Die("P-256 key");
    key_.reset(key);
    sign_.reset(EVP_PKEY_CTX_new(key, nullptr));
    verify_.reset(EVP_PKEY_CTX_new(key, nullptr));
    if (!sign_ || !verify_ || EVP_PKEY_sign_init(sign_.get()) != 1 ||
        EVP_PKEY_verify_init(verify_.get()) != 1)
      Die("ECDSA contexts");
    // A signature to verify, as a quote carries one.
    unsigned char digest[32] = {1};
    size_t len = sizeof quote_sig_;
    if (EVP_PKEY_sign(sign_.get(), quote_sig_, &len, digest, sizeof digest) != 1) Die("ECDSA sign");
    quote_sig_len_ = len;
  }

  // Hash the evidence, verify the quote signature, sign the result.
  void Appraise(std::string_view body) {
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (EVP_Digest(body.data(), body.size(), digest, &dlen, EVP_sha256(), nullptr) != 1)
      Die("SHA-256");
    unsigned char quoted[32] = {1};
    if (EVP_PKEY_verify(verify_.get(), quote_sig_, quote_sig_len_, quoted, sizeof quoted) != 1)
      Die("ECDSA verify");
    unsigned char sig[80];
    size_t len = sizeof sig;
    if (EVP_PKEY_sign(sign_.get(), sig, &len, digest, dlen) != 1) Die("ECDSA sign");
  }

 private:
  struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  };
  struct CtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  };
  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> sign_, verify_;
  unsigned char quote_sig_[80];
  size_t quote_sig_len_ = 0;
};

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string in;
  std::string pending;  // response bytes the socket did not take yet
  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) close(fd);
  }
};

// The length of the complete request at the front of `in`, or 0.
size_t CompleteRequest(const std::string& in) {
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  size_t length = 0;
  for (size_t pos = in.find("\r\n"); pos < head_end; pos = in.find("\r\n", pos + 2)) {
    constexpr std::string_view kName = "content-length:";
    if (in.size() >= pos + 2 + kName.size() &&
        strncasecmp(in.data() + pos + 2, kName.data(), kName.size()) == 0) {
      length = std::strtoul(in.c_str() + pos + 2 + kName.size(), nullptr, 10);
    }
  }
  return in.size() >= head_end + 4 + length ? head_end + 4 + length : 0;
}

int Listen(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4096) != 0)
    Die(std::string("listen: ") + strerror(errno));
  return fd;
}

// The two answers: to a push (POST /v1/evidence) and to a nonce request.
struct Answers {
  std::string appraisal, nonce;
};

void Serve(SSL_CTX* ctx, int listener, const Answers& answers) {
  Crypto crypto;
  const int ep = epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
  std::vector<epoll_event> events(256);
  char buf[16384];
  auto drop = [&](Conn* c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    delete c;
  };
  // Writes what is pending; false when the connection is lost.
  auto flush = [&](Conn* c) {
    while (!c->pending.empty()) {
      const int n = SSL_write(c->ssl, c->pending.data(), static_cast<int>(c->pending.size()));
      if (n > 0) {
        c->pending.erase(0, static_cast<size_t>(n));
        continue;
      }
      const int err = SSL_get_error(c->ssl, n);
      if (err != SSL_ERROR_WANT_WRITE) return false;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.ptr = c;
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      return true;
    }
    return true;
  };
  while (!g_stop.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
      if (c == nullptr) {  // the listener
        for (int fd; (fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          const int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* conn = new Conn;
          conn->fd = fd;
          conn->ssl = SSL_new(ctx);
          SSL_set_fd(conn->ssl, fd);
          SSL_set_accept_state(conn->ssl);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = conn;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if ((events[static_cast<size_t>(i)].events & EPOLLOUT) != 0) {
        if (!flush(c)) {
          drop(c);
          continue;
        }
        if (c->pending.empty()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      bool lost = false;
      for (;;) {  // SSL_read also drives the handshake
        const int got = SSL_read(c->ssl, buf, sizeof buf);
        if (got > 0) {
          c->in.append(buf, static_cast<size_t>(got));
          continue;
        }
        const int err = SSL_get_error(c->ssl, got);
        lost = err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE;
        break;
      }
      for (size_t len; !lost && (len = CompleteRequest(c->in)) != 0;) {
        const size_t body = c->in.find("\r\n\r\n") + 4;
        if (c->in.starts_with("POST /v1/nonces ")) {
          c->pending += answers.nonce;  // a device's first push: no crypto
        } else {
          crypto.Appraise(std::string_view(c->in).substr(body, len - body));
          c->pending += answers.appraisal;
        }
        c->in.erase(0, len);
        lost = !flush(c);
      }
      if (lost) drop(c);
    }
  }
  close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "The floor for an appraisal over HTTPS on this machine: TLS keep-alive, one SHA-256, one "
      "P-256 verify and one sign per request, a fixed answer; nothing else"};
  std::string cert, key, client_ca, answer_file, port_file;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--cert", cert, "server certificate (PEM), e.g. the PVE's server.pem")->required();
  app.add_option("--key", key, "its private key (PEM)")->required();
  app.add_option("--client-ca", client_ca, "CA that issued the devices' certificates")->required();
  app.add_option("--answer", answer_file, "answer body to send (pve_load run --save-answer)")
      ->required();
  app.add_option("--port-file", port_file, "write the listening port here");
  app.add_option("--threads", threads, "serving threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, client_ca.c_str(), nullptr) != 1)
    Die("TLS context");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  const std::string body = ReadAll(answer_file);
  // A nonce answer is the shape of the answer's next_nonce object, which
  // holds no nested object.
  const size_t next = body.find("\"next_nonce\":{");
  const size_t next_end = next == std::string::npos ? next : body.find('}', next);
  if (next_end == std::string::npos) Die(answer_file + " has no next_nonce object");
  const size_t open = body.find('{', next);
  auto http = [](const std::string& b) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  const Answers answers{http(body), http(body.substr(open, next_end + 1 - open))};

  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::vector<int> listeners{Listen(0)};
  sockaddr_in bound{};
  socklen_t blen = sizeof bound;
  getsockname(listeners[0], reinterpret_cast<sockaddr*>(&bound), &blen);
  const uint16_t port = ntohs(bound.sin_port);
  for (unsigned t = 1; t < threads; ++t) listeners.push_back(Listen(port));
  if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
  std::vector<std::thread> pool;
  for (int fd : listeners) pool.emplace_back(Serve, ctx, fd, std::cref(answers));
  for (auto& t : pool) t.join();
  SSL_CTX_free(ctx);
  return 0;
}
