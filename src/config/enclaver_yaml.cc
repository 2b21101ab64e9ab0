#include "config/enclaver_yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <optional>
#include <system_error>
#include <set>
#include <sstream>

#include "config/address.h"
#include "config/egress.h"
#include "config/measurements.h"
#include "config/overrides.h"

namespace kp::config {

namespace {

namespace fs = std::filesystem;

// One key/value pair of a mapping, with its dotted path.
struct Field {
  const YAML::Node& key;
  const YAML::Node& value;
  std::string path;
};

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += n;
  }
  return out;
}

std::string describe(const YAML::Node& n) {
  if (n.IsNull()) {
    return "nothing";
  }
  if (n.IsSequence()) {
    return "a list";
  }
  if (n.IsMap()) {
    return "a mapping";
  }
  std::string s = n.Scalar();
  if (s.size() > 40) {
    s = s.substr(0, 40) + "...";
  }
  return "'" + s + "'";
}

class Reader {
 public:
  Reader(std::string source, fs::path base_dir, Config& cfg, Diagnostics& diags)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), cfg_(cfg), diags_(diags) {}

  Origin at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null() || m.line < 0) {
      return {source_, 0, 0};
    }
    return {source_, static_cast<unsigned>(m.line) + 1, static_cast<unsigned>(m.column) + 1};
  }
  // A setting is located at its key: null values carry the position of
  // whatever follows them, and block lists/mappings start on the next line.
  Origin at(const Field& f) const { return at(f.key); }

  void error(const Origin& where, std::string msg) {
    diags_.push_back({where, std::move(msg), Severity::kError});
  }
  void error(const Field& f, std::string msg) { error(at(f), f.path + ": " + std::move(msg)); }
  void record(const Field& f) { cfg_.origins[f.path] = at(f); }
  void record(const std::string& path, const Origin& o) { cfg_.origins[path] = o; }

  // Walks a mapping: reports a non-mapping, unknown keys and duplicate keys;
  // calls each(Field) for every known key. `where` names the section in
  // messages ("kms_proxy", or "the top level").
  template <class F>
  void mapping(const YAML::Node& node, const Origin& node_at, std::string_view path,
               std::initializer_list<std::string_view> known, F&& each) {
    if (node.IsNull()) {
      return;  // "section:" with nothing under it: all defaults
    }
    if (!node.IsMap()) {
      error(node_at, std::string(path.empty() ? "the document" : path) +
                         ": expected a mapping, got " + describe(node));
      return;
    }
    std::map<std::string, unsigned> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // yaml-cpp's operator-> returns a temporary proxy: `it->first` must not
      // be bound to a reference that outlives the statement. Copy the pair.
      const auto kv = *it;
      const YAML::Node& k = kv.first;
      const YAML::Node& v = kv.second;
      if (!k.IsScalar()) {
        error(at(k), std::string(path.empty() ? "top level" : path) + ": keys must be plain names");
        continue;
      }
      const std::string name = k.Scalar();
      const std::string child = path.empty() ? name : std::string(path) + "." + name;
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        error(at(k), "unknown key '" + name + "' " +
                         (path.empty() ? std::string("at the top level")
                                       : "in " + std::string(path)) +
                         " (expected one of: " + join(known) + ")");
        continue;
      }
      const unsigned line = at(k).line;
      const auto [pos, fresh] = seen.emplace(name, line);
      if (!fresh) {
        error(at(k), "duplicate key '" + child + "' (first at line " + std::to_string(pos->second) + ")");
        continue;
      }
      each(Field{k, v, child});
    }
  }

  template <class F>
  void mapping(const Field& f, std::initializer_list<std::string_view> known, F&& each) {
    mapping(f.value, at(f), f.path, known, std::forward<F>(each));
  }

  std::optional<std::string> str(const Field& f) {
    if (f.value.IsNull()) {
      error(f, "value is missing");
      return std::nullopt;
    }
    if (!f.value.IsScalar()) {
      error(f, "expected a string, got " + describe(f.value));
      return std::nullopt;
    }
    record(f);
    return f.value.Scalar();
  }

  // A plain (unquoted) decimal integer in [lo, hi], as serde_yaml requires.
  std::optional<std::uint64_t> integer(const Field& f, std::uint64_t lo, std::uint64_t hi,
                                       std::string_view what) {
    const std::string expect =
        "expected " + std::string(what) + " " + std::to_string(lo) + ".." + std::to_string(hi);
    if (f.value.IsNull()) {
      error(f, "value is missing (" + expect + ")");
      return std::nullopt;
    }
    if (!f.value.IsScalar() || f.value.Tag() != "?") {
      error(f, expect + ", got " + (f.value.IsScalar() ? "the quoted string " : "") + describe(f.value));
      return std::nullopt;
    }
    const std::string& s = f.value.Scalar();
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) {
      error(f, expect + ", got " + describe(f.value));
      return std::nullopt;
    }
    record(f);
    return v;
  }

  std::optional<std::uint16_t> port(const Field& f) {
    const auto v = integer(f, 0, 65535, "a port number");
    return v ? std::optional<std::uint16_t>(static_cast<std::uint16_t>(*v)) : std::nullopt;
  }

  std::optional<Millis> duration(const Field& f) {
    if (f.value.IsNull() || !f.value.IsScalar()) {
      error(f, "expected a duration such as 500ms, 10s, 5m or a number of seconds, got " +
                   describe(f.value));
      return std::nullopt;
    }
    const auto d = parse_duration(f.value.Scalar());
    if (!d) {
      error(f, "expected a duration such as 500ms, 10s, 5m or a number of seconds, got " +
                   describe(f.value));
      return std::nullopt;
    }
    record(f);
    return d;
  }

  // A list of strings; each entry's position is recorded as path[i].
  std::optional<std::vector<std::string>> str_list(const Field& f, bool allow_single) {
    if (allow_single && f.value.IsScalar()) {
      record(f.path + "[0]", at(f));
      return std::vector<std::string>{f.value.Scalar()};
    }
    if (f.value.IsNull()) {
      return std::vector<std::string>{};
    }
    if (!f.value.IsSequence()) {
      error(f, "expected a list of strings, got " + describe(f.value));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : f.value) {
      const std::string p = f.path + "[" + std::to_string(i++) + "]";
      if (!item.IsScalar()) {
        error(at(item), p + ": expected a string, got " + describe(item));
        ok = false;
        continue;
      }
      record(p, at(item));
      out.push_back(item.Scalar());
    }
    record(f);
    return ok ? std::optional(std::move(out)) : std::nullopt;
  }

  std::string resolve(const std::string& p) const {
    if (p.empty() || base_dir_.empty() || fs::path(p).is_absolute()) {
      return p;
    }
    return (base_dir_ / p).lexically_normal().string();
  }

  void require(const Field& f, std::set<std::string>& present, std::initializer_list<std::string_view> keys) {
    for (const auto k : keys) {
      if (present.count(std::string(k)) == 0) {
        error(at(f.key), f.path + ": missing required key '" + std::string(k) + "'");
      }
    }
  }

  Config& cfg() { return cfg_; }

 private:
  std::string source_;
  fs::path base_dir_;
  Config& cfg_;
  Diagnostics& diags_;
};

