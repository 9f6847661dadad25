#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/net/worker_pool.h"
#include "net/asio.h"

namespace henbtrust {

using namespace henbtrust::net;

namespace {

struct Connection {
  Connection(tcp::socket socket, ssl::context& ctx, size_t on, Env* clock)
      : stream(std::move(socket), ctx), context(on), env(clock) {}
  beast::ssl_stream<tcp::socket> stream;
  // The index of the io_context it runs on; not the io_context itself, which
  // an answer posted to a stopped server would then keep alive in a cycle.
  size_t context;
  Env* env;  // its steady clock times the deadline below
  // A request is being read, handled or answered; only touched on the
  // connection's thread.
  bool busy = false;
  // When the socket operation under way is cancelled (steady clock, ms); 0
  // while none is. Set on the connection's thread, read by the sweeper.
  // One deadline per connection, checked by the sweeper (Sweep), instead of
  // a timer armed and cancelled around every read and write.
  std::atomic<int64_t> deadline_ms{0};

  void Arm(std::chrono::milliseconds timeout) {
    deadline_ms.store(env->SteadyMillis() + timeout.count(), std::memory_order_relaxed);
  }
  void Disarm() { deadline_ms.store(0, std::memory_order_relaxed); }
  bool Overdue() const { return Overdue(env->SteadyMillis()); }
  bool Overdue(int64_t now) const {
    const int64_t d = deadline_ms.load(std::memory_order_relaxed);
    return d != 0 && now >= d;
  }
};

// Accepting failed for want of descriptors, buffers or memory, which
// retrying at once does not bring back.
bool OutOfResources(const beast::error_code& ec) {
  if (ec.category() != asio::error::get_system_category()) return false;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":")";
  out += code;
  out += R"(","message":")";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  out += "\"}}";
  return out;
}

}  // namespace

// An answer the handler gives later: the coroutine's completion, kept
// until then, and the io_context it resumes on, so that whatever owns the
// last responder may call or drop it at any time.
template <typename Completion>
struct LaterAnswer {
  // A constructor, not aggregate initialisation: clang 14 (clang-tidy) has
  // no parenthesised aggregate init, which make_shared needs.
  LaterAnswer(std::shared_ptr<asio::io_context> i, Completion c)
      : ioc(std::move(i)), completion(std::move(c)) {}
  std::shared_ptr<asio::io_context> ioc;
  Completion completion;
  std::atomic<bool> answered{false};
};

// The answer resumes the coroutine on its own executor, whichever thread
// gives it; a second answer is ignored. What is posted holds the completion,
// not the LaterAnswer: an answer queued on a stopped server then goes with
// the io_context, instead of keeping it alive.
template <typename Completion>
HttpResponder ResponderFor(std::shared_ptr<asio::io_context> ioc, Completion completion) {
  auto later = std::make_shared<LaterAnswer<Completion>>(std::move(ioc), std::move(completion));
  return [later](HttpResponse r) {
    if (later->answered.exchange(true)) return;
    auto ex = asio::get_associated_executor(later->completion);
    asio::post(ex, [completion = std::move(later->completion), r = std::move(r)]() mutable {
      completion(std::move(r));
    });
  };
}

struct HttpServer::Impl {
  Impl(HttpServerOptions o, HttpHandler h, AsyncHttpHandler a)
      : options(std::move(o)),
        handler(std::move(h)),
        async_handler(std::move(a)),
        contexts(MakeContexts(options.threads)),
        acceptor(*contexts.front()),
        pause(*contexts.front()) {}

  static std::vector<std::shared_ptr<asio::io_context>> MakeContexts(int threads) {
    std::vector<std::shared_ptr<asio::io_context>> out;
    for (int i = 0; i < std::max(1, threads); ++i) {
      out.push_back(std::make_shared<asio::io_context>(1));
    }
    return out;
  }

  asio::awaitable<void> Accept();
  asio::awaitable<void> Sweep();
  asio::awaitable<void> Serve(std::shared_ptr<Connection> c);
  asio::awaitable<HttpResponse> Dispatch(const Connection& c, const HttpRequest& request);
  void Forget(const std::shared_ptr<Connection>& c) EXCLUDES(mu);

