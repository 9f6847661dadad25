// The device side of the PVE protocol: enrollment by credential activation,
// push attestation, and the responder that answers the PVE's integrity
// requests (pull). Works with any Tre (soft or TPM).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/device/recovery_identity.h"
#include "henbtrust/net/http.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust {

class Device;

struct EnrollmentRequest {
  std::string device_id;
  std::string hardware_model;
  std::string release_id;       // the release the device runs ...
  std::string release_version;  // ... which the first appraisal checks it against
  Bytes ek_certificate;         // DER, from the TPM manufacturer
  std::string agent_address;    // "host:port" where the agent answers pulls; may be empty
  // The boot stage's recovery identity (Device::RecoveryIdentityForEnrollment),
  // for a device that has one: its key is enrolled too, and the recovery
  // certificate the PVE issues is handed to it. Not owned; may be null.
  RecoveryIdentity* recovery = nullptr;
};

// What enrollment gives the device: its TLS identity for mutual TLS.
struct DeviceCredentials {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string ca_pem;  // the server CA: trust anchor for the PVE and the OAM
  // The client CA, which issued the device certificate and the PVE's client
  // identity: the trust anchor for the PVE's pull requests.
  std::string client_ca_pem = {};
  // Why the recovery image's certificate (EnrollmentRequest::recovery) was
  // not kept; empty when it was, or none was asked for. Enrollment still
  // succeeded: the device certificate is the one to use from now on.
  std::string recovery_problem = {};
};

// Enrolls with the PVE at `host:port`, whose server certificate must chain to
// `pve_ca_pem`: sends the EK certificate and public areas with a fresh TLS
// key, activates the credential the PVE returns in `tre`, answers with the
// proof that binds the TLS key to that activation (ActivationProof in
// net/protocol.h), and returns the device certificate. Errors: the PVE's answer as kNetStatus with
// its code and message, or the transport's.
Result<DeviceCredentials> Enroll(const std::string& host, uint16_t port,
                                 const std::string& pve_ca_pem, Tre& tre,
                                 const EnrollmentRequest& request);

// The same over a channel to the PVE that presents no client certificate.
Result<DeviceCredentials> Enroll(HttpChannel& pve, Tre& tre, const EnrollmentRequest& request);

// Enroll for `device`: with its TrE, and with its boot stage's recovery
// key when it has one (Device::RecoveryIdentityForEnrollment), whose
// certificate then goes to the boot stage.
Result<DeviceCredentials> EnrollDevice(const std::string& host, uint16_t port,
                                       const std::string& pve_ca_pem, Device& device,
                                       EnrollmentRequest request);
Result<DeviceCredentials> EnrollDevice(HttpChannel& pve, Device& device, EnrollmentRequest request);

// A TLS client configuration for the device's mutual TLS.
TlsConfig DeviceTls(const DeviceCredentials& credentials);
// The pull responder's TLS server configuration: the device certificate,
// and the client CA, against which the PVE's requests are checked.
TlsConfig ResponderTls(const DeviceCredentials& credentials);

// The evidence for `nonce` over `selection` as the JSON the PVE expects.
// With the log, on a device whose boot stage measured itself this boot,
// a second quote of kBootStagePcr goes with it (net/deferral_ticket.h):
// the PVE reads from it the ticket key the watchdog trusts.
Result<std::string> EvidenceJson(Tre& tre, ByteView nonce,
                                 const std::vector<PcrSelection>& selection, bool with_log = true);
// The same from a quote already made (and the boot stage's, if any), with
// the event log as base64 of its TCG serialization (empty: none). A device
// whose log has not changed since it last encoded it can send the same
// text again.
std::string EvidenceText(const Quote& quote, ByteView nonce, std::string_view event_log_base64,
                         const Quote* boot_stage = nullptr);

// A nonce the PVE issued to this device for a push: from POST /v1/nonces, or
// the `next_nonce` that came with the device's previous result.
struct PushNonce {
  Bytes nonce;             // empty: none held
  int64_t expires_at = 0;  // Unix seconds, by the PVE's clock
  std::vector<PcrSelection> selection;
};

// The nonce in the PVE's answer to POST /v1/nonces (a JSON body).
Result<PushNonce> NonceFromAnswer(const std::string& body);
// The `next_nonce` that came with a result (a JSON body), if there is one.
std::optional<PushNonce> NextNonceFromResult(const std::string& body);

// Push mode: quotes over the nonce in `*held` when it holds one, otherwise
// over a fresh one from POST /v1/nonces, and posts the evidence. A held nonce
// the PVE refuses (expired, say, or from a restarted PVE's old key) costs one
// retry with a fresh nonce. `*held` then keeps the PVE's next nonce, so that
// the next push is one request. Returns the PVE's answer (200 with the
// attestation result, or a 4xx with an error code).
Result<HttpResponse> AttestOnce(HttpChannel& pve, Tre& tre, bool with_log = true,
                                PushNonce* held = nullptr);

// Pull mode: a handler for POST /v1/integrity-request that answers only a
// client with the PVE role and a verified certificate. `tre_mu` serialises
// use of `tre`; both must outlive the handler.
HttpHandler IntegrityResponder(Tre& tre, std::mutex& tre_mu);

}  // namespace henbtrust