// --- Enclaver sections -----------------------------------------------------

void read_sources(Reader& r, const Field& f) {
  std::set<std::string> present;
  r.mapping(f, {"app", "odyn", "sleeve", "supervisor", "wrapper"}, [&](const Field& c) {
    present.insert(c.key.Scalar());
    r.str(c);
  });
  if (present.count("odyn") && present.count("supervisor")) {
    r.error(r.at(f.key), "sources: 'supervisor' is the old name of 'odyn'; give only one");
  }
  if (present.count("sleeve") && present.count("wrapper")) {
    r.error(r.at(f.key), "sources: 'wrapper' is the old name of 'sleeve'; give only one");
  }
  if (f.value.IsMap()) {
    r.require(f, present, {"app"});
  }
}

void read_signature(Reader& r, const Field& f) {
  std::set<std::string> present;
  r.mapping(f, {"certificate", "key"}, [&](const Field& c) {
    present.insert(c.key.Scalar());
    r.str(c);
  });
  if (f.value.IsMap()) {
    r.require(f, present, {"certificate", "key"});
  }
}

void read_ingress(Reader& r, const Field& f) {
  if (f.value.IsNull()) {
    return;
  }
  if (!f.value.IsSequence()) {
    r.error(f, "expected a list of {listen_port, tls}, got " + describe(f.value));
    return;
  }
  std::size_t i = 0;
  for (const auto& item : f.value) {
    const std::string path = "ingress[" + std::to_string(i++) + "]";
    IngressEntry entry;
    std::set<std::string> present;
    bool port_ok = false;
    r.mapping(item, r.at(item), path, {"listen_port", "tls"}, [&](const Field& c) {
      const std::string name = c.key.Scalar();
      present.insert(name);
      if (name == "listen_port") {
        if (auto p = r.port(c)) {
          entry.listen_port = *p;
          port_ok = true;
        }
      } else {
        std::set<std::string> tls_present;
        r.mapping(c, {"key_file", "cert_file"}, [&](const Field& t) {
          tls_present.insert(t.key.Scalar());
          r.str(t);
        });
        if (c.value.IsMap()) {
          r.require(c, tls_present, {"key_file", "cert_file"});
        }
        entry.tls = true;
      }
    });
    if (item.IsMap() && present.count("listen_port") == 0) {
      r.error(r.at(item), path + ": missing required key 'listen_port'");
    }
    if (port_ok) {
      r.cfg().manifest.ingress.push_back(entry);
    }
  }
}

