// File: policy/policy_test_support.h
// Helpers shared by the policy module's tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "policy/policy.h"

namespace kp::policy::testing {

inline constexpr const char* kAccount = "111122223333";
inline constexpr const char* kRole = "arn:aws:iam::111122223333:role/enclave-app";

/// The parsed policy; a test failure (and an empty policy) if it does not parse.
inline Policy parse_ok(const std::string& json) {
  auto p = parse_policy(json);
  EXPECT_TRUE(p) << p.error().message << "\n" << json;
  return p ? std::move(*p) : Policy{};
}

/// A request context for `action` by `principal`.
inline RequestContext ctx(std::string action = "kms:Decrypt", std::string principal = kRole) {
  RequestContext c;
  c.action = std::move(action);
  c.principal_arn = std::move(principal);
  return c;
}

}  // namespace kp::policy::testing
