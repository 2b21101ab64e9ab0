// parse_simple_request(): what it accepts, what it declines, and that it
// never disagrees with Beast (the oracle) on anything it accepts.
#include "net/detail/http_simple.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "net/detail/simple_message_oracle.h"

namespace kp::net::detail {
namespace {

// `head` (start line and fields) + Content-Length + the empty line + `body`.
std::string with_length(std::string head, std::string_view body) {
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  head += body;
  return head;
}

// What botocore sends for kms.encrypt (values shortened, shape kept).
std::string sdk_request(std::string_view body = R"({"KeyId": "alias/app", "Plaintext": "aGk="})") {
  return with_length(
      "POST / HTTP/1.1\r\n"
      "Host: 127.0.0.1:9999\r\n"
      "Accept-Encoding: identity\r\n"
      "X-Amz-Target: TrentService.Encrypt\r\n"
      "Content-Type: application/x-amz-json-1.1\r\n"
      "User-Agent: Boto3/1.26.0 md/Botocore#1.29.0 ua/2.0 os/linux#6.1 lang/python#3.11.2\r\n"
      "X-Amz-Date: 20240101T000000Z\r\n"
      "X-Amz-Security-Token: IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==\r\n"
      "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/kms/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
      "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n"
      "amz-sdk-invocation-id: 0b1e4d8c-6a52-4e0f-9a07-1c2d3e4f5a6b\r\n"
      "amz-sdk-request: attempt=1\r\n",
      body);
}

std::string with_field(std::string_view field_line, std::string_view body = "{}") {
  return with_length("POST / HTTP/1.1\r\nHost: h\r\n" + std::string(field_line), body);
}

void expect_agrees(std::string_view in, const SimpleLimits& limits = {}) {
  EXPECT_EQ(simple_request_disagreement(in, limits), "") << "input: " << testing::PrintToString(std::string(in));
}

TEST(SimpleRequest, TakesAnSdkRequestAsBeastReadsIt) {
  const std::string in = sdk_request();
  HttpRequest req;
  const auto r = parse_simple_request(in, {}, req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, in.size());
  EXPECT_TRUE(r->keep_alive);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/");
  EXPECT_EQ(req.version, 11u);
  EXPECT_EQ(req.body, R"({"KeyId": "alias/app", "Plaintext": "aGk="})");
  EXPECT_EQ(req.headers.get("x-amz-target").value_or(""), "TrentService.Encrypt");
  EXPECT_EQ(req.headers.get("Content-Length").value_or(""), std::to_string(req.body.size()));
  EXPECT_EQ(req.headers.get("amz-sdk-request").value_or(""), "attempt=1");
  expect_agrees(in);
}

TEST(SimpleRequest, KeepAliveFollowsVersionAndConnection) {
  struct Case {
    std::string head;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"POST / HTTP/1.1\r\n", true},
      {"POST / HTTP/1.1\r\nConnection: close\r\n", false},
      {"POST / HTTP/1.1\r\nConnection: Keep-Alive\r\n", true},
      {"POST / HTTP/1.0\r\n", false},
      {"POST / HTTP/1.0\r\nconnection: keep-alive\r\n", true},
      {"POST / HTTP/1.0\r\nConnection: CLOSE\r\n", false},
  };
  for (const auto& c : cases) {
    const std::string in = c.head + "Content-Length: 2\r\n\r\n{}";
    HttpRequest req;
    const auto r = parse_simple_request(in, {}, req);
    ASSERT_TRUE(r) << c.head;
    EXPECT_EQ(r->keep_alive, c.keep_alive) << c.head;
    expect_agrees(in);
  }
}

TEST(SimpleRequest, TrimsOptionalWhitespaceAndKeepsEmptyValues) {
  const std::string in = with_field("X-A:   v w \t\r\nX-Empty:\r\nX-Blank: \t \r\n");
  HttpRequest req;
  ASSERT_TRUE(parse_simple_request(in, {}, req));
  EXPECT_EQ(req.headers.get("X-A").value_or("?"), "v w");
  EXPECT_EQ(req.headers.get("X-Empty").value_or("?"), "");
  EXPECT_EQ(req.headers.get("X-Blank").value_or("?"), "");
  expect_agrees(in);
}

TEST(SimpleRequest, TakesOneOfPipelinedRequestsAndNoBodyWithoutLength) {
  const std::string first = "POST / HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string in = first + sdk_request();
  HttpRequest req;
  const auto r = parse_simple_request(in, {}, req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, first.size());
  EXPECT_TRUE(req.body.empty());
  expect_agrees(in);
  HttpRequest second;
  ASSERT_TRUE(parse_simple_request(std::string_view(in).substr(r->consumed), {}, second));
  EXPECT_EQ(second.headers.get("X-Amz-Target").value_or(""), "TrentService.Encrypt");
}

TEST(SimpleRequest, DeclinesWhatItDoesNotReproduceAndResetsTheRequest) {
  const std::vector<std::string> declined = {
      with_field("Transfer-Encoding: chunked\r\n"),
      with_field("Expect: 100-continue\r\n"),
      with_field("Upgrade: h2c\r\n"),
      with_field("Proxy-Connection: keep-alive\r\n"),
      with_field("Connection: keep-alive, Upgrade\r\n"),
      with_field("Connection: close\r\nConnection: close\r\n"),
      with_field("Content-Length: 2\r\n"),                      // a second one, even equal
      "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
      "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}",
      "POST / HTTP/1.1\r\nContent-Length: 0000000000000000002\r\n\r\n{}",  // 19 digits
      with_field("X-Fold: a\r\n b\r\n"),                        // obs-fold
      with_field("X-Lf: a\nX-B: b\r\n"),                        // bare LF
      with_field("X-Cr: a\rb\r\n"),                             // bare CR
      with_field("X-Text: caf\xc3\xa9\r\n"),                    // obs-text
      with_field(std::string("X-Nul: a\0b\r\n", 11)),
      with_field("X-Del: a\x7f\r\n"),
      with_field("X-Ctl: a\x01\r\n"),
      with_field("Host : h\r\n"),                               // space before the colon
      with_field(": nameless\r\n"),
      "POST / HTTP/1.2\r\n\r\n",
      "POST / HTTP/2.0\r\n\r\n",
      "POST / http/1.1\r\n\r\n",
      "POST /a\tb HTTP/1.1\r\n\r\n",
      "POST  / HTTP/1.1\r\n\r\n",
      " POST / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1 \r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\n",                          // head not complete
      "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n{}",         // body not complete
      "",
  };
  for (const auto& in : declined) {
    HttpRequest req;
    EXPECT_FALSE(parse_simple_request(in, {}, req)) << testing::PrintToString(in);
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/");
    EXPECT_EQ(req.headers.size(), 0u) << testing::PrintToString(in);
    EXPECT_TRUE(req.body.empty());
  }
}

// The value scan goes eight bytes at a time: a refused byte is found at every
// position of a word and across word boundaries, and the edges of the
// accepted range (space, '~', an inner HTAB) pass.
TEST(SimpleRequest, ValueScanFindsRefusedBytesAtEveryPosition) {
  for (std::size_t len = 1; len <= 24; ++len) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (const unsigned char bad : {0x00, 0x08, 0x0a, 0x0d, 0x1f, 0x7f, 0x80, 0xff}) {
        std::string value(len, 'v');
        value[pos] = static_cast<char>(bad);
        HttpRequest req;
        const std::string in = with_field("X-V: " + value + "\r\n");
        EXPECT_FALSE(parse_simple_request(in, {}, req)) << len << " " << pos << " " << int(bad);
        expect_agrees(in);
      }
      for (const char good : {' ', '~', '!', '\t'}) {
        std::string value(len, 'v');
        if (pos != 0 && pos != len - 1) {
          value[pos] = good;
        }
        HttpRequest req;
        ASSERT_TRUE(parse_simple_request(with_field("X-V: " + value + "\r\n"), {}, req)) << len << " " << pos;
        EXPECT_EQ(req.headers.get("X-V").value_or(""), value);
      }
    }
  }
}

