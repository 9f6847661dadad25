// Byte containers, hex/base64 encoding and a bounds-checked reader.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string ToString(ByteView b) { return std::string(b.begin(), b.end()); }
inline bool Equal(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}
// Constant-time comparison of equal-length secrets; false when sizes differ.
bool ConstantTimeEqual(ByteView a, ByteView b);

std::string HexEncode(ByteView data);
// Accepts upper or lower case; an optional "0x" prefix; no separators.
Result<Bytes> HexDecode(std::string_view hex);

// RFC 4648 base64 with padding; Base64UrlEncode is unpadded base64url.
std::string Base64Encode(ByteView data);
Result<Bytes> Base64Decode(std::string_view text);
std::string Base64UrlEncode(ByteView data);
Result<Bytes> Base64UrlDecode(std::string_view text);

// Reads fixed-size integers and byte runs from a buffer, advancing as it
// goes. Every read is checked against the remaining length; a failed read
// returns kTruncated and leaves the position unchanged.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  ByteView rest() const { return data_.subspan(pos_); }

  Result<uint8_t> U8();
  Result<uint16_t> U16Le();
  Result<uint32_t> U32Le();
  Result<uint16_t> U16Be();
  Result<uint32_t> U32Be();
  Result<uint64_t> U64Be();
  // A view into the underlying buffer, valid as long as it is.
  Result<ByteView> Take(size_t n);
  Status Skip(size_t n);

 private:
  ByteView data_;
  size_t pos_ = 0;
};

// Appends integers in a fixed byte order.
void PutU16Le(Bytes& out, uint16_t v);
void PutU32Le(Bytes& out, uint32_t v);
void PutU16Be(Bytes& out, uint16_t v);
void PutU32Be(Bytes& out, uint32_t v);
void PutU64Be(Bytes& out, uint64_t v);
inline void Append(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

}  // namespace henbtrust
