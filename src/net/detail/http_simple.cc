#include "net/detail/http_simple.h"

#include <array>
#include <cstring>

#include "net/detail/http_wire.h"

namespace kp::net::detail {

namespace {

// Field-value bytes the fast path takes: visible ASCII, SP and HTAB. Beast
// also takes obs-text (0x80-0xFF); such messages are declined, not refused.
constexpr std::array<bool, 256> make_value_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[static_cast<std::size_t>(c)] = true;
  t['\t'] = true;
  return t;
}
constexpr std::array<bool, 256> kValue = make_value_table();

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// Skips field-value bytes: eight at a time while a word holds only 0x20-0x7e
// (then byte by byte, which also takes HTAB). Returns where the scan stopped.
const char* skip_value(const char* p, const char* end) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  while (end - p >= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    // A byte >= 0x80 (its own high bit in w), < 0x20 (below_space) or ==
    // 0x7f (del) sets a high bit in the test below. The "has a byte below n"
    // trick may misplace the bit but never misses or invents one when no byte
    // is >= 0x80, and a word with such a byte fails on w alone.
    const std::uint64_t below_space = (w - kOnes * 0x20) & ~w;
    const std::uint64_t x = w ^ (kOnes * 0x7f);
    const std::uint64_t del = (x - kOnes) & ~x;
    if (((w | below_space | del) & kHighs) != 0) {
      break;
    }
    p += 8;
  }
  while (p < end && kValue[static_cast<unsigned char>(*p)]) {
    ++p;
  }
  return p;
}

// Fields whose meaning the fast path does not reproduce; Beast reads them.
bool declined_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 6: return kp::iequals(name, "expect");
    case 7: return kp::iequals(name, "upgrade");
    case 16: return kp::iequals(name, "proxy-connection");
    case 17: return kp::iequals(name, "transfer-encoding");
    default: return false;
  }
}

// Cursor over the buffered head; every read is bounds-checked against `end`.
struct Cursor {
  const char* p;
  const char* end;

