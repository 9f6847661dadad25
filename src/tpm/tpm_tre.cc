#include "henbtrust/tpm/tpm_tre.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "henbtrust/tpm/structures.h"
#include "tpm/templates.h"

namespace henbtrust {

namespace {

constexpr TSS2_RC kRcNvUninitialized = TPM2_RC_NV_UNINITIALIZED;

Error TpmError(const char* what, TSS2_RC rc) {
  return Error(ErrorCode::kTpmDevice, std::string(what) + ": " + Tss2_RC_Decode(rc));
}

template <typename T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

// Flushes a transient object or session when it goes out of scope.
class ScopedFlush {
 public:
  ScopedFlush(ESYS_CONTEXT* ctx, ESYS_TR handle) : ctx_(ctx), handle_(handle) {}
  ~ScopedFlush() {
    if (handle_ != ESYS_TR_NONE) Esys_FlushContext(ctx_, handle_);
  }
  ScopedFlush(const ScopedFlush&) = delete;
  ScopedFlush& operator=(const ScopedFlush&) = delete;

 private:
  ESYS_CONTEXT* ctx_;
  ESYS_TR handle_;
};

class TpmTre final : public Tre {
 public:
  explicit TpmTre(TpmTreOptions options) : options_(std::move(options)) {}
  ~TpmTre() override {
    if (esys_) Esys_Finalize(&esys_);
    if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
  }

  Status Open() {
    // tss2 logs TPM errors we handle (an absent persistent handle) to
    // stderr; keep it quiet unless the operator asked for logs.
    ::setenv("TSS2_LOG", "all+NONE", /*overwrite=*/0);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(options_.tcti.c_str(), &tcti_);
    if (rc != TSS2_RC_SUCCESS)
      return TpmError(("cannot open TCTI '" + options_.tcti + "'").c_str(), rc);
    rc = Esys_Initialize(&esys_, tcti_, nullptr);
    if (rc != TSS2_RC_SUCCESS) return TpmError("Esys_Initialize", rc);
    HENB_TRY(LoadOrCreateEk());
    HENB_TRY(LoadOrCreateAk());
    return OkStatus();
  }

  std::string Kind() const override { return "tpm"; }
  std::vector<HashAlg> Banks() const override { return {HashAlg::kSha256}; }

