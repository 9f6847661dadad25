#include "henbtrust/crypto/keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cstring>
#include <optional>

#include "crypto/ossl.h"

// Keys: generation, import (PEM, DER, EC points and scalars, RSA numbers),
// export and their parameters. Signatures are in signature.cc, encryption
// and key agreement in encryption.cc.

namespace henbtrust {

namespace {

using ossl::BioPtr;
using ossl::BnPtr;
using ossl::BnToFixed;
using ossl::CryptoError;
using ossl::PkeyCtxPtr;
using ossl::PkeyPtr;

using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>>;
// A private scalar's: wiped when freed.
using SecretBnPtr = std::unique_ptr<BIGNUM, ossl::Deleter<BN_clear_free>>;

const char* CurveName(KeyType t) { return t == KeyType::kEcP384 ? "secp384r1" : "prime256v1"; }

// The SubjectPublicKeyInfo of a named-curve EC key (RFC 5480, section 2) is
// a fixed header followed by the uncompressed point. Writing and reading it
// directly spares OpenSSL 3's encoder and decoder lookups, which cost more
// than an ECDSA verification and serialise threads on a lock.
constexpr uint8_t kSpkiP256Header[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
constexpr uint8_t kSpkiP384Header[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                       0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};

ByteView SpkiHeader(KeyType curve) {
  return curve == KeyType::kEcP384 ? ByteView(kSpkiP384Header, sizeof kSpkiP384Header)
                                   : ByteView(kSpkiP256Header, sizeof kSpkiP256Header);
}

// The PKCS#8 PrivateKeyInfo (RFC 5208) of a named-curve EC key as OpenSSL 3
// writes it: an ECPrivateKey (RFC 5915) of version 1 that holds the scalar
// and the uncompressed point, without parameters (the algorithm names the
// curve). Fixed bytes come before the scalar and between it and the point;
// written and read directly for the reason above.
constexpr uint8_t kPkcs8P256Head[] = {0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06,
                                      0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                      0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                                      0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20};
constexpr uint8_t kPkcs8P384Head[] = {0x30, 0x81, 0xb6, 0x02, 0x01, 0x00, 0x30, 0x10, 0x06,
                                      0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                      0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x04, 0x81, 0x9e,
                                      0x30, 0x81, 0x9b, 0x02, 0x01, 0x01, 0x04, 0x30};
// [1] holding a BIT STRING with no unused bits.
constexpr uint8_t kPkcs8P256Mid[] = {0xa1, 0x44, 0x03, 0x42, 0x00};
constexpr uint8_t kPkcs8P384Mid[] = {0xa1, 0x64, 0x03, 0x62, 0x00};

struct Pkcs8Frame {
  ByteView head;  // up to the scalar
  ByteView mid;   // between the scalar and the point
  size_t size;    // of the whole
};

Pkcs8Frame Pkcs8FrameOf(KeyType curve) {
  const size_t n = EcCoordinateSize(curve);
  if (curve == KeyType::kEcP384) {
    return {ByteView(kPkcs8P384Head, sizeof kPkcs8P384Head),
            ByteView(kPkcs8P384Mid, sizeof kPkcs8P384Mid),
            sizeof kPkcs8P384Head + n + sizeof kPkcs8P384Mid + 1 + 2 * n};
  }
  return {ByteView(kPkcs8P256Head, sizeof kPkcs8P256Head),
          ByteView(kPkcs8P256Mid, sizeof kPkcs8P256Mid),
          sizeof kPkcs8P256Head + n + sizeof kPkcs8P256Mid + 1 + 2 * n};
}

// Whether OpenSSL would write `pkey` (an EC key) in the frame above: with
// its point uncompressed, its curve by name and its public half included.
// A key read in another form keeps that form, through OpenSSL's encoder.
bool WrittenInPkcs8Frame(EVP_PKEY* pkey) {
  char format[32] = {0};
  char encoding[32] = {0};
  int include_public = 0;
  return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, format,
                                        sizeof format, nullptr) == 1 &&
         std::strcmp(format, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) == 0 &&
         EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding,
                                        sizeof encoding, nullptr) == 1 &&
         std::strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) == 0 &&
         EVP_PKEY_get_int_param(pkey, OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, &include_public) == 1 &&
         include_public == 1;
}

