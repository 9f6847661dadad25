#include <algorithm>
#include <array>

#include "henbtrust/core/bytes.h"

namespace henbtrust {

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  uint8_t acc = 0;
  for (size_t i = 0; i < a.size(); ++i) acc |= static_cast<uint8_t>(a[i] ^ b[i]);
  return acc == 0;
}

std::string HexEncode(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(data.size() * 2, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  if (hex.size() % 2 != 0) {
    return Error(ErrorCode::kMalformed, "hex string has an odd number of digits");
  }
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Error(ErrorCode::kMalformed,
                   "invalid hex digit at position " + std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string EncodeWith(ByteView data, const char* alphabet, bool pad) {
  const size_t full = data.size() / 3;
  const size_t rest = data.size() % 3;
  std::string out(full * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1), '=');
  char* o = out.data();
  const uint8_t* in = data.data();
  for (size_t k = 0; k < full; ++k, in += 3, o += 4) {
    const uint32_t v = uint32_t{in[0]} << 16 | uint32_t{in[1]} << 8 | in[2];
    o[0] = alphabet[v >> 18 & 63];
    o[1] = alphabet[v >> 12 & 63];
    o[2] = alphabet[v >> 6 & 63];
    o[3] = alphabet[v & 63];
  }
  if (rest > 0) {
    uint32_t v = uint32_t{in[0]} << 16;
    if (rest == 2) v |= uint32_t{in[1]} << 8;
    o[0] = alphabet[v >> 18 & 63];
    o[1] = alphabet[v >> 12 & 63];
    if (rest == 2) o[2] = alphabet[v >> 6 & 63];
  }
  return out;
}

Result<Bytes> DecodeWith(std::string_view text, const char* alphabet, bool padded) {
  std::array<int, 256> rev;
  rev.fill(-1);
  for (int i = 0; i < 64; ++i) rev[static_cast<uint8_t>(alphabet[i])] = i;
  if (padded) {
    if (text.size() % 4 != 0)
      return Error(ErrorCode::kMalformed, "base64 length is not a multiple of 4");
    size_t pads = 0;
    while (pads < 2 && !text.empty() && text.back() == '=') {
      text.remove_suffix(1);
      ++pads;
    }
  }
  if (text.size() % 4 == 1) return Error(ErrorCode::kMalformed, "base64 has an impossible length");
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = rev[static_cast<uint8_t>(text[i])];
    if (v < 0) {
      return Error(ErrorCode::kMalformed,
                   "invalid base64 character at position " + std::to_string(i));
    }
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return Error(ErrorCode::kMalformed, "base64 has non-zero padding bits");
  }
  return out;
}
}  // namespace

std::string Base64Encode(ByteView data) { return EncodeWith(data, kB64, true); }
Result<Bytes> Base64Decode(std::string_view text) { return DecodeWith(text, kB64, true); }
std::string Base64UrlEncode(ByteView data) { return EncodeWith(data, kB64Url, false); }
Result<Bytes> Base64UrlDecode(std::string_view text) { return DecodeWith(text, kB64Url, false); }

namespace {
Error Truncated(size_t want, size_t have, size_t pos) {
  return Error(ErrorCode::kTruncated, "need " + std::to_string(want) + " bytes at offset " +
                                          std::to_string(pos) + ", " + std::to_string(have) +
                                          " left");
}
}  // namespace

Result<ByteView> ByteReader::Take(size_t n) {
  if (n > remaining()) return Truncated(n, remaining(), pos_);
  ByteView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}

Status ByteReader::Skip(size_t n) {
  if (n > remaining()) return Truncated(n, remaining(), pos_);
  pos_ += n;
  return OkStatus();
}

Result<uint8_t> ByteReader::U8() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(1));
  return b[0];
}
Result<uint16_t> ByteReader::U16Le() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(2));
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}
Result<uint32_t> ByteReader::U32Le() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(4));
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}
Result<uint16_t> ByteReader::U16Be() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(2));
  return static_cast<uint16_t>(b[0] << 8 | b[1]);
}
Result<uint32_t> ByteReader::U32Be() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(4));
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
}
Result<uint64_t> ByteReader::U64Be() {
  HENB_ASSIGN_OR_RETURN(ByteView b, Take(8));
  uint64_t v = 0;
  for (uint8_t x : b) v = v << 8 | x;
  return v;
}

void PutU16Le(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void PutU32Le(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU16Be(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32Be(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64Be(Bytes& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace henbtrust