  HttpServerOptions options;
  HttpHandler handler;             // one of the two is set
  AsyncHttpHandler async_handler;  //
  // One io_context per thread, run by that thread alone: a connection stays
  // on one thread, so its operations need no strand and its completions
  // never wake another thread. The first also runs the acceptor and the
  // sweeper. Shared with the responders of async answers, which may outlive
  // the server.
  std::vector<std::shared_ptr<asio::io_context>> contexts;
  std::atomic<size_t> next_context{0};
  // Runs the synchronous handler, which may block, off the connections' threads.
  std::unique_ptr<WorkerPool> blocking;
  std::unique_ptr<ssl::context> tls;
  tcp::acceptor acceptor;
  // What Accept() waits on when it does not accept: for room under
  // max_connections (woken by Forget()), or out of a pause after running out
  // of resources. Stop() wakes it. Only touched on the acceptor's thread.
  asio::steady_timer pause;
  uint16_t port = 0;
  std::vector<std::thread> threads;

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> accept_failures{0};

  std::atomic<bool> stopping{false};
  Mutex mu;
  std::condition_variable cv;  // signalled when `connections` shrinks or `stopped` is set
  std::set<std::shared_ptr<Connection>> connections GUARDED_BY(mu);
  // Accept() waits for a connection to close.
  bool waiting_for_room GUARDED_BY(mu) = false;
  bool stopped GUARDED_BY(mu) = false;
  std::once_flag stop_once;
};

// Accepts while fewer than max_connections are held, and otherwise waits
// until one closes. An accept that fails for want of resources is retried
// after a pause, from 10 ms doubling to 1 s, until one succeeds; other
// failures affect only the client concerned.
asio::awaitable<void> HttpServer::Impl::Accept() {
  constexpr std::chrono::milliseconds kFirstPause{10};
  constexpr std::chrono::milliseconds kLongestPause{1000};
  std::chrono::milliseconds backoff{0};  // 0: the last accept did not run out
  for (;;) {
    beast::error_code ec;
    bool full;
    {
      MutexLock lock(mu);
      full = connections.size() >= options.max_connections;
      waiting_for_room = full;
    }
    if (full) {
      pause.expires_at(asio::steady_timer::time_point::max());
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopping) co_return;
      continue;
    }
    // Connections go to the threads in turn.
    const size_t context = next_context++ % contexts.size();
    auto socket = co_await acceptor.async_accept(*contexts[context],
                                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping || !acceptor.is_open()) co_return;
      ++accept_failures;
      if (OutOfResources(ec)) {
        backoff = std::clamp(backoff * 2, kFirstPause, kLongestPause);
        pause.expires_after(backoff);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (stopping) co_return;
      }
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    ++accepted;
    socket.set_option(tcp::no_delay(true), ec);
    auto c =
        std::make_shared<Connection>(tcp::socket(std::move(socket)), *tls, context, options.env);
    {
      MutexLock lock(mu);
      if (stopping) continue;
      connections.insert(c);
    }
    asio::co_spawn(c->stream.get_executor(), Serve(c), asio::detached);
  }
}

void HttpServer::Impl::Forget(const std::shared_ptr<Connection>& c) {
  MutexLock lock(mu);
  connections.erase(c);
  if (waiting_for_room && connections.size() < options.max_connections) {
    waiting_for_room = false;
    // Runs while Accept() waits: both are on the acceptor's thread.
    asio::post(acceptor.get_executor(), [this] { pause.cancel(); });
  }
  cv.notify_all();
}

