#include "henbtrust/crypto/x509.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "henbtrust/crypto/random.h"

namespace henbtrust {

namespace {

using ossl::BioPtr;
using ossl::CryptoError;
using ossl::X509Ptr;
using StorePtr = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ossl::Deleter<X509_EXTENSION_free>>;

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::chrono::system_clock::time_point AsnTime(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot add extension " + value);
  }
  return OkStatus();
}

// The subject key of a certificate being made. An EC key goes in as its
// algorithm and point (X509_set_pubkey would round-trip it through OpenSSL
// 3's encoder and decoder, the larger part of issuing a certificate).
Status SetSubjectKey(X509* cert, const PublicKey& key) {
  if (key.type() == KeyType::kRsa) {
    if (X509_set_pubkey(cert, ossl::Native(key)) != 1) {
      return CryptoError(ErrorCode::kCryptoFailure, "cannot set the subject key");
    }
    return OkStatus();
  }
  HENB_ASSIGN_OR_RETURN(auto xy, key.EcPoint());
  const size_t len = 1 + xy.first.size() + xy.second.size();
  auto* point = static_cast<unsigned char*>(OPENSSL_malloc(len));
  if (point == nullptr) return CryptoError(ErrorCode::kCryptoFailure, "out of memory");
  point[0] = 0x04;
  std::copy(xy.first.begin(), xy.first.end(), point + 1);
  std::copy(xy.second.begin(), xy.second.end(), point + 1 + xy.first.size());
  const int curve = key.type() == KeyType::kEcP384 ? NID_secp384r1 : NID_X9_62_prime256v1;
  // On success the X509_PUBKEY owns `point`. It holds no EVP_PKEY then:
  // X509_get0_pubkey on `cert` is null until the certificate is read back
  // from its DER, as IssueCertificate does before it returns it.
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                             V_ASN1_OBJECT, OBJ_nid2obj(curve), point,
                             static_cast<int>(len)) != 1) {
    OPENSSL_free(point);
    return CryptoError(ErrorCode::kCryptoFailure, "cannot set the subject key");
  }
  return OkStatus();
}

// OpenSSL computes a certificate's extension cache (key identifiers,
// purposes) on its first use and publishes it to later readers without a
// lock on its fast path: two threads verifying chains with one shared
// certificate (a trust anchor) race on it. Computed here, before the
// certificate can be shared, it is only ever read.
X509Ptr Cached(X509Ptr x) {
  // A certificate with extensions OpenSSL cannot read is marked invalid in
  // the cache (chain checks refuse it later, as before) and raises an error
  // that is not this call's to report: dropped.
  ERR_set_mark();
  (void)X509_check_purpose(x.get(), -1, 0);
  ERR_pop_to_mark();
  return x;
}

}  // namespace

Result<Certificate> Certificate::FromDer(ByteView der) {
  const unsigned char* p = der.data();
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) return CryptoError(ErrorCode::kCryptoCertificate, "not a DER certificate");
  if (p != der.data() + der.size())
    return Error(ErrorCode::kCryptoCertificate, "trailing bytes after certificate");
  return Certificate(std::make_shared<const Impl>(Impl{Cached(std::move(x))}));
}

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) return CryptoError(ErrorCode::kCryptoCertificate, "not a PEM certificate");
  return Certificate(std::make_shared<const Impl>(Impl{Cached(std::move(x))}));
}

Result<std::vector<Certificate>> Certificate::AllFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<Certificate> out;
  for (;;) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    out.push_back(Certificate(std::make_shared<const Impl>(Impl{Cached(std::move(x))})));
  }
  ossl::LastError();  // the loop ends on a "no start line" error
  if (out.empty()) return Error(ErrorCode::kCryptoCertificate, "no PEM certificate found");
  return out;
}

