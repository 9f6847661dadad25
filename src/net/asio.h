// Private to net/: the one place that includes Asio and Beast. Boost 1.74's
// awaitable.hpp uses std::exchange without including <utility>.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "henbtrust/net/http.h"

namespace henbtrust::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

// A TLS 1.3-only context with `tls`'s certificate and key (if any) and its
// peer CA as the trust store. Servers request (but do not require) a client
// certificate, and fail the handshake of one whose serial `refused` holds
// (not owned; outlives the context; may be null); clients require a server
// certificate.
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const TlsConfig& tls, bool server,
                                                     RefusedCertificates* refused = nullptr);

}  // namespace henbtrust::net

namespace henbtrust {
struct ClientTlsContext::Impl {
  std::unique_ptr<net::ssl::context> ctx;  // a client's, with the server's CA and no identity
};
}  // namespace henbtrust

namespace henbtrust::net {

// The identity in the peer's certificate and whether it verified.
PeerIdentity PeerOf(SSL* ssl);

}  // namespace henbtrust::net