  Status Extend(Event event) override {
    if (event.pcr > 23) return Error(ErrorCode::kInvalidArgument, "PCR out of range");
    TPML_DIGEST_VALUES values{};
    for (const auto& d : event.digests) {
      if (values.count >= TPM2_NUM_PCR_BANKS)
        return Error(ErrorCode::kInvalidArgument, "too many digests");
      auto alg = HashAlgFromTpmId(d.alg_id);
      if (!alg.ok() || DigestSize(*alg) != d.digest.size()) {
        return Error(ErrorCode::kInvalidArgument, "event digest of an unsupported algorithm");
      }
      TPMT_HA& ha = values.digests[values.count++];
      ha.hashAlg = d.alg_id;
      std::memcpy(&ha.digest, d.digest.data(), d.digest.size());
    }
    // Validate against the log before touching the TPM, so a bad event
    // changes nothing.
    EventLog probe = EventLog::NewCryptoAgile(Banks());
    HENB_TRY(probe.Append(event));
    const TSS2_RC rc = Esys_PCR_Extend(esys_, ESYS_TR_PCR0 + event.pcr, ESYS_TR_PASSWORD,
                                       ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_PCR_Extend", rc);
    return log_.Append(std::move(event));
  }

  Result<std::map<uint32_t, Bytes>> ReadPcrs(const PcrSelection& selection) override {
    std::map<uint32_t, Bytes> out;
    for (uint32_t pcr : selection.pcrs) {
      if (pcr > 23) return Error(ErrorCode::kInvalidArgument, "PCR out of range");
      TPML_PCR_SELECTION sel{};
      sel.count = 1;
      sel.pcrSelections[0].hash = static_cast<TPMI_ALG_HASH>(selection.bank);
      sel.pcrSelections[0].sizeofSelect = 3;
      sel.pcrSelections[0].pcrSelect[pcr / 8] = static_cast<BYTE>(1u << (pcr % 8));
      UINT32 counter = 0;
      TPML_PCR_SELECTION* sel_out = nullptr;
      TPML_DIGEST* digests = nullptr;
      const TSS2_RC rc = Esys_PCR_Read(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                                       &counter, &sel_out, &digests);
      EsysPtr<TPML_PCR_SELECTION> sel_guard(sel_out);
      EsysPtr<TPML_DIGEST> dig_guard(digests);
      if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_PCR_Read", rc);
      if (digests->count != 1) {
        return Error(ErrorCode::kTpmUnsupported,
                     std::string(HashAlgName(selection.bank)) + " bank not allocated");
      }
      out[pcr] =
          Bytes(digests->digests[0].buffer, digests->digests[0].buffer + digests->digests[0].size);
    }
    return out;
  }

  Result<Quote> MakeQuote(ByteView nonce, const std::vector<PcrSelection>& selection) override {
    TPM2B_DATA qualifying{};
    if (nonce.size() > sizeof qualifying.buffer)
      return Error(ErrorCode::kInvalidArgument, "nonce too long");
    qualifying.size = static_cast<UINT16>(nonce.size());
    std::memcpy(qualifying.buffer, nonce.data(), nonce.size());
    HENB_ASSIGN_OR_RETURN(Bytes sel_bytes, MarshalPcrSelection(selection));
    TPML_PCR_SELECTION sel{};
    size_t off = 0;
    Tss2_MU_TPML_PCR_SELECTION_Unmarshal(sel_bytes.data(), sel_bytes.size(), &off, &sel);
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_NULL;
    TPM2B_ATTEST* quoted = nullptr;
    TPMT_SIGNATURE* signature = nullptr;
    const TSS2_RC rc = Esys_Quote(esys_, ak_, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &qualifying, &scheme, &sel, &quoted, &signature);
    EsysPtr<TPM2B_ATTEST> q_guard(quoted);
    EsysPtr<TPMT_SIGNATURE> s_guard(signature);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Quote", rc);
    Quote q;
    q.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
    q.signature.resize(sizeof(TPMT_SIGNATURE));
    off = 0;
    const TSS2_RC mrc =
        Tss2_MU_TPMT_SIGNATURE_Marshal(signature, q.signature.data(), q.signature.size(), &off);
    if (mrc != TSS2_RC_SUCCESS) return TpmError("marshal TPMT_SIGNATURE", mrc);
    q.signature.resize(off);
    return q;
  }

  Result<Bytes> ActivateCredential(ByteView credential_blob, ByteView encrypted_secret) override {
    TPM2B_ID_OBJECT blob{};
    TPM2B_ENCRYPTED_SECRET secret{};
    if (credential_blob.size() > sizeof blob.credential ||
        encrypted_secret.size() > sizeof secret.secret) {
      return Error(ErrorCode::kInvalidArgument, "credential challenge too large");
    }
    blob.size = static_cast<UINT16>(credential_blob.size());
    std::memcpy(blob.credential, credential_blob.data(), credential_blob.size());
    secret.size = static_cast<UINT16>(encrypted_secret.size());
    std::memcpy(secret.secret, encrypted_secret.data(), encrypted_secret.size());
    HENB_ASSIGN_OR_RETURN(ESYS_TR session, StartEkPolicySession());
    ScopedFlush flush(esys_, session);
    TPM2B_DIGEST* cert_info = nullptr;
    const TSS2_RC rc = Esys_ActivateCredential(esys_, ak_, ek_, ESYS_TR_PASSWORD, session,
                                               ESYS_TR_NONE, &blob, &secret, &cert_info);
    EsysPtr<TPM2B_DIGEST> guard(cert_info);
    if (rc != TSS2_RC_SUCCESS) {
      // TPM_RC_INTEGRITY / TPM_RC_VALUE: not made for this EK and AK.
      const TSS2_RC base = rc & 0xbf;
      if (base == (TPM2_RC_INTEGRITY & 0xbf) || base == (TPM2_RC_VALUE & 0xbf) ||
          base == (TPM2_RC_SIZE & 0xbf)) {
        return Error(ErrorCode::kQuoteKeyMismatch,
                     std::string("TPM2_ActivateCredential: ") + Tss2_RC_Decode(rc));
      }
      return TpmError("TPM2_ActivateCredential", rc);
    }
    return Bytes(cert_info->buffer, cert_info->buffer + cert_info->size);
  }

  Bytes AkPublic() const override { return ak_public_; }
  Bytes EkPublic() const override { return ek_public_; }
  const EventLog& event_log() const override { return log_; }

  Result<uint64_t> ReadCounter() override {
    HENB_ASSIGN_OR_RETURN(ESYS_TR nv, CounterHandle());
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    const TSS2_RC rc =
        Esys_NV_Read(esys_, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
    EsysPtr<TPM2B_MAX_NV_BUFFER> guard(data);
    if ((rc & 0xfff) == (kRcNvUninitialized & 0xfff)) return uint64_t{0};
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_NV_Read", rc);
    if (data->size != 8) return Error(ErrorCode::kTpmDevice, "counter index is not 8 bytes");
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | data->buffer[i];
    return v;
  }

  Result<uint64_t> IncrementCounter() override {
    HENB_ASSIGN_OR_RETURN(ESYS_TR nv, CounterHandle());
    const TSS2_RC rc =
        Esys_NV_Increment(esys_, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_NV_Increment", rc);
    return ReadCounter();
  }

  Result<ClockInfo> ReadClock() override {
    TPMS_TIME_INFO* time = nullptr;
    const TSS2_RC rc = Esys_ReadClock(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &time);
    EsysPtr<TPMS_TIME_INFO> guard(time);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_ReadClock", rc);
    return ClockInfo{time->clockInfo.clock, time->clockInfo.resetCount,
                     time->clockInfo.restartCount, time->clockInfo.safe == TPM2_YES};
  }

  Status SetClock(uint64_t clock_ms) {
    const TSS2_RC rc = Esys_ClockSet(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, clock_ms);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_ClockSet", rc);
    return OkStatus();
  }

  Status Reboot() override {
    if (options_.swtpm_control.empty()) {
      return Error(ErrorCode::kTpmUnsupported,
                   "power cycling needs the swtpm control channel (a device reboots itself)");
    }
    // An orderly reboot, as a device's OS does it: TPM2_Shutdown first, so
    // that the TPM keeps its clock and does not count the power cycle
    // against dictionary-attack protection (a power loss does both).
    TSS2_RC rc = Esys_Shutdown(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Shutdown(CLEAR)", rc);
    HENB_TRY(SwtpmPowerCycle(options_.swtpm_control));
    rc = Esys_Startup(esys_, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Startup(CLEAR)", rc);
    log_.Clear();
    return OkStatus();
  }

 private:
  Result<ESYS_TR> StartEkPolicySession() {
    ESYS_TR session = ESYS_TR_NONE;
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    TSS2_RC rc = Esys_StartAuthSession(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym,
                                       TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_StartAuthSession", rc);
    rc = Esys_PolicySecret(esys_, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
      Esys_FlushContext(esys_, session);
      return TpmError("TPM2_PolicySecret(endorsement)", rc);
    }
    return session;
  }

  Result<Bytes> PublicOf(ESYS_TR handle) {
    TPM2B_PUBLIC* pub = nullptr;
    const TSS2_RC rc = Esys_ReadPublic(esys_, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       &pub, nullptr, nullptr);
    EsysPtr<TPM2B_PUBLIC> guard(pub);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_ReadPublic", rc);
    Bytes out(sizeof(TPM2B_PUBLIC) + 2);
    size_t off = 0;
    const TSS2_RC mrc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out.data(), out.size(), &off);
    if (mrc != TSS2_RC_SUCCESS) return TpmError("marshal TPM2B_PUBLIC", mrc);
    out.resize(off);
    return out;
  }

  // The persistent object at `handle`, or ESYS_TR_NONE if there is none.
  ESYS_TR FindPersistent(uint32_t handle) {
    ESYS_TR tr = ESYS_TR_NONE;
    if (Esys_TR_FromTPMPublic(esys_, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr) !=
        TSS2_RC_SUCCESS) {
      return ESYS_TR_NONE;
    }
    return tr;
  }

  Result<ESYS_TR> Persist(ESYS_TR transient, uint32_t handle) {
    ESYS_TR persistent = ESYS_TR_NONE;
    const TSS2_RC rc = Esys_EvictControl(esys_, ESYS_TR_RH_OWNER, transient, ESYS_TR_PASSWORD,
                                         ESYS_TR_NONE, ESYS_TR_NONE, handle, &persistent);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_EvictControl", rc);
    return persistent;
  }

  Status LoadOrCreateEk() {
    ek_ = FindPersistent(options_.ek_handle);
    if (ek_ == ESYS_TR_NONE) {
      TPM2B_PUBLIC in_public{};
      in_public.publicArea = tpm_internal::Template(
          options_.ek_type == EkType::kRsa2048 ? KeyTemplate::kEkRsa2048 : KeyTemplate::kEkEccP256);
      tpm_internal::ZeroUnique(in_public.publicArea);
      TPM2B_SENSITIVE_CREATE sensitive{};
      TPM2B_DATA outside{};
      TPML_PCR_SELECTION creation_pcr{};
      ESYS_TR transient = ESYS_TR_NONE;
      const TSS2_RC rc = Esys_CreatePrimary(
          esys_, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
          &in_public, &outside, &creation_pcr, &transient, nullptr, nullptr, nullptr, nullptr);
      if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_CreatePrimary(EK)", rc);
      ScopedFlush flush(esys_, transient);
      HENB_ASSIGN_OR_RETURN(ek_, Persist(transient, options_.ek_handle));
    }
    HENB_ASSIGN_OR_RETURN(ek_public_, PublicOf(ek_));
    return OkStatus();
  }

  Status LoadOrCreateAk() {
    ak_ = FindPersistent(options_.ak_handle);
    if (ak_ == ESYS_TR_NONE) {
      TPM2B_PUBLIC in_public{};
      in_public.publicArea = tpm_internal::Template(KeyTemplate::kAkEccP256);
      TPM2B_SENSITIVE_CREATE sensitive{};
      TPM2B_DATA outside{};
      TPML_PCR_SELECTION creation_pcr{};
      TPM2B_PRIVATE* out_private = nullptr;
      TPM2B_PUBLIC* out_public = nullptr;
      {
        HENB_ASSIGN_OR_RETURN(ESYS_TR session, StartEkPolicySession());
        ScopedFlush flush(esys_, session);
        const TSS2_RC rc = Esys_Create(esys_, ek_, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                                       &in_public, &outside, &creation_pcr, &out_private,
                                       &out_public, nullptr, nullptr, nullptr);
        if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Create(AK)", rc);
      }
      EsysPtr<TPM2B_PRIVATE> priv_guard(out_private);
      EsysPtr<TPM2B_PUBLIC> pub_guard(out_public);
      ESYS_TR transient = ESYS_TR_NONE;
      {
        HENB_ASSIGN_OR_RETURN(ESYS_TR session, StartEkPolicySession());
        ScopedFlush flush(esys_, session);
        const TSS2_RC rc = Esys_Load(esys_, ek_, session, ESYS_TR_NONE, ESYS_TR_NONE, out_private,
                                     out_public, &transient);
        if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Load(AK)", rc);
      }
      ScopedFlush flush(esys_, transient);
      HENB_ASSIGN_OR_RETURN(ak_, Persist(transient, options_.ak_handle));
    }
    HENB_ASSIGN_OR_RETURN(ak_public_, PublicOf(ak_));
    return OkStatus();
  }

  Result<ESYS_TR> CounterHandle() {
    if (counter_ != ESYS_TR_NONE) return counter_;
    counter_ = FindPersistent(options_.counter_nv_index);
    if (counter_ != ESYS_TR_NONE) return counter_;
    TPM2B_NV_PUBLIC info{};
    info.nvPublic.nvIndex = options_.counter_nv_index;
    info.nvPublic.nameAlg = TPM2_ALG_SHA256;
    info.nvPublic.attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD |
                               TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA | TPMA_NV_OWNERREAD;
    info.nvPublic.dataSize = 8;
    TPM2B_AUTH auth{};
    const TSS2_RC rc = Esys_NV_DefineSpace(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                           ESYS_TR_NONE, &auth, &info, &counter_);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_NV_DefineSpace(counter)", rc);
    return counter_;
  }

  TpmTreOptions options_;
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
  ESYS_TR ek_ = ESYS_TR_NONE;
  ESYS_TR ak_ = ESYS_TR_NONE;
  ESYS_TR counter_ = ESYS_TR_NONE;
  Bytes ek_public_, ak_public_;
  EventLog log_ = EventLog::NewCryptoAgile({HashAlg::kSha256});
};

}  // namespace

Result<std::unique_ptr<Tre>> OpenTpmTre(const TpmTreOptions& options) {
  auto tre = std::make_unique<TpmTre>(options);
  HENB_TRY(tre->Open());
  return std::unique_ptr<Tre>(std::move(tre));
}

Status TpmClockSet(Tre& tre, uint64_t clock_ms) {
  auto* tpm = dynamic_cast<TpmTre*>(&tre);
  if (tpm == nullptr) return Error(ErrorCode::kTpmUnsupported, "not a TPM");
  return tpm->SetClock(clock_ms);
}

Status SwtpmPowerCycle(const std::string& control) {
  const size_t colon = control.rfind(':');
  if (colon == std::string::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "swtpm control address must be host:port, got '" + control + "'");
  }
  const std::string host = control.substr(0, colon);
  const std::string port = control.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return Error(ErrorCode::kTpmDevice, "cannot resolve swtpm control address " + control);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  const int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0) return Error(ErrorCode::kTpmDevice, "socket: " + std::string(std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    return Error(ErrorCode::kTpmDevice,
                 "cannot connect to swtpm control " + control + ": " + std::strerror(errno));
  }
  // CMD_INIT (2) with init flags 0: a power-on reset of the TPM.
  const uint8_t cmd[8] = {0, 0, 0, 2, 0, 0, 0, 0};
  if (::send(fd, cmd, sizeof cmd, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof cmd)) {
    return Error(ErrorCode::kTpmDevice, "cannot send CMD_INIT to swtpm");
  }
  uint8_t resp[4];
  size_t got = 0;
  while (got < sizeof resp) {
    const ssize_t n = ::recv(fd, resp + got, sizeof resp - got, 0);
    if (n <= 0) return Error(ErrorCode::kTpmDevice, "swtpm closed the control channel");
    got += static_cast<size_t>(n);
  }
  const uint32_t result =
      uint32_t{resp[0]} << 24 | uint32_t{resp[1]} << 16 | uint32_t{resp[2]} << 8 | resp[3];
  if (result != 0)
    return Error(ErrorCode::kTpmDevice, "swtpm CMD_INIT returned " + std::to_string(result));
  return OkStatus();
}

}  // namespace henbtrust
