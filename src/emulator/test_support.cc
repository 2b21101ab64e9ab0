#include "emulator/test_support.h"

#include <stdlib.h>

#include "base/encoding.h"

namespace kp::emulator::testing {

namespace json = boost::json;
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "kp-emu-XXXXXX").string();
  const char* p = ::mkdtemp(tmpl.data());
  path_ = p != nullptr ? fs::path(p) : fs::path(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

HttpRequest kms_request(std::string_view op, const json::object& body) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers.set("Host", "kms.us-east-1.amazonaws.com");
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.headers.set("X-Amz-Target", "TrentService." + std::string(op));
  r.body = json::serialize(body);
  return r;
}

Answer parse_answer(HttpResponse r) {
  Answer a;
  a.status = r.status;
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    a.body = v.as_object();
    if (const auto* t = a.body.if_contains("__type"); t != nullptr && t->is_string()) {
      a.type = std::string(t->as_string());
    }
    if (const auto* m = a.body.if_contains("message"); m != nullptr && m->is_string()) {
      a.message = std::string(m->as_string());
    }
  }
  a.raw = std::move(r);
  return a;
}

Answer call(KmsEmulator& emu, std::string_view op, const json::object& body) {
  return parse_answer(emu.handle(kms_request(op, body)));
}

std::string b64(std::string_view s) { return base64_encode(as_bytes(s)); }
std::string b64(ByteView b) { return base64_encode(b); }

Bytes unb64(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return {};
  }
  auto b = base64_decode(v->as_string());
  return b ? *b : Bytes{};
}

}  // namespace kp::emulator::testing