std::string Certificate::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), impl_->x509.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Bytes Certificate::ToDer() const {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(impl_->x509.get(), &buf);
  if (len <= 0) return {};
  Bytes out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

std::string Certificate::Subject() const {
  return NameToString(X509_get_subject_name(impl_->x509.get()));
}
std::string Certificate::Issuer() const {
  return NameToString(X509_get_issuer_name(impl_->x509.get()));
}

std::string Certificate::SubjectField(std::string_view short_name) const {
  const int nid = OBJ_sn2nid(std::string(short_name).c_str());
  if (nid == NID_undef) return {};
  const X509_NAME* name = X509_get_subject_name(impl_->x509.get());
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, value);
  if (n < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string Certificate::SerialHex() const {
  ossl::BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(impl_->x509.get()), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

Result<PublicKey> Certificate::SubjectKey() const {
  // The key as the certificate's own bytes hold it (PublicKey::FromDer
  // reads a named-curve EC key without OpenSSL's decoders).
  const X509_PUBKEY* pk = X509_get_X509_PUBKEY(impl_->x509.get());
  unsigned char* buf = nullptr;
  const int len = i2d_X509_PUBKEY(pk, &buf);
  if (len <= 0)
    return ossl::CryptoError(ErrorCode::kCryptoCertificate, "cannot encode subject key");
  auto key = PublicKey::FromDer(ByteView(buf, static_cast<size_t>(len)));
  OPENSSL_free(buf);
  return key;
}

bool Certificate::IsCa() const { return X509_check_ca(impl_->x509.get()) != 0; }

std::optional<uint32_t> Certificate::KeyUsage() const {
  X509* x = impl_->x509.get();
  if (X509_get_extension_flags(x) & EXFLAG_INVALID) return 0;
  if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) == 0) return std::nullopt;
  return X509_get_key_usage(x);
}

std::vector<std::string> Certificate::UriNames() const {
  std::vector<std::string> out;
  struct NamesFree {
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
  };
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(impl_->x509.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  return out;
}
std::chrono::system_clock::time_point Certificate::NotBefore() const {
  return AsnTime(X509_get0_notBefore(impl_->x509.get()));
}
std::chrono::system_clock::time_point Certificate::NotAfter() const {
  return AsnTime(X509_get0_notAfter(impl_->x509.get()));
}

Result<Certificate> IssueCertificate(const CertificateSpec& spec, const PublicKey& subject_key,
                                     const PrivateKey& issuer_key, const Certificate* issuer) {
  if (spec.common_name.empty())
    return Error(ErrorCode::kInvalidArgument, "certificate needs a common name");
  X509Ptr cert(X509_new());
  if (!cert) return CryptoError(ErrorCode::kCryptoFailure, "X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);

  HENB_ASSIGN_OR_RETURN(Bytes serial, RandomBytes(16));
  serial[0] &= 0x7f;  // positive
  serial[0] |= 0x01;  // and exactly 16 bytes long
  ossl::BnPtr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));

  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!spec.organization.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.organization.c_str()),
                               -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* issuer_x = issuer ? ossl::Native(*issuer) : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_x));

  time_t issued = spec.issued_at
                      ? std::chrono::system_clock::to_time_t(*spec.issued_at)
                      : std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (X509_time_adj(X509_getm_notBefore(cert.get()), -static_cast<long>(spec.backdate.count()),
                    &issued) == nullptr ||
      X509_time_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.validity.count()),
                    &issued) == nullptr) {
    return CryptoError(ErrorCode::kCryptoFailure, "certificate validity out of range");
  }
  HENB_TRY(SetSubjectKey(cert.get(), subject_key));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_x, cert.get(), nullptr, nullptr, 0);
  if (spec.is_ca) {
    HENB_TRY(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    HENB_TRY(AddExt(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    HENB_TRY(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    const std::string usage = !spec.key_usage.empty() ? spec.key_usage
                              : subject_key.type() == KeyType::kRsa
                                  ? "critical,digitalSignature,keyEncipherment"
                                  : "critical,digitalSignature";
    HENB_TRY(AddExt(cert.get(), &ctx, NID_key_usage, usage));
    std::string eku;
    if (spec.server_auth) eku = "serverAuth";
    if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
    if (!eku.empty()) HENB_TRY(AddExt(cert.get(), &ctx, NID_ext_key_usage, eku));
  }
  HENB_TRY(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  if (issuer) HENB_TRY(AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  std::string san;
  for (const auto& d : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : spec.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  for (const auto& uri : spec.uris) {
    if (uri.find(',') != std::string::npos)
      return Error(ErrorCode::kInvalidArgument, "a URI name may not hold a comma");
    san += (san.empty() ? "URI:" : ",URI:") + uri;
  }
  if (!san.empty()) HENB_TRY(AddExt(cert.get(), &ctx, NID_subject_alt_name, san));

  if (X509_sign(cert.get(), ossl::Native(issuer_key), EVP_sha256()) <= 0) {
    return CryptoError(ErrorCode::kCryptoFailure, "certificate signing failed");
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return CryptoError(ErrorCode::kCryptoFailure, "cannot encode certificate");
  auto out = Certificate::FromDer(ByteView(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return out;
}

Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const std::vector<Certificate>& roots, const ChainOptions& options) {
  StorePtr store(X509_STORE_new());
  for (const auto& r : roots) X509_STORE_add_cert(store.get(), ossl::Native(r));
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
  };
  using StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;
  StackPtr untrusted(sk_X509_new_null());
  for (const auto& c : intermediates) sk_X509_push(untrusted.get(), ossl::Native(c));
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx ||
      X509_STORE_CTX_init(ctx.get(), store.get(), ossl::Native(leaf), untrusted.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot set up chain verification");
  }
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (options.allow_unknown_critical) flags = X509_V_FLAG_IGNORE_CRITICAL;
  if (options.at) {
    X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(*options.at));
  }
  X509_STORE_CTX_set_flags(ctx.get(), flags);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ossl::LastError();
    return Error(ErrorCode::kCryptoCertificate,
                 "certificate " + leaf.Subject() +
                     " does not chain to a trusted root: " + X509_verify_cert_error_string(err));
  }
  return OkStatus();
}

}  // namespace henbtrust
