#include <nlohmann/json.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/core/json_fields.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/tpm/quote_verifier.h"

namespace henbtrust::cli {

namespace {

namespace fs = std::filesystem;

// "2027-01-31T00:00:00Z" or a Unix time in seconds.
Result<int64_t> ParseTime(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string())
    return Error(ErrorCode::kInvalidArgument, "expires must be a string or an integer");
  std::tm tm{};
  const std::string s = v.get<std::string>();
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    return Error(ErrorCode::kInvalidArgument, "expires '" + s + "' is not YYYY-MM-DDTHH:MM:SSZ");
  }
  return static_cast<int64_t>(timegm(&tm));
}

Result<PrivateKey> LoadPrivateKey(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes pem, ReadFile(path, 1 << 20));
  auto key = PrivateKey::FromPem(ToString(pem));
  if (!key.ok()) return key.error().WithContext(path);
  return key;
}

Result<PublicKey> LoadPublicKey(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes pem, ReadFile(path, 1 << 20));
  auto key = PublicKey::FromPem(ToString(pem));
  if (!key.ok()) return key.error().WithContext(path);
  return key;
}

// A release description (JSON) to a manifest and its component files.
struct Description {
  ReleaseManifest manifest;
  std::map<std::string, std::string> files;
};

Result<Description> LoadDescription(const std::string& path) {
  namespace jf = json_fields;
  constexpr size_t kText = 4096;
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(path, 1 << 20));
  const fs::path base = fs::path(path).parent_path();
  auto read = [&]() -> Result<Description> {
    HENB_ASSIGN_OR_RETURN(jf::Json j, jf::ParseObject(ToString(raw), "the description", 1 << 20));
    Description d;
    HENB_ASSIGN_OR_RETURN(d.manifest.release_id, jf::Text(j, "release_id", kText));
    HENB_ASSIGN_OR_RETURN(d.manifest.version, jf::Text(j, "version", kText));
    HENB_ASSIGN_OR_RETURN(int64_t counter, jf::Int(j, "release_counter", 0, INT64_MAX));
    d.manifest.release_counter = static_cast<uint64_t>(counter);
    HENB_ASSIGN_OR_RETURN(const jf::Json* models, jf::Array(j, "hardware_models", 1024));
    for (const auto& m : *models) {
      if (!m.is_string()) return Error(ErrorCode::kNetBadRequest, "a hardware model is no string");
      d.manifest.hardware_models.push_back(m.get<std::string>());
    }
    std::sort(d.manifest.hardware_models.begin(), d.manifest.hardware_models.end());
    auto expires = j.find("expires");
    if (expires == j.end()) return Error(ErrorCode::kNetBadRequest, "field 'expires' is missing");
    HENB_ASSIGN_OR_RETURN(d.manifest.expires_at, ParseTime(*expires));
    HENB_ASSIGN_OR_RETURN(const jf::Json* components, jf::Array(j, "components", 1024));
    for (const auto& c : *components) {
      if (!c.is_object()) return Error(ErrorCode::kNetBadRequest, "a component is no object");
      HENB_ASSIGN_OR_RETURN(std::string name, jf::Text(c, "file", kText));
      HENB_ASSIGN_OR_RETURN(std::string id, jf::Text(c, "id", kText));
      HENB_ASSIGN_OR_RETURN(std::string version, jf::Text(c, "version", kText));
      HENB_ASSIGN_OR_RETURN(int64_t pcr, jf::Int(c, "pcr", 0, 23));
      const std::string file = (base / name).string();
      HENB_ASSIGN_OR_RETURN(ReleaseComponent rc,
                            DescribeComponentFile(id, version, static_cast<uint32_t>(pcr), file));
      d.files[rc.id] = file;
      d.manifest.components.push_back(std::move(rc));
    }
    HENB_TRY(EncodeManifest(d.manifest));  // validates
    return d;
  };
  auto d = read();
  if (!d.ok() && d.error().code() == ErrorCode::kNetBadRequest) {
    return Error(ErrorCode::kInvalidArgument, path + ": " + d.error().message());
  }
  return d;
}

