#include "config/egress.h"

#include <algorithm>
#include <cstring>

#include "base/encoding.h"
#include "config/address.h"

namespace kp::config {

namespace {

struct DomainPattern {
  std::string text;                 // as written
  std::vector<std::string> labels;  // lower-case; "*" for both `*` and `**`
};

struct NetPattern {
  std::string text;
  IpAddress net;
  unsigned prefix = 0;
};

struct Rules {
  std::vector<DomainPattern> domains;
  std::vector<NetPattern> nets;
};

bool is_wild(std::string_view label) { return label == "*" || label == "**"; }

std::vector<std::string_view> split_labels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

// Parses one pattern into `rules`; returns the reason when it is invalid.
std::optional<std::string> add_pattern(std::string_view pattern, Rules* rules) {
  if (pattern.empty()) {
    return "empty pattern";
  }
  if (pattern.find_first_of(" \t\r\n") != std::string_view::npos) {
    return "pattern contains whitespace";
  }
  const std::size_t slash = pattern.find('/');
  if (slash != std::string_view::npos) {
    const auto ip = parse_ip(pattern.substr(0, slash));
    const std::string_view len = pattern.substr(slash + 1);
    if (!ip) {
      return "CIDR pattern needs an IPv4 or IPv6 address before '/'";
    }
    const unsigned max = ip->v6 ? 128U : 32U;
    if (!kp::is_decimal_digits(len) || len.size() > 3 || static_cast<unsigned>(std::stoul(std::string(len))) > max) {
      return "CIDR prefix length must be 0.." + std::to_string(max);
    }
    if (rules != nullptr) {
      rules->nets.push_back({std::string(pattern), *ip, static_cast<unsigned>(std::stoul(std::string(len)))});
    }
    return std::nullopt;
  }
  if (const auto ip = parse_ip(pattern)) {
    if (rules != nullptr) {
      rules->nets.push_back({std::string(pattern), *ip, ip->v6 ? 128U : 32U});
    }
    return std::nullopt;
  }
  std::string_view body = pattern;
  if (body.size() > 1 && body.back() == '.') {
    body.remove_suffix(1);
  }
  const auto labels = split_labels(body);
  bool numeric = false;
  bool only_numeric_or_wild = true;
  DomainPattern dp;
  dp.text = std::string(pattern);
  for (const auto label : labels) {
    if (label.empty()) {
      return "empty label (two dots in a row, or a leading dot)";
    }
    if (is_wild(label)) {
      dp.labels.emplace_back("*");
      continue;
    }
    if (label.find('*') != std::string_view::npos) {
      return "a wildcard must be a whole label ('*' or '**'), not part of '" + std::string(label) + "'";
    }
    if (label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !std::all_of(label.begin(), label.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        })) {
      return "'" + std::string(label) + "' is not a valid DNS label";
    }
    numeric = numeric || kp::is_decimal_digits(label);
    only_numeric_or_wild = only_numeric_or_wild && kp::is_decimal_digits(label);
    dp.labels.push_back(to_lower_ascii(label));
  }
  if (numeric && only_numeric_or_wild) {
    // "192.168.1.*" -> 192.168.1.0/24: leading octets, then only wildcards.
    std::string net;
    std::size_t octets = 0;
    bool in_wild = false;
    bool shaped = labels.size() <= 4;
    for (const auto label : labels) {
      if (is_wild(label)) {
        in_wild = true;
      } else if (in_wild || label.size() > 3 || std::stoi(std::string(label)) > 255) {
        shaped = false;
      } else {
        net += (octets++ == 0 ? "" : ".") + std::string(label);
      }
    }
    if (shaped && in_wild && octets > 0) {
      for (std::size_t i = octets; i < 4; ++i) {
        net += ".0";
      }
      return "IP wildcards are not supported: write the CIDR " + net + "/" + std::to_string(8 * octets);
    }
    return "IP wildcards are not supported: write a CIDR (e.g. 10.0.0.0/8)";
  }
  if (!is_wild(labels.back()) && kp::is_decimal_digits(labels.back())) {
    return "the last label is numeric: neither an IP address nor a DNS name";
  }
  if (rules != nullptr) {
    rules->domains.push_back(std::move(dp));
  }
  return std::nullopt;
}

// Pattern labels vs host labels, `*` = one or more labels. Dynamic
// programming keeps it O(P*H) whatever the number of wildcards.
bool labels_match(const std::vector<std::string>& p, const std::vector<std::string_view>& h) {
  const std::size_t np = p.size();
  const std::size_t nh = h.size();
  // ok[i][j]: p[i..] matches h[j..]
  std::vector<std::vector<char>> ok(np + 1, std::vector<char>(nh + 1, 0));
  ok[np][nh] = 1;
  for (std::size_t i = np; i-- > 0;) {
    for (std::size_t j = nh + 1; j-- > 0;) {
      if (p[i] == "*") {
        // consume h[j] and either stop (p[i+1..] vs h[j+1..]) or keep consuming
        ok[i][j] = static_cast<char>(j < nh && (ok[i + 1][j + 1] || ok[i][j + 1]));
      } else {
        ok[i][j] = static_cast<char>(j < nh && p[i] == h[j] && ok[i + 1][j + 1]);
      }
    }
  }
  return ok[0][0] != 0;
}

bool in_net(const IpAddress& a, const NetPattern& n) {
  if (a.v6 != n.net.v6) {
    return false;
  }
  const unsigned full = n.prefix / 8;
  const unsigned rest = n.prefix % 8;
  if (std::memcmp(a.bytes.data(), n.net.bytes.data(), full) != 0) {
    return false;
  }
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (a.bytes[full] & mask) == (n.net.bytes[full] & mask);
}

struct Host {
  std::optional<IpAddress> ip;         // as written
  std::optional<IpAddress> ip_as_v4;   // IPv4-mapped IPv6 seen as IPv4
  std::string name;                    // lower-case, no trailing dot
  std::vector<std::string_view> labels;
};

std::optional<Host> classify(std::string_view text) {
  Host h;
  if (auto ip = parse_ip(text)) {
    h.ip = ip;
    const IpAddress v4 = ip->unmapped();
    if (!(v4 == *ip)) {
      h.ip_as_v4 = v4;
    }
    return h;
  }
  if (!is_valid_hostname(text)) {
    return std::nullopt;
  }
  h.name = to_lower_ascii(text);
  if (h.name.back() == '.') {
    h.name.pop_back();
  }
  return h;
}

// Which pattern of `rules` matches, if any. Host labels point into h.name.
const std::string* find_match(const Rules& rules, const Host& h) {
  if (h.ip) {
    for (const auto& n : rules.nets) {
      if (in_net(*h.ip, n) || (h.ip_as_v4 && in_net(*h.ip_as_v4, n))) {
        return &n.text;
      }
    }
    return nullptr;
  }
  const auto labels = split_labels(h.name);
  for (const auto& d : rules.domains) {
    if (labels_match(d.labels, labels)) {
      return &d.text;
    }
  }
  return nullptr;
}

// us-east-1, ap-southeast-2, us-gov-west-1, cn-north-1, eu-isoe-west-1.
bool looks_like_region(std::string_view s) {
  const auto parts = [&] {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
      const std::size_t d = s.find('-', start);
      out.push_back(s.substr(start, d == std::string_view::npos ? std::string_view::npos : d - start));
      if (d == std::string_view::npos) {
        return out;
      }
      start = d + 1;
    }
  }();
  if (parts.size() < 3 || parts.front().size() != 2 || !kp::is_decimal_digits(parts.back())) {
    return false;
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty() || !std::all_of(parts[i].begin(), parts[i].end(),
                                         [](char c) { return c >= 'a' && c <= 'z'; })) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct EgressPolicy::Impl {
  Rules allow;
  Rules deny;
  bool configured = false;
};

std::optional<std::string> egress_pattern_error(std::string_view pattern) {
  return add_pattern(pattern, nullptr);
}

EgressPolicy::EgressPolicy() : impl_(std::make_unique<Impl>()) {}
EgressPolicy::~EgressPolicy() = default;
EgressPolicy::EgressPolicy(const EgressPolicy& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
EgressPolicy& EgressPolicy::operator=(const EgressPolicy& o) {
  if (this != &o) {
    impl_ = std::make_unique<Impl>(*o.impl_);
  }
  return *this;
}
EgressPolicy::EgressPolicy(EgressPolicy&& o) noexcept : impl_(std::move(o.impl_)) {
  o.impl_ = nullptr;
}
EgressPolicy& EgressPolicy::operator=(EgressPolicy&& o) noexcept {
  impl_ = std::move(o.impl_);
  return *this;
}

Result<EgressPolicy> EgressPolicy::compile(const EgressOptions& egress) {
  return compile(egress.allow, egress.deny);
}

Result<EgressPolicy> EgressPolicy::compile(std::span<const std::string> allow,
                                           std::span<const std::string> deny) {
  EgressPolicy p;
  std::string problems;
  const auto add_all = [&](std::span<const std::string> list, Rules* rules, std::string_view key) {
    for (const auto& pattern : list) {
      if (auto err = add_pattern(pattern, rules)) {
        if (!problems.empty()) {
          problems += "; ";
        }
        problems += std::string(key) + " pattern '" + pattern + "': " + *err;
      }
    }
  };
  add_all(allow, &p.impl_->allow, "egress.allow");
  add_all(deny, &p.impl_->deny, "egress.deny");
  if (!problems.empty()) {
    return fail(Errc::kValidation, "egress: " + problems);
  }
  p.impl_->configured = !allow.empty();
  return p;
}

bool EgressPolicy::configured() const noexcept { return impl_ && impl_->configured; }

bool EgressPolicy::allowed(std::string_view host) const { return decide(host).allowed; }

EgressDecision EgressPolicy::decide(std::string_view host) const {
  if (!impl_) {
    return {false, "egress policy moved from"};
  }
  const auto h = classify(host);
  if (!h) {
    return {false, "not a valid host name or IP literal"};
  }
  if (const auto* p = find_match(impl_->deny, *h)) {
    return {false, "denied by egress.deny pattern '" + *p + "'"};
  }
  if (!impl_->configured) {
    return {true, "no egress.allow list configured"};
  }
  if (const auto* p = find_match(impl_->allow, *h)) {
    return {true, "allowed by egress.allow pattern '" + *p + "'"};
  }
  return {false, "no egress.allow pattern matches"};
}

std::optional<std::string> suggest_pattern(std::string_view host) {
  const auto h = classify(host);
  if (!h) {
    return std::nullopt;
  }
  if (h->ip) {
    return (h->ip_as_v4 ? *h->ip_as_v4 : *h->ip).to_string();
  }
  const auto labels = split_labels(h->name);
  if (labels.size() >= 3 && looks_like_region(labels[1])) {
    std::string out(labels[0]);
    out += ".*";
    for (std::size_t i = 2; i < labels.size(); ++i) {
      out += '.';
      out += labels[i];
    }
    return out;
  }
  return h->name;
}

std::string refusal_reason(std::string_view host, const EgressDecision& d) {
  std::string r = d.reason;
  if (d.reason.rfind("denied", 0) != 0) {
    if (const auto s = suggest_pattern(host)) {
      r += "; add '" + *s + "' to egress.allow";
    }
  }
  return r;
}

Diagnostics check_hosts(const EgressOptions& egress, std::span<const std::string> hosts,
                        const Origin& where, std::string_view why) {
  Diagnostics out;
  auto policy = EgressPolicy::compile(egress);
  if (!policy) {
    out.push_back({where, policy.error().message, Severity::kError});
    return out;
  }
  if (!policy->configured() && egress.deny.empty()) {
    return out;
  }
  for (const auto& host : hosts) {
    const auto d = policy->decide(host);
    if (d.allowed) {
      continue;
    }
    std::string msg = "egress policy does not admit " + host;
    if (!why.empty()) {
      msg += " (" + std::string(why) + ")";
    }
    msg += ": " + refusal_reason(host, d);
    out.push_back({where, std::move(msg), Severity::kError});
  }
  return out;
}

namespace {

// One Enclaver allow/deny entry against one host (see enclaver_admits).
bool enclaver_entry_matches(std::string_view entry, std::string_view host) {
  std::string_view h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  const auto host_ip = parse_ip(h);
  const std::size_t slash = entry.find('/');
  const auto entry_ip = parse_ip(entry.substr(0, slash));
  if (entry_ip || host_ip) {
    if (!entry_ip || !host_ip || entry_ip->v6 != host_ip->v6) {
      return false;  // IPs only against IP entries, names only against name patterns
    }
    unsigned prefix = entry_ip->v6 ? 128U : 32U;
    if (slash != std::string_view::npos) {
      const std::string_view len = entry.substr(slash + 1);
      if (!kp::is_decimal_digits(len) || len.size() > 3 || std::stoul(std::string(len)) > prefix) {
        return false;
      }
      prefix = static_cast<unsigned>(std::stoul(std::string(len)));
    }
    return in_net(*host_ip, NetPattern{std::string(entry), *entry_ip, prefix});
  }
  const std::string p = to_lower_ascii(entry);
  const std::string n = to_lower_ascii(h);
  auto pl = split_labels(p);
  auto hl = split_labels(n);
  std::reverse(pl.begin(), pl.end());
  std::reverse(hl.begin(), hl.end());
  std::size_t j = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == pl.size()) {
      return j == hl.size();
    }
    if (pl[i] == "**") {
      return j < hl.size();
    }
    if (j == hl.size() || (pl[i] != "*" && pl[i] != hl[j])) {
      return false;
    }
    ++j;
  }
}

}  // namespace

