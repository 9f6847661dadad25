// A small signed release in a temporary directory, for release and device tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "henbtrust/core/file.h"
#include "henbtrust/release/bundle.h"
#include "support/test_support.h"

namespace henbtrust::testing {

struct ReleaseFixture {
  TempDir dir;
  std::vector<PrivateKey> vendor;  // three keys; the root needs two
  TrustRoot root;
  // The machine's time when the fixture was made: the PVE issues device
  // certificates on a clock that starts here (tests/pve/pve_harness.h), and
  // TLS checks them on the machine's clock.
  int64_t now = UnixSeconds();

  ReleaseFixture() : vendor(MakeKeys()), root(MakeRoot(vendor)) {}

  static std::vector<PrivateKey> MakeKeys() {
    std::vector<PrivateKey> keys;
    for (int i = 0; i < 3; ++i) keys.push_back(*PrivateKey::Generate(KeyType::kEcP256));
    return keys;
  }
  static TrustRoot MakeRoot(const std::vector<PrivateKey>& keys) {
    std::vector<PublicKey> pubs;
    for (const auto& k : keys) pubs.push_back(k.Public());
    return *TrustRoot::Create(pubs, 2);
  }

  // Component images: id -> content.
  using Images = std::vector<std::pair<std::string, std::string>>;

  static Images DefaultImages(const std::string& tag) {
    return {{"bootloader", "boot " + tag},
            {"kernel", "kernel " + tag},
            {"femto", "femto stack " + tag}};
  }

  ReleaseManifest Manifest(const Images& images, uint64_t counter = 2,
                           const std::string& version = "2.0") {
    ReleaseManifest m;
    m.release_id = "henb-fw";
    m.version = version;
    m.release_counter = counter;
    m.hardware_models = {"femto-a1"};
    m.expires_at = now + 3600;
    uint32_t pcrs[] = {0, 2, 3, 3, 4, 4, 4, 4};
    for (size_t i = 0; i < images.size(); ++i) {
      m.components.push_back({images[i].first, version, images[i].second.size(),
                              Sha256(AsBytes(images[i].second)), pcrs[i % 8]});
    }
    return m;
  }

  std::map<std::string, std::string> WriteImages(const Images& images, const std::string& tag) {
    std::map<std::string, std::string> files;
    for (const auto& [id, content] : images) {
      const std::string path = dir.File(tag + "-" + id + ".img");
      WriteBytes(path, AsBytes(content));
      files[id] = path;
    }
    return files;
  }

  std::vector<ReleaseSignature> Sign(const ReleaseManifest& m,
                                     std::vector<size_t> signers = {0, 1}) {
    const Bytes bytes = *EncodeManifest(m);
    std::vector<ReleaseSignature> sigs;
    for (size_t i : signers) sigs.push_back(*SignWithDomain(vendor[i], kManifestDomain, bytes));
    return sigs;
  }

  // Writes a bundle of `images` signed by `signers`; returns its path.
  std::string Bundle(const std::string& name, const Images& images, uint64_t counter = 2,
                     std::vector<size_t> signers = {0, 1}, const std::string& version = "2.0") {
    const ReleaseManifest m = Manifest(images, counter, version);
    const std::string path = dir.File(name);
    auto st = WriteBundle(path, m, Sign(m, signers), WriteImages(images, name));
    if (!st.ok()) throw std::runtime_error(st.error().ToString());
    return path;
  }

  BundlePolicy Policy(uint64_t floor = 0) const {
    BundlePolicy p;
    p.trust = &root;
    p.hardware_model = "femto-a1";
    p.floor = floor;
    p.now = now;
    return p;
  }
};

}  // namespace henbtrust::testing
