// Tags: TagResource, UntagResource, ListResourceTags, and the Tags of
// CreateKey. A key's tags are also its aws:ResourceTag/<key> condition keys
// (policy/kms_request.h, through authorize()); TagResource adds aws:RequestTag/<key> and
// aws:TagKeys, UntagResource aws:TagKeys, so tag-based policies evaluate as in
// KMS.
#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "base/http_message.h"
#include "emulator/internal.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxTagsPerKey = 50;  // KMS quota "Tags per KMS key"

}  // namespace

Result<void> parse_tags(const json::object& in, std::vector<std::pair<std::string, std::string>>& out) {
  const auto* tags = in.if_contains("Tags");
  if (tags == nullptr || !tags->is_array()) {
    return {};
  }
  std::set<std::string> seen;
  for (const auto& t : tags->as_array()) {
    // Shapes were validated against the model: objects with both strings.
    const auto& o = t.as_object();
    std::string k(o.at("TagKey").as_string());
    std::string v(o.at("TagValue").as_string());
    if (k.size() >= 4 && iequals(std::string_view(k).substr(0, 4), "aws:")) {  // any case: AWS:x too
      return fail(Errc::kTagException, "Tag keys beginning with aws: are reserved");
    }
    if (!seen.insert(k).second) {
      return fail(Errc::kTagException, "Duplicate tag key " + k);
    }
    out.emplace_back(std::move(k), std::move(v));
  }
  if (out.size() > kMaxTagsPerKey) {  // CreateKey; TagResource counts the key's tags too
    return fail(Errc::kTagException, "Too many tags: at most " + std::to_string(kMaxTagsPerKey) + " per key");
  }
  return {};
}

Result<Reply> op_tag_resource(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  std::vector<std::pair<std::string, std::string>> added;
  if (auto t = parse_tags(in, added); !t) {
    return t.error();
  }
  ConditionKeys request;
  auto& tag_keys = request["aws:TagKeys"];
  for (const auto& [tag_key, tag_value] : added) {
    request["aws:RequestTag/" + tag_key] = {tag_value};
    tag_keys.push_back(tag_key);
  }
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = key_to_change(e, caller, in, "kms:TagResource", request);
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  KeyRecord next = k.copy();
  for (auto& [tag_key, tag_value] : added) {  // an existing key gets the new value
    auto it = std::find_if(next.tags.begin(), next.tags.end(), [&](const auto& t) { return t.first == tag_key; });
    if (it != next.tags.end()) {
      it->second = std::move(tag_value);
    } else {
      next.tags.emplace_back(tag_key, std::move(tag_value));
    }
  }
  if (next.tags.size() > kMaxTagsPerKey) {
    return fail(Errc::kLimitExceeded, "The request would exceed the limit of " + std::to_string(kMaxTagsPerKey) +
                                          " tags for " + k.arn());
  }
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return Reply();
}

Result<Reply> op_untag_resource(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  std::vector<std::string> removed;
  if (const auto* keys = in.if_contains("TagKeys"); keys != nullptr && keys->is_array()) {
    for (const auto& v : keys->as_array()) {
      removed.emplace_back(v.as_string());  // validated: a list of strings
    }
  }
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = key_to_change(e, caller, in, "kms:UntagResource", {{"aws:TagKeys", removed}});
  if (!key) {
    return key.error();
  }
  KeyRecord next = (*key)->copy();
  std::erase_if(next.tags, [&](const auto& t) {  // keys the key does not have are ignored, as in KMS
    return std::find(removed.begin(), removed.end(), t.first) != removed.end();
  });
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return Reply();
}

Result<Reply> op_list_resource_tags(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:ListResourceTags");
  if (!key) {
    return key.error();
  }
  // Paged like ListAliases: the marker is the next page's first tag key.
  const auto& all = (*key)->tags;
  const auto first = page_start(in, all, [](const auto& t) -> const std::string& { return t.first; });
  if (!first) {
    return first.error();
  }
  const std::size_t start = *first;
  const auto limit = static_cast<std::size_t>(std::clamp<std::int64_t>(get_int(in, "Limit").value_or(50), 1, 50));
  const std::size_t end = std::min(all.size(), start + limit);
  json::array tags;
  for (std::size_t i = start; i < end; ++i) {
    tags.push_back(json::object{{"TagKey", all[i].first}, {"TagValue", all[i].second}});
  }
  Reply r;
  r.raw("Tags", json::serialize(tags));
  if (end < all.size()) {
    r.str("NextMarker", all[end].first);
  }
  r.boolean("Truncated", end < all.size());
  return r;
}

}  // namespace kp::emulator
