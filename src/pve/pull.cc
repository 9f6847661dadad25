#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

Result<HttpResponse> PveService::Impl::PullAppraisal(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  if (device.agent_address.empty()) {
    return Error(ErrorCode::kPolicy,
                 "device " + device_id + " registered no agent address: it can only push");
  }
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(auto hp, ParseHostPort(device.agent_address));
  HENB_ASSIGN_OR_RETURN(auto nonce, NewNonce(device_id));
  HttpClientOptions options;
  options.timeout = config.agent_timeout;
  options.peer_uri = DeviceUri(device_id);
  options.peer_serial = device.certificate_serial;  // empty for records older than serials
  options.max_response_bytes = 2 * kMaxEventLog;
  TlsConfig tls = config.agent_tls;
  tls.peer_ca = ca_pem;
  auto client = HttpClient::Connect(hp.first, hp.second, tls, options);
  if (!client.ok()) return client.error().WithContext("device agent of " + device_id);
  const Json request = {{"nonce", Base64Encode(nonce.first)},
                        {"pcr_selection", ref->pcr_selection}};
  HENB_ASSIGN_OR_RETURN(
      HttpResponse answer,
      (*client)->Request("POST", "/v1/integrity-request", "application/json", request.dump()));
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus, "device agent of " + device_id + " answered " +
                                            std::to_string(answer.status) + ": " +
                                            answer.body.substr(0, 200));
  }
  Json body = api::ParseUntrustedJson(answer.body);
  if (!body.is_object()) {
    return Error(ErrorCode::kNetStatus,
                 "device agent of " + device_id + " answered with something that is not JSON");
  }
  Bytes echoed;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &echoed));
  // The quote must carry the nonce the PVE sent, whatever the agent echoes.
  return AppraiseAndRecord(device, evidence, nonce.first);
}

}  // namespace henbtrust
