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
  options.max_response_bytes = 2 * kMaxEventLogBytes;
  TlsConfig tls = config.agent_tls;
  tls.peer_ca = ca_pem;
  auto client = HttpClient::Connect(hp.first, hp.second, tls, options);
  if (!client.ok()) return client.error().WithContext("device agent of " + device_id);
  const std::string request = EncodeIntegrityRequest({nonce.first, ref->pcr_selection});
  HENB_ASSIGN_OR_RETURN(HttpResponse answer, (*client)->Request("POST", "/v1/integrity-request",
                                                                "application/json", request));
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus, "device agent of " + device_id + " answered " +
                                            std::to_string(answer.status) + ": " +
                                            answer.body.substr(0, 200));
  }
  auto message = DecodeEvidenceAnswer(answer.body);
  if (!message.ok()) return message.error().WithContext("device agent of " + device_id);
  // The quote must carry the nonce the PVE sent, whatever the agent echoes.
  return AppraiseAndRecord(device, EvidenceOf(std::move(message).value()), nonce.first);
}

}  // namespace henbtrust
