// The cost of one HTTPS request on a keep-alive mutual-TLS connection through
// henbtrust's server and client (both in this process, over loopback), with a
// handler that does nothing: the floor under every PVE request.
#include <benchmark/benchmark.h>

#include <optional>

#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/http.h"

namespace henbtrust {
namespace {

struct Pki {
  Pki() {
    auto ca_key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateSpec ca_spec;
    ca_spec.common_name = "Bench CA";
    ca_spec.is_ca = true;
    auto ca = *IssueCertificate(ca_spec, ca_key.Public(), ca_key, nullptr);
    auto issue = [&](bool for_server) {
      auto key = *PrivateKey::Generate(KeyType::kEcP256);
      CertificateSpec spec;
      spec.common_name = for_server ? "127.0.0.1" : "bench-client";
      spec.server_auth = for_server;
      spec.client_auth = !for_server;
      if (for_server) spec.ip_addresses = {"127.0.0.1"};
      auto cert = *IssueCertificate(spec, key.Public(), ca_key, &ca);
      return TlsConfig{cert.ToPem(), key.ToPem(), ca.ToPem()};
    };
    server = issue(true);
    client = issue(false);
  }
  TlsConfig server, client;
};

void BM_HttpsRequest(benchmark::State& state) {
  Pki pki;
  const std::string body(static_cast<size_t>(state.range(0)), 'x');
  auto server = HttpServer::Start({}, pki.server, [](const HttpRequest& r) {
    return HttpResponse{200, "application/json", r.body.substr(0, 64), {}};
  });
  auto client = HttpClient::Connect("127.0.0.1", (*server)->port(), pki.client);
  if (!server.ok() || !client.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    auto r = (*client)->Request("POST", "/v1/evidence", "application/json", body);
    if (!r.ok() || r->status != 200) state.SkipWithError("request failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
// A nonce request (tiny) and an evidence post (about 1.3 KiB of JSON).
BENCHMARK(BM_HttpsRequest)->Arg(2)->Arg(1300)->UseRealTime();

}  // namespace
}  // namespace henbtrust

BENCHMARK_MAIN();
