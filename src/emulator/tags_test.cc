// Tags: TagResource / UntagResource / ListResourceTags, the quota, key
// states, and tag-based key policies (aws:ResourceTag, aws:RequestTag,
// aws:TagKeys).
#include <gtest/gtest.h>

#include "emulator/test_support.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
using testing::b64;

class TagsTest : public testing::EmulatorFixture {
 protected:
  // TagKey -> TagValue, in ListResourceTags order.
  std::vector<std::pair<std::string, std::string>> tags_of(const std::string& id) {
    auto a = op("ListResourceTags", {{"KeyId", id}});
    EXPECT_EQ(a.status, 200u) << a.raw.body;
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& t : a.body["Tags"].as_array()) {
      const auto& o = t.as_object();
      out.emplace_back(std::string(o.at("TagKey").as_string()), std::string(o.at("TagValue").as_string()));
    }
    return out;
  }
  static json::array tags(std::initializer_list<std::pair<const char*, const char*>> kv) {
    json::array a;
    for (const auto& [k, v] : kv) {
      a.push_back(json::object{{"TagKey", k}, {"TagValue", v}});
    }
    return a;
  }
  std::string key_with_policy(const std::string& statements, json::array initial = {}) {
    const std::string policy = R"({"Version":"2012-10-17","Statement":[)" + statements + "]}";
    return create_key_id({{"Policy", policy}, {"BypassPolicyLockoutSafetyCheck", true}, {"Tags", initial}});
  }
};

using Tags = std::vector<std::pair<std::string, std::string>>;

TEST_F(TagsTest, TagUntagAndList) {
  const std::string id = create_key_id({{"Tags", tags({{"team", "a"}})}});
  ASSERT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"env", "dev"}, {"team", "b"}})}}).status, 200u);
  EXPECT_EQ(tags_of(id), (Tags{{"team", "b"}, {"env", "dev"}}));  // an existing key gets the new value
  // By alias too; keys the key does not have are ignored.
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/tagged"}, {"TargetKeyId", id}}).status, 200u);
  auto u = op("UntagResource", {{"KeyId", "alias/tagged"}, {"TagKeys", json::array{"team", "absent"}}});
  ASSERT_EQ(u.status, 200u) << u.raw.body;
  EXPECT_EQ(tags_of(id), (Tags{{"env", "dev"}}));
  // Kept across a restart.
  reopen();
  EXPECT_EQ(tags_of(id), (Tags{{"env", "dev"}}));
}

TEST_F(TagsTest, ReservedDuplicateAndTooManyTags) {
  const std::string id = create_key_id();
  auto reserved = op("TagResource", {{"KeyId", id}, {"Tags", tags({{"aws:x", "1"}})}});
  EXPECT_EQ(reserved.type, "TagException") << reserved.raw.body;
  auto dup = op("TagResource", {{"KeyId", id}, {"Tags", tags({{"k", "1"}, {"k", "2"}})}});
  EXPECT_EQ(dup.type, "TagException") << dup.raw.body;
  json::array fifty;
  for (int i = 0; i < 50; ++i) {
    fifty.push_back(json::object{{"TagKey", "k" + std::to_string(i)}, {"TagValue", "v"}});
  }
  ASSERT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", fifty}}).status, 200u);
  // Replacing a value stays within the quota; a 51st key does not.
  EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"k0", "w"}})}}).status, 200u);
  auto over = op("TagResource", {{"KeyId", id}, {"Tags", tags({{"k50", "v"}})}});
  EXPECT_EQ(over.status, 400u);
  EXPECT_EQ(over.type, "LimitExceededException") << over.raw.body;
  EXPECT_EQ(tags_of(id).size(), 50u);
  auto missing = op("TagResource", {{"KeyId", id}});
  EXPECT_EQ(missing.type, "ValidationException") << missing.raw.body;
  // The reserved prefix in any case; CreateKey holds to the quota too.
  for (const char* reserved_key : {"AWS:x", "Aws:y"}) {
    EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{reserved_key, "1"}})}}).type, "TagException");
  }
  json::array fifty_one = fifty;
  fifty_one.push_back(json::object{{"TagKey", "k50"}, {"TagValue", "v"}});
  auto create = op("CreateKey", {{"Tags", fifty_one}});
  EXPECT_EQ(create.type, "TagException") << create.raw.body;
}

