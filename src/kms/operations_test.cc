#include "kms/operations.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

namespace kp::kms {
namespace {

namespace json = boost::json;

json::value load_model() {
  std::ifstream in(std::string(KP_REFERENCE_DIR) + "/kms-service-2.json", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

constexpr AttestedOp kAllAttested[] = {AttestedOp::kDecrypt, AttestedOp::kGenerateDataKey,
                                       AttestedOp::kGenerateDataKeyPair, AttestedOp::kGenerateRandom,
                                       AttestedOp::kDeriveSharedSecret};

TEST(OperationTable, EqualsTheModelsOperations) {
  const json::value model = load_model();
  const json::object& ops = model.as_object().at("operations").as_object();
  const json::object& shapes = model.as_object().at("shapes").as_object();
  std::vector<std::pair<std::string, bool>> expected;
  for (const auto& [name, op] : ops) {
    bool recipient = false;
    if (const auto* input = op.as_object().if_contains("input")) {
      const auto& shape = shapes.at(input->as_object().at("shape").as_string()).as_object();
      if (const auto* members = shape.if_contains("members")) {
        recipient = members->as_object().contains("Recipient");
      }
    }
    expected.emplace_back(std::string(name), recipient);
  }
  std::sort(expected.begin(), expected.end());

  std::vector<std::pair<std::string, bool>> table;
  for (const auto& op : all_operations()) {
    table.emplace_back(std::string(op.name), op.accepts_recipient);
  }
  ASSERT_EQ(table.size(), 54u);  // the model snapshot in shared/reference
  EXPECT_EQ(table, expected) << "regenerate with src/kms/tools/gen_operations.py";
  EXPECT_EQ(model.as_object().at("metadata").as_object().at("targetPrefix").as_string(), kTargetPrefix);
}

TEST(OperationTable, RecipientOperationsAreExactlyTheAttestedOnes) {
  std::set<std::string_view> with_recipient;
  for (const auto& op : all_operations()) {
    if (op.accepts_recipient) {
      with_recipient.insert(op.name);
    }
  }
  std::set<std::string_view> attested;
  for (const auto op : kAllAttested) {
    attested.insert(canonical_name(op));
  }
  EXPECT_EQ(with_recipient, attested);
}

// Every operation of the model is classified, and the ones that change
// something are never replay-safe: a replay of CreateKey makes two keys.
TEST(OperationTable, ReplaySafeOnlyWithoutEffects) {
  std::size_t safe = 0;
  for (const auto& op : all_operations()) {
    const std::string_view n = op.name;
    const bool changes = n.starts_with("Create") || n.starts_with("Delete") || n.starts_with("Put") ||
                         n.starts_with("Update") || n.starts_with("Schedule") || n.starts_with("Cancel") ||
                         n.starts_with("Enable") || n.starts_with("Disable") || n.starts_with("Tag") ||
                         n.starts_with("Untag") || n.starts_with("Import") || n.starts_with("Connect") ||
                         n.starts_with("Disconnect") || n.starts_with("Replicate") || n.starts_with("Retire") ||
                         n.starts_with("Revoke") || n.starts_with("Rotate");
    if (changes) {
      EXPECT_FALSE(replay_safe(n)) << n;
    }
    safe += replay_safe(n) ? 1 : 0;
  }
  for (const char* n : {"Decrypt", "Encrypt", "GenerateDataKeyPair", "DescribeKey", "ListKeys", "GetPublicKey",
                        "Sign", "DeriveSharedSecret"}) {
    EXPECT_TRUE(replay_safe(n)) << n;
  }
  EXPECT_FALSE(replay_safe("decrypt"));  // model spelling only
  EXPECT_GE(safe, 20U);
}

TEST(ParseTarget, ReturnsModelSpelling) {
  EXPECT_EQ(parse_target("TrentService.Decrypt").value(), "Decrypt");
  EXPECT_EQ(parse_target("trentservice.generatedatakeypair").value(), "GenerateDataKeyPair");
  EXPECT_EQ(parse_target("TRENTSERVICE.ListKeys").value(), "ListKeys");
  EXPECT_EQ(parse_target("TrentService.ReEncrypt").value(), "ReEncrypt");
  EXPECT_EQ(find_operation("verifymac")->name, "VerifyMac");
  EXPECT_EQ(find_operation("Nope"), nullptr);
}

TEST(ParseTarget, RejectsMissingMalformedAndUnknown) {
  for (const char* bad : {"", "Decrypt", "TrentService.", "TrentService", "Foo.Decrypt", "TrentServiceXDecrypt",
                          "TrentService..Decrypt", "TrentService.Decrypt ", " TrentService.Decrypt",
                          "TrentService.NotAnOperation", "TrentService.Decrypt.Extra"}) {
    const auto r = parse_target(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kUnknownOperation) << bad;
  }
  EXPECT_NE(parse_target("").error().message.find("missing X-Amz-Target"), std::string::npos);
  EXPECT_NE(parse_target("TrentService.Frobnicate").error().message.find("Frobnicate"), std::string::npos);
  // Arbitrary bytes are not echoed.
  EXPECT_EQ(parse_target("TrentService.<script>").error().message.find("<script>"), std::string::npos);
}

TEST(OperationName, OptionalFormAndDenseIndex) {
  EXPECT_EQ(operation_name("trentservice.listkeys"), std::optional<std::string_view>("ListKeys"));
  EXPECT_FALSE(operation_name("TrentService.Nope").has_value());
  EXPECT_FALSE(operation_name("").has_value());
  const auto ops = all_operations();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(operation_index(ops[i].name), i);
    EXPECT_EQ(operation_name_at(i), ops[i].name);
  }
  EXPECT_EQ(operation_index("decrypt"), operation_index("Decrypt"));
  EXPECT_EQ(operation_index("Other"), ops.size());
  EXPECT_EQ(operation_index(""), ops.size());
  EXPECT_EQ(operation_name_at(ops.size()), "Other");
  EXPECT_EQ(operation_name_at(static_cast<std::size_t>(-1)), "Other");
}

TEST(AttestedOp, ClassifiesCaseInsensitively) {
  EXPECT_EQ(attested_op("TrentService.Decrypt"), AttestedOp::kDecrypt);
  EXPECT_EQ(attested_op("trentservice.decrypt"), AttestedOp::kDecrypt);
  EXPECT_EQ(attested_op("TrentService.GenerateDataKey"), AttestedOp::kGenerateDataKey);
  EXPECT_EQ(attested_op("TrentService.GENERATEDATAKEYPAIR"), AttestedOp::kGenerateDataKeyPair);
  EXPECT_EQ(attested_op("TrentService.GenerateRandom"), AttestedOp::kGenerateRandom);
  EXPECT_EQ(attested_op("TrentService.DeriveSharedSecret"), AttestedOp::kDeriveSharedSecret);
}

TEST(AttestedOp, EverythingElseIsNotAttested) {
  for (const char* t : {"TrentService.Encrypt", "TrentService.ReEncrypt", "TrentService.Sign",
                        "TrentService.GenerateDataKeyWithoutPlaintext",
                        "TrentService.GenerateDataKeyPairWithoutPlaintext", "TrentService.ListKeys", "Decrypt",
                        "Other.Decrypt", "", "TrentService.", "TrentService.Decryp"}) {
    EXPECT_FALSE(attested_op(t).has_value()) << t;
  }
}

TEST(AttestedOp, FieldsAndNames) {
  struct Row {
    AttestedOp op;
    std::string_view name;
    std::string_view field;
  };
  const Row rows[] = {
      {AttestedOp::kDecrypt, "Decrypt", "Plaintext"},
      {AttestedOp::kGenerateDataKey, "GenerateDataKey", "Plaintext"},
      {AttestedOp::kGenerateDataKeyPair, "GenerateDataKeyPair", "PrivateKeyPlaintext"},
      {AttestedOp::kGenerateRandom, "GenerateRandom", "Plaintext"},
      {AttestedOp::kDeriveSharedSecret, "DeriveSharedSecret", "SharedSecret"},
  };
  const json::value model = load_model();
  for (const auto& r : rows) {
    EXPECT_EQ(canonical_name(r.op), r.name);
    EXPECT_EQ(plaintext_field(r.op), r.field);
    EXPECT_EQ(attested_op("TrentService." + std::string(r.name)), r.op);
    // The field is a member of the operation's output shape in the model,
    // and so is CiphertextForRecipient.
    const auto& ops = model.as_object().at("operations").as_object();
    const auto& out_shape =
        ops.at(r.name).as_object().at("output").as_object().at("shape").as_string();
    const auto& shapes = model.as_object().at("shapes").as_object();
    const auto& members = shapes.at(out_shape).as_object().at("members").as_object();
    EXPECT_TRUE(members.contains(r.field)) << r.name;
    EXPECT_TRUE(members.contains("CiphertextForRecipient")) << r.name;
  }
}

}  // namespace
}  // namespace kp::kms
