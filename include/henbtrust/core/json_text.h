// Writing JSON text directly, for the hot paths where building a JSON
// document only to serialise it would cost more than the work it reports
// (the PVE's signed attestation results). The output is what nlohmann::json's
// dump() writes for the same values: RFC 8259 escapes, UTF-8 kept as is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace henbtrust {

// The deepest nesting of arrays and objects that JSON from outside the
// process (a peer, a stored copy of a peer's text, an operator's file) may
// have. henbtrust's own messages nest four levels at most.
inline constexpr int kMaxJsonDepth = 32;

// True if no array or object in `text` lies more than `max_depth` levels
// deep (a top-level object is level 1), counting brackets outside strings
// without parsing; says nothing about whether `text` is valid JSON.
// Anything that walks a parsed document recursively (nlohmann's dump(), a
// copy, a visitor) uses stack in proportion to its depth, so text from
// outside is checked with this before it is parsed.
bool JsonDepthWithin(std::string_view text, int max_depth = kMaxJsonDepth);

// Appends `s` as a JSON string, quotes included. False, with nothing
// appended, if `s` is not valid UTF-8.
bool AppendJsonString(std::string& out, std::string_view s);

// Writes one JSON object into a string, member by member. A member whose
// text is not valid UTF-8 makes ok() false (and is left out).
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  JsonObjectWriter(const JsonObjectWriter&) = delete;
  JsonObjectWriter& operator=(const JsonObjectWriter&) = delete;

  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  // Starts a member whose value the caller writes next into the string.
  JsonObjectWriter& Key(std::string_view key);
  // Ends the object; the writer must not be used after.
  void Close() { out_ += '}'; }
  bool ok() const { return ok_; }

 private:
  std::string& out_;
  bool first_ = true;
  bool ok_ = true;
};

// Reads the commonest request body, an object whose members are all
// strings of printable ASCII without escapes (base64, ids, versions), in
// one pass and without building a document: nlohmann's parser reads such a
// body a byte at a time, which for a 4 KiB event log costs more than the
// quote's signature check. Anything outside that shape (other value types,
// escapes, bytes outside 0x20-0x7E, duplicate keys, and every invalid text)
// gives nullopt, for the caller to hand to a full parser; what it does
// return is what a full parser reads from the same text. Members in order.
using JsonStringMembers = std::vector<std::pair<std::string, std::string>>;
std::optional<JsonStringMembers> ParseFlatStringObject(std::string_view text);

// Finds one member of a JSON object without building a document: a device
// reading the next nonce from a 2 KiB appraisal answer, most of which is
// the signed result. The whole text is checked, not only the member.
// `sure` is false when the text is outside what this reader knows (escapes,
// bytes outside 0x20-0x7E in strings, duplicate top-level keys, nesting
// deeper than 32) or is not a JSON object: the caller then asks a full
// parser, which gives the answer or the error. When `sure`, `found` and
// `value` (the member's value as text) are what a full parser reads.
struct JsonMemberScan {
  bool sure = false;
  bool found = false;
  std::string_view value;
};
JsonMemberScan ScanJsonMember(std::string_view object_text, std::string_view key);

}  // namespace henbtrust
