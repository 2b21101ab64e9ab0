// parse_credentials(): the --credentials file (JSON or whitespace-separated lines).
#include <boost/json.hpp>

#include "emulator/emulator.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

bool is_account(std::string_view s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_name(std::string_view s) {
  // IAM user/role names (with optional path segments): [\w+=,.@/-]+
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_+=,.@/-").find(c) != std::string_view::npos;
  });
}

// Builds one entry, appending problems (never the secret) to `errors`.
void add_entry(std::vector<Credential>& out, std::vector<std::string>& errors, const std::string& where,
               std::string akid, SecretBytes secret, std::string account, std::string_view kind,
               std::string_view name) {
  const std::size_t before = errors.size();
  if (akid.empty()) {
    errors.push_back(where + ": missing access key id");
  }
  if (secret.empty()) {
    errors.push_back(where + ": missing secret access key");
  }
  if (!is_account(account)) {
    errors.push_back(where + ": account must be 12 digits");
  }
  if (!kind.empty() && !is_name(name)) {
    errors.push_back(where + ": invalid " + std::string(kind) + " name");
  }
  for (const auto& c : out) {
    if (c.access_key_id == akid) {
      errors.push_back(where + ": duplicate access key id " + akid);
    }
  }
  if (errors.size() != before) {
    return;
  }
  std::string arn = "arn:aws:iam::" + account + ":" + (kind.empty() ? std::string("root")
                                                                    : std::string(kind) + "/" + std::string(name));
  out.push_back(Credential{std::move(akid), std::move(secret), std::move(account), std::move(arn)});
}

Result<std::vector<Credential>> finish(std::vector<Credential> out, const std::vector<std::string>& errors) {
  if (!errors.empty()) {
    std::string msg = "credentials file: ";
    for (std::size_t i = 0; i < errors.size(); ++i) {
      msg += (i == 0 ? "" : "; ") + errors[i];
    }
    return fail(Errc::kValidation, std::move(msg));
  }
  if (out.empty()) {
    return fail(Errc::kValidation, "credentials file: no credentials");
  }
  return out;
}

Result<std::vector<Credential>> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  const auto* list = (!ec && v.is_object()) ? v.as_object().if_contains("credentials") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return fail(Errc::kValidation, "credentials file: JSON must be {\"credentials\":[...]}");
  }
  std::vector<Credential> out;
  std::vector<std::string> errors;
  std::size_t i = 0;
  for (auto& entry : v.as_object().at("credentials").as_array()) {
    const std::string where = "credentials[" + std::to_string(i++) + "]";
    if (!entry.is_object()) {
      errors.push_back(where + ": not an object");
      continue;
    }
    auto& o = entry.as_object();
    const auto str = [&](std::string_view k) -> std::string {
      const auto* f = o.if_contains(k);
      return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    SecretBytes secret;
    if (auto* s = o.if_contains("secret_access_key"); s != nullptr && s->is_string()) {
      auto& js = s->as_string();
      secret = SecretBytes::copy_of(std::string_view(js));
      secure_wipe(js.data(), js.size());
    }
    const std::string user = str("user");
    const std::string role = str("role");
    if (!user.empty() && !role.empty()) {
      errors.push_back(where + ": give user or role, not both");
      continue;
    }
    add_entry(out, errors, where, str("access_key_id"), std::move(secret), str("account"),
              user.empty() ? (role.empty() ? "" : "role") : "user", user.empty() ? role : user);
  }
  return finish(std::move(out), errors);
}

Result<std::vector<Credential>> parse_lines(std::string_view text) {
  std::vector<Credential> out;
  std::vector<std::string> errors;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
        ++i;
      }
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
        ++i;
      }
      if (i > start) {
        fields.push_back(line.substr(start, i - start));
      }
    }
    if (fields.empty()) {
      continue;
    }
    const std::string where = "line " + std::to_string(line_no);
    if (fields.size() < 3 || fields.size() > 4) {
      errors.push_back(where + ": expected ACCESS_KEY_ID SECRET ACCOUNT [user/NAME|role/NAME]");
      continue;
    }
    std::string_view kind;
    std::string_view name;
    if (fields.size() == 4) {
      const std::string_view p = fields[3];
      if (p.starts_with("user/")) {
        kind = "user";
        name = p.substr(5);
      } else if (p.starts_with("role/")) {
        kind = "role";
        name = p.substr(5);
      } else {
        errors.push_back(where + ": principal must be user/NAME or role/NAME");
        continue;
      }
    }
    add_entry(out, errors, where, std::string(fields[0]), SecretBytes::copy_of(fields[1]), std::string(fields[2]),
              kind, name);
  }
  return finish(std::move(out), errors);
}

}  // namespace

Result<std::vector<Credential>> parse_credentials(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')) {
    ++i;
  }
  if (i < text.size() && text[i] == '{') {
    return parse_json(text);
  }
  return parse_lines(text);
}

}  // namespace kp::emulator