TEST(SimpleRequest, LimitsAreBeastsOrStricter) {
  const std::string in = sdk_request();
  const std::size_t head = in.find("\r\n\r\n") + 4;
  const std::size_t body = in.size() - head;
  HttpRequest req;
  EXPECT_TRUE(parse_simple_request(in, {.header_limit = head, .body_limit = body}, req));
  EXPECT_FALSE(parse_simple_request(in, {.header_limit = head - 1, .body_limit = body}, req));
  EXPECT_FALSE(parse_simple_request(in, {.header_limit = head, .body_limit = body - 1}, req));
  for (std::size_t limit = head - 3; limit <= head + 3; ++limit) {
    expect_agrees(in, {.header_limit = limit, .body_limit = body});
    expect_agrees(in, {.header_limit = limit, .body_limit = body - 1});
  }
}

// Every single-byte change of `base`, every deletion and truncation, and
// header limits around it: whatever the fast path still accepts, Beast reads
// the same way. Returns how many changed inputs the fast path accepted.
template <class Message>
std::size_t expect_mutants_agree(const std::string& base) {
  const auto agrees = [](std::string_view in, const SimpleLimits& limits = {}) {
    EXPECT_EQ(simple_disagreement<Message>(in, limits), "") << "input: " << testing::PrintToString(std::string(in));
  };
  const auto accepts = [](std::string_view in) {
    Message m;
    if constexpr (std::is_same_v<Message, HttpRequest>) {
      return parse_simple_request(in, {}, m).has_value();
    } else {
      return parse_simple_response(in, {}, m).has_value();
    }
  };
  const std::string replacements("\0\t \r\n:,\x7f\x80" "a0", 11);
  const std::size_t body = base.size() - (base.find("\r\n\r\n") + 4);
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (const char c : replacements) {
      std::string in = base;
      in[i] = c;
      agrees(in);
      accepted += accepts(in) ? 1 : 0;
    }
    std::string cut = base;
    cut.erase(i, 1);
    agrees(cut);
    agrees(std::string_view(base).substr(0, i));
    agrees(base, {.header_limit = i, .body_limit = body});
  }
  return accepted;
}

