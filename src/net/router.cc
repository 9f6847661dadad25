#include "henbtrust/net/router.h"

#include <algorithm>
#include <cassert>
#include <future>
#include <utility>

#include "henbtrust/net/api.h"

namespace henbtrust {

namespace {

bool Matches(const PathSegments& pattern, const PathSegments& path) {
  if (path.size() != pattern.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (pattern[i] != "*" && pattern[i] != path[i]) return false;
  }
  return true;
}

}  // namespace

Router::Router(std::vector<Route> routes) : routes_(std::move(routes)) {
  patterns_.reserve(routes_.size());
  for (const Route& route : routes_) {
    assert(!route.pattern.empty() && route.pattern.front() == '/');
    assert((route.handler != nullptr) != (route.async_handler != nullptr));
    patterns_.push_back(api::SplitPath(route.pattern));
  }
}

std::string Router::AllowedFor(const PathSegments& path) const {
  std::string allow;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!Matches(patterns_[i], path)) continue;
    const std::string_view method = routes_[i].method;
    bool listed = false;
    for (size_t j = 0; j < i && !listed; ++j) {
      listed = routes_[j].method == method && Matches(patterns_[j], path);
    }
    if (listed) continue;
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  return allow;
}

void Router::Dispatch(const HttpRequest& request, HttpResponder respond) const {
  const PathSegments path = api::SplitPath(request.target);
  const Route* route = nullptr;
  for (size_t i = 0; i < routes_.size() && route == nullptr; ++i) {
    if (routes_[i].method == request.method && Matches(patterns_[i], path)) route = &routes_[i];
  }
  if (route == nullptr) {
    const std::string allow = AllowedFor(path);
    if (allow.empty()) {
      return respond(ErrorResponse(
          Error(ErrorCode::kNetNotFound, "no endpoint " + request.method + " " + request.target)));
    }
    HttpResponse refused =
        ErrorResponse(Error(ErrorCode::kNetMethodNotAllowed,
                            request.target + " takes " + allow + ", not " + request.method));
    refused.headers.emplace_back("Allow", allow);
    return respond(std::move(refused));
  }
  if (!route->roles.empty()) {
    if (Status allowed = api::RequireRole(request.peer, route->roles); !allowed.ok())
      return respond(ErrorResponse(allowed.error()));
  }
  if (route->async_handler) return route->async_handler(request, path, std::move(respond));
  Result<HttpResponse> answer = route->handler(request, path);
  respond(answer.ok() ? std::move(answer).value() : ErrorResponse(answer.error()));
}

HttpResponse Router::Dispatch(const HttpRequest& request) const {
  std::promise<HttpResponse> answer;
  std::future<HttpResponse> response = answer.get_future();
  Dispatch(request, [&answer](HttpResponse r) { answer.set_value(std::move(r)); });
  return response.get();
}

bool Router::Serves(std::string_view target) const {
  const PathSegments path = api::SplitPath(target);
  return std::ranges::any_of(
      patterns_, [&path](const PathSegments& pattern) { return Matches(pattern, path); });
}

std::string Router::AllowedMethods(std::string_view target) const {
  return AllowedFor(api::SplitPath(target));
}

}  // namespace henbtrust