TEST_F(TagsTest, ListResourceTagsPages) {
  json::array five;
  for (int i = 0; i < 5; ++i) {
    five.push_back(json::object{{"TagKey", "k" + std::to_string(i)}, {"TagValue", "v"}});
  }
  const std::string id = create_key_id({{"Tags", five}});
  std::vector<std::string> seen;
  json::object req{{"KeyId", id}, {"Limit", 2}};
  for (int page = 0; page < 5; ++page) {
    auto r = op("ListResourceTags", req);
    ASSERT_EQ(r.status, 200u) << r.raw.body;
    for (const auto& t : r.body["Tags"].as_array()) {
      seen.emplace_back(t.as_object().at("TagKey").as_string());
    }
    if (!r.body["Truncated"].as_bool()) {
      EXPECT_FALSE(r.body.contains("NextMarker"));
      break;
    }
    req["Marker"] = r.body["NextMarker"];
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"k0", "k1", "k2", "k3", "k4"}));
  auto bad = op("ListResourceTags", {{"KeyId", id}, {"Marker", "garbage"}});
  EXPECT_EQ(bad.type, "InvalidMarkerException") << bad.raw.body;
}

TEST_F(TagsTest, PendingDeletionKeysCannotBeTagged) {
  const std::string id = create_key_id();
  ASSERT_EQ(op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 7}}).status, 200u);
  EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"a", "b"}})}}).type, "KMSInvalidStateException");
  EXPECT_EQ(op("UntagResource", {{"KeyId", id}, {"TagKeys", json::array{"a"}}}).type, "KMSInvalidStateException");
  EXPECT_EQ(op("ListResourceTags", {{"KeyId", id}}).status, 200u);
}

// aws:ResourceTag/<key>: the key's own tags decide, and change with them.
TEST_F(TagsTest, ResourceTagConditionsFollowTheKeysTags) {
  const std::string id = key_with_policy(
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"NotAction":"kms:Decrypt","Resource":"*"},
         {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*",
          "Condition":{"StringEquals":{"aws:ResourceTag/Env":"prod"}}})",
      tags({{"env", "dev"}}));
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("abac")}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;
  const json::object decrypt{{"CiphertextBlob", enc.body["CiphertextBlob"]}};
  EXPECT_EQ(op("Decrypt", decrypt).type, "AccessDeniedException");
  // Condition key names are case-insensitive: the tag "env" is aws:ResourceTag/Env.
  ASSERT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"env", "prod"}})}}).status, 200u);
  EXPECT_EQ(op("Decrypt", decrypt).status, 200u);
  ASSERT_EQ(op("UntagResource", {{"KeyId", id}, {"TagKeys", json::array{"env"}}}).status, 200u);
  EXPECT_EQ(op("Decrypt", decrypt).type, "AccessDeniedException");
}

// aws:RequestTag/<key> and aws:TagKeys on TagResource / UntagResource.
TEST_F(TagsTest, RequestTagAndTagKeysConditions) {
  const std::string id = key_with_policy(
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
         {"Effect":"Deny","Principal":"*","Action":["kms:TagResource","kms:UntagResource"],"Resource":"*",
          "Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"owner"}}},
         {"Effect":"Deny","Principal":"*","Action":"kms:TagResource","Resource":"*",
          "Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}}})",
      tags({{"owner", "alice"}}));
  EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"owner", "bob"}})}}).type, "AccessDeniedException");
  EXPECT_EQ(op("UntagResource", {{"KeyId", id}, {"TagKeys", json::array{"x", "owner"}}}).type,
            "AccessDeniedException");
  EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"env", "prod"}})}}).type, "AccessDeniedException");
  EXPECT_EQ(op("TagResource", {{"KeyId", id}, {"Tags", tags({{"env", "dev"}})}}).status, 200u);
  EXPECT_EQ(tags_of(id), (Tags{{"owner", "alice"}, {"env", "dev"}}));
}

}  // namespace
}  // namespace kp::emulator