// `der` as a PEM block of `label`, in lines of 64 characters, as OpenSSL
// writes one.
std::string PemBlock(std::string_view label, ByteView der) {
  std::string base64 = Base64Encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < base64.size(); i += 64) {
    out.append(base64, i, 64);
    out += '\n';
  }
  out += "-----END " + std::string(label) + "-----\n";
  OPENSSL_cleanse(base64.data(), base64.size());  // a private key's, maybe
  return out;
}

// The domain parameters of `curve` alone (no key), as an EVP_PKEY.
EVP_PKEY* MakeCurveParameters(KeyType curve) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                              CurveName(curve), 0) != 1) {
    return nullptr;
  }
  const ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEY_PARAMETERS, params.get()) != 1) {
    return nullptr;
  }
  return raw;
}

// The parameters of `curve`, made once (never freed), which new keys copy;
// null if they could not be made.
EVP_PKEY* CurveTemplate(KeyType curve) {
  static EVP_PKEY* const p256 = MakeCurveParameters(KeyType::kEcP256);
  static EVP_PKEY* const p384 = MakeCurveParameters(KeyType::kEcP384);
  return curve == KeyType::kEcP384 ? p384 : p256;
}

// The uncompressed point of an EC key. The key gives its point in the form
// it was read in; one read as compressed is rebuilt from its coordinates.
Result<Bytes> EcPointOctets(EVP_PKEY* pkey, KeyType curve) {
  const size_t n = EcCoordinateSize(curve);
  Bytes point(1 + 2 * n);
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                      &len) == 1 &&
      len == point.size() && point[0] == 0x04) {
    return point;
  }
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read the EC point");
  }
  const BnPtr xp(x);
  const BnPtr yp(y);
  const Bytes xb = BnToFixed(x, n);
  const Bytes yb = BnToFixed(y, n);
  point[0] = 0x04;
  std::copy(xb.begin(), xb.end(), point.begin() + 1);
  std::copy(yb.begin(), yb.end(), point.begin() + 1 + static_cast<std::ptrdiff_t>(n));
  return point;
}

// A key with only the public half of `pkey`, through the key's own
// parameters rather than an encoding.
Result<PkeyPtr> PublicHalf(EVP_PKEY* pkey) {
  OSSL_PARAM* raw_params = nullptr;
  if (EVP_PKEY_todata(pkey, EVP_PKEY_PUBLIC_KEY, &raw_params) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read the public half of a key");
  }
  const ParamPtr params(raw_params);
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot make the public half of a key");
  }
  return PkeyPtr(raw);
}

Result<KeyType> ClassifyKey(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < 2048) {
      return Error(ErrorCode::kCryptoBadKey, "RSA keys shorter than 2048 bits are not accepted");
    }
    return KeyType::kRsa;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char name[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
        1) {
      return Error(ErrorCode::kCryptoBadKey, "EC key without a named curve");
    }
    if (std::strcmp(name, "prime256v1") == 0) return KeyType::kEcP256;
    if (std::strcmp(name, "secp384r1") == 0) return KeyType::kEcP384;
    return Error(ErrorCode::kCryptoUnsupported, std::string("unsupported curve ") + name);
  }
  return Error(ErrorCode::kCryptoUnsupported, "unsupported key algorithm");
}

BioPtr MemBio(std::string_view s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "ecc-p256";
    case KeyType::kEcP384:
      return "ecc-p384";
    case KeyType::kRsa:
      return "rsa";
  }
  return "unknown";
}

