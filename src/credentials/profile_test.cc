// The shared credentials file source: file and profile selection, botocore's
// INI rules, what does not apply (and why), and errors without values.
#include "credentials/profile.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "credentials/default_chain.h"
#include "credentials/test_http.h"

namespace kp::credentials {
namespace {

using testing::fake_env;

constexpr std::string_view kFile = R"(# AWS CLI style
[default]
aws_access_key_id = AKIADEFAULT0000EXAMPLE
aws_secret_access_key = default/secret/KEY

[dev]
AWS_ACCESS_KEY_ID=ASIADEV00000EXAMPLE
aws_secret_access_key: dev-secret-key
aws_session_token =   dev-session-token
s3 =
    max_concurrent_requests = 20

; a role profile
[assume]
role_arn = arn:aws:iam::111122223333:role/x
source_profile = default
)";

// A reader serving one file; records which path was asked for.
struct OneFile {
  std::string path;
  std::string text;
  std::string asked;
  SecretFileReader reader() {
    return [this](const std::string& p) -> Result<std::optional<SecretBytes>> {
      if (asked.empty()) {
        asked = p;  // the first file read (the credentials file comes first)
      }
      if (p != path) {
        return std::optional<SecretBytes>();
      }
      return std::optional<SecretBytes>(SecretBytes::copy_of(std::string_view(text)));
    };
  }
};

// A reader serving several files by path.
struct MultiFile {
  std::map<std::string, std::string> files;
  SecretFileReader reader() {
    return [this](const std::string& p) -> Result<std::optional<SecretBytes>> {
      const auto it = files.find(p);
      if (it == files.end()) {
        return std::optional<SecretBytes>();
      }
      return std::optional<SecretBytes>(SecretBytes::copy_of(std::string_view(it->second)));
    };
  }
};

TEST(ProfileCredentials, DefaultProfileFromHome) {
  OneFile f{"/home/dev/.aws/credentials", std::string(kFile), ""};
  std::string why;
  auto r = credentials_from_profile(fake_env({{"HOME", "/home/dev"}}), f.reader(), &why);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(*r) << why;
  EXPECT_EQ(f.asked, "/home/dev/.aws/credentials");
  EXPECT_EQ((*r)->profile, "default");
  EXPECT_EQ((*r)->credentials.access_key_id, "AKIADEFAULT0000EXAMPLE");
  EXPECT_EQ((*r)->credentials.secret_access_key.chars(), "default/secret/KEY");
  EXPECT_TRUE((*r)->credentials.session_token.empty());
  EXPECT_FALSE((*r)->credentials.expiration);
}

TEST(ProfileCredentials, NamedProfileFileVariableAndIniRules) {
  OneFile f{"/etc/creds", std::string(kFile), ""};
  std::string why;
  auto r = credentials_from_profile(
      fake_env({{"HOME", "/home/dev"}, {"AWS_SHARED_CREDENTIALS_FILE", "/etc/creds"}, {"AWS_PROFILE", "dev"}}),
      f.reader(), &why);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(*r) << why;
  const auto& c = (*r)->credentials;
  EXPECT_EQ(c.access_key_id, "ASIADEV00000EXAMPLE");  // key names are case-insensitive, '=' or ':'
  EXPECT_EQ(c.secret_access_key.chars(), "dev-secret-key");
  EXPECT_EQ(c.session_token.chars(), "dev-session-token");  // spaces around values trimmed
}

// No inline comments (botocore reads "s3cr3t # note" as the value): refused at
// startup, with the key named and the value not echoed.
TEST(ProfileCredentials, InlineCommentMakesTheValueMalformedAndTheErrorNamesNoValue) {
  std::string why;
  auto r = parse_shared_credentials("[p]\naws_access_key_id=AKIDX\naws_secret_access_key = s3cr3t # note\n", "p",
                                    "/f", &why);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(r.error().message, "credentials file /f [p]: aws_secret_access_key is malformed");
}

TEST(ProfileCredentials, WhatDoesNotApplySaysWhy) {
  std::string why;
  OneFile f{"/c", std::string(kFile), ""};
  auto missing_file = credentials_from_profile(fake_env({{"HOME", "/nowhere"}}), f.reader(), &why);
  ASSERT_TRUE(missing_file);
  EXPECT_FALSE(*missing_file);
  EXPECT_EQ(why, "profile: no credentials file at /nowhere/.aws/credentials, no config file at /nowhere/.aws/config");

  // The default profile may be missing (the SDKs go on to the next source).
  OneFile other{"/c", "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n", ""};
  auto no_default = credentials_from_profile(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", "/c"}}), other.reader(), &why);
  ASSERT_TRUE(no_default);
  EXPECT_FALSE(*no_default);
  EXPECT_EQ(why, "profile: no [default] in /c, no AWS_CONFIG_FILE and no HOME");

  // A profile without keys (a region only, say) does not apply either.
  MultiFile region_only{{{"/h/.aws/config", "[profile dev]\nregion = eu-west-1\n"}}};
  auto keyless = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "dev"}}), region_only.reader(), &why);
  ASSERT_TRUE(keyless) << keyless.error().message;
  EXPECT_FALSE(*keyless);
  EXPECT_EQ(why,
            "profile: no credentials file at /h/.aws/credentials, [profile dev] in /h/.aws/config has no "
            "aws_access_key_id");

  auto no_home = credentials_from_profile(fake_env({}), f.reader(), &why);
  ASSERT_TRUE(no_home);
  EXPECT_FALSE(*no_home);
}