  bool at_crlf() const noexcept { return end - p >= 2 && p[0] == '\r' && p[1] == '\n'; }
  // Consumes tchars; returns how many.
  std::size_t tchars() noexcept {
    const char* start = p;
    while (p < end && kTchar[static_cast<unsigned char>(*p)]) {
      ++p;
    }
    return static_cast<std::size_t>(p - start);
  }
  bool take(char c) noexcept {
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
};

// "HTTP/1.1" or "HTTP/1.0" -> 11 or 10; 0 for anything else.
unsigned parse_version(Cursor& c) noexcept {
  constexpr std::string_view kPrefix = "HTTP/1.";
  if (static_cast<std::size_t>(c.end - c.p) < kPrefix.size() + 1 ||
      std::string_view(c.p, kPrefix.size()) != kPrefix) {
    return 0;
  }
  const char minor = c.p[kPrefix.size()];
  if (minor != '0' && minor != '1') {
    return 0;
  }
  c.p += kPrefix.size() + 1;
  return minor == '1' ? 11 : 10;
}

// 1 to 18 decimal digits (no sign, no space, no list).
std::optional<std::uint64_t> parse_length(std::string_view v) noexcept {
  if (v.empty() || v.size() > 18) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (const char ch : v) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return n;
}

// What the header block says about framing, once its fields are read.
struct Framing {
  std::optional<std::uint64_t> length;  // Content-Length
  bool close = false;                   // the connection closes after this message
};

// field-line = field-name ":" OWS field-value OWS CRLF, up to and including
// the empty line that ends the header block. `close` starts as the
// version's default (HTTP/1.0 closes unless asked to keep alive).
std::optional<Framing> parse_fields(Cursor& c, bool close, kp::Headers& headers) {
  Framing f;
  f.close = close;
  bool connection_seen = false;
  for (;;) {
    if (c.at_crlf()) {
      c.p += 2;
      return f;  // end of the header block
    }
    const char* name = c.p;
    const std::size_t name_len = c.tchars();
    if (name_len == 0 || !c.take(':')) {
      return std::nullopt;  // includes obs-fold (a line starting with OWS) and bare LF
    }
    while (c.p < c.end && is_ows(*c.p)) {
      ++c.p;
    }
    const char* value = c.p;
    c.p = skip_value(c.p, c.end);
    const char* value_end = c.p;
    if (!c.at_crlf()) {
      return std::nullopt;  // a control byte, obs-text, bare CR/LF, or the limit
    }
    c.p += 2;
    while (value_end != value && is_ows(value_end[-1])) {
      --value_end;
    }
    const std::string_view n(name, name_len);
    const std::string_view v(value, static_cast<std::size_t>(value_end - value));
    if (declined_field(n)) {
      return std::nullopt;
    }
    if (n.size() == 14 && kp::iequals(n, "content-length")) {
      if (f.length) {
        return std::nullopt;  // a second one: Beast compares them
      }
      f.length = parse_length(v);
      if (!f.length) {
        return std::nullopt;
      }
    } else if (n.size() == 10 && kp::iequals(n, "connection")) {
      // One field with one option; lists and repeats go to Beast.
      if (connection_seen) {
        return std::nullopt;
      }
      connection_seen = true;
      if (kp::iequals(v, "close")) {
        f.close = true;
      } else if (kp::iequals(v, "keep-alive")) {
        f.close = false;
      } else {
        return std::nullopt;
      }
    }
    headers.add(n, v);
  }
}

// The body of `length` bytes after the head, if all of it is in `in`; the
// bytes consumed (head and body), or nullopt.
std::optional<std::size_t> take_body(std::string_view in, std::size_t head, std::uint64_t length,
                                     std::uint64_t limit, std::string& body) {
  if (length > limit || length > in.size() - head) {
    return std::nullopt;  // over the limit (Beast answers), or not all here yet
  }
  if (length != 0) {
    reserve_wiping(body, static_cast<std::size_t>(length));
    append_wiping(body, in.substr(head, static_cast<std::size_t>(length)));
  }
  return head + static_cast<std::size_t>(length);
}

std::optional<SimpleMessage> parse_request(std::string_view in, const SimpleLimits& limits,
                                           kp::HttpRequest& req) {
  // The whole header block must lie within the header limit.
  Cursor c{in.data(), in.data() + std::min(in.size(), limits.header_limit)};

  // request-line = method SP request-target SP HTTP-version CRLF
  const char* method = c.p;
  const std::size_t method_len = c.tchars();
  if (method_len == 0 || !c.take(' ')) {
    return std::nullopt;
  }
  const char* target = c.p;
  while (c.p < c.end && *c.p > 0x20 && *c.p < 0x7f) {
    ++c.p;
  }
  const auto target_len = static_cast<std::size_t>(c.p - target);
  if (target_len == 0 || !c.take(' ')) {
    return std::nullopt;
  }
  const unsigned version = parse_version(c);
  if (version == 0 || !c.at_crlf()) {
    return std::nullopt;
  }
  c.p += 2;
  req.method.assign(method, method_len);
  req.target.assign(target, target_len);
  req.version = version;

  const auto framing = parse_fields(c, version == 10, req.headers);
  if (!framing) {
    return std::nullopt;
  }
  // A request without Content-Length (and without Transfer-Encoding) has no body.
  const auto consumed = take_body(in, static_cast<std::size_t>(c.p - in.data()), framing->length.value_or(0),
                                  limits.body_limit, req.body);
  if (!consumed) {
    return std::nullopt;
  }
  return SimpleMessage{*consumed, !framing->close};
}

std::optional<SimpleMessage> parse_response(std::string_view in, const SimpleLimits& limits,
                                            kp::HttpResponse& resp) {
  Cursor c{in.data(), in.data() + std::min(in.size(), limits.header_limit)};

  // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
  const unsigned version = parse_version(c);
  if (version == 0 || !c.take(' ') || c.end - c.p < 4) {
    return std::nullopt;
  }
  unsigned status = 0;
  for (int i = 0; i < 3; ++i) {
    if (c.p[i] < '0' || c.p[i] > '9') {
      return std::nullopt;
    }
    status = status * 10 + static_cast<unsigned>(c.p[i] - '0');
  }
  c.p += 3;
  // 1xx, 204 and 304 have no body whatever the fields say: Beast reads them.
  if (status < 200 || status > 599 || status == 204 || status == 304 || !c.take(' ')) {
    return std::nullopt;
  }
  c.p = skip_value(c.p, c.end);  // the reason phrase: ignored
  if (!c.at_crlf()) {
    return std::nullopt;
  }
  c.p += 2;
  resp.status = status;

  const auto framing = parse_fields(c, version == 10, resp.headers);
  if (!framing || !framing->length) {
    return std::nullopt;  // without Content-Length the body runs to the end of the connection
  }
  const auto consumed =
      take_body(in, static_cast<std::size_t>(c.p - in.data()), *framing->length, limits.body_limit, resp.body);
  if (!consumed) {
    return std::nullopt;
  }
  return SimpleMessage{*consumed, !framing->close};
}

}  // namespace

std::optional<SimpleMessage> parse_simple_request(std::string_view in, const SimpleLimits& limits,
                                                  kp::HttpRequest& req) {
  auto r = parse_request(in, limits, req);
  if (!r) {
    req = kp::HttpRequest{};  // declined: the caller starts over with Beast
  }
  return r;
}

std::optional<SimpleMessage> parse_simple_response(std::string_view in, const SimpleLimits& limits,
                                                   kp::HttpResponse& resp) {
  auto r = parse_response(in, limits, resp);
  if (!r) {
    resp = kp::HttpResponse{};  // declined: the caller reads it with Beast
  }
  return r;
}

}  // namespace kp::net::detail
