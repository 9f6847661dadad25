// A deferral ticket (docs/recovery.md): the OAM's signed word to one
// device's boot stage, bound to a challenge nonce the boot stage made. Two
// verdicts:
//   kDefer    move the watchdog's deadline `period` seconds on. From
//             POST /v1/agent/ticket: the device's latest appraisal
//             (`appraisal`, whose TIM is `tim`) is affirming and recent.
//             From the recovery image's contact: `appraisal` verified the
//             recovery boot, and `tim` is what the normal slot measures to,
//             the expected TIM of the device's recorded release;
//   kRecover  an explicit refusal: stay in (or go to) the recovery image.
// A compact ES256 JWS under the OAM key, with a `typ` of its own so that no
// deployment order or attestation result is ever read as a ticket.
// Freshness is the boot stage's: it accepts a ticket only for the challenge
// it holds, once, and only soon after making it, on the TrE's clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/keys.h"

namespace henbtrust {

enum class TicketVerdict { kDefer, kRecover };
std::string_view TicketVerdictName(TicketVerdict verdict);
std::optional<TicketVerdict> ParseTicketVerdict(std::string_view name);

inline constexpr size_t kMaxTicketBytes = size_t{4} * 1024;
inline constexpr size_t kTicketNonceBytes = 32;
// The longest deferral a ticket may give (a ticket period is set per
// hardware model; a longer one would leave a compromised device out of
// reach for too long).
inline constexpr int64_t kMaxTicketPeriodSeconds = int64_t{30} * 24 * 3600;
inline constexpr size_t kMaxTicketReasonBytes = 512;

// The boot stage measures the ticket key it trusts at every boot
// (device/boot_stage.h): one EV_ACTION event in kBootStagePcr, outside
// every measurement plan, whose text is kBootStageEventPrefix and the hex
// SHA-256 of the key's SubjectPublicKeyInfo. A device's evidence carries a
// second quote, of that PCR alone, from which the PVE reads the key.
inline constexpr uint32_t kBootStagePcr = 15;
inline constexpr char kBootStageEventPrefix[] = "henbtrust boot stage; ticket key sha256:";

struct DeferralTicket {
  std::string device_id;
  Bytes nonce;  // the boot stage's challenge, kTicketNonceBytes
  TicketVerdict verdict = TicketVerdict::kDefer;
  int64_t appraisal = 0;  // kDefer: the affirming appraisal's id
  Bytes tim;              // kDefer: its TIM (32 bytes)
  int64_t period = 0;     // kDefer: seconds, 1 .. kMaxTicketPeriodSeconds
  std::string reason;     // kRecover: why, in words
  int64_t issued_at = 0;  // the OAM's clock (Unix seconds), for people
};

Result<std::string> SignDeferralTicket(const DeferralTicket& ticket, const PrivateKey& oam_key);

// Checks the signature and the claims, and that the ticket names
// `device_id`. kPolicyTicket (with the reason) for a ticket signed by
// another key, for another device, or whose claims are out of range;
// kMalformed for a text that is not a JWS.
Result<DeferralTicket> VerifyDeferralTicket(std::string_view token, const PublicKey& oam_key,
                                            const std::string& device_id);

}  // namespace henbtrust