Status CreateBundle(const std::string& description, const std::string& out,
                    const std::vector<std::string>& keys) {
  HENB_ASSIGN_OR_RETURN(Description d, LoadDescription(description));
  HENB_ASSIGN_OR_RETURN(Bytes manifest_bytes, EncodeManifest(d.manifest));
  std::vector<ReleaseSignature> sigs;
  for (const auto& k : keys) {
    HENB_ASSIGN_OR_RETURN(PrivateKey key, LoadPrivateKey(k));
    HENB_ASSIGN_OR_RETURN(ReleaseSignature s, SignWithDomain(key, kManifestDomain, manifest_bytes));
    sigs.push_back(std::move(s));
  }
  return WriteBundle(out, d.manifest, sigs, d.files);
}

Status GenerateKey(const std::string& prefix, KeyType type) {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(type));
  HENB_TRY(WriteFileAtomic(prefix + ".key", AsBytes(key.ToPem()), 0600));
  return WriteFileAtomic(prefix + ".pub", AsBytes(key.Public().ToPem()));
}

Result<Bytes> BuildRoot(const std::vector<std::string>& pubs, uint16_t threshold, uint64_t version,
                        const std::vector<std::string>& signers) {
  std::vector<PublicKey> keys;
  for (const auto& p : pubs) {
    HENB_ASSIGN_OR_RETURN(PublicKey k, LoadPublicKey(p));
    keys.push_back(std::move(k));
  }
  HENB_ASSIGN_OR_RETURN(TrustRoot root, TrustRoot::Create(std::move(keys), threshold, version));
  std::vector<PrivateKey> sign_keys;
  for (const auto& s : signers) {
    HENB_ASSIGN_OR_RETURN(PrivateKey k, LoadPrivateKey(s));
    sign_keys.push_back(std::move(k));
  }
  return root.Sign(sign_keys);
}

constexpr char kExampleReadme[] = R"(# A worked henbtrust release

Everything here was written by `henbtrust release example`:

