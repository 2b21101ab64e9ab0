// The kms_proxy: section of enclaver.yaml: Enclaver's own keys (listen_port,
// endpoints) plus this project's extensions (see docs/configuration.md).
#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "config/address.h"
#include "config/measurements.h"
#include "config/yaml_reader.h"

namespace kp::config::yaml_detail {

namespace {

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
      r.error(r.at(kv.first), f.path + ": '" + value_for_message(region) +
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
      r.error(c, "'" + url_for_message(*text) + "': " + spec.error().message);
      continue;
    }
    r.cfg().upstream.endpoints[region] = *spec;
  }
}

void read_attestation(Reader& r, const Field& f) {
  auto& a = r.cfg().attestation;
  r.mapping(f, {"mode", "device", "sim_pki_dir", "pcrs", "measurements", "max_age", "timeout"}, [&](const Field& c) {
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
    } else if (name == "timeout") {
      if (auto d = r.duration(c)) {
        a.timeout = *d;
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
      if (auto s = r.str(c); s && !s->empty()) {  // "" = unset, as for the paths
        if (auto v = parse_vsock(*s)) {
          r.cfg().vsock = *v;
        } else {
          r.error(c, "expected \"CID:PORT\" (two unsigned 32-bit numbers, e.g. \"3:8000\"), got '" + *s + "'");
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
        switch (append_credential_source(chain, (*list)[i])) {
          case SourceListProblem::kUnknown:
            r.error(r.cfg().origin_of(p), p + ": expected env, profile, container or imds, got '" + (*list)[i] + "'");
            break;
          case SourceListProblem::kRepeated:
            r.error(r.cfg().origin_of(p), p + ": '" + (*list)[i] + "' is listed twice");
            break;
          case SourceListProblem::kNone:
            break;
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
          r.error(c, "expected http://HOST[:PORT], got '" + url_for_message(*s) + "'");
        } else {
          cr.imds_endpoint = spec->url();
        }
      }
    } else if (auto d = r.duration(c)) {
      if (name == "imds_timeout") {
        cr.imds_timeout = *d;
      } else {
        cr.refresh_margin = std::chrono::duration_cast<std::chrono::seconds>(*d);
        if (std::chrono::duration_cast<Millis>(cr.refresh_margin) != *d) {
          r.error(c, "must be a whole number of seconds");
        }
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

void read_io(Reader& r, const Field& f) {
  auto& io = r.cfg().io;
  r.mapping(f, {"threads", "busy_poll_us"}, [&](const Field& c) {
    if (c.key.Scalar() == "threads") {
      if (auto v = r.integer(c, 0, kMaxIoThreads, "a thread count")) {
        io.threads = static_cast<std::size_t>(*v);
      }
    } else if (auto v = r.integer(c, 0, static_cast<std::uint64_t>(kMaxBusyPoll.count()),
                                  "a number of microseconds")) {
      io.busy_poll = std::chrono::microseconds(*v);
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

}  // namespace

void read_kms_proxy(Reader& r, const Field& f) {
  auto& cfg = r.cfg();
  cfg.manifest.has_kms_proxy = true;
  std::set<std::string> present;
  r.mapping(f,
            {"listen_port", "endpoints", "region", "attestation", "upstream", "credentials", "limits",
             "io", "log", "metrics_listen"},
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
                    r.error(c, "'" + value_for_message(*s) + "' is not a region name (lower-case letters, digits and '-')");
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
              } else if (name == "io") {
                read_io(r, c);
              } else if (name == "log") {
                read_log(r, c);
              } else {  // metrics_listen; "" = unset
                if (auto s = r.str(c); s && !s->empty()) {
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

}  // namespace kp::config::yaml_detail
