#include <algorithm>
#include <array>
#include <cstddef>

#include "henbtrust/core/result.h"

namespace henbtrust {

namespace {

// Position of each code's row in kErrorCodes.
enum ErrorCodeIndex : size_t {
#define HENB_ERROR_CODE(id, value, layer, name, http_status, exit_code) kIndexOf##id,
#include "henbtrust/core/error_codes.def"
#undef HENB_ERROR_CODE
  kErrorCodeCount
};

constexpr std::array<ErrorCodeInfo, kErrorCodeCount> kErrorCodes = {{
#define HENB_ERROR_CODE(id, value, layer, name, http_status, exit_code) \
  {ErrorCode::id, name, ErrorLayer::layer, http_status, exit_code},
#include "henbtrust/core/error_codes.def"
#undef HENB_ERROR_CODE
}};

constexpr ErrorCodeInfo kUnknownCode{ErrorCode::kInternal, "core.unknown", ErrorLayer::kCore, 500,
                                     kExitUsage};

constexpr bool RowsAreWellFormed() {
  return std::ranges::all_of(kErrorCodes, [](const auto& row) {
    return row.http_status >= 400 && row.http_status <= 599 &&
           (row.exit_code == kExitInvalid || row.exit_code == kExitUsage);
  });
}
static_assert(RowsAreWellFormed(), "error_codes.def: HTTP status 400..599, exit code 1 or 2");

}  // namespace

std::span<const ErrorCodeInfo> AllErrorCodes() { return kErrorCodes; }

const ErrorCodeInfo& InfoOf(ErrorCode code) {
  switch (code) {
#define HENB_ERROR_CODE(id, value, layer, name, http_status, exit_code) \
  case ErrorCode::id:                                                   \
    return kErrorCodes[kIndexOf##id];
#include "henbtrust/core/error_codes.def"
#undef HENB_ERROR_CODE
  }
  return kUnknownCode;
}

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (const auto& row : kErrorCodes) {
    if (row.name == name) return row.code;
  }
  return std::nullopt;
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
