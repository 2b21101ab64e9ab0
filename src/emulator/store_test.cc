#include "emulator/store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "emulator/ciphertext.h"
#include "emulator/emulator.h"

namespace kp::emulator {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kp-emu-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

KeyRecord sample_key(std::string id) {
  KeyRecord k;
  k.key_id = std::move(id);
  k.account = "111122223333";
  k.region = "us-east-1";
  k.description = "d \"quoted\"";
  k.key_spec = "SYMMETRIC_DEFAULT";
  k.key_usage = "ENCRYPT_DECRYPT";
  k.creation_ms = 1700000000123;
  k.policy = "{\"Version\":\"2012-10-17\"}";
  k.tags = {{"team", "a"}};
  k.material = SecretBytes::copy_of(std::string_view("0123456789abcdef0123456789abcdef"));
  return k;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(Store, PersistsKeysAndAliasesAcrossReopen) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "state";
  {
    auto s = Store::open(dir);
    ASSERT_TRUE(s) << s.error().message;
    KeyRecord k = sample_key("11111111-2222-4333-8444-555555555555");
    k.state = KeyState::kPendingDeletion;
    k.deletion_ms = 1700000000999;
    k.pending_window_days = 7;
    ASSERT_TRUE((*s)->put_key(std::move(k)));
    ASSERT_TRUE((*s)->put_alias({"111122223333", "alias/a", "11111111-2222-4333-8444-555555555555", 1, 2}));
  }
  auto s = Store::open(dir);
  ASSERT_TRUE(s) << s.error().message;
  const auto k = (*s)->find_key("11111111-2222-4333-8444-555555555555");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->description, "d \"quoted\"");
  EXPECT_EQ(k->state, KeyState::kPendingDeletion);
  EXPECT_EQ(k->deletion_ms, 1700000000999);
  EXPECT_EQ(k->pending_window_days, 7);
  EXPECT_EQ(k->tags.size(), 1u);
  EXPECT_TRUE(k->material.equals(as_bytes("0123456789abcdef0123456789abcdef")));
  const auto a = (*s)->find_alias("111122223333", "alias/a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->target_key_id, k->key_id);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir / "keys" / (k->key_id + ".json")), 0600u);
  EXPECT_EQ(mode_of(dir / "aliases.json"), 0600u);
}

TEST(Store, SecondOpenOfTheSameDirectoryIsRefused) {
  TempDir tmp;
  auto a = Store::open(tmp.path() / "s");
  ASSERT_TRUE(a);
  auto b = Store::open(tmp.path() / "s");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("in use"), std::string::npos);
}

TEST(Store, LeftoverTmpFilesAreIgnoredAndRemoved) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "s";
  {
    auto s = Store::open(dir);
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->put_key(sample_key("11111111-2222-4333-8444-555555555555")));
  }
  // An interrupted write: a truncated tmp next to the intact file.
  std::ofstream(dir / "keys" / "11111111-2222-4333-8444-555555555555.json.tmp") << "{\"KeyId\":";
  auto s = Store::open(dir);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_NE((*s)->find_key("11111111-2222-4333-8444-555555555555"), nullptr);
  EXPECT_FALSE(fs::exists(dir / "keys" / "11111111-2222-4333-8444-555555555555.json.tmp"));
}

TEST(Store, CorruptKeyFileIsReportedWithItsName) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "s";
  { ASSERT_TRUE(Store::open(dir)); }
  std::ofstream(dir / "keys" / "bad.json") << "not json";
  auto s = Store::open(dir);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("bad.json"), std::string::npos);
}

