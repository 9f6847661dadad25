// Result<T> and Error: the one error type of henbtrust.
//
// Every fallible function returns Result<T> (or Status = Result<void>). An
// Error carries a code that names the layer where the failure started and a
// message for a human. Untrusted input is always answered with an Error, never
// with an assert or an exception.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace henbtrust {

enum class ErrorLayer : uint8_t {
  kCore,
  kCrypto,
  kTpm,
  kQuote,
  kEventLog,
  kRelease,
  kDevice,
  kStore,
  kNet,
  kPolicy
};

// Codes are grouped by layer; ErrorCodeName() gives the stable textual form
// ("quote.nonce-mismatch") used on the command line and in APIs.
enum class ErrorCode : uint16_t {
  // core
  kInvalidArgument = 1,
  kIo,
  kNotFound,
  kTruncated,  // input ended before a structure did
  kTooLarge,   // a length or count exceeds its bound
  kMalformed,  // input is well-sized but not well-formed
  kInternal,
  // crypto
  kCryptoFailure = 100,  // the library failed (out of memory, ...)
  kCryptoBadKey,
  kCryptoBadSignature,
  kCryptoUnsupported,
  kCryptoCertificate,  // certificate parse or chain verification failed
  // tpm
  kTpmParse = 200,  // a TPM 2.0 structure does not unmarshal
  kTpmUnsupported,
  kTpmDevice,  // the TPM (or its transport) returned an error
  kTpmTrailingBytes,
  // quote verification
  kQuoteMagic = 300,
  kQuoteType,
  kQuoteNonce,
  kQuoteSignatureScheme,
  kQuoteSignature,
  kQuotePcrSelection,
  kQuotePcrValues,
  kQuotePcrDigest,
  kQuoteEventLog,
  kQuoteKeyMismatch,
  // event log
  kEventLogParse = 400,
  kEventLogComponent,
  // release bundles, manifests, trust roots
  kReleaseMalformed = 500,  // a structure is not in its one canonical form
  kReleaseTruncated,
  kReleaseTooLarge,  // a length or count past its bound
  kReleaseTrailing,  // bytes after the last structure
  kReleaseUnsigned,
  kReleaseUnknownKey,
  kReleaseBadSignature,
  kReleaseThreshold,
  kReleaseExpired,
  kReleaseHardware,
  kReleaseRollback,
  kReleaseDigest,  // a component's bytes do not match its RIM
  kReleaseComponentMissing,
  kReleaseComponentExtra,
  kReleaseRoot,  // a trust root or its rotation is not acceptable
  // device (agent side of an update)
  kDeviceState = 550,  // device directory missing or inconsistent
  kDeviceBoot,         // a slot does not boot
  kDeviceTimMismatch,  // step 7: measured TIM differs from the expected TIM
  kDeviceNoUpdate,     // no update in the state the request needs
  kDeviceCrashForTest,
  // store
  kStore = 600,
  kStoreAuditBroken,  // the audit log's hash chain does not verify
  // net (HTTP and TLS, both directions)
  kNet = 700,           // connection failed or was lost
  kNetTls,              // TLS handshake or certificate verification failed
  kNetTimeout,          // the peer did not answer in time
  kNetBadRequest,       // a request is not well-formed (JSON, fields, encodings)
  kNetTooLarge,         // a request or response exceeds its size limit
  kNetContentType,      // wrong Content-Type
  kNetUnauthenticated,  // no valid client certificate
  kNetForbidden,        // authenticated, but not allowed this operation
  kNetNotFound,         // no such endpoint
  kNetStatus,           // the peer answered with an unexpected HTTP status
  kNetBusy,  // too many at once (this client's downloads, pending enrollments): try later
  // policy (PVE decisions)
  kPolicy = 800,
  kPolicyUnknownDevice,
  kPolicyUnknownRelease,
  kPolicyNonce,           // nonce unknown, already used, expired or for another device
  kPolicyEnrollment,      // EK certificate, EK/AK binding or credential activation refused
  kPolicyDeviceConflict,  // the device id is enrolled with another EK
  kPolicyJobConflict,     // the device already has an open update job
  kPolicyState,           // not allowed in the job's present state
  kPolicyOrder,           // a deployment order that does not verify or does not apply
};

std::string_view ErrorCodeName(ErrorCode code);
ErrorLayer LayerOf(ErrorCode code);
std::string_view LayerName(ErrorLayer layer);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  ErrorLayer layer() const { return LayerOf(code_); }
  // "<code-name>: <message>"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  Error WithContext(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // Returns by value so that `for (x : F().value())` does not dangle.
  T value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }

  // REQUIRES: !ok()
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

}  // namespace henbtrust

#define HENB_CONCAT_INNER(a, b) a##b
#define HENB_CONCAT(a, b) HENB_CONCAT_INNER(a, b)

// Evaluates `expr` (a Result); on error returns the error from the caller.
#define HENB_TRY(expr)                                                      \
  do {                                                                      \
    auto&& henb_try_result_ = (expr);                                       \
    if (!henb_try_result_.ok()) return std::move(henb_try_result_).error(); \
  } while (0)

// `lhs` is declared or assigned from the value of `expr`, or the error is
// returned from the caller.
#define HENB_ASSIGN_OR_RETURN(lhs, expr) \
  HENB_ASSIGN_OR_RETURN_IMPL(HENB_CONCAT(henb_result_, __LINE__), lhs, expr)
#define HENB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                                                 \
  auto tmp = (expr);                            /* NOLINT(bugprone-macro-parentheses): declares */ \
  if (!tmp.ok()) return std::move(tmp).error(); /* NOLINT(bugprone-macro-parentheses) */           \
  lhs = std::move(tmp).value() /* NOLINT(bugprone-macro-parentheses): lhs declares */
