// Test vector loading shared by the tpm tests.
#pragma once

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust::testing {

struct SwtpmVector {
  Bytes msg, sig, sig_der, ak_pem, ak_tss, ak_name, nonce, pcrs, eventlog;
};

inline SwtpmVector LoadSwtpmVector() {
  const std::string d = TestVectorDir() + "/swtpm-quote/";
  auto rd = [&](const char* n) {
    auto r = ReadFile(d + n);
    return r.ok() ? std::move(r).value() : Bytes{};
  };
  return {rd("quote.msg"),  rd("quote.sig"),       rd("quote.sig.der"),
          rd("ak.pub.pem"), rd("ak.pub.tss"),      rd("ak.name"),
          rd("nonce.bin"),  rd("pcrs.values.bin"), rd("eventlog.bin")};
}

}  // namespace henbtrust::testing