// Where the SDKs would stop (ProfileNotFound) or sign as the profile some
// other way, falling through would sign as someone else: errors instead.
TEST(ProfileCredentials, ANamedProfileThatIsMissingOrNotStaticIsAnError) {
  std::string why;
  OneFile f{"/c", std::string(kFile), ""};
  auto missing = credentials_from_profile(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", "/c"}, {"AWS_PROFILE", "prod"}}),
                                          f.reader(), &why);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(missing.error().message,
            "credentials: AWS_PROFILE=prod names no profile (no [prod] in /c, no AWS_CONFIG_FILE and no HOME); "
            "unset AWS_PROFILE to use the other sources");

  auto role = credentials_from_profile(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", "/c"}, {"AWS_PROFILE", "assume"}}),
                                       f.reader(), &why);
  ASSERT_FALSE(role);
  EXPECT_EQ(role.error().message,
            "credentials file /c [assume]: role_arn profiles are not supported (static keys only); give the proxy "
            "static keys, or leave `profile` out of credentials.sources");

  // The default profile too, when it is an SSO one in the config file.
  MultiFile sso{{{"/h/.aws/config", "[default]\nsso_session = corp\nsso_account_id = 111122223333\n"}}};
  auto sso_default = credentials_from_profile(fake_env({{"HOME", "/h"}}), sso.reader(), &why);
  ASSERT_FALSE(sso_default);
  EXPECT_NE(sso_default.error().message.find("config file /h/.aws/config [default]: sso_session profiles"),
            std::string::npos)
      << sso_default.error().message;

  // Through the chain: a startup error, not a fall-through to the instance role.
  ChainOptions o;
  o.env = fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "missing"}});
  o.read_file = sso.reader();
  auto chain = make_default_chain(std::move(o));
  ASSERT_FALSE(chain);
  EXPECT_NE(chain.error().message.find("AWS_PROFILE=missing names no profile"), std::string::npos);
}

