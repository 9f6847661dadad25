#include "henbtrust/net/router.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "henbtrust/net/protocol.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;

HttpRequest Request(std::string method, std::string target, std::string_view role = kRoleOperator) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.peer.presented = true;
  r.peer.verified = true;
  r.peer.organization = std::string(role);
  r.peer.common_name = "someone";
  return r;
}

std::string CodeOf(const HttpResponse& r) {
  const Json body = Json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "";
  return body["error"]["code"].get<std::string>();
}

std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return "";
}

// A handler that names itself and the path segments it was given.
RouteHandler Echo(std::string name) {
  return [name](const HttpRequest&, const PathSegments& path) -> Result<HttpResponse> {
    std::string text = name;
    for (const auto& s : path) text += "|" + s;
    return HttpResponse{200, "text/plain", text, {}};
  };
}

Router Table() {
  return Router({
      {"GET", "/healthz", {}, Echo("health")},
      {"GET", "/v1/jobs", {kRoleOperator}, Echo("list")},
      {"POST", "/v1/jobs", {kRoleOperator}, Echo("open")},
      {"GET", "/v1/devices/*", {kRoleOperator, kRoleSegw}, Echo("device")},
      {"PUT", "/v1/devices/*/configuration", {kRoleOperator}, Echo("configure")},
      {"POST",
       "/v1/devices/*/fail",
       {},
       [](const HttpRequest&, const PathSegments&) -> Result<HttpResponse> {
         return Error(ErrorCode::kPolicyUnknownDevice, "no such device");
       }},
      {"POST", "/v1/releases/*/*/revocation", {kRoleOperator}, Echo("revoke")},
  });
}

TEST(Router, CallsTheHandlerOfTheMatchingRouteWithThePathSegments) {
  const Router router = Table();
  auto r = router.Dispatch(Request("GET", "/v1/devices/alpha?x=1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "device|v1|devices|alpha");
  r = router.Dispatch(Request("POST", "/v1/releases/fw/2.0/revocation"));
  EXPECT_EQ(r.body, "revoke|v1|releases|fw|2.0|revocation");
  EXPECT_EQ(router.Dispatch(Request("POST", "/v1/jobs")).body, "open|v1|jobs");
  EXPECT_EQ(router.Dispatch(Request("GET", "/v1/jobs")).body, "list|v1|jobs");
}

TEST(Router, AnUnknownPathIs404) {
  const Router router = Table();
  for (const char* target :
       {"/v1/nothing", "/", "", "/v1/devices", "/v1/devices/a/b", "/v1/devices/a/configuration/x",
        "/v1/releases/fw/revocation", "/healthz/x", "/v2/jobs"}) {
    const auto r = router.Dispatch(Request("GET", target));
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(CodeOf(r), "net.not-found") << target;
    EXPECT_EQ(HeaderOf(r, "Allow"), "") << target;
  }
}

TEST(Router, AKnownPathWithAnotherMethodIs405WithAllow) {
  const Router router = Table();
  auto r = router.Dispatch(Request("DELETE", "/v1/jobs"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(CodeOf(r), "net.method-not-allowed");
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET, POST");
  r = router.Dispatch(Request("GET", "/v1/devices/beta/configuration"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "PUT");
  r = router.Dispatch(Request("POST", "/healthz"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET");
  // The method check comes before the role check: a caller without a
  // certificate learns the methods, as the API description says them anyway.
  HttpRequest anonymous = Request("PUT", "/v1/devices/x");
  anonymous.peer = {};
  EXPECT_EQ(router.Dispatch(anonymous).status, 405);
}

TEST(Router, ChecksTheRoleBeforeTheHandler) {
  const Router router = Table();
  auto r = router.Dispatch(Request("GET", "/v1/devices/alpha", kRoleDevice));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(CodeOf(r), "net.forbidden");
  EXPECT_EQ(router.Dispatch(Request("GET", "/v1/devices/alpha", kRoleSegw)).status, 200);

  HttpRequest anonymous = Request("GET", "/v1/devices/alpha");
  anonymous.peer = {};
  r = router.Dispatch(anonymous);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(CodeOf(r), "net.unauthenticated");

  HttpRequest unverified = Request("GET", "/v1/devices/alpha");
  unverified.peer.verified = false;
  unverified.peer.verify_error = "expired";
  EXPECT_EQ(router.Dispatch(unverified).status, 401);

  // No roles: anyone, certificate or not.
  anonymous.target = "/healthz";
  EXPECT_EQ(router.Dispatch(anonymous).status, 200);
}

TEST(Router, AHandlersErrorIsTheErrorAnswer) {
  const Router router = Table();
  const auto r = router.Dispatch(Request("POST", "/v1/devices/zeta/fail"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(CodeOf(r), "policy.unknown-device");
}

TEST(Router, AnAsynchronousHandlerAnswersThroughTheResponder) {
  HttpResponder later;
  PathSegments seen;
  const Router router({{"POST",
                        "/v1/evidence",
                        {kRoleDevice},
                        nullptr,
                        [&](const HttpRequest&, const PathSegments& path, HttpResponder respond) {
                          seen = path;
                          later = std::move(respond);
                        }}});
  int answers = 0;
  HttpResponse got;
  router.Dispatch(Request("POST", "/v1/evidence", kRoleDevice), [&](HttpResponse r) {
    ++answers;
    got = std::move(r);
  });
  EXPECT_EQ(answers, 0);
  EXPECT_EQ(seen, (PathSegments{"v1", "evidence"}));
  ASSERT_TRUE(later);
  later(HttpResponse{201, "application/json", "{}", {}});
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(got.status, 201);
  // Refused before the handler: answered at once.
  router.Dispatch(Request("POST", "/v1/evidence", kRoleOperator), [&](HttpResponse r) {
    ++answers;
    got = std::move(r);
  });
  EXPECT_EQ(answers, 2);
  EXPECT_EQ(got.status, 403);
}

TEST(Router, ServesSaysWhetherTheTableHasThePath) {
  const Router router = Table();
  EXPECT_TRUE(router.Serves("/v1/jobs"));
  EXPECT_TRUE(router.Serves("/v1/jobs?after=3"));
  EXPECT_TRUE(router.Serves("/v1/devices/x/configuration"));
  EXPECT_TRUE(router.Serves("/v1/releases/a/b/revocation"));
  EXPECT_FALSE(router.Serves("/v1/releases/a/revocation"));
  EXPECT_FALSE(router.Serves("/v1/evidence"));
  EXPECT_FALSE(router.Serves(""));
  EXPECT_EQ(router.AllowedMethods("/v1/jobs"), "GET, POST");
  EXPECT_EQ(router.AllowedMethods("/v1/nothing"), "");
}

}  // namespace
}  // namespace henbtrust