std::optional<std::string> enclaver_match(std::span<const std::string> entries, std::string_view host) {
  for (const auto& e : entries) {
    if (enclaver_entry_matches(e, host)) {
      return e;
    }
  }
  return std::nullopt;
}

bool enclaver_admits(std::span<const std::string> allow, std::span<const std::string> deny, std::string_view host) {
  return enclaver_match(allow, host) && !enclaver_match(deny, host);
}

std::vector<std::string> enclaver_compatibility_notes(std::span<const std::string> allow) {
  std::vector<std::string> notes;
  for (const auto& pattern : allow) {
    if (egress_pattern_error(pattern) || parse_ip(pattern) || pattern.find('/') != std::string::npos) {
      continue;
    }
    std::string_view body = pattern;
    if (body.size() > 1 && body.back() == '.') {
      body.remove_suffix(1);
    }
    const auto labels = split_labels(body);
    if (labels.size() == 1 && labels.front() == "*") {
      notes.push_back("egress.allow pattern '*': here it admits every host name; Enclaver's own egress "
                      "proxy reads it as exactly one label (single-label names only); '**' means every "
                      "name in both");
      continue;
    }
    if (labels.size() < 2) {
      continue;
    }
    if (labels.back() == "*") {
      notes.push_back("egress.allow pattern '" + pattern +
                      "': Enclaver's own egress proxy reads a trailing '*' as exactly one label, so "
                      "there it admits only two-label names (not kms.us-east-1.amazonaws.com); "
                      "'kms.*.amazonaws.com' works with both");
      continue;
    }
    bool inner_double = false;
    for (std::size_t i = 1; i < labels.size(); ++i) {
      inner_double = inner_double || labels[i] == "**";
    }
    if (inner_double) {
      notes.push_back("egress.allow pattern '" + pattern +
                      "': Enclaver's own egress proxy admits every name once it reaches a '**' "
                      "that is not the leftmost label");
    } else if (labels.front() == "*") {
      notes.push_back("egress.allow pattern '" + pattern +
                      "': Enclaver's own egress proxy reads '*' as exactly one label; use '**' as "
                      "the leftmost label to admit several there");
    }
  }
  return notes;
}

}  // namespace kp::config
