#include "henbtrust/net/api.h"

#include <arpa/inet.h>

#include <algorithm>

#include "henbtrust/core/json_text.h"

namespace henbtrust {

int HttpStatusFor(ErrorCode code) { return InfoOf(code).http_status; }

HttpResponse ErrorResponse(const Error& error) {
  return api::JsonResponse(
      HttpStatusFor(error.code()),
      {{"error", {{"code", ErrorCodeName(error.code())}, {"message", error.message()}}}});
}

namespace api {

bool IsValidDeviceId(std::string_view id) {
  if (id.empty() || id.size() > 64 || !std::isalnum(static_cast<unsigned char>(id[0])))
    return false;
  return std::ranges::all_of(id, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

bool IsNewDeviceIdAllowed(std::string_view id) {
  if (!IsValidDeviceId(id) || id.find('.') != std::string_view::npos) return false;
  // Names that resolve to a host: "localhost", and what inet_aton reads as
  // an IPv4 address ("2130706433", "0x7f000001").
  std::string lower(id);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost") return false;
  in_addr address{};
  return inet_aton(lower.c_str(), &address) == 0;
}

Error BadRequest(std::string message) {
  return Error(ErrorCode::kNetBadRequest, std::move(message));
}

Json ParseUntrustedJson(std::string_view text) {
  if (!JsonDepthWithin(text)) return Json(Json::value_t::discarded);
  return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

Status RequireJsonContent(const HttpRequest& req) {
  const std::string_view type = req.content_type;
  if (type.substr(0, type.find(';')) != "application/json") {
    return Error(ErrorCode::kNetContentType,
                 "expected Content-Type application/json, got '" + req.content_type + "'");
  }
  return OkStatus();
}

Result<Json> ParseJsonBody(const HttpRequest& req) {
  HENB_TRY(RequireJsonContent(req));
  // The usual body (every member a plain string) without nlohmann's
  // byte-at-a-time parser; the same document either way.
  if (auto members = ParseFlatStringObject(req.body)) {
    Json body = Json::object();
    for (auto& [key, value] : *members) body[std::move(key)] = std::move(value);
    return body;
  }
  if (!JsonDepthWithin(req.body)) {
    return BadRequest("the body nests arrays or objects deeper than " +
                      std::to_string(kMaxJsonDepth) + " levels");
  }
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return BadRequest("the body is not valid JSON");
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  return body;
}

HttpResponse JsonResponse(int status, const Json& body) {
  return {
      status, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace), {}};
}

HttpResponse JsonText(int status, std::string body) {
  return {status, "application/json", std::move(body), {}};
}

Status RequireRole(const PeerIdentity& peer, std::initializer_list<std::string_view> roles) {
  return RequireRole(peer, std::span<const std::string_view>(roles.begin(), roles.size()));
}

Status RequireRole(const PeerIdentity& peer, std::span<const std::string_view> roles) {
  if (!peer.presented) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "this operation needs a client certificate (mutual TLS)");
  }
  if (!peer.verified) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "client certificate not accepted: " + peer.verify_error);
  }
  for (auto role : roles) {
    if (peer.organization == role) return OkStatus();
  }
  return Error(ErrorCode::kNetForbidden,
               "role '" + peer.organization + "' may not perform this operation");
}

std::vector<std::string> SplitPath(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    out.emplace_back(target.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool PathMatches(const std::vector<std::string>& path,
                 std::initializer_list<std::string_view> pattern) {
  if (path.size() != pattern.size()) return false;
  size_t i = 0;
  for (auto segment : pattern) {
    if (segment != "*" && path[i] != segment) return false;
    ++i;
  }
  return true;
}

Status RequireMethod(const HttpRequest& req, std::string_view method) {
  if (req.method == method) return OkStatus();
  return Error(ErrorCode::kNetNotFound, "no " + req.method + " " + req.target);
}

}  // namespace api
}  // namespace henbtrust
