#include "config/enclaver_yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "base/file_input.h"
#include "config/egress.h"
#include "config/yaml_reader.h"

namespace kp::config {

namespace {

using yaml_detail::describe;
using yaml_detail::Field;
using yaml_detail::read_kms_proxy;
using yaml_detail::Reader;

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
    if (name == "proxy_port") {  // a port to connect to: 0 names none (the flag says the same)
      if (auto p = r.integer(c, 1, 65535, "a port number")) {
        e.proxy_port = static_cast<std::uint16_t>(*p);
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
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
    return Diagnostics{{{path.string(), 0, 0}, "is a directory, not a configuration file", Severity::kError}};
  }
  // Bounded: a configuration is a few KiB; /dev/zero must not fill memory.
  auto text = read_input_file(path.string(), kMaxInputFileBytes);
  if (!text) {
    return Diagnostics{{{path.string(), 0, 0},
                         "cannot read the file: " + input_file_reason(text.error(), path.string()),
                         Severity::kError}};
  }
  return parse_enclaver_yaml(*text, path.string(), path.parent_path());
}

}  // namespace kp::config
