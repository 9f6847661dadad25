// A service's routes as one table: {method, path pattern, roles, handler},
// declared once. The router answers what every service answers the same way
// (404 for an unknown path, 405 with Allow for a known path and another
// method, 401/403 for a caller without the role) and calls the handler of
// the route that matches; anything that needs to know a service's paths
// (the combined server deciding between the OAM and the PVE) asks the table.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/net/http.h"

namespace henbtrust {

// The segments of the request's path ("/v1/devices/x?y" -> {"v1",
// "devices", "x"}); a handler reads the "*" segments of its pattern here.
using PathSegments = std::vector<std::string>;

// Answers a matched request. An Error becomes ErrorResponse(error).
using RouteHandler =
    std::function<Result<HttpResponse>(const HttpRequest& request, const PathSegments& path)>;
// The same, answering through `respond` once, now or later, from any thread
// (a push whose record the store commits on its own thread). It must copy
// what it keeps of `request` and `path`, which live only for the call.
using AsyncRouteHandler = std::function<void(const HttpRequest& request, const PathSegments& path,
                                             HttpResponder respond)>;

struct Route {
  std::string_view method;   // "GET", "POST", "PUT", ...
  std::string_view pattern;  // "/v1/devices/*/appraisals": "*" matches any one segment
  // The client-certificate roles (O, net/protocol.h kRole*) that may call
  // the route; empty: anyone, with or without a certificate (the handler
  // checks what it needs).
  std::vector<std::string_view> roles = {};
  RouteHandler handler = nullptr;  // exactly one of the two is set
  AsyncRouteHandler async_handler = nullptr;
};

// Immutable after construction; Dispatch and Serves are thread-safe.
class Router {
 public:
  // REQUIRES: every route has a pattern starting with '/' and one handler;
  // no two routes share method and pattern.
  explicit Router(std::vector<Route> routes);

  // The answer to `request`: 404 (net.not-found) when no route's pattern
  // matches the path; 405 (net.not-found, with an Allow header listing the
  // path's methods) when some do but none with the request's method; 401/403
  // (api::RequireRole) when the caller lacks the route's roles; otherwise
  // the handler's. Calls `respond` exactly once, on this thread unless the
  // route's handler is asynchronous and answers later.
  void Dispatch(const HttpRequest& request, HttpResponder respond) const;
  // The same, waiting for an asynchronous handler's answer.
  HttpResponse Dispatch(const HttpRequest& request) const;

  // True if some route's pattern matches the target's path, whatever the
  // method: this service is the one that answers it.
  bool Serves(std::string_view target) const;
  // The methods of the routes whose pattern matches the target's path, in
  // table order without repeats, as an Allow header lists them ("GET, POST");
  // empty when none does.
  std::string AllowedMethods(std::string_view target) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::string AllowedFor(const PathSegments& path) const;

  std::vector<Route> routes_;
  std::vector<PathSegments> patterns_;  // each route's pattern split, same order
};

}  // namespace henbtrust
