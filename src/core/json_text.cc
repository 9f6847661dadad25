#include "henbtrust/core/json_text.h"

namespace henbtrust {

namespace {

// The length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
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

}  // namespace

bool AppendJsonString(std::string& out, std::string_view s) {
  const size_t start = out.size();
  out += '"';
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    // Most text needs no escape: copy each such run at once.
    size_t run = i;
    while (run < s.size()) {
      const unsigned char r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s, i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
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
  for (size_t k = start; k < text.size(); ++k) {
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

}  // namespace henbtrust
