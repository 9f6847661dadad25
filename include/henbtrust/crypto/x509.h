// X.509 certificates: parsing, a small issuing PKI, chain verification.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/keys.h"

namespace henbtrust {

class Certificate {
 public:
  static Result<Certificate> FromPem(std::string_view pem);
  static Result<Certificate> FromDer(ByteView der);
  // All certificates of a PEM bundle, in order; kMalformed if there are none.
  static Result<std::vector<Certificate>> AllFromPem(std::string_view pem);

  std::string ToPem() const;
  Bytes ToDer() const;
  // One-line RFC 2253 form, e.g. "CN=henb-0001,O=Operator".
  std::string Subject() const;
  std::string Issuer() const;
  // The first value of a subject attribute given by its short name ("CN",
  // "O", "OU"), or empty if the subject has none.
  std::string SubjectField(std::string_view short_name) const;
  std::string SerialHex() const;
  // kCryptoUnsupported for key types henbtrust does not handle.
  Result<PublicKey> SubjectKey() const;
  bool IsCa() const;
  // The key usage bits (kKeyUsage* below), or nullopt when the certificate
  // has no key usage extension.
  std::optional<uint32_t> KeyUsage() const;
  // The URI names of the subject alternative name extension, in order.
  std::vector<std::string> UriNames() const;
  std::chrono::system_clock::time_point NotBefore() const;
  std::chrono::system_clock::time_point NotAfter() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Certificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Key usage bits as X.509 numbers them (RFC 5280 4.2.1.3), as returned by
// Certificate::KeyUsage().
inline constexpr uint32_t kKeyUsageDigitalSignature = 0x80;
inline constexpr uint32_t kKeyUsageKeyEncipherment = 0x20;
inline constexpr uint32_t kKeyUsageKeyAgreement = 0x08;
inline constexpr uint32_t kKeyUsageKeyCertSign = 0x04;

struct CertificateSpec {
  std::string common_name;
  std::string organization;
  bool is_ca = false;
  // For leaf certificates: which extended key usages to assert.
  bool server_auth = false;
  bool client_auth = false;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;  // URI names, e.g. "urn:henbtrust:device:henb-0001"
  // For leaf certificates: the key usage extension in OpenSSL's text form
  // ("critical,keyAgreement"); empty: digitalSignature (and keyEncipherment
  // for RSA).
  std::string key_usage;
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
  // Starts this long before it is issued, to tolerate clock skew.
  std::chrono::seconds backdate = std::chrono::minutes(5);
  // When it is issued: valid from issued_at - backdate to issued_at +
  // validity. Unset: this machine's clock now (a service with an injected
  // clock passes its own).
  std::optional<std::chrono::system_clock::time_point> issued_at = {};
};

// Issues a certificate for `subject_key`, signed by `issuer_key`. With
// `issuer` null the certificate is self-signed (and `issuer_key` must be the
// subject's own key). Serial numbers are 128 random bits.
Result<Certificate> IssueCertificate(const CertificateSpec& spec, const PublicKey& subject_key,
                                     const PrivateKey& issuer_key, const Certificate* issuer);

struct ChainOptions {
  // Verify at this time instead of now.
  std::optional<std::chrono::system_clock::time_point> at;
  // Accept unknown critical extensions (TPM EK certificates carry some).
  bool allow_unknown_critical = false;
};

// Verifies that `leaf` chains through `intermediates` to one of `roots`.
// kCryptoCertificate with OpenSSL's reason when it does not.
Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const std::vector<Certificate>& roots, const ChainOptions& options = {});

}  // namespace henbtrust
