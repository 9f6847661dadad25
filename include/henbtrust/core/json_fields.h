// Exception-free readers of one field of a JSON object from outside the
// process (a peer's message, an operator's file, a device's own state), for
// the codecs: every read of such JSON goes through these or a codec built
// on them, never through nlohmann's value()/at(), which throw on a wrong
// type. Each names the field in its kNetBadRequest.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/result.h"

namespace henbtrust::json_fields {

using Json = nlohmann::json;

// `text` as a JSON object nesting at most kMaxJsonDepth deep and at most
// `max_bytes` long; `what` names the message in the error.
Result<Json> ParseObject(std::string_view text, std::string_view what, size_t max_bytes);
// A string of at most `max_bytes`; "" when absent or null and not required.
Result<std::string> Text(const Json& object, const char* name, size_t max_bytes,
                         bool required = true);
// An integer in [min, max]; `fallback` when absent or null and not required.
Result<int64_t> Int(const Json& object, const char* name, int64_t min, int64_t max,
                    bool required = true, int64_t fallback = 0);
Result<bool> Bool(const Json& object, const char* name);
// Lower- or upper-case hex of at most `max_bytes` bytes.
Result<Bytes> Hex(const Json& object, const char* name, size_t max_bytes, bool required = true);
// Base64 decoding to at most `max_bytes` bytes; a required field must not be
// empty.
Result<Bytes> Base64(const Json& object, const char* name, size_t max_bytes, bool required = true);
// The member `name`, which must be an object (or, if not required, absent or
// null: then nullptr).
Result<const Json*> Object(const Json& object, const char* name, bool required = true);
// The member `name`, which must be an array of at most `max_items`.
Result<const Json*> Array(const Json& object, const char* name, size_t max_items);

// `object` as text; bytes that are not UTF-8 are written as U+FFFD, never
// an exception.
std::string Dump(const Json& object);

}  // namespace henbtrust::json_fields
