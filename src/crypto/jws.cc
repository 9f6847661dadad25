#include "henbtrust/crypto/jws.h"

namespace henbtrust {

namespace {
constexpr std::string_view kHeader = R"({"alg":"ES256","typ":"JWT"})";
}  // namespace

Result<std::string> SignJwsEs256(std::string_view payload, const PrivateKey& signer) {
  if (signer.type() != KeyType::kEcP256)
    return Error(ErrorCode::kInvalidArgument, "ES256 needs a P-256 key");
  const std::string signing_input =
      Base64UrlEncode(AsBytes(kHeader)) + "." + Base64UrlEncode(AsBytes(payload));
  HENB_ASSIGN_OR_RETURN(
      Bytes der, signer.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, AsBytes(signing_input)));
  HENB_ASSIGN_OR_RETURN(auto rs, EcdsaDerToRs(der, 32));
  Bytes raw = rs.first;  // JWS ES256: r || s
  Append(raw, rs.second);
  return signing_input + "." + Base64UrlEncode(raw);
}

namespace {

// The token's three parts, its header checked.
struct JwsParts {
  std::string_view signing_input;  // header.payload
  std::string_view payload;
  std::string_view signature;
};

Result<JwsParts> SplitJws(std::string_view token) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Error(ErrorCode::kMalformed, "not a compact JWS");
  }
  HENB_ASSIGN_OR_RETURN(Bytes header, Base64UrlDecode(token.substr(0, dot1)));
  if (ToString(header) != kHeader) return Error(ErrorCode::kMalformed, "unexpected JWS header");
  return JwsParts{token.substr(0, dot2), token.substr(dot1 + 1, dot2 - dot1 - 1),
                  token.substr(dot2 + 1)};
}

}  // namespace

Result<std::string> VerifyJwsEs256(std::string_view token, const PublicKey& signer) {
  HENB_ASSIGN_OR_RETURN(JwsParts parts, SplitJws(token));
  HENB_ASSIGN_OR_RETURN(Bytes sig, Base64UrlDecode(parts.signature));
  if (sig.size() != 64)
    return Error(ErrorCode::kCryptoBadSignature, "ES256 signature is not 64 bytes");
  HENB_ASSIGN_OR_RETURN(Bytes der,
                        EcdsaRsToDer(ByteView(sig).first(32), ByteView(sig).subspan(32)));
  HENB_TRY(
      signer.Verify(SignatureScheme::kEcdsa, HashAlg::kSha256, AsBytes(parts.signing_input), der));
  HENB_ASSIGN_OR_RETURN(Bytes payload, Base64UrlDecode(parts.payload));
  return ToString(payload);
}

Result<std::string> VerifiedJwsPayload(std::string_view token) {
  HENB_ASSIGN_OR_RETURN(JwsParts parts, SplitJws(token));
  HENB_ASSIGN_OR_RETURN(Bytes payload, Base64UrlDecode(parts.payload));
  return ToString(payload);
}

}  // namespace henbtrust
