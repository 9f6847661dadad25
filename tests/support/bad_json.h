// Bad answers from a peer, made from a good one: for the tests that show a
// reader survives anything (issue: "a peer's bad answer is an error value").
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace henbtrust::testing {

struct BadJson {
  std::string what;  // e.g. "field 'job' null"
  std::string text;
};

// Every field of `good` (a JSON object's text; nested objects too, by their
// path) missing, null, a number, a negative number, a huge number, a
// string, a huge string, a boolean, an array and an object; then texts that
// are not the object at all: empty, not JSON, truncated, an array, a
// string, deep nesting, and a huge document.
inline std::vector<BadJson> BadVariants(const std::string& good) {
  using Json = nlohmann::json;
  std::vector<BadJson> out;
  const Json base = Json::parse(good);
  const std::vector<std::pair<std::string, Json>> values = {
      {"null", Json()},
      {"0", Json(0)},
      {"-1", Json(-1)},
      {"huge number", Json(1e300)},
      {"2^64", Json::parse("18446744073709551616")},
      {"a string", Json("x")},
      {"a huge string", Json(std::string((1 << 20) + 16, 'A'))},
      {"true", Json(true)},
      {"an array", Json::array({1, "x"})},
      {"an object", Json::object({{"x", 1}})},
  };
  // Every field, at every depth, by JSON pointer.
  const Json flat = base.flatten();
  std::vector<std::string> pointers;
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    std::string p = it.key();
    // Each ancestor too (a nested object replaced as a whole).
    for (;;) {
      pointers.push_back(p);
      const size_t slash = p.rfind('/');
      if (slash == 0 || slash == std::string::npos) break;
      p = p.substr(0, slash);
    }
  }
  std::sort(pointers.begin(), pointers.end());
  pointers.erase(std::unique(pointers.begin(), pointers.end()), pointers.end());
  for (const auto& p : pointers) {
    const Json::json_pointer ptr(p);
    Json removed = base;
    Json& parent = removed[ptr.parent_pointer()];
    if (parent.is_array()) {
      parent.erase(static_cast<size_t>(std::stoul(ptr.back())));
    } else {
      parent.erase(ptr.back());
    }
    out.push_back({"field " + p + " missing", removed.dump()});
    for (const auto& [name, value] : values) {
      Json changed = base;
      changed[ptr] = value;
      out.push_back({"field " + p + " " + name, changed.dump()});
    }
  }
  out.push_back({"empty", ""});
  out.push_back({"not JSON", "<html>502 Bad Gateway</html>"});
  out.push_back({"truncated", good.substr(0, good.size() / 2)});
  out.push_back({"an array", "[" + good + "]"});
  out.push_back({"a string", "\"" + std::string(16, 'x') + "\""});
  out.push_back({"null", "null"});
  out.push_back({"deep nesting", std::string(100000, '[') + std::string(100000, ']')});
  out.push_back({"invalid UTF-8", "{\"action\":\"\xff\xfe\"}"});
  out.push_back({"a huge document", "{\"pad\":\"" + std::string(2 << 20, 'B') + "\"}"});
  return out;
}

}  // namespace henbtrust::testing
