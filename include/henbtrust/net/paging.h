// Paged lists of the operator APIs (docs/api): a request names where to go
// on (`after`, the cursor the previous page gave as `next`) and how many
// items it wants (`limit`); an answer carries its items and, when more may
// follow, the cursor of the next page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
// The longest cursor (`after`, `next`) a request or an answer may carry.
inline constexpr size_t kMaxCursorBytes = 128;

// The value of `name` in the target's query ("/x?a=1&name=v" -> "v"), or ""
// when it has none. Values are taken as they are (no percent-decoding: the
// cursors and names of this API need none).
std::string QueryValue(std::string_view target, std::string_view name);

struct PageQuery {
  std::string after = {};  // "" : from the start
  int limit = kDefaultPageSize;
};

// `after` and `limit` of the target's query. kNetBadRequest for a limit
// that is not a decimal in 1..kMaxPageSize, or a cursor longer than 128
// bytes; what the cursor means is the list's to check.
Result<PageQuery> ParsePageQuery(std::string_view target);

// A numeric cursor (an id, a sequence number): 0 for "", else a decimal
// in 1..`max`; kNetBadRequest otherwise.
Result<int64_t> NumericCursor(std::string_view after, int64_t max);

// One page of a list: `next` is the cursor of the page after it, empty
// when this one is the last.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next = {};
};

// The cursor that follows `items` (`cursor_of` the last item) when the page
// is full, so more may follow; empty otherwise.
template <typename T, typename F>
std::string NextCursor(const std::vector<T>& items, int limit, F cursor_of) {
  if (items.empty() || static_cast<int>(items.size()) < limit) return "";
  return cursor_of(items.back());
}

}  // namespace henbtrust
