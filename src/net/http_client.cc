#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <optional>

#include "crypto/ossl.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "net/asio.h"

namespace henbtrust {

using namespace henbtrust::net;

struct HttpClient::Impl {
  // Runs one asynchronous operation to completion on this client's own
  // io_context, so that the stream's deadline applies to it.
  template <typename Start>
  beast::error_code Run(Start start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc->restart();
    ioc->run();
    return result;
  }

  Status Open();
  // The connection presents identity_chain and identity_key.
  Status UseIdentity(SSL* ssl) const;
  void Close() {
    stream.reset();
    ioc.reset();
  }
  Error Failure(const std::string& what, const beast::error_code& ec) const {
    const ErrorCode code = ec == beast::error::timeout ? ErrorCode::kNetTimeout
                           : ec.category() == asio::error::get_ssl_category() ? ErrorCode::kNetTls
                                                                              : ErrorCode::kNet;
    return Error(code, what + " " + host + ":" + std::to_string(port) + ": " + ec.message());
  }

  std::string host;
  uint16_t port = 0;
  HttpClientOptions options;
  // Made with each connection and dropped with it, so that a client
  // without a connection holds no descriptor (a fleet keeps thousands).
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<ssl::context> tls;  // the client's own context, or:
  std::shared_ptr<ClientTlsContext> shared;
  std::vector<Certificate> identity_chain;  // leaf first; with `shared` only
  std::optional<PrivateKey> identity_key;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  int connections = 0;
};

Status HttpClient::Impl::Open() {
  ioc = std::make_unique<asio::io_context>(1);
  stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(
      *ioc, shared ? *shared->impl().ctx : *tls);
  buffer.clear();
  if (shared && !identity_chain.empty()) {
    if (auto st = UseIdentity(stream->native_handle()); !st.ok()) {
      Close();
      return st;
    }
  }
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  const auto address = asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  if (is_ip) {
    endpoints.emplace_back(address, port);
  } else {
    tcp::resolver resolver(*ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) {
      Close();
      return Failure("cannot resolve", ec);
    }
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  SSL* ssl = stream->native_handle();
  if (!options.peer_uri.empty()) {
    // The chain is still verified; the name is checked after the handshake.
  } else if (!options.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, options.server_name.c_str());
    SSL_set1_host(ssl, options.server_name.c_str());
  } else if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set1_host(ssl, host.c_str());
  }
  auto& tcp_layer = beast::get_lowest_layer(*stream);
  tcp_layer.expires_after(options.timeout);
  ec = Run([&](auto handler) { tcp_layer.async_connect(endpoints, handler); });
  if (ec) {
    Close();
    return Failure("cannot connect to", ec);
  }
  tcp_layer.socket().set_option(tcp::no_delay(true), ec);
  tcp_layer.expires_after(options.timeout);
  ec = Run([&](auto handler) { stream->async_handshake(ssl::stream_base::client, handler); });
  if (ec) {
    Close();
    return Failure("TLS handshake failed with", ec);
  }
  if (!options.peer_uri.empty()) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    bool named = false;
    if (peer != nullptr) {
      unsigned char* der = nullptr;
      const int len = i2d_X509(peer, &der);
      if (len > 0) {
        auto cert = Certificate::FromDer(ByteView(der, static_cast<size_t>(len)));
        if (cert.ok() &&
            (options.peer_serial.empty() || cert->SerialHex() == options.peer_serial)) {
          for (const auto& uri : cert->UriNames()) named = named || uri == options.peer_uri;
        }
      }
      OPENSSL_free(der);
    }
    if (!named) {
      Close();
      return Error(ErrorCode::kNetTls,
                   "the certificate of " + host + ":" + std::to_string(port) + " does not name " +
                       options.peer_uri +
                       (options.peer_serial.empty() ? std::string()
                                                    : " with serial " + options.peer_serial));
    }
  }
  ++connections;
  return OkStatus();
}

