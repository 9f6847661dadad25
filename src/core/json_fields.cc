#include "henbtrust/core/json_fields.h"

#include "henbtrust/core/json_text.h"

namespace henbtrust::json_fields {

namespace {

Error Bad(const char* name, std::string_view what) {
  return Error(ErrorCode::kNetBadRequest, std::string("field '") + name + "' " + std::string(what));
}

}  // namespace

Result<Json> ParseObject(std::string_view text, std::string_view what, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Error(ErrorCode::kNetBadRequest,
                 std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes");
  }
  if (!JsonDepthWithin(text)) {
    return Error(ErrorCode::kNetBadRequest, std::string(what) + " nests deeper than " +
                                                std::to_string(kMaxJsonDepth) + " levels");
  }
  Json out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    return Error(ErrorCode::kNetBadRequest, std::string(what) + " is not JSON");
  }
  if (!out.is_object()) {
    return Error(ErrorCode::kNetBadRequest, std::string(what) + " is not a JSON object");
  }
  return out;
}

Result<std::string> Text(const Json& object, const char* name, size_t max_bytes, bool required) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (!required) return std::string();
    return Bad(name, "is missing");
  }
  if (!it->is_string()) return Bad(name, "must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_bytes) return Bad(name, "is longer than " + std::to_string(max_bytes));
  return s;
}

Result<int64_t> Int(const Json& object, const char* name, int64_t min, int64_t max, bool required,
                    int64_t fallback) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (!required) return fallback;
    return Bad(name, "is missing");
  }
  int64_t value = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Bad(name, "is out of range");
    value = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    value = it->get<int64_t>();
  } else {
    return Bad(name, "must be an integer");
  }
  if (value < min || value > max) return Bad(name, "is out of range");
  return value;
}

Result<bool> Bool(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return Bad(name, "is missing");
  if (!it->is_boolean()) return Bad(name, "must be true or false");
  return it->get<bool>();
}

Result<Bytes> Hex(const Json& object, const char* name, size_t max_bytes, bool required) {
  HENB_ASSIGN_OR_RETURN(std::string text, Text(object, name, 2 * max_bytes, required));
  auto bytes = HexDecode(text);
  if (!bytes.ok()) return Bad(name, "is not hex");
  return std::move(bytes).value();
}

Result<Bytes> Base64(const Json& object, const char* name, size_t max_bytes, bool required) {
  HENB_ASSIGN_OR_RETURN(std::string text, Text(object, name, (max_bytes + 2) / 3 * 4, required));
  if (text.empty()) {
    if (required) return Bad(name, "is empty");
    return Bytes();
  }
  auto bytes = Base64Decode(text);
  if (!bytes.ok()) return Bad(name, "is not base64");
  if (bytes->size() > max_bytes)
    return Bad(name, "decodes to more than " + std::to_string(max_bytes) + " bytes");
  return std::move(bytes).value();
}

Result<const Json*> Object(const Json& object, const char* name, bool required) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (!required) return static_cast<const Json*>(nullptr);
    return Bad(name, "is missing");
  }
  if (!it->is_object()) return Bad(name, "must be an object");
  return &*it;
}

Result<const Json*> Array(const Json& object, const char* name, size_t max_items) {
  auto it = object.find(name);
  if (it == object.end()) return Bad(name, "is missing");
  if (!it->is_array()) return Bad(name, "must be an array");
  if (it->size() > max_items) return Bad(name, "has more than " + std::to_string(max_items));
  return &*it;
}

std::string Dump(const Json& object) {
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace henbtrust::json_fields