// botocore's order: a role, SSO, web-identity or login source for the
// profile, in either file, comes before any static keys; credential_process
// comes after the credentials file's keys but before the config file's.
// AWS_DEFAULT_PROFILE names the profile when AWS_PROFILE does not;
// "[profile default]" and "[profile  name]" (blanks) are config sections too.
TEST(ProfileCredentials, BotocoresOrderAndSectionSpellings) {
  std::string why;
  MultiFile role_over_keys{{{"/h/.aws/credentials", "[dev]\naws_access_key_id = AKIASTATICDEV\naws_secret_access_key = s\n"},
                            {"/h/.aws/config", "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n"}}};
  auto role = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "dev"}}), role_over_keys.reader(), &why);
  ASSERT_FALSE(role);
  EXPECT_NE(role.error().message.find("config file /h/.aws/config [profile dev]: role_arn profiles are not supported"),
            std::string::npos)
      << role.error().message;
  MultiFile login{{{"/h/.aws/config", "[default]\nlogin_session = arn:aws:iam::1:user/u\n"}}};
  EXPECT_FALSE(credentials_from_profile(fake_env({{"HOME", "/h"}}), login.reader(), &why));

  MultiFile keys_then_process{{{"/h/.aws/credentials", "[p]\naws_access_key_id = AKIACREDSFILE\naws_secret_access_key = s\n"},
                               {"/h/.aws/config", "[profile p]\ncredential_process = /bin/creds\n"
                                                  "aws_access_key_id = AKIACONFIG\naws_secret_access_key = c\n"}}};
  auto keys = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "p"}}), keys_then_process.reader(), &why);
  ASSERT_TRUE(keys && *keys) << (keys ? why : keys.error().message);
  EXPECT_EQ((*keys)->credentials.access_key_id, "AKIACREDSFILE");
  MultiFile process_then_config{{{"/h/.aws/config", "[profile p]\ncredential_process = /bin/creds\n"
                                                    "aws_access_key_id = AKIACONFIG\naws_secret_access_key = c\n"}}};
  auto process = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "p"}}),
                                          process_then_config.reader(), &why);
  ASSERT_FALSE(process);
  EXPECT_NE(process.error().message.find("credential_process profiles are not supported"), std::string::npos);

  MultiFile spellings{{{"/h/.aws/config", "[profile default]\naws_access_key_id = AKIAPROFILEDEFAULT\n"
                                          "aws_secret_access_key = d\n[profile   ops ]\naws_access_key_id = AKIAOPS\n"
                                          "aws_secret_access_key = o\n[profileops]\naws_access_key_id = AKIAWRONG\n"}}};
  auto dflt = credentials_from_profile(fake_env({{"HOME", "/h"}}), spellings.reader(), &why);
  ASSERT_TRUE(dflt && *dflt) << why;
  EXPECT_EQ((*dflt)->credentials.access_key_id, "AKIAPROFILEDEFAULT");
  auto ops = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_DEFAULT_PROFILE", "ops"}}), spellings.reader(), &why);
  ASSERT_TRUE(ops && *ops) << why;
  EXPECT_EQ((*ops)->credentials.access_key_id, "AKIAOPS");
  EXPECT_EQ((*ops)->profile, "ops");
  // AWS_PROFILE wins over AWS_DEFAULT_PROFILE.
  auto both = credentials_from_profile(
      fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "default"}, {"AWS_DEFAULT_PROFILE", "ops"}}), spellings.reader(), &why);
  ASSERT_TRUE(both && *both);
  EXPECT_EQ((*both)->credentials.access_key_id, "AKIAPROFILEDEFAULT");
}

// Static keys in the config file's [profile name], as botocore reads them;
// the credentials file's section wins.
TEST(ProfileCredentials, ConfigFileStaticKeys) {
  MultiFile files{{{"/h/.aws/config",
                    "[default]\nregion = us-east-1\n[profile ops]\naws_access_key_id = AKIAOPS00000EXAMPLE\n"
                    "aws_secret_access_key = ops-secret\n[profile both]\naws_access_key_id = AKIACONFIG\n"
                    "aws_secret_access_key = c\n"},
                   {"/h/.aws/credentials", "[both]\naws_access_key_id = AKIACREDS\naws_secret_access_key = k\n"}}};
  std::string why;
  auto ops = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "ops"}}), files.reader(), &why);
  ASSERT_TRUE(ops) << ops.error().message;
  ASSERT_TRUE(*ops) << why;
  EXPECT_EQ((*ops)->file, "/h/.aws/config");
  EXPECT_EQ((*ops)->credentials.access_key_id, "AKIAOPS00000EXAMPLE");
  auto both = credentials_from_profile(fake_env({{"HOME", "/h"}, {"AWS_PROFILE", "both"}}), files.reader(), &why);
  ASSERT_TRUE(both && *both);
  EXPECT_EQ((*both)->credentials.access_key_id, "AKIACREDS");
  // AWS_CONFIG_FILE moves it.
  auto moved = credentials_from_profile(
      fake_env({{"HOME", "/elsewhere"}, {"AWS_CONFIG_FILE", "/h/.aws/config"}, {"AWS_PROFILE", "ops"}}),
      files.reader(), &why);
  ASSERT_TRUE(moved && *moved);
}

TEST(ProfileCredentials, HalfSetKeysAreErrors) {
  std::string why;
  auto no_secret = parse_shared_credentials("[default]\naws_access_key_id = AKID\n", "default", "/f", &why);
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().message.find("aws_access_key_id without aws_secret_access_key"), std::string::npos);
  auto no_id = parse_shared_credentials("[default]\r\naws_secret_access_key = very-secret\r\n", "default", "/f", &why);
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error().message.find("very-secret"), std::string::npos);
  // Sections are case-sensitive; nested (indented) lines are skipped.
  auto nested = parse_shared_credentials(
      "[Default]\naws_access_key_id=A\n[default]\naws_access_key_id = FIRST\naws_secret_access_key = s1\n"
      "  aws_access_key_id = NESTED\n",
      "default", "/f", &why);
  ASSERT_TRUE(nested) << nested.error().message;
  ASSERT_TRUE(*nested);
  EXPECT_EQ((*nested)->access_key_id, "FIRST");
}

