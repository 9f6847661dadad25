#include "henbtrust/net/paging.h"

#include "henbtrust/core/decimal.h"

namespace henbtrust {

std::string QueryValue(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

Result<PageQuery> ParsePageQuery(std::string_view target) {
  PageQuery page;
  page.after = QueryValue(target, "after");
  if (page.after.size() > kMaxCursorBytes) {
    return Error(ErrorCode::kNetBadRequest,
                 "'after' is longer than " + std::to_string(kMaxCursorBytes) + " bytes");
  }
  const std::string limit = QueryValue(target, "limit");
  if (!limit.empty()) {
    const auto value = ParseDecimal(limit);
    if (!value || *value < 1 || *value > static_cast<uint64_t>(kMaxPageSize)) {
      return Error(ErrorCode::kNetBadRequest,
                   "'limit' must be a number from 1 to " + std::to_string(kMaxPageSize));
    }
    page.limit = static_cast<int>(*value);
  }
  return page;
}

Result<int64_t> NumericCursor(std::string_view after, int64_t max) {
  if (after.empty()) return int64_t{0};
  const auto value = ParseDecimal(after);
  if (!value || *value > static_cast<uint64_t>(max)) {
    return Error(ErrorCode::kNetBadRequest, "'after' must be a number from the previous page");
  }
  return static_cast<int64_t>(*value);
}

}  // namespace henbtrust
