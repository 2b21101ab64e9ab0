#include "sigv4/canonical.h"

#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "sigv4/digest.h"

namespace kp::sigv4 {

namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";

constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
constexpr std::array<bool, 256> make_unreserved() {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  t['-'] = t['.'] = t['_'] = t['~'] = true;
  return t;
}
constexpr auto kUnreserved = make_unreserved();

void uri_encode_append(std::string_view in, bool keep_slash, std::string& out) {
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (kUnreserved[c] || (keep_slash && ch == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kUpperHex[c >> 4]);
      out.push_back(kUpperHex[c & 0xf]);
    }
  }
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lenient percent-decoding: a '%' not followed by two hex digits stays literal
// (and is then re-encoded as %25), so no input is rejected at this stage.
std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// Case-insensitive strict weak order on header names (ASCII).
bool name_less(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char x = lower(a[i]);
    const char y = lower(b[i]);
    if (x != y) {
      return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
    }
  }
  return a.size() < b.size();
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

void append_lower(std::string_view s, std::string& out) {
  const std::size_t at = out.size();
  out.resize(at + s.size());
  char* p = out.data() + at;
  for (const char c : s) {
    *p++ = lower(c);
  }
}

// Appends the step-4 value form of `raw`: trimmed, whitespace runs -> ' '.
void append_canonical_value(std::string_view raw, std::string& out) {
  // Fast path: no whitespace to trim or fold (the usual header value).
  bool plain = !raw.empty() && !is_space(raw.front()) && !is_space(raw.back());
  for (std::size_t i = 1; plain && i < raw.size(); ++i) {
    plain = !(is_space(raw[i]) && (raw[i] != ' ' || is_space(raw[i - 1])));
  }
  if (plain) {
    out += raw;
    return;
  }
  bool pending_space = false;
  bool any = false;
  for (const char c : raw) {
    if (is_space(c)) {
      pending_space = any;
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back(c);
    any = true;
  }
}

struct Field {
  std::string_view name;
  std::string_view value;
};

// The signed fields, sorted by name (stable: repeated headers keep their
// received order). Requests carry a handful of fields, so they are kept in a
// fixed array and insertion-sorted; a longer list spills to the heap.
class SelectedFields {
 public:
  SelectedFields(const Headers& headers, HeaderPolicy policy) {
    if (headers.size() > kInline) {
      spill_.reserve(headers.size());
    }
    for (const auto& [name, value] : headers.fields()) {
      if (should_sign(name, policy)) {
        push(Field{name, value});
      }
    }
  }
  std::span<const Field> view() const noexcept {
    return spill_.empty() ? std::span<const Field>(inline_.data(), n_) : std::span<const Field>(spill_);
  }

 private:
  static constexpr std::size_t kInline = 24;

  void push(Field f) {
    if (spill_.empty() && n_ < kInline) {
      std::size_t i = n_++;
      for (; i > 0 && name_less(f.name, inline_[i - 1].name); --i) {
        inline_[i] = inline_[i - 1];
      }
      inline_[i] = f;
      return;
    }
    if (spill_.empty()) {
      spill_.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(n_));
    }
    spill_.insert(std::upper_bound(spill_.begin(), spill_.end(), f,
                                   [](const Field& a, const Field& b) { return name_less(a.name, b.name); }),
                  f);
  }

  std::array<Field, kInline> inline_{};
  std::size_t n_ = 0;
  std::vector<Field> spill_;
};

// Emits block and list for fields already sorted by name (into `out`'s
// buffers, which keep their capacity).
void emit_into(std::span<const Field> fields, CanonicalHeaders& out) {
  out.block.clear();
  out.signed_headers.clear();
  std::size_t block_size = 0;
  std::size_t list_size = 0;
  for (const auto& f : fields) {
    block_size += f.name.size() + f.value.size() + 2;
    list_size += f.name.size() + 1;
  }
  out.block.reserve(block_size);
  out.signed_headers.reserve(list_size);
  for (std::size_t i = 0; i < fields.size();) {
    std::size_t j = i;
    append_lower(fields[i].name, out.block);
    if (!out.signed_headers.empty()) {
      out.signed_headers.push_back(';');
    }
    append_lower(fields[i].name, out.signed_headers);
    out.block.push_back(':');
    for (; j < fields.size() && iequals(fields[j].name, fields[i].name); ++j) {
      if (j != i) {
        out.block.push_back(',');
      }
      append_canonical_value(fields[j].value, out.block);
    }
    out.block.push_back('\n');
    i = j;
  }
}

}  // namespace