size_t EcCoordinateSize(KeyType curve) { return curve == KeyType::kEcP384 ? 48 : 32; }

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromDer(ByteView spki) {
  for (const KeyType curve : {KeyType::kEcP256, KeyType::kEcP384}) {
    const ByteView header = SpkiHeader(curve);
    const size_t n = EcCoordinateSize(curve);
    if (spki.size() == header.size() + 1 + 2 * n && spki[header.size()] == 0x04 &&
        std::equal(header.begin(), header.end(), spki.begin())) {
      const ByteView point = spki.subspan(header.size() + 1);
      return FromEcPoint(curve, point.first(n), point.subspan(n));
    }
  }
  const unsigned char* p = spki.data();
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a DER SubjectPublicKeyInfo");
  if (p != spki.data() + spki.size()) {
    return Error(ErrorCode::kCryptoBadKey, "trailing bytes after SubjectPublicKeyInfo");
  }
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

namespace {

// The DER of the first `label` PEM block of `pem`, if the text is plainly
// one (the block's lines on their own, base64 between them, no headers, no
// blank line); nullopt for anything else, which OpenSSL's PEM reader then
// takes as it is.
std::optional<Bytes> PlainPemBlock(std::string_view pem, std::string_view label) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----";
  const std::string end = "-----END " + std::string(label) + "-----";
  std::string base64;
  bool in_block = false;
  bool done = false;
  size_t pos = 0;
  while (pos < pem.size() && !done) {
    size_t eol = pem.find('\n', pos);
    if (eol == std::string_view::npos) eol = pem.size();
    std::string_view line = pem.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!in_block) {
      // Text before the block is skipped, as OpenSSL skips it; a line
      // that only holds the marker somewhere is OpenSSL's to judge.
      if (line == begin) {
        in_block = true;
      } else if (line.find("-----") != std::string_view::npos) {
        return std::nullopt;
      }
    } else if (line == end) {
      done = true;
    } else if (line.empty() || line.find_first_of(":- \t") != std::string_view::npos) {
      return std::nullopt;
    } else {
      base64 += line;
    }
  }
  auto der = done ? Base64Decode(base64) : Result<Bytes>(Error(ErrorCode::kMalformed, ""));
  OPENSSL_cleanse(base64.data(), base64.size());  // a private key's, maybe
  if (!der.ok()) return std::nullopt;
  return std::move(der).value();
}

