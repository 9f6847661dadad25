// Result<T> and Error: the one error type of henbtrust.
//
// Every fallible function returns Result<T> (or Status = Result<void>). An
// Error carries a code that names the layer where the failure started and a
// message for a human. Untrusted input is always answered with an Error, never
// with an assert or an exception.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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

// Process exit codes of the henbtrust CLI (README "Exit codes"): 0 valid or
// done; 1 the input was examined and is invalid, or was refused; 2 usage
// error, or the input could not be examined (I/O, TPM, store, network).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUsage = 2;

// Every code, its value, name, layer, HTTP status and exit code are one row
// of error_codes.def; ErrorCodeName() gives the stable textual form
// ("quote.nonce-mismatch") used on the command line and in APIs.
enum class ErrorCode : uint16_t {
#define HENB_ERROR_CODE(id, value, layer, name, http_status, exit_code) id = (value),
#include "henbtrust/core/error_codes.def"
#undef HENB_ERROR_CODE
};

// One row of error_codes.def.
struct ErrorCodeInfo {
  ErrorCode code = ErrorCode::kInternal;
  std::string_view name = {};
  ErrorLayer layer = ErrorLayer::kCore;
  int http_status = 500;       // what an API answers with (400..599)
  int exit_code = kExitUsage;  // what the CLI exits with (kExitInvalid or kExitUsage)
};

// Every code, in the order of error_codes.def.
std::span<const ErrorCodeInfo> AllErrorCodes();
// The row of `code`; a value that is no enumerator gets the row of
// "core.unknown" (layer core, HTTP 500, kExitUsage).
const ErrorCodeInfo& InfoOf(ErrorCode code);
// The code named `name` ("quote.nonce-mismatch"), or nullopt.
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name);

inline std::string_view ErrorCodeName(ErrorCode code) { return InfoOf(code).name; }
inline ErrorLayer LayerOf(ErrorCode code) { return InfoOf(code).layer; }
std::string_view LayerName(ErrorLayer layer);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  ErrorLayer layer() const { return LayerOf(code_); }
  // The exit code of the CLI command that fails with this error.
  int exit_code() const { return InfoOf(code_).exit_code; }
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