bool should_sign(std::string_view name, HeaderPolicy policy) noexcept {
  // Never signed (botocore's exclusions plus hop-by-hop fields); dispatched on
  // length because this runs for every field of every signed request.
  bool never = false;
  switch (name.size()) {
    case 0: return false;
    case 2: never = iequals(name, "te"); break;
    case 6: never = iequals(name, "expect"); break;
    case 7: never = iequals(name, "trailer") || iequals(name, "upgrade"); break;
    case 10: never = iequals(name, "user-agent") || iequals(name, "connection") || iequals(name, "keep-alive"); break;
    case 13: never = iequals(name, "authorization"); break;
    case 14: never = iequals(name, "content-length"); break;
    case 15: never = iequals(name, "x-amzn-trace-id"); break;
    case 17: never = iequals(name, "transfer-encoding"); break;
    case 18: never = iequals(name, "proxy-authenticate"); break;
    case 19: never = iequals(name, "proxy-authorization"); break;
    default: break;
  }
  if (never) {
    return false;
  }
  switch (policy) {
    case HeaderPolicy::kAllSignable:
      return true;
    case HeaderPolicy::kAwsDefault:
      return iequals(name, "host") || iequals(name, "content-type") || istarts_with(name, "x-amz-");
  }
  return false;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept {
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string canonical_uri(std::string_view path, bool normalize) {
  std::string out;
  if (path.empty() || path == "/") {  // every KMS request: no heap string
    out = "/";
    return out;
  }
  out.reserve(path.size() + 16);
  if (!normalize) {
    if (path.front() != '/') {
      out.push_back('/');
    }
    uri_encode_append(path, /*keep_slash=*/true, out);
    return out;
  }
  // RFC 3986 5.2.4 remove_dot_segments, plus AWS's removal of empty segments
  // (botocore utils.remove_dot_segments): split on '/', drop "" and ".",
  // ".." pops; keep a trailing '/' if anything remains.
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  out.push_back('/');
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i != 0) {
      out.push_back('/');
    }
    uri_encode_append(segments[i], /*keep_slash=*/false, out);
  }
  if (path.back() == '/' && !segments.empty()) {
    out.push_back('/');
  }
  return out;
}

std::string canonical_query_string(std::string_view query) {
  std::string out;
  if (query.empty()) {
    return out;
  }
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    const std::string_view pair = query.substr(start, end - start);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      const std::string_view name = pair.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      std::string n;
      std::string v;
      uri_encode_append(percent_decode(name), /*keep_slash=*/false, n);
      uri_encode_append(percent_decode(value), /*keep_slash=*/false, v);
      params.emplace_back(std::move(n), std::move(v));
    }
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  for (const auto& [n, v] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += n;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string canonical_header_value(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  append_canonical_value(raw, out);
  return out;
}

void canonical_headers_into(const Headers& headers, HeaderPolicy policy, CanonicalHeaders& out) {
  emit_into(SelectedFields(headers, policy).view(), out);
}

CanonicalHeaders canonical_headers(const Headers& headers, HeaderPolicy policy) {
  CanonicalHeaders out;
  canonical_headers_into(headers, policy, out);
  return out;
}

std::string signed_header_list(const Headers& headers, HeaderPolicy policy) {
  const SelectedFields selected(headers, policy);
  const auto fields = selected.view();
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0 && iequals(fields[i].name, fields[i - 1].name)) {
      continue;
    }
    if (!out.empty()) {
      out.push_back(';');
    }
    append_lower(fields[i].name, out);
  }
  return out;
}

std::optional<CanonicalHeaders> canonical_headers_for(const Headers& headers,
                                                      std::span<const std::string> names) {
  CanonicalHeaders out;
  for (const auto& name : names) {
    bool found = false;
    out.block += name;
    out.block.push_back(':');
    for (const auto& [k, v] : headers.fields()) {
      if (iequals(k, name)) {
        if (found) {
          out.block.push_back(',');
        }
        append_canonical_value(v, out.block);
        found = true;
      }
    }
    if (!found) {
      return std::nullopt;
    }
    out.block.push_back('\n');
    if (!out.signed_headers.empty()) {
      out.signed_headers.push_back(';');
    }
    out.signed_headers += name;
  }
  return out;
}

std::string payload_hash(std::string_view body) {
  std::string out;
  out.reserve(2 * detail::kSha256Size);
  detail::append_hex(detail::sha256(as_bytes(body)), out);
  return out;
}

void canonical_request_into(std::string& out, std::string_view method, std::string_view canonical_uri,
                            std::string_view canonical_query, const CanonicalHeaders& headers,
                            std::string_view payload_hash) {
  out.clear();
  out.reserve(method.size() + canonical_uri.size() + canonical_query.size() + headers.block.size() +
              headers.signed_headers.size() + payload_hash.size() + 5);
  out += method;
  out.push_back('\n');
  out += canonical_uri;
  out.push_back('\n');
  out += canonical_query;
  out.push_back('\n');
  out += headers.block;
  out.push_back('\n');
  out += headers.signed_headers;
  out.push_back('\n');
  out += payload_hash;
}

std::string canonical_request(std::string_view method, std::string_view canonical_uri,
                              std::string_view canonical_query, const CanonicalHeaders& headers,
                              std::string_view payload_hash) {
  std::string out;
  canonical_request_into(out, method, canonical_uri, canonical_query, headers, payload_hash);
  return out;
}

void credential_scope_into(std::string& out, std::string_view date8, std::string_view region,
                           std::string_view service) {
  out.clear();
  out.reserve(date8.size() + region.size() + service.size() + kScopeTerminator.size() + 3);
  out += date8;
  out.push_back('/');
  out += region;
  out.push_back('/');
  out += service;
  out.push_back('/');
  out += kScopeTerminator;
}

std::string credential_scope(std::string_view date8, std::string_view region,
                             std::string_view service) {
  std::string out;
  credential_scope_into(out, date8, region, service);
  return out;
}

void string_to_sign_into(std::string& out, std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  out.clear();
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 2 * detail::kSha256Size + 3);
  out += kAlgorithm;
  out.push_back('\n');
  out += amz_date;
  out.push_back('\n');
  out += scope;
  out.push_back('\n');
  detail::append_hex(detail::sha256(as_bytes(canonical_request)), out);
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string out;
  string_to_sign_into(out, amz_date, scope, canonical_request);
  return out;
}

}  // namespace kp::sigv4