TEST(Store, RemoveKeyDropsItsAliases) {
  TempDir tmp;
  auto s = Store::open(tmp.path() / "s");
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->put_key(sample_key("11111111-2222-4333-8444-555555555555")));
  ASSERT_TRUE((*s)->put_alias({"111122223333", "alias/a", "11111111-2222-4333-8444-555555555555", 1, 1}));
  ASSERT_TRUE((*s)->remove_key("11111111-2222-4333-8444-555555555555"));
  EXPECT_EQ((*s)->find_key("11111111-2222-4333-8444-555555555555"), nullptr);
  EXPECT_FALSE((*s)->find_alias("111122223333", "alias/a"));
  EXPECT_FALSE(fs::exists(tmp.path() / "s" / "keys" / "11111111-2222-4333-8444-555555555555.json"));
}

TEST(Ciphertext, BindsKeyIdAndEncryptionContext) {
  const Bytes key(32, 7);
  const Bytes iv(12, 1);
  const EncryptionContext ec{{"purpose", "test"}, {"a", "b"}};
  auto blob = seal_blob("11111111-2222-4333-8444-555555555555", key, ec, as_bytes("hello"), iv);
  ASSERT_TRUE(blob);
  EXPECT_EQ(as_chars(ByteView(*blob).first(4)), "KPE1");
  EXPECT_EQ(blob->size(), 4 + 1 + 36 + 12 + 5 + 16u);
  EXPECT_EQ(*blob_key_id(*blob), "11111111-2222-4333-8444-555555555555");
  auto pt = open_blob(*blob, key, ec);
  ASSERT_TRUE(pt);
  EXPECT_EQ(pt->chars(), "hello");
  // Wrong context, missing context, wrong key, flipped byte: all rejected.
  EXPECT_EQ(open_blob(*blob, key, {{"purpose", "other"}, {"a", "b"}}).error().code, Errc::kInvalidCiphertext);
  EXPECT_FALSE(open_blob(*blob, key, {}));
  EXPECT_FALSE(open_blob(*blob, Bytes(32, 8), ec));
  Bytes tampered = *blob;
  tampered[10] ^= 1;  // inside the key id: authenticated as AAD
  EXPECT_FALSE(open_blob(tampered, key, ec));
  EXPECT_FALSE(blob_key_id(as_bytes("KPE")));
  EXPECT_FALSE(open_blob(as_bytes("garbage-garbage-garbage-garbage-garbage"), key, ec));
}

TEST(Ciphertext, CanonicalContextIsLengthPrefixedAndSorted) {
  const Bytes c = canonical_context({{"b", "2"}, {"a", "1"}});
  const Bytes expected = {0, 0, 0, 1, 'a', 0, 0, 0, 1, '1', 0, 0, 0, 1, 'b', 0, 0, 0, 1, '2'};
  EXPECT_EQ(c, expected);
  // ("ab","") and ("a","b") must differ (no ambiguity without separators).
  EXPECT_NE(canonical_context({{"ab", ""}}), canonical_context({{"a", "b"}}));
}

TEST(Credentials, ParsesLinesAndJsonWithoutLeakingSecrets) {
  auto lines = parse_credentials("# comment\nAKIDEXAMPLE secret1 111122223333\nAKID2 s2 444455556666 user/alice\n"
                                 "AKID3 s3 444455556666 role/app\n");
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].principal_arn, "arn:aws:iam::111122223333:root");
  EXPECT_EQ((*lines)[1].principal_arn, "arn:aws:iam::444455556666:user/alice");
  EXPECT_EQ((*lines)[2].principal_arn, "arn:aws:iam::444455556666:role/app");
  EXPECT_EQ((*lines)[1].secret_access_key.chars(), "s2");
  auto js = parse_credentials(
      R"({"credentials":[{"access_key_id":"AKID","secret_access_key":"topsecret","account":"111122223333","user":"bob"}]})");
  ASSERT_TRUE(js) << js.error().message;
  EXPECT_EQ((*js)[0].principal_arn, "arn:aws:iam::111122223333:user/bob");
  auto bad = parse_credentials("AKID topsecret 123\nAKID\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 1: account must be 12 digits"), std::string::npos);
  EXPECT_NE(bad.error().message.find("line 2:"), std::string::npos);
  EXPECT_EQ(bad.error().message.find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace kp::emulator
