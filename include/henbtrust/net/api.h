// What every henbtrust JSON API shares: error answers with stable codes,
// bounded field readers, and the role check on the client certificate.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/net/http.h"

namespace henbtrust {

// The HTTP status for an error code (its row in core/error_codes.def) and the
// JSON error body
// {"error": {"code": "<layer.name>", "message": "..."}}.
int HttpStatusFor(ErrorCode code);
HttpResponse ErrorResponse(const Error& error);

namespace api {

using Json = nlohmann::json;

// 1 to 64 characters of [A-Za-z0-9._-], starting with a letter or digit:
// what a device id may look like where one is looked up.
bool IsValidDeviceId(std::string_view id);
// What a device enrolling now may call itself: a valid id without a dot that
// is not a name that resolves to a host ("localhost", or an IPv4 address in
// any form inet_aton reads, such as "2130706433"), so that a device id never
// passes for a server's name.
bool IsNewDeviceIdAllowed(std::string_view id);
Error BadRequest(std::string message);
// JSON from outside the process: the document, or a discarded value
// (is_discarded()) when `text` is not JSON or nests deeper than
// kMaxJsonDepth (core/json_text.h). Every peer's JSON is read through this
// (or ParseJsonBody), never through nlohmann's parse() directly.
Json ParseUntrustedJson(std::string_view text);
// kNetContentType unless the request's Content-Type is application/json
// (for a handler whose codec parses the body itself).
Status RequireJsonContent(const HttpRequest& req);
// RequireJsonContent, then kNetBadRequest unless the body is a JSON object
// nesting no deeper than kMaxJsonDepth. Its fields are read with
// core/json_fields.h.
Result<Json> ParseJsonBody(const HttpRequest& req);
// The body is `body` as text; a string that is not valid UTF-8 (a peer's
// bytes echoed in an error message) is written with U+FFFD in place of each
// bad byte, never an exception.
HttpResponse JsonResponse(int status, const Json& body);
// An answer whose body a codec wrote already.
HttpResponse JsonText(int status, std::string body);
// kNetUnauthenticated without a verified client certificate, kNetForbidden
// when its role (the subject's O) is none of `roles`.
Status RequireRole(const PeerIdentity& peer, std::span<const std::string_view> roles);
Status RequireRole(const PeerIdentity& peer, std::initializer_list<std::string_view> roles);
// "/v1/devices/x?y" -> {"v1", "devices", "x"}.
std::vector<std::string> SplitPath(std::string_view target);
// True if `path` has exactly the segments of `pattern`, "*" matching any one.
bool PathMatches(const std::vector<std::string>& path,
                 std::initializer_list<std::string_view> pattern);
// kNetNotFound ("no <method> <target>") unless the request uses `method`.
Status RequireMethod(const HttpRequest& req, std::string_view method);

}  // namespace api
}  // namespace henbtrust