// The DER of a "PUBLIC KEY" PEM block, if PlainPemBlock reads it and the
// key is of a curve FromDer reads without OpenSSL's decoders (the common
// case: a P-256 key parsed by each device of a fleet).
std::optional<Bytes> EcSpkiOfPem(std::string_view pem) {
  auto der = PlainPemBlock(pem, "PUBLIC KEY");
  if (!der) return std::nullopt;
  for (const KeyType curve : {KeyType::kEcP256, KeyType::kEcP384}) {
    const ByteView header = SpkiHeader(curve);
    if (der->size() == header.size() + 1 + 2 * EcCoordinateSize(curve) &&
        std::equal(header.begin(), header.end(), der->begin())) {
      return der;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  if (auto der = EcSpkiOfPem(pem)) return FromDer(*der);
  BioPtr bio = MemBio(pem);
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a PEM public key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PublicKey> PublicKey::FromEcPoint(KeyType curve, ByteView x, ByteView y) {
  if (curve == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC curve");
  const size_t n = EcCoordinateSize(curve);
  if (x.size() > n || y.size() > n) {
    return Error(ErrorCode::kCryptoBadKey,
                 "EC point coordinates must be at most " + std::to_string(n) + " bytes");
  }
  // A TPM2B_ECC_PARAMETER may leave out leading zero bytes (tpm2-tools
  // writes coordinates that way); the uncompressed point needs them back.
  Bytes point(1 + 2 * n, 0);
  point[0] = 0x04;
  std::copy(x.begin(), x.end(), point.begin() + 1 + static_cast<std::ptrdiff_t>(n - x.size()));
  std::copy(y.begin(), y.end(), point.end() - static_cast<std::ptrdiff_t>(y.size()));
  // The curve's parameters are copied from a key made once: building the
  // group from its name again costs more than the verification the key is
  // made for. Setting the point checks that it is on the curve.
  EVP_PKEY* domain = CurveTemplate(curve);
  PkeyPtr pkey(EVP_PKEY_new());
  if (domain == nullptr || !pkey || EVP_PKEY_copy_parameters(pkey.get(), domain) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot set up an EC key");
  }
  if (EVP_PKEY_set1_encoded_public_key(pkey.get(), point.data(), point.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "EC point is not on the curve");
  }
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), curve));
}

Result<PublicKey> PublicKey::FromRsa(ByteView modulus, uint32_t exponent) {
  if (modulus.size() < 256 || modulus.size() > 1024) {
    return Error(ErrorCode::kCryptoBadKey,
                 "RSA modulus of " + std::to_string(modulus.size()) + " bytes");
  }
  BnPtr n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  BnPtr e(BN_new());
  if (!n || !e || BN_set_word(e.get(), exponent == 0 ? 65537 : exponent) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build RSA numbers");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build RSA parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "invalid RSA public key");
  }
  PkeyPtr pkey(raw);
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

KeyType PublicKey::type() const { return impl_->type; }
int PublicKey::bits() const { return EVP_PKEY_get_bits(impl_->pkey.get()); }

std::string PublicKey::ToPem() const {
  if (impl_->type != KeyType::kRsa) {
    const Bytes der = ToDer();
    if (!der.empty()) return PemBlock("PUBLIC KEY", der);
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), impl_->pkey.get());
  return BioToString(bio.get());
}

Bytes PublicKey::ToDer() const {
  // An EC key that holds its point uncompressed (every key this project
  // makes or reads from a TPM); a key read in another form keeps it, by
  // OpenSSL's encoder.
  if (impl_->type != KeyType::kRsa) {
    const size_t n = EcCoordinateSize(impl_->type);
    const ByteView header = SpkiHeader(impl_->type);
    Bytes out(header.size() + 1 + 2 * n);
    std::copy(header.begin(), header.end(), out.begin());
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(impl_->pkey.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                        out.data() + header.size(), 1 + 2 * n, &len) == 1 &&
        len == 1 + 2 * n && out[header.size()] == 0x04) {
      return out;
    }
  }
  unsigned char* buf = nullptr;
  const int len = i2d_PUBKEY(impl_->pkey.get(), &buf);
  if (len <= 0) return {};
  Bytes out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

Result<std::pair<Bytes, Bytes>> PublicKey::EcPoint() const {
  if (impl_->type == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC key");
  HENB_ASSIGN_OR_RETURN(Bytes point, EcPointOctets(impl_->pkey.get(), impl_->type));
  const auto n = static_cast<std::ptrdiff_t>(EcCoordinateSize(impl_->type));
  return std::make_pair(Bytes(point.begin() + 1, point.begin() + 1 + n),
                        Bytes(point.begin() + 1 + n, point.end()));
}

Result<Bytes> PublicKey::RsaModulus() const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  BIGNUM* n = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read RSA modulus");
  }
  BnPtr np(n);
  return BnToFixed(n, static_cast<size_t>(BN_num_bytes(n)));
}

Result<uint32_t> PublicKey::RsaExponent() const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read RSA exponent");
  }
  BnPtr ep(e);
  if (BN_num_bits(e) > 32)
    return Error(ErrorCode::kCryptoUnsupported, "RSA exponent wider than 32 bits");
  return static_cast<uint32_t>(BN_get_word(e));
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* raw = type == KeyType::kRsa
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", CurveName(type));
  if (raw == nullptr) return CryptoError(ErrorCode::kCryptoFailure, "key generation failed");
  return PrivateKey(std::make_shared<const Impl>(PkeyPtr(raw), type));
}