// Cancels what overdue connections wait for: each then fails its read,
// write or handshake with operation_aborted and closes. A deadline is met
// late by at most one tick, a quarter of the shortest timeout (between 20 ms
// and 1 s). Runs until the io_context stops, through Stop()'s grace period.
asio::awaitable<void> HttpServer::Impl::Sweep() {
  const auto shortest =
      std::min({options.handshake_timeout, options.idle_timeout, options.request_timeout});
  const auto tick = std::clamp<std::chrono::milliseconds>(
      shortest / 4, std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
  asio::steady_timer timer(acceptor.get_executor());
  std::vector<std::shared_ptr<Connection>> overdue;
  for (;;) {
    timer.expires_after(tick);
    beast::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    {
      MutexLock lock(mu);
      const int64_t now = options.env->SteadyMillis();
      for (const auto& c : connections) {
        if (c->Overdue(now)) overdue.push_back(c);
      }
    }
    for (auto& c : overdue) {
      // On the connection's thread, where the deadline is set: it may have
      // moved on since.
      asio::post(c->stream.get_executor(), [c] {
        if (!c->Overdue()) return;
        beast::error_code ignored;
        beast::get_lowest_layer(c->stream).cancel(ignored);
      });
    }
    overdue.clear();
  }
}

HttpResponse InternalError(const char* what) {
  return {500, "application/json", ErrorBody("core.internal", what), {}};
}

// Runs `run`; whatever it throws becomes the answer.
template <typename Run>
void Guarded(const HttpResponder& respond, Run&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    respond(InternalError(e.what()));
  } catch (...) {
    respond(InternalError("unexpected failure"));
  }
}

asio::awaitable<HttpResponse> HttpServer::Impl::Dispatch(const Connection& c,
                                                         const HttpRequest& request) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(
      [this, &c, &request](auto completion) {
        HttpResponder respond = ResponderFor(contexts[c.context], std::move(completion));
        if (handler) {
          // It may block: on the pool, not on the connection's thread. The
          // request lives in the waiting coroutine's frame, which the
          // completion inside `respond` keeps until the answer.
          blocking->Post(
              [this, &request, respond] { Guarded(respond, [&] { respond(handler(request)); }); });
          return;
        }
        Guarded(respond, [&] { async_handler(request, respond); });
      },
      asio::use_awaitable);
}

