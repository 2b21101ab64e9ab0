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

void EmulatorFixture::reopen() {
  emu_.reset();
  EmulatorOptions o;
  o.data_dir = dir_.path() / "state";
  o.clock = &clock_;
  auto e = KmsEmulator::open(std::move(o));
  ASSERT_TRUE(e) << e.error().message;
  emu_ = std::move(*e);
}

json::object EmulatorFixture::create_key(json::object body) {
  auto a = op("CreateKey", body);
  EXPECT_EQ(a.status, 200u) << a.raw.body;
  if (a.status != 200) {
    return {};
  }
  return a.body["KeyMetadata"].as_object();
}

std::string EmulatorFixture::create_key_id(json::object body) {
  const auto md = create_key(std::move(body));
  const auto* id = md.if_contains("KeyId");
  return id != nullptr && id->is_string() ? std::string(id->as_string()) : std::string();
}

}  // namespace kp::emulator::testing