- components/*.img       the component images of the release
- release.json           the release description (manifest fields, files, PCRs)
- keys/vendor-{1,2,3}    three vendor signing keys (.key private, .pub public)
- trust-root             the vendor trust root: the three keys, threshold 2,
                         signed by all three
- release.bundle         the bundle, signed by vendor-1 and vendor-2

Verify it (prints "valid"):

    henbtrust release verify release.bundle --trust trust-root --hardware femto-a1 --floor 1

Show the manifest and the TIM a device running it will report:

    henbtrust release inspect release.bundle

Rebuild it from the description, signing with two of the three keys:

    henbtrust release create --description release.json --out rebuilt.bundle \
        --sign keys/vendor-1.key
    henbtrust release sign rebuilt.bundle --key keys/vendor-2.key
    henbtrust release verify rebuilt.bundle --trust trust-root

With one signature only, verification fails: release.threshold-not-met.

Rotate the trust root to a new key set (signed by two old and all new keys):

    henbtrust keys generate --out keys/vendor-4
    henbtrust release root rotate --current trust-root --key keys/vendor-2.pub \
        --key keys/vendor-3.pub --key keys/vendor-4.pub --threshold 2 \
        --sign keys/vendor-1.key --sign keys/vendor-2.key --sign keys/vendor-3.key \
        --sign keys/vendor-4.key --out trust-root.v2
    henbtrust release root verify --current trust-root trust-root.v2
)";

Status WriteExample(const std::string& dir) {
  fs::create_directories(fs::path(dir) / "components");
  fs::create_directories(fs::path(dir) / "keys");
  struct Comp {
    const char* id;
    const char* version;
    uint32_t pcr;
    size_t size;
  };
  const Comp comps[] = {{"bootloader", "2.1.0", 0, 96 << 10},
                        {"kernel", "5.10.180", 2, 512 << 10},
                        {"rootfs", "2.0.0", 3, 1 << 20},
                        {"femto-stack", "7.3.1", 3, 384 << 10},
                        {"config", "2.0.0", 4, 4 << 10}};
  nlohmann::ordered_json desc;
  desc["release_id"] = "henb-firmware";
  desc["version"] = "2.0.0";
  desc["release_counter"] = 2;
  desc["hardware_models"] = {"femto-a1", "femto-a2"};
  desc["expires"] = FormatUtc(UnixSeconds() + int64_t{365} * 24 * 3600);
  desc["components"] = nlohmann::ordered_json::array();
  for (const auto& c : comps) {
    HENB_ASSIGN_OR_RETURN(Bytes data, RandomBytes(c.size));
    const std::string rel = std::string("components/") + c.id + ".img";
    HENB_TRY(WriteFileAtomic((fs::path(dir) / rel).string(), data));
    desc["components"].push_back(
        {{"id", c.id}, {"version", c.version}, {"file", rel}, {"pcr", c.pcr}});
  }
  const std::string desc_path = (fs::path(dir) / "release.json").string();
  HENB_TRY(WriteFileAtomic(desc_path, AsBytes(desc.dump(2) + "\n")));
  std::vector<std::string> pubs;
  std::vector<std::string> privs;
  for (int i = 1; i <= 3; ++i) {
    const std::string prefix = (fs::path(dir) / "keys" / ("vendor-" + std::to_string(i))).string();
    HENB_TRY(GenerateKey(prefix, KeyType::kEcP256));
    pubs.push_back(prefix + ".pub");
    privs.push_back(prefix + ".key");
  }
  HENB_ASSIGN_OR_RETURN(Bytes root, BuildRoot(pubs, 2, 1, privs));
  HENB_TRY(WriteFileAtomic((fs::path(dir) / "trust-root").string(), root));
  HENB_TRY(
      CreateBundle(desc_path, (fs::path(dir) / "release.bundle").string(), {privs[0], privs[1]}));
  return WriteFileAtomic((fs::path(dir) / "README").string(), AsBytes(kExampleReadme));
}

struct VerifyArgs {
  std::string bundle, trust, hardware;
  uint64_t floor = 0;
};

int RunVerify(const VerifyArgs& a) {
  std::string trust_path = a.trust;
  if (trust_path.empty()) {
    const char* env = std::getenv("HENBTRUST_TRUST_ROOT");
    trust_path = env ? env : "/etc/henbtrust/trust-root";
  }
  auto root = LoadTrustRoot(trust_path);
  if (!root.ok()) return Fail(root.error());
  BundlePolicy policy;
  policy.trust = &*root;
  if (!a.hardware.empty()) policy.hardware_model = a.hardware;
  policy.floor = a.floor;
  policy.now = UnixSeconds();
  auto m = VerifyBundle(a.bundle, policy);
  if (!m.ok()) return Verdict(m.error());
  std::cout << "valid\n";
  return kExitOk;
}

int RunInspect(const std::string& path, bool json) {
  auto h = ReadBundleHeader(path);
  if (!h.ok()) return Fail(h.error());
  const ReleaseManifest& m = h->manifest;
  const PcrSelection sel = PlanSelection(m);
  nlohmann::ordered_json j;
  j["release_id"] = m.release_id;
  j["version"] = m.version;
  j["release_counter"] = m.release_counter;
  j["hardware_models"] = m.hardware_models;
  j["expires"] = FormatUtc(m.expires_at);
  j["components"] = nlohmann::ordered_json::array();
  for (const auto& c : m.components) {
    j["components"].push_back({{"id", c.id},
                               {"version", c.version},
                               {"size", c.size},
                               {"sha256", HexEncode(c.sha256)},
                               {"pcr", c.pcr}});
  }
  j["signatures"] = nlohmann::ordered_json::array();
  for (const auto& s : h->signatures) j["signatures"].push_back(HexEncode(s.key_id));
  j["pcr_selection"] = FormatPcrSelection({sel});
  j["expected_tim"] = HexEncode(ExpectedTim(m));
  if (json) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "release     " << m.release_id << " " << m.version << " (counter "
            << m.release_counter << ")\n"
            << "hardware    ";
  for (const auto& hw : m.hardware_models) std::cout << hw << " ";
  std::cout << "\nexpires     " << FormatUtc(m.expires_at)
            << "\ncomponents  (measurement plan order)\n";
  for (const auto& c : m.components) {
    std::cout << "  pcr " << (c.pcr < 10 ? " " : "") << c.pcr << "  " << c.id << " " << c.version
              << "  " << c.size << " bytes  sha256=" << HexEncode(c.sha256) << "\n";
  }
  std::cout << "signatures  " << h->signatures.size() << " (key ids:";
  for (const auto& s : h->signatures) std::cout << " " << HexEncode(s.key_id).substr(0, 16);
  std::cout << ")\nexpected TIM over " << FormatPcrSelection({sel}) << ": "
            << HexEncode(ExpectedTim(m)) << "\n";
  return kExitOk;
}

// keys generate
void AddKeyCommands(CLI::App& app, int* exit_code) {
  CLI::App* keys = app.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);
  auto key_prefix = std::make_shared<std::string>();
  auto key_type = std::make_shared<std::string>("ecc-p256");
  CLI::App* gen =
      keys->add_subcommand("generate", "Write PREFIX.key (private, PEM, mode 0600) and PREFIX.pub");
  gen->add_option("--out", *key_prefix, "path prefix")->required();
  gen->add_option("--type", *key_type, "ecc-p256 or rsa")->capture_default_str();
  OnRun(gen, exit_code, [key_prefix, key_type] {
    if (*key_type != "ecc-p256" && *key_type != "rsa") {
      return UsageError("--type must be ecc-p256 or rsa");
    }
    auto st = GenerateKey(*key_prefix, *key_type == "rsa" ? KeyType::kRsa : KeyType::kEcP256);
    if (!st.ok()) return Fail(st.error());
    std::cout << "wrote " << *key_prefix << ".key and " << *key_prefix << ".pub\n";
    return kExitOk;
  });
}

// release example, create, sign: writing bundles.
void AddAuthoringCommands(CLI::App& rel, int* exit_code) {
  auto ex_dir = std::make_shared<std::string>();
  CLI::App* example = rel.add_subcommand(
      "example",
      "Write a complete worked example: components, description, keys, trust root, bundle, README");
  example->add_option("--out", *ex_dir, "directory to create")->required();
  OnRun(example, exit_code, [ex_dir] {
    auto st = WriteExample(*ex_dir);
    if (!st.ok()) return Fail(st.error());
    std::cout << "wrote a worked example to " << *ex_dir << " (see " << *ex_dir << "/README)\n";
    return kExitOk;
  });

  auto c_desc = std::make_shared<std::string>();
  auto c_out = std::make_shared<std::string>();
  auto c_keys = std::make_shared<std::vector<std::string>>();
  CLI::App* create =
      rel.add_subcommand("create", "Build a bundle from a release description (JSON)");
  create->add_option("--description", *c_desc, "release description, as release example writes it")
      ->required();
  create->add_option("--out", *c_out, "bundle to write")->required();
  create->add_option("--sign", *c_keys, "vendor private key to sign with (repeatable)");
  OnRun(create, exit_code, [c_desc, c_out, c_keys] {
    auto st = CreateBundle(*c_desc, *c_out, *c_keys);
    if (!st.ok()) return Fail(st.error());
    std::cout << "wrote " << *c_out << " with " << c_keys->size() << " signature(s)\n";
    return kExitOk;
  });

  auto s_bundle = std::make_shared<std::string>();
  auto s_key = std::make_shared<std::string>();
  auto s_out = std::make_shared<std::string>();
  CLI::App* sign = rel.add_subcommand("sign", "Add a vendor signature to a bundle");
  sign->add_option("BUNDLE", *s_bundle, "bundle")->required();
  sign->add_option("--key", *s_key, "vendor private key")->required();
  sign->add_option("--out", *s_out, "write here instead of replacing BUNDLE");
  OnRun(sign, exit_code, [s_bundle, s_key, s_out] {
    auto key = LoadPrivateKey(*s_key);
    if (!key.ok()) return Fail(key.error());
    auto st = SignBundle(*s_bundle, *key, s_out->empty() ? *s_bundle : *s_out);
    if (!st.ok()) return Fail(st.error());
    std::cout << "signed with key " << HexEncode(KeyIdOf(key->Public())).substr(0, 16) << "\n";
    return kExitOk;
  });
}

// release verify, inspect: reading bundles.
void AddCheckingCommands(CLI::App& rel, int* exit_code) {
  auto v = std::make_shared<VerifyArgs>();
  CLI::App* verify =
      rel.add_subcommand("verify",
                         "Verify a bundle: signatures against the trust root's threshold, expiry, "
                         "hardware model, anti-rollback "
                         "floor, every component's size and RIM, nothing missing or extra. Prints "
                         "'valid' (exit 0) or 'invalid: "
                         "<code>: <detail>' (exit 1); exit 2 on usage or I/O errors.");
  verify->add_option("BUNDLE", v->bundle, "bundle")->required();
  verify->add_option("--trust", v->trust,
                     "trust root (default: $HENBTRUST_TRUST_ROOT, else /etc/henbtrust/trust-root)");
  verify->add_option("--hardware", v->hardware, "hardware model the release must list");
  verify->add_option("--floor", v->floor,
                     "anti-rollback floor: the release counter must be at least this");
  OnRun(verify, exit_code, [v] { return RunVerify(*v); });

  auto i_bundle = std::make_shared<std::string>();
  auto i_json = std::make_shared<bool>(false);
  CLI::App* inspect = rel.add_subcommand("inspect",
                                         "Show a bundle's manifest and the expected TIM of its "
                                         "measurement plan (signatures not checked)");
  inspect->add_option("BUNDLE", *i_bundle, "bundle")->required();
  inspect->add_flag("--json", *i_json, "machine-readable output");
  OnRun(inspect, exit_code, [i_bundle, i_json] { return RunInspect(*i_bundle, *i_json); });
}

// release root create, rotate, verify.
void AddRootCommands(CLI::App& rel, int* exit_code) {
  CLI::App* root =
      rel.add_subcommand("root", "Vendor trust roots: creation, rotation, verification");
  root->require_subcommand(1);
  struct RootArgs {
    std::vector<std::string> keys, signers;
    uint16_t threshold = 1;
    std::string out, current, next;
  };
  auto r = std::make_shared<RootArgs>();
  CLI::App* rcreate =
      root->add_subcommand("create", "Create a first trust root, signed by its own keys");
  rcreate->add_option("--key", r->keys, "vendor public key (repeatable)")->required();
  rcreate->add_option("--threshold", r->threshold, "signatures a release needs")->required();
  rcreate->add_option("--sign", r->signers, "private key to sign the root with (repeatable)")
      ->required();
  rcreate->add_option("--out", r->out, "trust root to write")->required();
  OnRun(rcreate, exit_code, [r] {
    auto file = BuildRoot(r->keys, r->threshold, 1, r->signers);
    if (!file.ok()) return Fail(file.error());
    if (auto check = TrustRoot::ParseSelfSigned(*file); !check.ok()) return Fail(check.error());
    if (auto st = WriteFileAtomic(r->out, *file); !st.ok()) return Fail(st.error());
    std::cout << "wrote " << r->out << " (version 1)\n";
    return kExitOk;
  });
  CLI::App* rotate = root->add_subcommand(
      "rotate",
      "Create the next trust root, signed by the current root's threshold and the new one's");
  rotate->add_option("--current", r->current, "the trust root in force")->required();
  rotate->add_option("--key", r->keys, "public key of the new root (repeatable)")->required();
  rotate->add_option("--threshold", r->threshold, "threshold of the new root")->required();
  rotate->add_option("--sign", r->signers, "private key to sign with, old or new (repeatable)")
      ->required();
  rotate->add_option("--out", r->out, "new trust root to write")->required();
  OnRun(rotate, exit_code, [r] {
    auto current = LoadTrustRoot(r->current);
    if (!current.ok()) return Fail(current.error());
    auto file = BuildRoot(r->keys, r->threshold, current->version() + 1, r->signers);
    if (!file.ok()) return Fail(file.error());
    if (auto check = current->VerifyRotation(*file); !check.ok()) return Fail(check.error());
    if (auto st = WriteFileAtomic(r->out, *file); !st.ok()) return Fail(st.error());
    std::cout << "wrote " << r->out << " (version " << current->version() + 1 << ")\n";
    return kExitOk;
  });
  CLI::App* rverify =
      root->add_subcommand("verify", "Check that NEXT is a valid successor of the current root");
  rverify->add_option("--current", r->current, "the trust root in force")->required();
  rverify->add_option("NEXT", r->next, "proposed next trust root")->required();
  OnRun(rverify, exit_code, [r] {
    auto current = LoadTrustRoot(r->current);
    if (!current.ok()) return Fail(current.error());
    auto raw = ReadFile(r->next);
    if (!raw.ok()) return Fail(raw.error());
    auto next = current->VerifyRotation(*raw);
    if (!next.ok()) return Verdict(next.error());
    std::cout << "valid\n";
    return kExitOk;
  });
}

}  // namespace

void RegisterReleaseCommands(CLI::App& app, int* exit_code) {
  AddKeyCommands(app, exit_code);
  CLI::App* rel =
      app.add_subcommand("release", "Signed release bundles (manifest, RIMs, payloads)");
  rel->require_subcommand(1);
  AddAuthoringCommands(*rel, exit_code);
  AddCheckingCommands(*rel, exit_code);
  AddRootCommands(*rel, exit_code);
}

}  // namespace henbtrust::cli