asio::awaitable<void> HttpServer::Impl::Serve(std::shared_ptr<Connection> c) {
  auto& stream = c->stream;
  auto& tcp_layer = beast::get_lowest_layer(stream);
  beast::error_code ec;
  c->Arm(options.handshake_timeout);
  co_await stream.async_handshake(ssl::stream_base::server,
                                  asio::redirect_error(asio::use_awaitable, ec));
  c->Disarm();
  if (ec) {
    tcp_layer.close(ec);
    Forget(c);
    co_return;
  }
  const PeerIdentity peer = PeerOf(stream.native_handle());
  beast::flat_buffer buffer;
  bool graceful = true;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    c->Arm(options.idle_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    c->busy = true;
    if (!ec) {
      c->Arm(options.request_timeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    c->Disarm();
    HttpResponse response;
    bool keep_alive = false;
    bool drain = false;  // the client may still be sending what we refused
    unsigned version = 11;
    if (ec == http::error::body_limit) {
      drain = true;
      response = {413,
                  "application/json",
                  ErrorBody("net.too-large", "request body exceeds " +
                                                 std::to_string(options.max_body_bytes) + " bytes"),
                  {}};
    } else if (ec == http::error::header_limit) {
      response = {
          431, "application/json", ErrorBody("net.too-large", "request header too large"), {}};
    } else if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
               ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
               ec == asio::error::connection_reset) {
      // A client that closed gets our close_notify; one cancelled by Stop() is not waited for.
      graceful = ec == http::error::end_of_stream;
      break;
    } else if (ec) {
      response = {400,
                  "application/json",
                  ErrorBody("net.bad-request", "not HTTP/1.1: " + ec.message()),
                  {}};
    } else {
      auto& req = parser.get();
      version = req.version();
      keep_alive = req.keep_alive();
      HttpRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      request.content_type = std::string(req[http::field::content_type]);
      request.range = std::string(req[http::field::range]);
      request.body = std::move(req.body());
      request.peer = peer;
      response = co_await Dispatch(*c, request);
    }
    if (stopping) keep_alive = false;
    http::response<http::string_body> res{static_cast<http::status>(response.status), version};
    res.set(http::field::server, "henbtrust");
    res.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(response.body);
    res.prepare_payload();
    c->Arm(options.request_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    c->Disarm();
    c->busy = false;
    if (ec) {
      graceful = false;
      break;
    }
    if (drain) {
      // Closing with unread data would reset the connection and lose the
      // answer; read and discard what the client still sends, within bounds.
      std::array<char, 16384> scratch;
      size_t drained = 0;
      c->Arm(std::chrono::seconds(2));
      while (!ec && drained < 4 * options.max_body_bytes + (1 << 20)) {
        drained += co_await stream.async_read_some(asio::buffer(scratch),
                                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      c->Disarm();
      graceful = false;
      break;
    }
    if (!keep_alive) break;
  }
  if (graceful) {
    c->Arm(std::chrono::seconds(1));
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    c->Disarm();
  }
  tcp_layer.close(ec);
  Forget(c);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      const TlsConfig& tls, HttpHandler handler) {
  return Start(std::make_unique<Impl>(options, std::move(handler), nullptr), tls);
}

Result<std::unique_ptr<HttpServer>> HttpServer::StartAsync(const HttpServerOptions& options,
                                                           const TlsConfig& tls,
                                                           AsyncHttpHandler handler) {
  return Start(std::make_unique<Impl>(options, nullptr, std::move(handler)), tls);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(std::unique_ptr<Impl> impl,
                                                      const TlsConfig& tls) {
  HttpServerOptions& options = impl->options;
  if (options.threads < 1) return Error(ErrorCode::kInvalidArgument, "threads must be >= 1");
  if (options.env == nullptr) return Error(ErrorCode::kInvalidArgument, "no Env");
  if (options.max_connections < 1) {
    return Error(ErrorCode::kInvalidArgument, "max_connections must be >= 1");
  }
  constexpr rlim_t kOtherDescriptors = 128;
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur > 2 * kOtherDescriptors) {
    options.max_connections =
        std::min<size_t>(options.max_connections, files.rlim_cur - kOtherDescriptors);
  }
  HENB_ASSIGN_OR_RETURN(impl->tls,
                        MakeTlsContext(tls, /*server=*/true, options.refused_certificates.get()));
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) return Error(ErrorCode::kInvalidArgument, "bad listen address '" + options.address + "'");
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error(ErrorCode::kNet, "cannot listen on " + options.address + ":" +
                                      std::to_string(options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  Impl* raw = impl.get();
  if (raw->handler) raw->blocking = std::make_unique<WorkerPool>(options.threads);
  asio::co_spawn(raw->acceptor.get_executor(), raw->Accept(), asio::detached);
  asio::co_spawn(raw->acceptor.get_executor(), raw->Sweep(), asio::detached);
  for (const auto& context : raw->contexts) {
    raw->threads.emplace_back([context] {
      // Runs until Stop(), also while its connections are all idle.
      auto work = asio::make_work_guard(*context);
      context->run();
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::Stats() const {
  HttpServerStats stats;
  stats.accepted = impl_->accepted.load(std::memory_order_relaxed);
  stats.accept_failures = impl_->accept_failures.load(std::memory_order_relaxed);
  MutexLock lock(impl_->mu);
  stats.connections = impl_->connections.size();
  return stats;
}

void HttpServer::Stop() {
  Impl* s = impl_.get();
  std::call_once(s->stop_once, [s] {
    std::vector<std::shared_ptr<Connection>> open;
    {
      MutexLock lock(s->mu);
      s->stopping = true;
      open.assign(s->connections.begin(), s->connections.end());
    }
    asio::post(s->acceptor.get_executor(), [s] {
      beast::error_code ec;
      s->acceptor.close(ec);
      s->pause.cancel();
    });
    // Idle keep-alive connections are closed now; busy ones close after their answer.
    for (auto& c : open) {
      asio::post(c->stream.get_executor(), [c] {
        beast::error_code ignored;
        if (!c->busy) beast::get_lowest_layer(c->stream).cancel(ignored);
      });
    }
    {
      const auto grace_ends = std::chrono::steady_clock::now() + s->options.shutdown_grace;
      MutexLock lock(s->mu);
      while (!s->connections.empty()) {
        if (!lock.WaitUntil(s->cv, grace_ends)) break;
      }
    }
    for (auto& context : s->contexts) context->stop();
    for (auto& t : s->threads) t.join();
    // Handlers still running finish; their answers are dropped.
    s->blocking.reset();
    MutexLock lock(s->mu);
    s->connections.clear();
    s->stopped = true;
    s->cv.notify_all();
  });
}

void HttpServer::Wait() {
  MutexLock lock(impl_->mu);
  while (!impl_->stopped) lock.Wait(impl_->cv);
}

}  // namespace henbtrust
