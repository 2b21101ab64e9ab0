#include "base/openssl.h"

#include <openssl/err.h>

namespace kp {

std::string take_openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return "unknown OpenSSL error";
  }
  if (const char* reason = ERR_reason_error_string(e); reason != nullptr) {
    return reason;
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace kp
