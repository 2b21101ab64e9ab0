// Key policy document parsing and validation (policy.h).
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cctype>
#include <set>
#include <string>
#include <unordered_set>

#include "policy/match.h"
#include "policy/policy.h"
#include "policy/typed_values.h"

namespace kp::policy {

namespace json = boost::json;

namespace {

Error malformed(std::string what) { return Error(Errc::kMalformedPolicy, "policy: " + std::move(what)); }

std::string statement_label(std::size_t index, std::string_view sid) {
  std::string s = "Statement " + std::to_string(index);
  if (!sid.empty()) {
    s += " (\"" + std::string(sid) + "\")";
  }
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}
bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && ascii_iequals(s.substr(s.size() - suffix.size()), suffix);
}

// What Boost.JSON's DOM loses, from a SAX pass over the document: the first
// key repeated within one object (the DOM keeps the last one silently, so a
// statement with "Effect":"Deny","Effect":"Allow" would read as an Allow;
// KMS refuses such a document), and each number as written, in document
// order (the DOM holds 1.0 as the double 1).
class DocumentScan {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  std::optional<std::string> duplicate;
  std::vector<std::string> numbers;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) {
    frames_.emplace_back();
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_object_begin(json::error_code&) {
    frames_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    if (!frames_.empty() && !frames_.back().insert(key_).second && !duplicate) {
      duplicate = key_;
    }
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_uint64(std::uint64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_double(double, json::string_view s, json::error_code&) { return number(s); }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool number(json::string_view last_part) {
    number_.append(last_part.data(), last_part.size());
    numbers.push_back(std::move(number_));
    number_.clear();
    return true;
  }

  std::vector<std::unordered_set<std::string>> frames_;  // keys seen per open object (empty for arrays)
  std::string key_;
  std::string number_;
};

// The scan of `text` (valid JSON).
DocumentScan scan_document(std::string_view text) {
  json::basic_parser<DocumentScan> parser{json::parse_options{}};
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return ec ? DocumentScan{} : std::move(parser.handler());
}

// Each number of the DOM -> its text as written, while parse_policy() runs
// (set by its NumberTexts scope; the parse helpers below read it).
thread_local const std::unordered_map<const json::value*, std::string>* t_number_texts = nullptr;

// Pairs the DOM's numbers with the scan's texts: objects iterate in
// insertion order (duplicates were refused), so a walk in document order
// meets the numbers in the scan's order.
void index_numbers(const json::value& v, std::vector<std::string>& texts, std::size_t& next,
                   std::unordered_map<const json::value*, std::string>& out) {
  switch (v.kind()) {
    case json::kind::object:
      for (const auto& member : v.get_object()) {
        index_numbers(member.value(), texts, next, out);
      }
      break;
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        index_numbers(e, texts, next, out);
      }
      break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      if (next < texts.size()) {
        out.emplace(&v, std::move(texts[next++]));
      }
      break;
    default:
      break;
  }
}

struct NumberTexts {
  std::unordered_map<const json::value*, std::string> map;
  NumberTexts(const json::value& doc, std::vector<std::string> texts) {
    std::size_t next = 0;
    index_numbers(doc, texts, next, map);
    t_number_texts = &map;
  }
  ~NumberTexts() { t_number_texts = nullptr; }
  NumberTexts(const NumberTexts&) = delete;
  NumberTexts& operator=(const NumberTexts&) = delete;
};

// A JSON number as policy text: as written ("1.0", "10E2"), so a condition
// value compares with the request's text as the author wrote it.
std::string number_text(const json::value& v) {
  if (t_number_texts != nullptr) {
    if (const auto it = t_number_texts->find(&v); it != t_number_texts->end()) {
      return it->second;
    }
  }
  return json::serialize(v);
}

// A JSON scalar as policy text: strings as-is, booleans/numbers in JSON form.
std::optional<std::string> scalar_text(const json::value& v, bool strings_only) {
  if (v.is_string()) {
    return std::string(v.get_string());
  }
  if (strings_only) {
    return std::nullopt;
  }
  if (v.is_bool()) {
    return v.get_bool() ? "true" : "false";
  }
  if (v.is_number()) {
    return number_text(v);
  }
  return std::nullopt;
}

// A string or a non-empty array of strings (IAM's "string or list" fields).
Result<std::vector<std::string>> string_list(const json::value& v, const std::string& where, bool strings_only = true) {
  std::vector<std::string> out;
  if (auto s = scalar_text(v, strings_only)) {
    out.push_back(std::move(*s));
    return out;
  }
  if (!v.is_array()) {
    return malformed(where + " must be a string or an array of strings");
  }
  const auto& arr = v.get_array();
  if (arr.empty()) {
    return malformed(where + " is an empty array");
  }
  out.reserve(arr.size());
  for (const auto& e : arr) {
    auto s = scalar_text(e, strings_only);
    if (!s) {
      return malformed(where + " must contain only strings");
    }
    out.push_back(std::move(*s));
  }
  return out;
}

bool is_account_id(std::string_view s) {
  if (s.size() != 12) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

// What an "AWS" principal may be: an account ID, an IAM/STS ARN of an
// account ("...:root", "...:role/Name", "...:user/Name", "...:assumed-role/
// Name/session"), or the unique ID GetKeyPolicy shows for a deleted
// principal (AROA..., AIDA...). Wildcards only as the lone "*" (IAM allows no
// partial ones: "arn:aws:iam::*:root" is refused).
bool is_aws_principal(std::string_view a) {
  if (is_account_id(a)) {
    return true;
  }
  if (a.find('*') != std::string_view::npos || a.find('?') != std::string_view::npos) {
    return false;
  }
  if (a.size() >= 16 && a.size() <= 128 && a.front() == 'A' &&
      a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string_view::npos) {
    return true;  // a unique principal ID
  }
  // arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE
  const auto arn = parse_arn(a);
  return arn && !arn->partition.empty() && (arn->service == "iam" || arn->service == "sts") &&
         arn->region.empty() && is_account_id(arn->account) && !arn->resource.empty();
}

Result<Principal> parse_principal(const json::value& v, const std::string& where) {
  Principal p;
  if (v.is_string()) {
    if (v.get_string() != "*") {
      return malformed(where + " must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::111122223333:root\"}");
    }
    p.everyone = true;
    return p;
  }
  if (!v.is_object() || v.get_object().empty()) {
    return malformed(where + " must be \"*\" or a non-empty object");
  }
  for (const auto& [type, value] : v.get_object()) {
    const std::string field = where + "." + std::string(type);
    auto list = string_list(value, field);
    if (!list) {
      return list.error();
    }
    if (type == "AWS") {
      for (const auto& a : *list) {
        if (a == "*") {
          p.everyone = true;
        } else if (!is_aws_principal(a)) {
          return malformed("Policy contains a statement with one or more invalid principals: \"" + a + "\" in " +
                           where + " (an account ID, an IAM or STS ARN without wildcards, or \"*\")");
        }
      }
      p.aws = std::move(*list);
    } else if (type == "Service") {
      p.service = std::move(*list);
    } else if (type == "Federated") {
      p.federated = std::move(*list);
    } else if (type == "CanonicalUser") {
      p.canonical_user = std::move(*list);
    } else {
      return malformed(where + " has an unknown principal type \"" + std::string(type) + "\"");
    }
  }
  return p;
}

struct OperatorRow {
  std::string_view name;
  ConditionOp op;
};
constexpr std::array<OperatorRow, 28> kOperators{{
    {"StringEquals", ConditionOp::kStringEquals},
    {"StringNotEquals", ConditionOp::kStringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOp::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOp::kStringNotEqualsIgnoreCase},
    {"StringLike", ConditionOp::kStringLike},
    {"StringNotLike", ConditionOp::kStringNotLike},
    {"ArnEquals", ConditionOp::kArnEquals},
    {"ArnNotEquals", ConditionOp::kArnNotEquals},
    {"ArnLike", ConditionOp::kArnLike},
    {"ArnNotLike", ConditionOp::kArnNotLike},
    {"NumericEquals", ConditionOp::kNumericEquals},
    {"NumericNotEquals", ConditionOp::kNumericNotEquals},
    {"NumericLessThan", ConditionOp::kNumericLessThan},
    {"NumericLessThanEquals", ConditionOp::kNumericLessThanEquals},
    {"NumericGreaterThan", ConditionOp::kNumericGreaterThan},
    {"NumericGreaterThanEquals", ConditionOp::kNumericGreaterThanEquals},
    {"DateEquals", ConditionOp::kDateEquals},
    {"DateNotEquals", ConditionOp::kDateNotEquals},
    {"DateLessThan", ConditionOp::kDateLessThan},
    {"DateLessThanEquals", ConditionOp::kDateLessThanEquals},
    {"DateGreaterThan", ConditionOp::kDateGreaterThan},
    {"DateGreaterThanEquals", ConditionOp::kDateGreaterThanEquals},
    {"Bool", ConditionOp::kBool},
    {"BinaryEquals", ConditionOp::kBinaryEquals},
    {"IpAddress", ConditionOp::kIpAddress},
    {"NotIpAddress", ConditionOp::kNotIpAddress},
    {"Null", ConditionOp::kNull},
}};

// What a typed operator's policy values must be ("" = any string).
std::string_view value_kind_error(ConditionOp op, const std::string& value) {
  switch (typed_kind(op)) {
    case TypedKind::kNumber:
      return parse_number(value) ? "" : "is not a number";
    case TypedKind::kDate:
      return parse_date_ms(value) ? "" : "is not an ISO 8601 date (e.g. 2026-01-31T12:00:00Z) or epoch seconds";
    case TypedKind::kIpAddress:
      return parse_ip_range(value) ? "" : "is not an IPv4 or IPv6 address or CIDR range";
    case TypedKind::kBinary:
      return parse_binary(value) ? "" : "is not base64";
    case TypedKind::kNone:
      break;
  }
  if (op == ConditionOp::kBool || op == ConditionOp::kNull) {
    return ascii_iequals(value, "true") || ascii_iequals(value, "false") ? "" : "must be \"true\" or \"false\"";
  }
  return "";
}

Result<Condition> parse_operator(std::string_view name, const std::string& where) {
  Condition c;
  c.operator_name = std::string(name);
  std::string_view rest = name;
  if (starts_with_ci(rest, "ForAnyValue:")) {
    c.qualifier = SetQualifier::kForAnyValue;
    rest.remove_prefix(12);
  } else if (starts_with_ci(rest, "ForAllValues:")) {
    c.qualifier = SetQualifier::kForAllValues;
    rest.remove_prefix(13);
  }
  if (ends_with_ci(rest, "IfExists")) {
    c.if_exists = true;
    rest.remove_suffix(8);
  }
  for (const auto& row : kOperators) {
    if (ascii_iequals(rest, row.name)) {
      c.op = row.op;
      if (c.op == ConditionOp::kNull && c.if_exists) {
        return malformed(where + ": \"" + c.operator_name + "\": Null cannot take the IfExists suffix");
      }
      if (c.op == ConditionOp::kNull && c.qualifier != SetQualifier::kNone) {
        return malformed(where + ": \"" + c.operator_name + "\": Null cannot take a set qualifier");
      }
      return c;
    }
  }
  return malformed(where + ": unknown condition operator \"" + c.operator_name + "\"");
}

Result<std::vector<Condition>> parse_conditions(const json::value& v, const std::string& where) {
  if (!v.is_object()) {
    return malformed(where + " must be an object");
  }
  std::vector<Condition> out;
  for (const auto& [op_name, block] : v.get_object()) {
    auto proto = parse_operator(op_name, where);
    if (!proto) {
      return proto.error();
    }
    const std::string op_where = where + "." + std::string(op_name);
    if (!block.is_object() || block.get_object().empty()) {
      return malformed(op_where + " must be a non-empty object of condition keys");
    }
    for (const auto& [key, values] : block.get_object()) {
      if (key.empty()) {
        return malformed(op_where + " has an empty condition key");
      }
      Condition c = *proto;
      c.key = std::string(key);
      auto list = string_list(values, op_where + "." + c.key, /*strings_only=*/false);
      if (!list) {
        return list.error();
      }
      c.values = std::move(*list);
      for (const auto& value : c.values) {
        if (const auto why = value_kind_error(c.op, value); !why.empty()) {
          return malformed(op_where + "." + c.key + ": value \"" + value.substr(0, 128) + "\" " + std::string(why));
        }
      }
      // KMS rejects this combination outright (KMS Developer Guide,
      // kms:EncryptionContext:context-key).
      if (c.qualifier == SetQualifier::kForAllValues && starts_with_ci(c.key, "kms:EncryptionContext:")) {
        return malformed(
            "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued "
            "condition key matches requests without the specified encryption context or with an unspecified "
            "encryption context. To fix, remove ForAllValues. (" +
            op_where + "." + c.key + ")");
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

Result<Statement> parse_statement(const json::value& v, std::size_t index) {
  if (!v.is_object()) {
    return malformed(statement_label(index, {}) + " must be an object");
  }
  const auto& obj = v.get_object();
  Statement st;
  if (const auto* sid = obj.if_contains("Sid")) {
    if (!sid->is_string()) {
      return malformed(statement_label(index, {}) + ": Sid must be a string");
    }
    st.sid = std::string(sid->get_string());
  }
  const std::string where = statement_label(index, st.sid);
  bool have_effect = false;
  bool have_principal = false;
  bool have_action = false;  // Action or NotAction seen
  bool have_resource = false;
  for (const auto& [name, value] : obj) {
    if (name == "Sid") {
      continue;
    }
    if (name == "Effect") {
      if (value.is_string() && value.get_string() == "Allow") {
        st.effect = Effect::kAllow;
      } else if (value.is_string() && value.get_string() == "Deny") {
        st.effect = Effect::kDeny;
      } else {
        return malformed(where + ": Effect must be \"Allow\" or \"Deny\"");
      }
      have_effect = true;
    } else if (name == "Principal" || name == "NotPrincipal") {
      if (have_principal) {
        return malformed(where + " has both Principal and NotPrincipal");
      }
      auto p = parse_principal(value, where + "." + std::string(name));
      if (!p) {
        return p.error();
      }
      st.principal = std::move(*p);
      st.not_principal = name == "NotPrincipal";
      have_principal = true;
    } else if (name == "Action" || name == "NotAction") {
      if (have_action) {
        return malformed(where + " has both Action and NotAction");
      }
      auto list = string_list(value, where + "." + std::string(name));
      if (!list) {
        return list.error();
      }
      for (const auto& a : *list) {
        const auto colon = a.find(':');
        if (a != "*" && (colon == std::string::npos || colon == 0 || colon + 1 == a.size())) {
          return malformed(where + ": action \"" + a + "\" must be \"*\" or have the form service:Action");
        }
      }
      st.actions = std::move(*list);
      st.not_action = name == "NotAction";
      have_action = true;
    } else if (name == "Resource" || name == "NotResource") {
      if (have_resource) {
        return malformed(where + " has both Resource and NotResource");
      }
      auto list = string_list(value, where + "." + std::string(name));
      if (!list) {
        return list.error();
      }
      for (const auto& r : *list) {
        if (r != "*" && r.rfind("arn:", 0) != 0) {
          return malformed(where + ": resource \"" + r + "\" must be \"*\" or an ARN");
        }
      }
      st.resources = std::move(*list);
      st.not_resource = name == "NotResource";
      have_resource = true;
    } else if (name == "Condition") {
      auto c = parse_conditions(value, where + ".Condition");
      if (!c) {
        return c.error();
      }
      st.conditions = std::move(*c);
    } else {
      return malformed(where + " has an unknown element \"" + std::string(name) + "\"");
    }
  }
  if (!have_effect) {
    return malformed(where + " has no Effect");
  }
  if (!have_principal) {
    return malformed(where + " has no Principal (every key policy statement must name one)");
  }
  // Without Action or Resource the statement has no effect; KMS accepts
  // such a policy all the same (PutKeyPolicy API reference), so it parses and
  // never applies (Statement::actions / resources stay empty).
  return st;
}

}  // namespace

Result<void> check_attachable(std::string_view text) {
  if (text.size() > kKeyPolicyQuotaBytes) {
    return Error(Errc::kLimitExceeded, "The key policy is " + std::to_string(text.size()) +
                                           " bytes; the maximum key policy size is " +
                                           std::to_string(kKeyPolicyQuotaBytes) + " bytes.");
  }
  // UTF-8 decoding of what may appear: ASCII, and U+0080..U+00FF as two bytes
  // (0xC2 or 0xC3, then a continuation byte).
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f)) {
      continue;
    }
    if (c == 0x7f) {
      continue;  // DEL is inside \u0020-\u00FF
    }
    if ((c == 0xc2 || c == 0xc3) && i + 1 < text.size() &&
        (static_cast<unsigned char>(text[i + 1]) & 0xc0) == 0x80) {
      ++i;
      continue;
    }
    return Error(Errc::kValidation, "The key policy contains a character KMS does not accept at byte " +
                                        std::to_string(i) +
                                        " (allowed: tab, LF, CR and U+0020 to U+00FF)");
  }
  return {};
}

Result<Policy> parse_policy(std::string_view text) {
  if (text.size() > kMaxPolicyBytes) {
    return malformed("document is " + std::to_string(text.size()) + " bytes; the maximum is " +
                     std::to_string(kMaxPolicyBytes));
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(text, ec);
  if (ec) {
    return malformed("not valid JSON (" + ec.message() + ")");
  }
  if (!doc.is_object()) {
    return malformed("the document must be a JSON object");
  }
  DocumentScan scan = scan_document(text);
  if (scan.duplicate) {
    return malformed("the element \"" + *scan.duplicate +
                     "\" appears twice in one object (KMS refuses duplicate elements)");
  }
  const NumberTexts numbers(doc, std::move(scan.numbers));
  Policy policy;
  policy.version = "2008-10-17";
  const json::value* statements = nullptr;
  for (const auto& [name, value] : doc.get_object()) {
    if (name == "Version") {
      if (!value.is_string() || (value.get_string() != "2012-10-17" && value.get_string() != "2008-10-17")) {
        return malformed("Version must be \"2012-10-17\" or \"2008-10-17\"");
      }
      policy.version = std::string(value.get_string());
    } else if (name == "Id") {
      if (!value.is_string()) {
        return malformed("Id must be a string");
      }
      policy.id = std::string(value.get_string());
    } else if (name == "Statement") {
      statements = &value;
    } else {
      return malformed("unknown top-level element \"" + std::string(name) + "\"");
    }
  }
  if (statements == nullptr) {
    return malformed("the document has no Statement");
  }
  if (statements->is_object()) {
    auto st = parse_statement(*statements, 0);
    if (!st) {
      return st.error();
    }
    policy.statements.push_back(std::move(*st));
  } else if (statements->is_array()) {
    if (statements->get_array().empty()) {
      return malformed("Statement is an empty array");
    }
    std::size_t i = 0;
    for (const auto& s : statements->get_array()) {
      auto st = parse_statement(s, i++);
      if (!st) {
        return st.error();
      }
      policy.statements.push_back(std::move(*st));
    }
  } else {
    return malformed("Statement must be an object or an array of objects");
  }
  std::set<std::string_view> sids;
  for (std::size_t i = 0; i < policy.statements.size(); ++i) {
    const std::string& sid = policy.statements[i].sid;
    if (!sid.empty() && !sids.insert(sid).second) {
      return malformed(statement_label(i, sid) + ": another statement has the same Sid (Sids must be unique)");
    }
  }
  return policy;
}

}  // namespace kp::policy
