#include "henbtrust/core/result.h"

namespace henbtrust {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "core.invalid-argument";
    case ErrorCode::kIo:
      return "core.io";
    case ErrorCode::kNotFound:
      return "core.not-found";
    case ErrorCode::kTruncated:
      return "core.truncated";
    case ErrorCode::kTooLarge:
      return "core.too-large";
    case ErrorCode::kMalformed:
      return "core.malformed";
    case ErrorCode::kInternal:
      return "core.internal";
    case ErrorCode::kCryptoFailure:
      return "crypto.failure";
    case ErrorCode::kCryptoBadKey:
      return "crypto.bad-key";
    case ErrorCode::kCryptoBadSignature:
      return "crypto.bad-signature";
    case ErrorCode::kCryptoUnsupported:
      return "crypto.unsupported";
    case ErrorCode::kCryptoCertificate:
      return "crypto.certificate";
    case ErrorCode::kTpmParse:
      return "tpm.parse";
    case ErrorCode::kTpmUnsupported:
      return "tpm.unsupported";
    case ErrorCode::kTpmDevice:
      return "tpm.device";
    case ErrorCode::kTpmTrailingBytes:
      return "tpm.trailing-bytes";
    case ErrorCode::kQuoteMagic:
      return "quote.magic";
    case ErrorCode::kQuoteType:
      return "quote.type";
    case ErrorCode::kQuoteNonce:
      return "quote.nonce-mismatch";
    case ErrorCode::kQuoteSignatureScheme:
      return "quote.signature-scheme";
    case ErrorCode::kQuoteSignature:
      return "quote.signature-invalid";
    case ErrorCode::kQuotePcrSelection:
      return "quote.pcr-selection";
    case ErrorCode::kQuotePcrValues:
      return "quote.pcr-values";
    case ErrorCode::kQuotePcrDigest:
      return "quote.pcr-digest-mismatch";
    case ErrorCode::kQuoteEventLog:
      return "quote.eventlog-mismatch";
    case ErrorCode::kQuoteKeyMismatch:
      return "quote.key-mismatch";
    case ErrorCode::kEventLogParse:
      return "eventlog.parse";
    case ErrorCode::kEventLogComponent:
      return "eventlog.component";
    case ErrorCode::kReleaseMalformed:
      return "release.malformed";
    case ErrorCode::kReleaseTruncated:
      return "release.truncated";
    case ErrorCode::kReleaseTooLarge:
      return "release.too-large";
    case ErrorCode::kReleaseTrailing:
      return "release.trailing-bytes";
    case ErrorCode::kReleaseUnsigned:
      return "release.unsigned";
    case ErrorCode::kReleaseUnknownKey:
      return "release.unknown-key";
    case ErrorCode::kReleaseBadSignature:
      return "release.bad-signature";
    case ErrorCode::kReleaseThreshold:
      return "release.threshold-not-met";
    case ErrorCode::kReleaseExpired:
      return "release.expired";
    case ErrorCode::kReleaseHardware:
      return "release.wrong-hardware";
    case ErrorCode::kReleaseRollback:
      return "release.rollback";
    case ErrorCode::kReleaseDigest:
      return "release.digest-mismatch";
    case ErrorCode::kReleaseComponentMissing:
      return "release.component-missing";
    case ErrorCode::kReleaseComponentExtra:
      return "release.component-extra";
    case ErrorCode::kReleaseRoot:
      return "release.trust-root";
    case ErrorCode::kDeviceState:
      return "device.state";
    case ErrorCode::kDeviceBoot:
      return "device.boot-failed";
    case ErrorCode::kDeviceTimMismatch:
      return "device.tim-mismatch";
    case ErrorCode::kDeviceNoUpdate:
      return "device.no-update";
    case ErrorCode::kDeviceCrashForTest:
      return "device.crash-for-test";
    case ErrorCode::kStore:
      return "store.error";
    case ErrorCode::kStoreAuditBroken:
      return "store.audit-broken";
    case ErrorCode::kNet:
      return "net.error";
    case ErrorCode::kNetTls:
      return "net.tls";
    case ErrorCode::kNetTimeout:
      return "net.timeout";
    case ErrorCode::kNetBadRequest:
      return "net.bad-request";
    case ErrorCode::kNetTooLarge:
      return "net.too-large";
    case ErrorCode::kNetContentType:
      return "net.content-type";
    case ErrorCode::kNetUnauthenticated:
      return "net.unauthenticated";
    case ErrorCode::kNetForbidden:
      return "net.forbidden";
    case ErrorCode::kNetNotFound:
      return "net.not-found";
    case ErrorCode::kNetStatus:
      return "net.http-status";
    case ErrorCode::kNetBusy:
      return "net.busy";
    case ErrorCode::kPolicy:
      return "policy.error";
    case ErrorCode::kPolicyUnknownDevice:
      return "policy.unknown-device";
    case ErrorCode::kPolicyUnknownRelease:
      return "policy.unknown-release";
    case ErrorCode::kPolicyNonce:
      return "policy.nonce";
    case ErrorCode::kPolicyEnrollment:
      return "policy.enrollment";
    case ErrorCode::kPolicyDeviceConflict:
      return "policy.device-conflict";
    case ErrorCode::kPolicyJobConflict:
      return "policy.job-conflict";
    case ErrorCode::kPolicyState:
      return "policy.state";
    case ErrorCode::kPolicyOrder:
      return "policy.order";
  }
  return "core.unknown";
}

ErrorLayer LayerOf(ErrorCode code) {
  const auto v = static_cast<uint16_t>(code);
  if (v < 100) return ErrorLayer::kCore;
  if (v < 200) return ErrorLayer::kCrypto;
  if (v < 300) return ErrorLayer::kTpm;
  if (v < 400) return ErrorLayer::kQuote;
  if (v < 500) return ErrorLayer::kEventLog;
  if (v < 550) return ErrorLayer::kRelease;
  if (v < 600) return ErrorLayer::kDevice;
  if (v < 700) return ErrorLayer::kStore;
  if (v < 800) return ErrorLayer::kNet;
  return ErrorLayer::kPolicy;
}

std::string_view LayerName(ErrorLayer layer) {
  switch (layer) {
    case ErrorLayer::kCore:
      return "core";
    case ErrorLayer::kCrypto:
      return "crypto";
    case ErrorLayer::kTpm:
      return "tpm";
    case ErrorLayer::kQuote:
      return "quote";
    case ErrorLayer::kEventLog:
      return "eventlog";
    case ErrorLayer::kRelease:
      return "release";
    case ErrorLayer::kDevice:
      return "device";
    case ErrorLayer::kStore:
      return "store";
    case ErrorLayer::kNet:
      return "net";
    case ErrorLayer::kPolicy:
      return "policy";
  }
  return "unknown";
}

std::string Error::ToString() const {
  std::string s(ErrorCodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

Error Error::WithContext(std::string_view context) const {
  std::string m(context);
  m += ": ";
  m += message_;
  return Error(code_, std::move(m));
}

}  // namespace henbtrust