void read_patterns(Reader& r, const Field& f, std::vector<std::string>& out) {
  auto list = r.str_list(f, false);
  if (!list) {
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string p = f.path + "[" + std::to_string(i) + "]";
    if (auto err = egress_pattern_error((*list)[i])) {
      r.error(r.cfg().origin_of(p), p + ": invalid pattern '" + (*list)[i] + "': " + *err);
    }
  }
  out = std::move(*list);
}

void read_egress(Reader& r, const Field& f) {
  auto& e = r.cfg().egress;
  r.mapping(f, {"proxy_port", "allow", "deny"}, [&](const Field& c) {
    const std::string name = c.key.Scalar();
    if (name == "proxy_port") {
      if (auto p = r.port(c)) {
        e.proxy_port = *p;
      }
    } else if (name == "allow") {
      read_patterns(r, c, e.allow);
    } else {
      read_patterns(r, c, e.deny);
    }
  });
}

void read_defaults(Reader& r, const Field& f) {
  r.mapping(f, {"cpu_count", "memory_mb"}, [&](const Field& c) {
    r.integer(c, 1, 2147483647, "an integer");
  });
}

void read_api(Reader& r, const Field& f) {
  r.mapping(f, {"listen_port"}, [&](const Field& c) {
    if (auto p = r.port(c)) {
      r.cfg().manifest.api_port = *p;
    }
  });
}

void read_spire(Reader& r, const Field& f) {
  r.mapping(f, {"server_addr", "ca_cert", "trust_domain", "svid_dir", "workload_api_addr"},
            [&](const Field& c) { r.str(c); });
}

// --- kms_proxy: Enclaver's keys plus this project's extensions -------------