// A repeated section or key: botocore (configparser, strict) refuses the
// file; merging would sign with a key id and a secret never issued together.
TEST(ProfileCredentials, RepeatedSectionsAndKeysAreErrors) {
  std::string why;
  auto sections = parse_shared_credentials(
      "[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = s1\n[other]\n"
      "[default]\naws_access_key_id = AKIDTWO\n",
      "default", "/f", &why);
  ASSERT_FALSE(sections);
  EXPECT_NE(sections.error().message.find("the section [default] appears twice"), std::string::npos)
      << sections.error().message;
  auto keys = parse_shared_credentials(
      "[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = s1\naws_access_key_id = AKIDTWO\n",
      "default", "/f", &why);
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("the key aws_access_key_id appears twice"), std::string::npos);
  EXPECT_EQ(keys.error().message.find("s1"), std::string::npos);
  // Another profile's repetitions are not this one's business.
  auto others = parse_shared_credentials(
      "[x]\na=1\n[x]\na=2\n[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = s1\n", "default", "/f",
      &why);
  ASSERT_TRUE(others) << others.error().message;
}

TEST(ProfileCredentials, ChainOrderAndDescription) {
  OneFile f{"/home/dev/.aws/credentials", std::string(kFile), ""};
  ChainOptions o;
  o.env = fake_env({{"HOME", "/home/dev"}, {"AWS_PROFILE", "dev"}});
  o.read_file = f.reader();
  auto chain = make_default_chain(std::move(o));  // default order: environment, profile, container, imds
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kProfile);
  EXPECT_EQ(chain->description,
            "profile [dev] of /home/dev/.aws/credentials (aws_access_key_id=ASIA...MPLE, with session token)");
  EXPECT_EQ(chain->description.find("dev-secret"), std::string::npos);

  // The environment's keys come first, as in the SDKs.
  ChainOptions e;
  e.env = fake_env({{"HOME", "/home/dev"}, {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "x"}});
  e.read_file = f.reader();
  auto env_chain = make_default_chain(std::move(e));
  ASSERT_TRUE(env_chain);
  EXPECT_EQ(env_chain->kind, SourceKind::kEnvironment);

  // Not listed: never read.
  ChainOptions n;
  n.env = fake_env({{"HOME", "/home/dev"}});
  n.read_file = f.reader();
  n.sources = {SourceKind::kEnvironment};
  f.asked.clear();
  auto none = make_default_chain(std::move(n));
  ASSERT_FALSE(none);
  EXPECT_EQ(f.asked, "");
}

// The real reader: a missing file does not apply; one that exists but cannot
// be read stops the start with the reason (the chain must not fall through
// to another source and sign as someone else).
TEST(ProfileCredentials, RealReaderTellsAbsentFromUnreadable) {
  const auto dir = std::filesystem::temp_directory_path() / ("kp-profile-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto reader = read_secret_file();

  auto missing = reader((dir / "none").string());
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(*missing);
  auto below_a_file = reader((dir / "none" / "credentials").string());
  ASSERT_TRUE(below_a_file);
  EXPECT_FALSE(*below_a_file);

  const auto file = (dir / "credentials").string();
  std::ofstream(file) << kFile;
  auto ok = reader(file);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(*ok);
  EXPECT_EQ((*ok)->chars(), std::string_view(kFile));

  auto a_dir = reader(dir.string());
  ASSERT_FALSE(a_dir);
  EXPECT_EQ(a_dir.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(a_dir.error().message, "credentials: cannot read " + dir.string() + ": it is a directory");

  std::ofstream(file, std::ios::trunc) << std::string((1 << 20) + 1, '#');
  auto big = reader(file);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "credentials: cannot read " + file + ": it is larger than 1048576 bytes");

  // Through the chain's entry point: the error, not a fall-through.
  std::string why;
  auto r = credentials_from_profile(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", dir.string()},
                                              {"AWS_CONFIG_FILE", (dir / "none").string()}}),
                                    reader, &why);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("it is a directory"), std::string::npos) << r.error().message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kp::credentials
