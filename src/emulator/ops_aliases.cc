// Alias operations: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.
#include <algorithm>

#include <boost/json.hpp>

#include "emulator/internal.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

Result<void> check_alias_name(KmsEmulator::Impl& e, const Caller& caller, std::string_view name) {
  if (!name.starts_with("alias/") || name.size() == 6) {
    return fail(Errc::kValidation, "Alias must start with the prefix \"alias/\". Please see "
                                   "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
  }
  // The model's pattern admits ':', but the documented alias characters are
  // alphanumerics, '/', '_' and '-' (the pattern check already ran).
  if (name.find(':') != std::string_view::npos) {
    return fail(Errc::kValidation, std::string(name) + " contains invalid characters for an alias");
  }
  if (name.starts_with("alias/aws/")) {
    return fail(Errc::kInvalidAliasName, "Alias " + e.alias_arn(caller.account, name) +
                                             " is reserved: names beginning with alias/aws/ are for AWS managed "
                                             "keys");
  }
  return {};
}

// CreateAlias/UpdateAlias take a key id or key ARN only, never an alias name
// or alias ARN.
Result<void> check_alias_target(std::string_view target) {
  const bool alias_arn = target.starts_with("arn:") && target.find(":alias/") != std::string_view::npos;
  if (target.starts_with("alias/") || alias_arn) {
    return fail(Errc::kValidation, "Aliases must refer to keys. Not aliases");
  }
  return {};
}

// The key an alias is to point at, under the lock: resolved, `action`
// allowed by its policy, in the caller's account, not pending deletion.
Result<std::shared_ptr<const KeyRecord>> alias_target_key(KmsEmulator::Impl& e, const Caller& caller,
                                                          const std::string& target, std::string_view action) {
  auto key = e.resolve_locked(target, caller);
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (auto a = authorize(k, action, caller, {}); !a) {
    return a.error();
  }
  if (k.account != caller.account) {
    return fail(Errc::kNotFound, "Key '" + k.arn() + "' does not exist");
  }
  if (k.state == KeyState::kPendingDeletion) {
    return fail(Errc::kInvalidState, k.arn() + " is pending deletion.");
  }
  return key;
}

}  // namespace

Result<Reply> op_create_alias(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::string name = *get_str(in, "AliasName");
  if (auto c = check_alias_name(e, caller, name); !c) {
    return c.error();
  }
  const std::string target = *get_str(in, "TargetKeyId");
  if (auto t = check_alias_target(target); !t) {
    return t.error();
  }
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = alias_target_key(e, caller, target, "kms:CreateAlias");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (e.store->find_alias(caller.account, name)) {
    return fail(Errc::kAlreadyExists,
                "An alias with the name " + e.alias_arn(caller.account, name) + " already exists");
  }
  const std::int64_t now = e.now_ms();
  if (auto w = e.store->put_alias({caller.account, name, k.key_id, now, now}); !w) {
    return w.error();
  }
  return Reply();
}

Result<Reply> op_update_alias(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::string name = *get_str(in, "AliasName");
  if (auto c = check_alias_name(e, caller, name); !c) {
    return c.error();
  }
  const std::string target = *get_str(in, "TargetKeyId");
  if (auto t = check_alias_target(target); !t) {
    return t.error();
  }
  std::lock_guard<std::mutex> lock(e.mu);
  auto alias = e.store->find_alias(caller.account, name);
  if (!alias) {
    return fail(Errc::kNotFound, "Alias " + e.alias_arn(caller.account, name) + " is not found.");
  }
  // KMS asks both keys' policies: the alias's current key must allow
  // kms:UpdateAlias too, or any key's admin could steal its aliases.
  const auto old = e.store->find_key(alias->target_key_id);
  if (old) {
    if (auto a = authorize(*old, "kms:UpdateAlias", caller, {}); !a) {
      return a.error();
    }
  }
  auto key = alias_target_key(e, caller, target, "kms:UpdateAlias");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (old && (old->key_usage != k.key_usage || old->symmetric() != k.symmetric())) {
    return fail(Errc::kValidation, "Alias " + e.alias_arn(caller.account, name) +
                                       " cannot be moved to a key of a different type or key usage");
  }
  alias->target_key_id = k.key_id;
  alias->updated_ms = e.now_ms();
  if (auto w = e.store->put_alias(*alias); !w) {
    return w.error();
  }
  return Reply();
}

Result<Reply> op_delete_alias(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::string name = *get_str(in, "AliasName");
  std::lock_guard<std::mutex> lock(e.mu);
  const auto alias = e.store->find_alias(caller.account, name);
  if (!alias) {
    return fail(Errc::kNotFound, "Alias " + e.alias_arn(caller.account, name) + " is not found.");
  }
  if (const auto k = e.store->find_key(alias->target_key_id)) {
    if (auto a = authorize(*k, "kms:DeleteAlias", caller, {}); !a) {
      return a.error();
    }
  }
  if (auto w = e.store->remove_alias(caller.account, name); !w) {
    return w.error();
  }
  return Reply();
}

Result<Reply> op_list_aliases(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::int64_t limit = get_int(in, "Limit").value_or(50);
  std::vector<AliasRecord> aliases;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    std::optional<std::string> target;
    if (const auto key_id = get_str(in, "KeyId")) {
      auto key = e.resolve_locked(*key_id, caller);
      if (!key) {
        return key.error();
      }
      target = (*key)->key_id;
    }
    aliases = e.store->aliases_of(caller.account);
    if (target) {
      std::erase_if(aliases, [&](const AliasRecord& a) { return a.target_key_id != *target; });
    }
  }
  const auto first = page_start(in, aliases, [](const AliasRecord& a) -> const std::string& { return a.name; });
  if (!first) {
    return first.error();
  }
  const std::size_t start = *first;
  Reply list;
  std::string items = "[";
  std::size_t i = start;
  for (; i < aliases.size() && static_cast<std::int64_t>(i - start) < limit; ++i) {
    const auto& a = aliases[i];
    Reply item;
    item.str("AliasName", a.name)
        .str("AliasArn", e.alias_arn(a.account, a.name))
        .str("TargetKeyId", a.target_key_id)
        .timestamp("CreationDate", a.creation_ms)
        .timestamp("LastUpdatedDate", a.updated_ms);
    items += i == start ? "" : ",";
    items += item.take_body();
  }
  items += "]";
  list.raw("Aliases", items).boolean("Truncated", i < aliases.size());
  if (i < aliases.size()) {
    list.str("NextMarker", aliases[i].name);
  }
  return list;
}

}  // namespace kp::emulator