Status HttpClient::Impl::UseIdentity(SSL* ssl) const {
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> rest(sk_X509_new_null());
  if (!rest) return Error(ErrorCode::kNetTls, "out of memory");
  for (size_t i = 1; i < identity_chain.size(); ++i) {
    if (sk_X509_push(rest.get(), ossl::Native(identity_chain[i])) <= 0) {
      return Error(ErrorCode::kNetTls, "out of memory");
    }
  }
  // Copies what it keeps (references), and checks that the key is the
  // certificate's.
  if (SSL_use_cert_and_key(ssl, ossl::Native(identity_chain.front()), ossl::Native(*identity_key),
                           rest.get(), 1) != 1) {
    return Error(ErrorCode::kNetTls,
                 "the private key does not match the certificate: " + ossl::LastError());
  }
  return OkStatus();
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

int HttpClient::connections() const { return impl_->connections; }
bool HttpClient::connected() const { return impl_->stream != nullptr; }
void HttpClient::Disconnect() { impl_->Close(); }

ClientTlsContext::ClientTlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientTlsContext::~ClientTlsContext() = default;

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::Create(const std::string& server_ca) {
  auto impl = std::make_unique<Impl>();
  HENB_ASSIGN_OR_RETURN(impl->ctx, MakeTlsContext(TlsConfig{"", "", server_ca}, /*server=*/false));
  return std::shared_ptr<ClientTlsContext>(new ClientTlsContext(std::move(impl)));
}

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& host, uint16_t port,
                                                        std::shared_ptr<ClientTlsContext> shared,
                                                        const TlsConfig& identity,
                                                        const HttpClientOptions& options) {
  if (!shared) return Error(ErrorCode::kInvalidArgument, "no shared TLS context");
  auto impl = std::make_unique<Impl>();
  impl->host = host;
  impl->port = port;
  impl->options = options;
  impl->shared = std::move(shared);
  if (!identity.certificate_chain.empty()) {
    auto chain = Certificate::AllFromPem(identity.certificate_chain);
    if (!chain.ok()) return chain.error().WithContext("client certificate");
    auto key = PrivateKey::FromPem(identity.private_key);
    if (!key.ok()) return key.error().WithContext("client key");
    impl->identity_chain = std::move(chain).value();
    impl->identity_key = std::move(key).value();
  }
  HENB_TRY(impl->Open());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& host, uint16_t port,
                                                        const TlsConfig& tls,
                                                        const HttpClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->host = host;
  impl->port = port;
  impl->options = options;
  HENB_ASSIGN_OR_RETURN(impl->tls, MakeTlsContext(tls, /*server=*/false));
  HENB_TRY(impl->Open());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Request(
    const std::string& method, const std::string& target, const std::string& content_type,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  Impl& c = *impl_;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown)
    return Error(ErrorCode::kInvalidArgument, "unknown HTTP method " + method);
  req.set(http::field::host, c.host);
  req.set(http::field::user_agent, "henbtrust");
  if (!body.empty() || req.method() == http::verb::post || req.method() == http::verb::put) {
    req.set(http::field::content_type, content_type);
  }
  for (const auto& [name, value] : headers) req.set(name, value);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    const bool reused = c.stream != nullptr;
    if (!c.stream) HENB_TRY(c.Open());
    auto& tcp_layer = beast::get_lowest_layer(*c.stream);
    tcp_layer.expires_after(c.options.timeout);
    beast::error_code ec = c.Run([&](auto handler) { http::async_write(*c.stream, req, handler); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(c.options.max_response_bytes);
    if (!ec) {
      ec = c.Run([&](auto handler) { http::async_read(*c.stream, c.buffer, parser, handler); });
    }
    if (ec) {
      c.Close();
      // The server may have closed an idle keep-alive connection just before
      // we used it: one fresh connection is worth a try.
      const bool stale = ec == http::error::end_of_stream || ec == asio::error::eof ||
                         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                         ec == asio::ssl::error::stream_truncated;
      if (reused && stale && attempt == 0) continue;
      if (ec == http::error::body_limit) {
        return Error(ErrorCode::kNetTooLarge, "response from " + c.host + " exceeds " +
                                                  std::to_string(c.options.max_response_bytes) +
                                                  " bytes");
      }
      return c.Failure("request failed to", ec);
    }
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    if (auto range = res.find(http::field::content_range); range != res.end()) {
      out.headers.emplace_back("Content-Range", std::string(range->value()));
    }
    if (auto allow = res.find(http::field::allow); allow != res.end()) {
      out.headers.emplace_back("Allow", std::string(allow->value()));
    }
    if (!res.keep_alive()) c.Close();
    return out;
  }
}

}  // namespace henbtrust
