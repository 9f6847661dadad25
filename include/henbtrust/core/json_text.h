// Writing JSON text directly, for the hot paths where building a JSON
// document only to serialise it would cost more than the work it reports
// (the PVE's signed attestation results). The output is what nlohmann::json's
// dump() writes for the same values: RFC 8259 escapes, UTF-8 kept as is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace henbtrust {

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

}  // namespace henbtrust