void read_endpoint_map(Reader& r, const Field& f) {
  if (f.value.IsNull()) {
    return;
  }
  if (!f.value.IsMap()) {
    r.error(f, "expected a mapping of region to host[:port], got " + describe(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    const auto kv = *it;  // Field keeps references: they must outlive `it->` temporaries
    if (!kv.first.IsScalar()) {
      r.error(r.at(kv.first), f.path + ": keys must be region names");
      continue;
    }
    const std::string region = kv.first.Scalar();
    const Field c{kv.first, kv.second, f.path + "." + region};
    if (!is_valid_region(region)) {
      r.error(r.at(kv.first), f.path + ": '" + region +
                                  "' is not a region name (lower-case letters, digits and '-')");
      continue;
    }
    if (r.cfg().upstream.endpoints.count(region) != 0) {
      r.error(r.at(kv.first), f.path + ": duplicate region '" + region + "'");
      continue;
    }
    const auto text = r.str(c);
    if (!text) {
      continue;
    }
    auto spec = parse_endpoint(*text);
    if (!spec) {
      r.error(c, "'" + *text + "': " + spec.error().message);
      continue;
    }
    r.cfg().upstream.endpoints[region] = *spec;
  }
}

void read_attestation(Reader& r, const Field& f) {
  auto& a = r.cfg().attestation;
  r.mapping(f, {"mode", "device", "sim_pki_dir", "pcrs", "measurements", "max_age"}, [&](const Field& c) {
    const std::string name = c.key.Scalar();
    if (name == "mode") {
      if (auto s = r.str(c)) {
        if (auto m = parse_attestation_mode(*s)) {
          a.mode = *m;
        } else {
          r.error(c, "expected nsm, simulated or none, got '" + *s + "'");
        }
      }
    } else if (name == "device") {
      if (auto s = r.str(c)) {
        a.nsm_device = *s;
      }
    } else if (name == "sim_pki_dir") {
      if (auto s = r.str(c)) {
        a.sim_pki_dir = r.resolve(*s);
      }
    } else if (name == "measurements") {
      if (auto s = r.str(c)) {
        a.measurements_file = r.resolve(*s);
      }
    } else if (name == "max_age") {
      if (auto d = r.duration(c)) {
        a.max_age = std::chrono::duration_cast<std::chrono::seconds>(*d);
        if (std::chrono::duration_cast<Millis>(a.max_age) != *d) {
          r.error(c, "must be a whole number of seconds");
        }
      }
    } else {  // pcrs
      if (c.value.IsNull()) {
        return;
      }
      if (!c.value.IsMap()) {
        r.error(c, "expected a mapping of PCR index to 96 hex digits, got " + describe(c.value));
        return;
      }
      r.record(c);
      for (auto it = c.value.begin(); it != c.value.end(); ++it) {
        const auto kv = *it;  // Field keeps references: they must outlive `it->` temporaries
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
        const Field pf{kv.first, kv.second, c.path + "." + key};
        const auto value = r.str(pf);
        if (!value) {
          continue;
        }
        auto parsed = parse_pcr_assignment(key + "=" + *value);
        if (!parsed) {
          r.error(pf, parsed.error().message);
          continue;
        }
        if (a.pcrs.count(parsed->first) != 0) {
          r.error(pf, "PCR" + std::to_string(parsed->first) + " is given twice");
          continue;
        }
        a.pcrs[parsed->first] = std::move(parsed->second);
      }
    }
  });
}

void read_upstream(Reader& r, const Field& f) {
  auto& u = r.cfg().upstream;
  r.mapping(f, {"ca_file", "vsock", "timeouts", "pool"}, [&](const Field& c) {
    const std::string name = c.key.Scalar();
    if (name == "ca_file") {
      if (auto list = r.str_list(c, true)) {
        u.ca_files.clear();
        for (const auto& p : *list) {
          u.ca_files.push_back(r.resolve(p));
        }
      }
    } else if (name == "vsock") {
      if (auto s = r.str(c)) {
        if (auto v = parse_vsock(*s)) {
          r.cfg().vsock = *v;
        } else {
          r.error(c, "expected \"CID:PORT\" (two unsigned 32-bit numbers, e.g. \"2:17002\"), got '" + *s + "'");
        }
      }
    } else if (name == "timeouts") {
      r.mapping(c, {"connect", "tls_handshake", "request"}, [&](const Field& t) {
        const std::string k = t.key.Scalar();
        if (auto d = r.duration(t)) {
          (k == "connect" ? u.timeouts.connect
                          : k == "tls_handshake" ? u.timeouts.tls_handshake : u.timeouts.request) = *d;
        }
      });
    } else {  // pool
      r.mapping(c, {"max_idle_per_host", "idle_timeout"}, [&](const Field& p) {
        if (p.key.Scalar() == "max_idle_per_host") {
          if (auto v = r.integer(p, 0, 1024, "an integer")) {
            u.pool.max_idle_per_host = static_cast<std::size_t>(*v);
          }
        } else if (auto d = r.duration(p)) {
          u.pool.idle_timeout = *d;
        }
      });
    }
  });
}

void read_credentials(Reader& r, const Field& f) {
  auto& cr = r.cfg().credentials;
  r.mapping(f, {"sources", "imds_endpoint", "imds_timeout", "refresh_margin"}, [&](const Field& c) {
    const std::string name = c.key.Scalar();
    if (name == "sources") {
      auto list = r.str_list(c, false);
      if (!list) {
        return;
      }
      std::vector<CredentialSource> chain;
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string p = c.path + "[" + std::to_string(i) + "]";
        const auto s = parse_credential_source((*list)[i]);
        if (!s) {
          r.error(r.cfg().origin_of(p), p + ": expected env, container or imds, got '" + (*list)[i] + "'");
        } else if (std::find(chain.begin(), chain.end(), *s) != chain.end()) {
          r.error(r.cfg().origin_of(p), p + ": '" + (*list)[i] + "' is listed twice");
        } else {
          chain.push_back(*s);
        }
      }
      if (list->empty()) {
        r.error(c, "at least one credential source is required");
      }
      cr.chain = std::move(chain);
    } else if (name == "imds_endpoint") {
      if (auto s = r.str(c)) {
        auto spec = parse_endpoint(*s);
        if (!spec || spec->scheme != "http") {
          r.error(c, "expected http://HOST[:PORT], got '" + *s + "'");
        } else {
          cr.imds_endpoint = spec->url();
        }
      }
    } else if (auto d = r.duration(c)) {
      if (name == "imds_timeout") {
        cr.imds_timeout = *d;
      } else {
        cr.refresh_margin = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
  });
}

void read_limits(Reader& r, const Field& f) {
  auto& l = r.cfg().listen;
  r.mapping(f,
            {"max_connections", "max_header_bytes", "max_body_bytes", "header_timeout", "body_timeout",
             "idle_timeout", "write_timeout"},
            [&](const Field& c) {
              const std::string name = c.key.Scalar();
              if (name == "max_connections") {
                if (auto v = r.integer(c, 1, 1'000'000, "an integer")) {
                  l.max_connections = static_cast<std::size_t>(*v);
                }
              } else if (name == "max_header_bytes") {
                if (auto v = r.integer(c, 1024, 1024 * 1024, "a size in bytes")) {
                  l.max_header_bytes = static_cast<std::size_t>(*v);
                }
              } else if (name == "max_body_bytes") {
                if (auto v = r.integer(c, 1024, 64ULL * 1024 * 1024, "a size in bytes")) {
                  l.max_body_bytes = static_cast<std::size_t>(*v);
                }
              } else if (auto d = r.duration(c)) {
                (name == "header_timeout" ? l.timeouts.header
                 : name == "body_timeout" ? l.timeouts.body
                 : name == "idle_timeout" ? l.timeouts.idle
                                          : l.timeouts.write) = *d;
              }
            });
}

void read_log(Reader& r, const Field& f) {
  auto& lg = r.cfg().log;
  r.mapping(f, {"format", "level"}, [&](const Field& c) {
    const auto s = r.str(c);
    if (!s) {
      return;
    }
    if (c.key.Scalar() == "format") {
      if (auto v = parse_log_format(*s)) {
        lg.format = *v;
      } else {
        r.error(c, "expected text or json, got '" + *s + "'");
      }
    } else if (auto v = parse_log_level(*s)) {
      lg.level = *v;
    } else {
      r.error(c, "expected trace, debug, info, warn, error or off, got '" + *s + "'");
    }
  });
}

void read_kms_proxy(Reader& r, const Field& f) {
  auto& cfg = r.cfg();
  cfg.manifest.has_kms_proxy = true;
  std::set<std::string> present;
  r.mapping(f,
            {"listen_port", "endpoints", "region", "attestation", "upstream", "credentials", "limits",
             "log", "metrics_listen"},
            [&](const Field& c) {
              const std::string name = c.key.Scalar();
              present.insert(name);
              if (name == "listen_port") {
                if (auto p = r.port(c)) {
                  cfg.listen.port = *p;
                }
              } else if (name == "endpoints") {
                read_endpoint_map(r, c);
              } else if (name == "region") {
                if (auto s = r.str(c)) {
                  if (is_valid_region(*s)) {
                    cfg.upstream.default_region = *s;
                  } else {
                    r.error(c, "'" + *s + "' is not a region name (lower-case letters, digits and '-')");
                  }
                }
              } else if (name == "attestation") {
                read_attestation(r, c);
              } else if (name == "upstream") {
                read_upstream(r, c);
              } else if (name == "credentials") {
                read_credentials(r, c);
              } else if (name == "limits") {
                read_limits(r, c);
              } else if (name == "log") {
                read_log(r, c);
              } else {  // metrics_listen
                if (auto s = r.str(c)) {
                  auto a = parse_authority(*s);
                  if (!a || !a->port) {
                    r.error(c, "expected HOST:PORT, got '" + *s + "'");
                  } else {
                    cfg.metrics.listen = MetricsListen{a->host, *a->port};
                  }
                }
              }
            });
  if (f.value.IsMap()) {
    r.require(f, present, {"listen_port"});
  }
}

void read_document(Reader& r, const YAML::Node& root, const Origin& root_at) {
  r.mapping(root, root_at, "",
            {"version", "name", "target", "sources", "signature", "ingress", "egress", "defaults",
             "kms_proxy", "api", "spire"},
            [&](const Field& f) {
              const std::string name = f.key.Scalar();
              auto& m = r.cfg().manifest;
              if (name == "version") {
                if (auto s = r.str(f)) {
                  m.version = *s;
                }
              } else if (name == "name") {
                if (auto s = r.str(f)) {
                  m.name = *s;
                }
              } else if (name == "target") {
                if (auto s = r.str(f)) {
                  m.target = *s;
                }
              } else if (name == "sources") {
                read_sources(r, f);
              } else if (name == "signature") {
                read_signature(r, f);
              } else if (name == "ingress") {
                read_ingress(r, f);
              } else if (name == "egress") {
                read_egress(r, f);
              } else if (name == "defaults") {
                read_defaults(r, f);
              } else if (name == "kms_proxy") {
                read_kms_proxy(r, f);
              } else if (name == "api") {
                read_api(r, f);
              } else {
                read_spire(r, f);
              }
            });
}

// yaml-cpp 0.7 never consumes a stray flow indicator (',', ']', '}') at
// document level: its parser keeps reporting empty documents at the same
// position, so YAML::LoadAll loops forever, allocating (a 1-byte file "," is
// enough). Walk the document events first with a no-op handler, stop at the
// first document that does not advance and report it as a syntax error.
class DocumentScan final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck_ = started_ && mark.pos == last_.pos;
    started_ = true;
    last_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  bool stuck() const noexcept { return stuck_; }
  const YAML::Mark& last() const noexcept { return last_; }

 private:
  bool started_ = false;
  bool stuck_ = false;
  YAML::Mark last_ = YAML::Mark::null_mark();
};

// The stuck position as a diagnostic, or nullopt when the text parses to a
// finite sequence of documents. Throws YAML::Exception on syntax errors.
std::optional<Diagnostic> find_stuck_document(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentScan scan;
  while (parser.HandleNextDocument(scan)) {
    if (scan.stuck()) {
      const YAML::Mark& m = scan.last();
      const auto pos = static_cast<std::size_t>(m.pos);
      const char c = pos < text.size() ? text[pos] : '?';
      std::string what = (c > 0x20 && c < 0x7f) ? std::string("'") + c + "'" : std::string("token");
      return Diagnostic{{source, static_cast<unsigned>(m.line) + 1, static_cast<unsigned>(m.column) + 1},
                        "YAML syntax error: unexpected " + what + " outside a flow collection",
                        Severity::kError};
    }
  }
  return std::nullopt;
}

}  // namespace

Checked<Config> parse_enclaver_yaml(std::string_view text, std::string_view source_name,
                                    const std::filesystem::path& base_dir) {
  Config cfg;
  Diagnostics diags;
  const std::string source(source_name);
  cfg.manifest.path = source;
  std::vector<YAML::Node> docs;
  try {
    const std::string owned(text);
    if (auto stuck = find_stuck_document(owned, source)) {
      diags.push_back(std::move(*stuck));
      return diags;
    }
    docs = YAML::LoadAll(owned);
  } catch (const YAML::Exception& e) {
    const unsigned line = e.mark.is_null() ? 0 : static_cast<unsigned>(e.mark.line) + 1;
    diags.push_back({{source, line, 0}, "YAML syntax error: " + e.msg, Severity::kError});
    return diags;
  }
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    diags.push_back({{source, 0, 0}, "the file is empty", Severity::kError});
    return diags;
  }
  if (docs.size() > 1) {
    diags.push_back({{source, 0, 0}, "expected one YAML document, found " + std::to_string(docs.size()),
                     Severity::kError});
    return diags;
  }
  Reader reader(source, base_dir, cfg, diags);
  try {
    read_document(reader, docs[0], {source, 1, 1});
  } catch (const YAML::Exception& e) {
    // Safety net: the walk checks node types before converting, so this is
    // not expected; report it rather than crash on odd input.
    const unsigned line = e.mark.is_null() ? 0 : static_cast<unsigned>(e.mark.line) + 1;
    diags.push_back({{source, line, 0}, "unexpected YAML structure: " + e.msg, Severity::kError});
  }
  if (has_errors(diags)) {
    return diags;
  }
  return cfg;
}

Checked<Config> load_enclaver_yaml(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string why = std::error_code(errno, std::generic_category()).message();
    return Diagnostics{{{path.string(), 0, 0}, "cannot read the file: " + why, Severity::kError}};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return Diagnostics{{{path.string(), 0, 0}, "error while reading the file", Severity::kError}};
  }
  return parse_enclaver_yaml(ss.str(), path.string(), path.parent_path());
}

}  // namespace kp::config
