#include "henbtrust/core/json_text.h"

#include <cstdint>
#include <cstring>

namespace henbtrust {

namespace {

// The length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  // Bounds of the second byte.
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

// The length of the run at s[from] of bytes 0x20-0x7E other than '"' and
// '\\', which JSON strings hold as they are: a word of eight at a time, then
// byte by byte. (Answers and requests are mostly such text: base64.)
size_t PlainRun(std::string_view s, size_t from) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  // Nonzero if and only if some byte of x is below n (n <= 128).
  const auto any_below = [](uint64_t x, uint64_t n) { return (x - kOnes * n) & ~x & kHighs; };
  size_t i = from;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (((w & kHighs) | any_below(w, 0x20) | any_below(w ^ (kOnes * '"'), 1) |
         any_below(w ^ (kOnes * '\\'), 1) | any_below(w ^ (kOnes * 0x7F), 1)) != 0)
      break;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') break;
  }
  return i - from;
}

}  // namespace

bool AppendJsonString(std::string& out, std::string_view s) {
  const size_t start = out.size();
  out += '"';
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    // Most text needs no escape: copy each such run at once.
    size_t run = i + PlainRun(s, i);
    while (run < s.size()) {
      const auto r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s, i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out.resize(start);
        return false;
      }
      out.append(s, i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return true;
}

JsonObjectWriter& JsonObjectWriter::Key(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  if (!AppendJsonString(out_, key)) {
    ok_ = false;
    out_ += "\"\"";
  }
  out_ += ':';
  return *this;
}

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  const size_t mark = out_.size();
  const bool was_first = first_;
  Key(key);
  if (!AppendJsonString(out_, value)) {
    ok_ = false;
    out_.resize(mark);  // the member is left out
    first_ = was_first;
  }
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

namespace {

constexpr size_t kMaxFlatMembers = 16;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A string at text[*i] (the opening quote) of bytes 0x20-0x7E other than
// '"' and '\\'; on success *i is past the closing quote.
std::optional<std::string_view> PlainString(std::string_view text, size_t* i) {
  if (*i >= text.size() || text[*i] != '"') return std::nullopt;
  const size_t start = *i + 1;
  for (size_t k = start + PlainRun(text, start); k < text.size(); ++k) {
    const auto c = static_cast<unsigned char>(text[k]);
    if (c == '"') {
      *i = k + 1;
      return text.substr(start, k - start);
    }
    if (c < 0x20 || c > 0x7E || c == '\\') return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<JsonStringMembers> ParseFlatStringObject(std::string_view text) {
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && IsJsonSpace(text[i])) ++i;
  };
  skip();
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  ++i;
  skip();
  JsonStringMembers members;
  if (i < text.size() && text[i] == '}') {
    ++i;
  } else {
    for (;;) {
      auto key = PlainString(text, &i);
      if (!key) return std::nullopt;
      skip();
      if (i >= text.size() || text[i] != ':') return std::nullopt;
      ++i;
      skip();
      auto value = PlainString(text, &i);
      if (!value) return std::nullopt;
      // Few members, or the full parser: the duplicate check is quadratic.
      if (members.size() == kMaxFlatMembers) return std::nullopt;
      for (const auto& m : members) {
        if (m.first == *key) return std::nullopt;
      }
      members.emplace_back(std::string(*key), std::string(*value));
      skip();
      if (i < text.size() && text[i] == ',') {
        ++i;
        skip();
        continue;
      }
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  skip();
  if (i != text.size()) return std::nullopt;
  return members;
}

bool JsonDepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // an escape: the next byte is never a closing quote
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

namespace {

constexpr int kMaxScanDepth = kMaxJsonDepth;
constexpr size_t kMaxScanMembers = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Past one JSON value at text[*i] (whitespace before it skipped), within
// what ScanJsonMember knows; false if the value is invalid or unknown.
bool SkipValue(std::string_view text, size_t* i, int depth) {
  auto skip = [&] {
    while (*i < text.size() && IsJsonSpace(text[*i])) ++*i;
  };
  skip();
  if (*i >= text.size()) return false;
  const char c = text[*i];
  if (c == '"') return PlainString(text, i).has_value();
  if (c == '{' || c == '[') {
    if (depth >= kMaxScanDepth) return false;
    const char close = c == '{' ? '}' : ']';
    ++*i;
    skip();
    if (*i < text.size() && text[*i] == close) {
      ++*i;
      return true;
    }
    for (;;) {
      if (c == '{') {
        skip();
        if (!PlainString(text, i)) return false;
        skip();
        if (*i >= text.size() || text[*i] != ':') return false;
        ++*i;
      }
      if (!SkipValue(text, i, depth + 1)) return false;
      skip();
      if (*i >= text.size()) return false;
      if (text[*i] == ',') {
        ++*i;
        continue;
      }
      if (text[*i] != close) return false;
      ++*i;
      return true;
    }
  }
  for (std::string_view word : {"true", "false", "null"}) {
    if (text.substr(*i, word.size()) == word) {
      *i += word.size();
      return true;
    }
  }
  // A number: -?(0|[1-9][0-9]*)(.[0-9]+)?, of at most 300 integer digits.
  // An exponent, or more digits, may overflow a double, which full parsers
  // treat as they each see fit.
  size_t k = *i;
  if (k < text.size() && text[k] == '-') ++k;
  if (k >= text.size() || !IsDigit(text[k])) return false;
  if (text[k] == '0') {
    ++k;
  } else {
    const size_t first = k;
    while (k < text.size() && IsDigit(text[k])) ++k;
    if (k - first > 300) return false;
  }
  if (k < text.size() && text[k] == '.') {
    ++k;
    if (k >= text.size() || !IsDigit(text[k])) return false;
    while (k < text.size() && IsDigit(text[k])) ++k;
  }
  if (k < text.size() && (text[k] == 'e' || text[k] == 'E')) return false;
  *i = k;
  return true;
}

}  // namespace

JsonMemberScan ScanJsonMember(std::string_view text, std::string_view key) {
  const JsonMemberScan unsure;
  JsonMemberScan out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && IsJsonSpace(text[i])) ++i;
  };
  skip();
  if (i >= text.size() || text[i] != '{') return unsure;
  ++i;
  skip();
  std::vector<std::string_view> keys;
  if (i < text.size() && text[i] == '}') {
    ++i;
  } else {
    for (;;) {
      skip();
      auto name = PlainString(text, &i);
      if (!name) return unsure;
      // Few members, or the full parser: the duplicate check is quadratic.
      if (keys.size() == kMaxScanMembers) return unsure;
      for (std::string_view k : keys) {
        if (k == *name) return unsure;
      }
      keys.push_back(*name);
      skip();
      if (i >= text.size() || text[i] != ':') return unsure;
      ++i;
      skip();
      const size_t start = i;
      if (!SkipValue(text, &i, 1)) return unsure;
      if (*name == key) {
        out.found = true;
        out.value = text.substr(start, i - start);
      }
      skip();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      return unsure;
    }
  }
  skip();
  if (i != text.size()) return unsure;
  out.sure = true;
  return out;
}

}  // namespace henbtrust