namespace {

// The key of an EC PKCS#8 in the layout OpenSSL writes (kPkcs8P256Head);
// nullopt for any other DER, which OpenSSL's decoders then take.
std::optional<Result<PrivateKey>> FromEcPkcs8(ByteView der) {
  for (const KeyType curve : {KeyType::kEcP256, KeyType::kEcP384}) {
    const Pkcs8Frame frame = Pkcs8FrameOf(curve);
    const size_t n = EcCoordinateSize(curve);
    if (der.size() != frame.size || !std::equal(frame.head.begin(), frame.head.end(), der.begin()))
      continue;
    const ByteView scalar = der.subspan(frame.head.size(), n);
    const ByteView mid = der.subspan(frame.head.size() + n, frame.mid.size());
    const ByteView point = der.subspan(frame.head.size() + n + frame.mid.size());
    if (!std::equal(frame.mid.begin(), frame.mid.end(), mid.begin()) || point[0] != 0x04) continue;
    return PrivateKey::FromEcScalar(curve, scalar, point);
  }
  return std::nullopt;
}

}  // namespace

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  if (auto der = PlainPemBlock(pem, "PRIVATE KEY")) {
    auto key = FromEcPkcs8(*der);
    OPENSSL_cleanse(der->data(), der->size());
    if (key) return std::move(*key);
  }
  BioPtr bio = MemBio(pem);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a PEM private key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PrivateKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PrivateKey> PrivateKey::FromDer(ByteView der) {
  if (auto key = FromEcPkcs8(der)) return std::move(*key);
  const unsigned char* p = der.data();
  PkeyPtr pkey(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a DER private key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PrivateKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PrivateKey> PrivateKey::FromEcScalar(KeyType curve, ByteView scalar, ByteView public_point) {
  if (curve == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC curve");
  const size_t n = EcCoordinateSize(curve);
  if (scalar.size() != n) return Error(ErrorCode::kCryptoBadKey, "EC scalar has the wrong size");
  SecretBnPtr d(BN_bin2bn(scalar.data(), static_cast<int>(n), nullptr));
  Bytes point(public_point.begin(), public_point.end());
  if (point.empty()) {
    using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
    using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;
    GroupPtr group(EC_GROUP_new_by_curve_name(curve == KeyType::kEcP384 ? NID_secp384r1
                                                                        : NID_X9_62_prime256v1));
    PointPtr pub(group ? EC_POINT_new(group.get()) : nullptr);
    if (!pub || EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, nullptr) != 1) {
      return CryptoError(ErrorCode::kCryptoBadKey, "invalid EC scalar");
    }
    point.resize(1 + 2 * n);
    if (EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(),
                           point.size(), nullptr) != point.size()) {
      return CryptoError(ErrorCode::kCryptoFailure, "cannot encode EC point");
    }
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, CurveName(curve), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build EC parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "invalid EC key pair");
  }
  return PrivateKey(std::make_shared<const Impl>(PkeyPtr(raw), curve));
}

KeyType PrivateKey::type() const { return impl_->type; }

PublicKey PrivateKey::Public() const {
  std::call_once(impl_->public_once, [this] {
    // A key of its own, so that the handle holds no private material.
    auto pub = PublicHalf(impl_->pkey.get());
    impl_->public_half = std::make_shared<const PublicKey::Impl>(
        pub.ok() ? std::move(*pub) : PkeyPtr(), impl_->type);
  });
  return PublicKey(impl_->public_half);
}

std::string PrivateKey::ToPem() const {
  if (impl_->type != KeyType::kRsa) {
    Bytes der = ToDer();
    if (!der.empty()) {
      std::string pem = PemBlock("PRIVATE KEY", der);
      OPENSSL_cleanse(der.data(), der.size());
      return pem;
    }
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioToString(bio.get());
}

Bytes PrivateKey::ToDer() const {
  if (impl_->type != KeyType::kRsa && WrittenInPkcs8Frame(impl_->pkey.get())) {
    auto scalar = EcScalar();
    auto point = EcPointOctets(impl_->pkey.get(), impl_->type);
    if (scalar.ok() && point.ok()) {
      const Pkcs8Frame frame = Pkcs8FrameOf(impl_->type);
      Bytes out;
      out.reserve(frame.size);
      out.insert(out.end(), frame.head.begin(), frame.head.end());
      out.insert(out.end(), scalar->begin(), scalar->end());
      out.insert(out.end(), frame.mid.begin(), frame.mid.end());
      out.insert(out.end(), point->begin(), point->end());
      OPENSSL_cleanse(scalar->data(), scalar->size());
      return out;
    }
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  i2d_PKCS8PrivateKey_bio(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  const std::string s = BioToString(bio.get());
  return Bytes(s.begin(), s.end());
}

Result<Bytes> PrivateKey::EcScalar() const {
  if (impl_->type == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC key");
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read EC scalar");
  }
  SecretBnPtr dp(d);
  Bytes out = BnToFixed(d, EcCoordinateSize(impl_->type));
  return out;
}

}  // namespace henbtrust