TEST(SimpleRequest, NeverDisagreesWithBeastOnMutatedRequests) {
  const std::string base = sdk_request();
  EXPECT_GT(expect_mutants_agree<HttpRequest>(base), base.size());  // the checks were not vacuous
}

// What KMS answers (shape of a real Encrypt response, values shortened).
std::string kms_response(unsigned status = 200, std::string_view body = R"({"CiphertextBlob":"AQIDAHg=","KeyId":"k"})") {
  std::string r = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Bad Request") + "\r\n";
  r += "x-amzn-RequestId: 4b5d9a3e-8d2c-4f1a-9b7e-6c5d4e3f2a1b\r\n"
       "Cache-Control: no-cache, no-store, must-revalidate, private\r\n"
       "Expires: 0\r\n"
       "Pragma: no-cache\r\n"
       "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
       "Content-Type: application/x-amz-json-1.1\r\n";
  return with_length(std::move(r), body);
}

void expect_response_agrees(std::string_view in, const SimpleLimits& limits = {}) {
  EXPECT_EQ(simple_response_disagreement(in, limits), "") << "input: " << testing::PrintToString(std::string(in));
}

TEST(SimpleResponse, TakesKmsResponsesAsBeastReadsThem) {
  for (const unsigned status : {200u, 400u}) {
    const std::string in = kms_response(status) + "HTTP/1.1 200 OK\r\n";  // and the start of another
    HttpResponse resp;
    const auto r = parse_simple_response(in, {}, resp);
    ASSERT_TRUE(r) << status;
    EXPECT_EQ(r->consumed, kms_response(status).size());
    EXPECT_TRUE(r->keep_alive);
    EXPECT_EQ(resp.status, status);
    EXPECT_EQ(resp.body, R"({"CiphertextBlob":"AQIDAHg=","KeyId":"k"})");
    EXPECT_EQ(resp.headers.get("x-amzn-requestid").value_or(""), "4b5d9a3e-8d2c-4f1a-9b7e-6c5d4e3f2a1b");
    expect_response_agrees(in);
  }
  const std::string closing = "HTTP/1.1 500 \r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  HttpResponse resp;
  const auto r = parse_simple_response(closing, {}, resp);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->keep_alive);
  EXPECT_EQ(resp.status, 500u);
  expect_response_agrees(closing);
  const std::string old = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}";
  HttpResponse old_resp;
  const auto o = parse_simple_response(old, {}, old_resp);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->keep_alive);
  expect_response_agrees(old);
}

TEST(SimpleResponse, DeclinesResponsesBeastMustFrame) {
  const std::vector<std::string> declined = {
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",  // body to the end of the connection
      "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}",
      "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 0\r\n\r\n",
      "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
  };
  for (const auto& in : declined) {
    HttpResponse resp;
    EXPECT_FALSE(parse_simple_response(in, {}, resp)) << testing::PrintToString(in);
    EXPECT_EQ(resp.status, 200u);
    EXPECT_EQ(resp.headers.size(), 0u);
    EXPECT_TRUE(resp.body.empty());
    expect_response_agrees(in);
  }
}

TEST(SimpleResponse, NeverDisagreesWithBeastOnMutatedResponses) {
  const std::string base = kms_response();
  EXPECT_GT(expect_mutants_agree<HttpResponse>(base), base.size());
}

}  // namespace
}  // namespace kp::net::detail
