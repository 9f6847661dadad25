#include <charconv>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "crypto/ossl.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/refused_certificates.h"
#include "net/asio.h"

namespace henbtrust::net {

namespace {

Error TlsError(const std::string& what, const boost::system::error_code& ec) {
  return Error(ErrorCode::kNetTls, what + ": " + ec.message());
}

// Accepts any chain during the handshake; PeerOf() reports the real result so
// that the application can answer 401 instead of a bare TLS alert.
int AcceptForLaterCheck(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

// As Certificate::SerialHex.
std::string SerialHexOf(X509* x) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (hex == nullptr) return "";
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// The server's verification of a client's chain: a certificate whose serial
// is refused fails the handshake (alert certificate_revoked); any other is
// verified as OpenSSL would without this callback (AcceptForLaterCheck
// letting it through), and PeerOf() reports the verdict.
int VerifyUnlessRefused(X509_STORE_CTX* ctx, void* arg) {
  const auto* refused = static_cast<const RefusedCertificates*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(ctx);
  if (leaf != nullptr && refused->size() != 0 && refused->Contains(SerialHexOf(leaf))) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REVOKED);
    return 0;
  }
  return X509_verify_cert(ctx);
}

}  // namespace

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const TlsConfig& tls, bool server,
                                                     RefusedCertificates* refused) {
  auto ctx =
      std::make_unique<ssl::context>(server ? ssl::context::tls_server : ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  boost::system::error_code ec;
  if (!tls.certificate_chain.empty()) {
    ctx->use_certificate_chain(asio::buffer(tls.certificate_chain), ec);
    if (ec) return TlsError("certificate chain", ec);
    ctx->use_private_key(asio::buffer(tls.private_key), ssl::context::pem, ec);
    if (ec) return TlsError("private key", ec);
    if (SSL_CTX_check_private_key(native) != 1) {
      return Error(ErrorCode::kNetTls, "the private key does not match the certificate");
    }
  } else if (server) {
    return Error(ErrorCode::kNetTls, "a server needs a certificate");
  }
  if (!tls.peer_ca.empty()) {
    auto cas = Certificate::AllFromPem(tls.peer_ca);
    if (!cas.ok()) return cas.error().WithContext("peer CA");
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const auto& ca : *cas) {
      // The store takes its own reference to the certificate, whose
      // extension cache was filled when it was made: the server's threads
      // only read it (crypto/x509.cc).
      if (X509_STORE_add_cert(store, ossl::Native(ca)) != 1) {
        return Error(ErrorCode::kNetTls, "cannot add peer CA " + ca.Subject());
      }
    }
  } else if (!server) {
    return Error(ErrorCode::kNetTls, "a client needs the server's CA");
  }
  if (server) {
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, AcceptForLaterCheck);
    if (refused != nullptr) {
      // The callback reads the set, which outlives the context.
      SSL_CTX_set_cert_verify_callback(native, VerifyUnlessRefused, refused);
    }
    // Session tickets would let a resumed session skip the client certificate.
    SSL_CTX_set_num_tickets(native, 0);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

PeerIdentity PeerOf(SSL* ssl) {
  PeerIdentity peer;
  X509* x = SSL_get1_peer_certificate(ssl);
  if (x == nullptr) return peer;
  peer.presented = true;
  const int len = i2d_X509(x, nullptr);
  if (len > 0) {
    peer.certificate_der.resize(static_cast<size_t>(len));
    unsigned char* p = peer.certificate_der.data();
    i2d_X509(x, &p);
  }
  X509_free(x);
  const long verify = SSL_get_verify_result(ssl);
  peer.verified = verify == X509_V_OK;
  if (!peer.verified) peer.verify_error = X509_verify_cert_error_string(verify);
  if (auto cert = Certificate::FromDer(peer.certificate_der); cert.ok()) {
    peer.common_name = cert->SubjectField("CN");
    peer.organization = cert->SubjectField("O");
    peer.serial = cert->SerialHex();
  } else {
    peer.verified = false;
    peer.verify_error = "unparsable certificate";
  }
  return peer;
}

}  // namespace henbtrust::net

namespace henbtrust {

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error(ErrorCode::kInvalidArgument, "expected [address]:port, got '" + text + "'");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Error(ErrorCode::kInvalidArgument, "expected host:port, got '" + text + "'");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return Error(ErrorCode::kInvalidArgument, "bad port in '" + text + "'");
  }
  unsigned long value = 0;  // five digits at most: no overflow
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value > 65535) {
    return Error(ErrorCode::kInvalidArgument, "port out of range in '" + text + "'");
  }
  return std::pair<std::string, uint16_t>(host, static_cast<uint16_t>(value));
}

}  // namespace henbtrust
