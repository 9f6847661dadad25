// Decimal numbers in text from outside the process (HTTP headers, paths,
// files): all of the text or nothing, never an exception.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace henbtrust {

// `text` as an unsigned decimal: 1 to 19 digits and nothing else (no sign,
// no space); nullopt otherwise. 19 digits always fit in 64 bits.
constexpr std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

}  // namespace henbtrust
