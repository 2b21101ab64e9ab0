"""The kms-proxy command line's offline tools as an operator uses them:
policy-check, inspect-attestation on real documents, attest and sim-pki.
`run`, `serve`, --help and `cmake --install`: test_cli_run.py.

Every process binds 127.0.0.1 only and every wait has a timeout."""
import base64
import json
import os
import socket
import unittest

import harness as h
from cli_support import kp

DOCS = os.path.join(h.VECTORS, "attestation_docs")
ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
# PCR0 of the real (production-mode) document fastcrypto_pcr16_indefmap_2025-11-10.
PCR0_REAL = ("3aa0e6e6ed7d8301655fced7e6ddcc443a3e57bf62f070caa6becf337069e859"
             "c0f03d68136440ff1cab8adefd20634c")
ZERO = "00" * 48
AB = "ab" * 48


def doc(name):
    return os.path.join(DOCS, name)


def analysis(stem):
    with open(doc(stem + ".analysis.json")) as f:
        return json.load(f)


def policy_doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid, actions, condition=None, principal=ROOT):
    st = {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


def deny(sid, actions, condition=None):
    st = {"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": actions, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


def pcr0_condition(value, op="StringEqualsIgnoreCase"):
    return {op: {"kms:RecipientAttestation:ImageSha384": value}}


# --------------------------------------------------------------------------
# policy-check
# --------------------------------------------------------------------------

class PolicyCheckTest(h.TempDirTestCase):
    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def policy(self, *statements, name="policy.json"):
        return self.write(name, policy_doc(*statements))

    def enclave_policy(self, pcr0=PCR0_REAL, extra=None):
        cond = pcr0_condition(pcr0)
        if extra:
            cond.update(extra)
        return self.policy(allow("Admin", ["kms:Describe*", "kms:Encrypt"]),
                           allow("EnclaveDecrypt", "kms:Decrypt", cond))

    def check(self, *args):
        return kp("policy-check", *args)

    def test_real_document_with_matching_pcr0_is_allowed(self):
        r = self.check("--policy", self.enclave_policy(), "--attestation",
                       doc("fastcrypto_pcr16_indefmap_2025-11-10.cose.hex"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith(f"ALLOWED: kms:Decrypt by {ROOT}"), r.stdout)
        self.assertIn('decided by: statement "EnclaveDecrypt"', r.stdout)
        self.assertNotIn("debug-mode", r.stdout)

    def test_debug_mode_document_is_denied_and_the_pcr_explained(self):
        r = self.check("--policy", self.enclave_policy(), "--attestation",
                       doc("evervault_ga_debug_2023-09-18.cose.b64"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("DENIED: kms:Decrypt"), r.stdout)
        self.assertIn("implicit deny", r.stdout)
        self.assertIn('statement "EnclaveDecrypt" allows kms:Decrypt to this principal, but its conditions failed',
                      r.stdout)
        self.assertIn(f"PCR0 expected {PCR0_REAL}, enclave has {ZERO} (debug-mode enclave)", r.stdout)
        self.assertIn("condition: StringEqualsIgnoreCase kms:RecipientAttestation:ImageSha384", r.stdout)
        self.assertIn("note: PCR0, PCR1 and PCR2 are all zero: this is a debug-mode enclave", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_cli_text_output_with_the_policy_name_gets_a_hint(self):
        # `aws kms get-key-policy --output text` without --query Policy.
        with open(self.enclave_policy()) as f:
            text = f.read()
        pol = self.write("cli.txt", text.rstrip("\n") + "\tdefault\n")
        r = self.check("--policy", pol, "--pcr", f"0={AB}")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("not valid JSON", r.stderr)
        self.assertIn("--query Policy", r.stderr)
        # Other JSON errors get no such hint.
        r = self.check("--policy", self.write("bad.json", text + "}"), "--pcr", f"0={AB}")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("--query Policy", r.stderr)

    def test_pcr_flag_mismatch_names_both_values(self):
        r = self.check("--policy", self.enclave_policy(), "--pcr", f"0={AB}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"PCR0 expected {PCR0_REAL}, enclave has {AB}", r.stdout)
        self.assertNotIn("debug-mode", r.stdout)
        # PCR<n> keys are explained the same way; a PCR not given is "no value".
        pol = self.policy(allow("E", "kms:Decrypt", {"StringEquals": {"kms:RecipientAttestation:PCR8": AB}}))
        r = self.check("--policy", pol, "--pcr", f"0={AB}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"PCR8 expected {AB}, enclave has no value", r.stdout)

    def test_pcr_flag_accepts_pcrN_form_and_either_case(self):
        r = self.check("--policy", self.enclave_policy(), "--pcr", f"PCR0={PCR0_REAL.upper()}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_upper_case_hex_in_a_case_sensitive_condition_gets_a_hint(self):
        pol = self.policy(allow("E", "kms:Decrypt", pcr0_condition(PCR0_REAL.upper(), "StringEquals")))
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("differs only in letter case", r.stdout)

    def test_nitro_cli_measurements(self):
        meas = self.write("measurements.json", json.dumps({"Measurements": {
            "HashAlgorithm": "Sha384 { ... }", "PCR0": PCR0_REAL, "PCR1": "11" * 48, "PCR2": "22" * 48}}))
        r = self.check("--policy", self.enclave_policy(), "--measurements", meas)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        other = self.write("other.json", json.dumps({"Measurements": {
            "HashAlgorithm": "Sha384 { ... }", "PCR0": "cd" * 48, "PCR1": "11" * 48, "PCR2": "22" * 48}}))
        r = self.check("--policy", self.enclave_policy(), "--measurements", other)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"PCR0 expected {PCR0_REAL}, enclave has {'cd' * 48}", r.stdout)
        # An explicit --pcr wins over the file.
        r = self.check("--policy", self.enclave_policy(), "--measurements", other, "--pcr", f"0={PCR0_REAL}")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_encryption_context_conditions(self):
        pol = self.enclave_policy(extra={"StringEquals": {"kms:EncryptionContext:app": "billing"}})
        base = ["--policy", pol, "--pcr", f"0={PCR0_REAL}"]
        r = self.check(*base, "--encryption-context", "app=billing")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.check(*base, "--encryption-context", "app=payroll")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("StringEquals kms:EncryptionContext:app: expected billing, request has payroll", r.stdout)
        self.assertNotIn("PCR0 expected", r.stdout)  # the PCR condition held
        r = self.check(*base)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("kms:EncryptionContext:app: expected billing, request has no value", r.stdout)
        # A policy variable the request cannot fill: said so, with the key it lacks.
        pol = self.enclave_policy(extra={"StringEquals": {"kms:EncryptionContext:app": "${aws:PrincipalTag/app}"}})
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--encryption-context", "app=billing")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("expected ${aws:PrincipalTag/app}, request has billing (a policy variable does not resolve, "
                      "so the condition cannot hold: ${aws:PrincipalTag/app}: the request has no "
                      "aws:PrincipalTag/app)", r.stdout)
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--encryption-context", "app=billing",
                       "--condition", "aws:PrincipalTag/app=billing")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_typed_conditions_and_condition_flag(self):
        # A production-style policy: the enclave may decrypt only from the
        # VPC's addresses and until a date; the clock defaults to now.
        pol = self.enclave_policy(extra={"IpAddress": {"aws:SourceIp": "10.0.0.0/16"},
                                         "DateLessThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}})
        base = ["--policy", pol, "--pcr", f"0={PCR0_REAL}"]
        r = self.check(*base, "--condition", "aws:SourceIp=10.0.3.4")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.check(*base, "--condition", "aws:SourceIp=192.168.1.1")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("IpAddress aws:SourceIp: expected an address in 10.0.0.0/16, request has 192.168.1.1",
                      r.stdout)
        r = self.check(*base)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("aws:SourceIp: expected an address in 10.0.0.0/16, request has no value", r.stdout)
        # --condition overrides the default time.
        r = self.check(*base, "--condition", "aws:SourceIp=10.0.3.4",
                       "--condition", "aws:CurrentTime=2099-06-01T00:00:00Z")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("DateLessThan aws:CurrentTime: expected before 2099-01-01T00:00:00Z, "
                      "request has 2099-06-01T00:00:00Z", r.stdout)
        r = self.check(*base, "--condition", "no-equals-sign")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--condition takes KEY=VALUE", r.stderr)
        # A value the operator cannot read is a policy error, named.
        bad = self.policy(allow("E", "kms:Decrypt", {"NumericLessThan": {"kms:X": "ten"}}))
        r = self.check("--policy", bad, "--pcr", f"0={PCR0_REAL}")
        self.assertEqual(r.returncode, 2)
        self.assertIn('value "ten" is not a number', r.stderr)

    def test_explicit_deny_wins_and_is_named(self):
        pol = self.policy(
            allow("EnclaveDecrypt", "kms:Decrypt", pcr0_condition(PCR0_REAL)),
            deny("NoDebugEnclaves", "kms:*", {"StringEquals": {"kms:RecipientAttestation:PCR1": ZERO}}))
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--pcr", f"1={ZERO}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('decided by: statement "NoDebugEnclaves" (explicit Deny', r.stdout)
        self.assertIn(f"StringEquals kms:RecipientAttestation:PCR1: {ZERO}; request has {ZERO}", r.stdout)
        # The same policy allows an enclave whose PCR1 is not zero, and the
        # Deny statement that did not apply is not reported as a cause.
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--pcr", f"1={'11' * 48}")
        self.assertEqual(r.returncode, 0, r.stdout)
        r = self.check("--policy", pol, "--pcr", f"0={AB}", "--pcr", f"1={'11' * 48}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertNotIn("NoDebugEnclaves", r.stdout)
        self.assertIn(f"PCR0 expected {PCR0_REAL}, enclave has {AB}", r.stdout)

    def test_action_and_principal(self):
        pol = self.enclave_policy()
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--action", "kms:GenerateDataKey")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("DENIED: kms:GenerateDataKey", r.stdout)
        self.assertIn("no Allow statement covers kms:GenerateDataKey", r.stdout)
        # A role of the key's account is covered by the account principal...
        role = f"arn:aws:iam::{ACCOUNT}:role/enclave"
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--principal", role)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"ALLOWED: kms:Decrypt by {role}", r.stdout)
        # ... another account's is not.
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--principal",
                       "arn:aws:iam::999988887777:role/enclave")
        self.assertEqual(r.returncode, 1, r.stdout)
        # An account ID is its root; a name that is no ARN is refused, not
        # evaluated as a caller.
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--principal", ACCOUNT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"ALLOWED: kms:Decrypt by arn:aws:iam::{ACCOUNT}:root", r.stdout)
        r = self.check("--policy", pol, "--pcr", f"0={PCR0_REAL}", "--principal", "bob")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--principal: 'bob' is not a caller ARN with an account", r.stderr)

    def test_the_request_is_the_one_kms_would_see(self):
        pol = self.enclave_policy()
        base = ["--policy", pol, "--pcr", f"0={PCR0_REAL}"]
        # Attestation keys only for the five operations that take a Recipient:
        # Encrypt never carries them, whatever the measurements.
        gated = self.policy(allow("Gated", "kms:*", pcr0_condition(PCR0_REAL)), name="gated.json")
        r = self.check("--policy", gated, "--pcr", f"0={PCR0_REAL}", "--action", "kms:Encrypt")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("kms:Encrypt takes no Recipient", r.stdout)
        # --no-recipient: a Decrypt without a document (the parent instance).
        r = self.check(*base, "--no-recipient")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("PCR0 expected", r.stdout)
        self.assertIn("enclave has no value", r.stdout)
        r = self.check("--policy", pol, "--no-recipient", "--action", "kms:Encrypt")  # no PCRs needed
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # --condition replaces the measured value instead of adding a second one,
        # and the explanation shows the value the request carried.
        r = self.check(*base, "--condition", f"kms:RecipientAttestation:ImageSha384={AB}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"PCR0 expected {PCR0_REAL}, enclave has {AB}", r.stdout)
        # ReEncrypt is two IAM actions, one per key.
        reenc = self.policy(allow("Re", ["kms:ReEncryptFrom", "kms:ReEncryptTo"]), name="reenc.json")
        for action in ("kms:ReEncryptFrom", "kms:reencryptto"):
            r = self.check("--policy", reenc, "--no-recipient", "--action", action)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.check("--policy", reenc, "--no-recipient", "--action", "kms:ReEncrypt")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("kms:ReEncryptFrom (by the source key's policy)", r.stderr)
        # A role session's aws:PrincipalArn is its role; and a note that the
        # account principal delegates to IAM.
        role_pol = self.policy(allow("Role", "kms:Decrypt", {"ArnLike": {
            "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/enclave-*"}}), name="role.json")
        r = self.check("--policy", role_pol, "--pcr", f"0={PCR0_REAL}", "--principal",
                       f"arn:aws:sts::{ACCOUNT}:assumed-role/enclave-app/i-0abc")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("KMS also needs an IAM\n        policy of arn:aws:sts::", r.stdout)
        # Resource elements need the key's ARN.
        key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        res_pol = self.policy(dict(allow("One", "kms:Decrypt"), Resource=key), name="resource.json")
        r = self.check("--policy", res_pol, "--pcr", f"0={PCR0_REAL}")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("pass --key-arn", r.stderr)
        r = self.check("--policy", res_pol, "--pcr", f"0={PCR0_REAL}", "--key-arn", key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.check("--policy", res_pol, "--pcr", f"0={PCR0_REAL}", "--key-arn", key.replace("1234abcd", "99"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # The key's ARN gives aws:RequestedRegion.
        region_pol = self.policy(allow("Region", "kms:Decrypt", {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
                                 name="region.json")
        r = self.check("--policy", region_pol, "--pcr", f"0={PCR0_REAL}", "--key-arn", key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # "PCR01" is no key KMS supplies: "no value", not a value mismatch.
        zero_pol = self.policy(allow("Z", "kms:Decrypt", {"StringEquals": {"kms:RecipientAttestation:PCR01": AB}}),
                               name="pcr01.json")
        r = self.check("--policy", zero_pol, "--pcr", f"1={AB}")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("kms:RecipientAttestation:PCR01: expected", r.stdout)
        self.assertIn("request has no value", r.stdout)
        # nitro-cli describe-enclaves: an array with one running enclave.
        described = self.write("described.json", json.dumps([{"EnclaveName": "app", "State": "RUNNING",
                                                               "Measurements": {"HashAlgorithm": "Sha384 { ... }",
                                                                                "PCR0": PCR0_REAL}}]))
        r = self.check("--policy", pol, "--measurements", described)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_usage_and_input_errors_exit_2_with_a_reason(self):
        pol = self.enclave_policy()
        garbage = self.write("garbage.bin", "not an attestation document")
        bad_json = self.write("bad.json", '{"Statement": [')
        cases = [
            ((), "--policy"),                                      # --policy missing
            (("--policy", pol), "--attestation DOC"),               # no measurements at all
            (("--policy", os.path.join(self.tmp, "missing.json"), "--pcr", f"0={AB}"), "No such file"),
            (("--policy", bad_json, "--pcr", f"0={AB}"), "not valid JSON"),
            (("--policy", pol, "--pcr", "0=abcd"), "--pcr"),
            (("--policy", pol, "--pcr", f"99={AB}"), "--pcr"),
            (("--policy", pol, "--pcr", f"0={AB}", "--encryption-context", "novalue"), "'novalue' is not K=V"),
            (("--policy", pol, "--attestation", os.path.join(self.tmp, "missing.cbor")), "--attestation"),
            (("--policy", pol, "--attestation", garbage), "--attestation"),
            (("--policy", pol, "--measurements", bad_json), "--measurements"),
            (("--policy", pol, "--pcr", f"0={AB}", "--no-such-flag"), "no-such-flag"),
            (("--policy", pol, "--pcr", f"0={AB}", "--action", "Decrypt"), "--action must name a KMS operation"),
            (("--policy", pol, "--pcr", f"0={AB}", "--action", "kms:Decrpyt"), "--action must name"),
            (("--policy", pol, "--pcr", f"0={AB}", "--action", "kms:GenerateRandom"), "no key policy governs it"),
            (("--policy", pol, "--pcr", f"0={AB}", "--key-arn", "arn:aws:kms:us-east-1:1:alias/x"), "--key-arn"),
            (("--policy", pol, "--pcr", f"0={AB}", "--key-spec", "BOGUS"), "--key-spec: BOGUS not in"),
            (("--policy", pol, "--pcr", f"0={AB}", "--key-usage", "encrypt_decrypt"), "--key-usage"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = self.check(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(needle, r.stderr)
                self.assertNotIn("ALLOWED", r.stdout)


# --------------------------------------------------------------------------
# inspect-attestation, attest, sim-pki
# --------------------------------------------------------------------------

STEMS = ["evervault_beta_debug_2022-10-12", "evervault_beta_nondebug_2022-10-13",
         "evervault_ga_debug_2023-09-18", "fastcrypto_fixed_valid_2024-11-14",
         "fastcrypto_pcr16_indefmap_2025-11-10"]


def rfc3339_z(s):
    return s.replace("+00:00", "Z")


class InspectAttestationTest(h.TempDirTestCase):
    def inspect(self, path, *args):
        return kp("inspect-attestation", path, *args)

    def test_real_documents_verify_at_their_time_and_match_the_analysis(self):
        for stem in STEMS:
            with self.subTest(stem=stem):
                r = self.inspect(doc(stem + ".cose.bin"), "--at", "document")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                out = json.loads(r.stdout)
                a = analysis(stem)
                ad = a["attestation_doc"]
                self.assertEqual(out["module_id"], ad["module_id"])
                self.assertEqual(out["digest"], ad["digest"])
                self.assertEqual(out["timestamp_ms"], ad["timestamp_ms"])
                self.assertEqual(sorted(int(k) for k in out["pcrs"]), ad["pcr_indices"])
                for k, v in out["pcrs"].items():
                    self.assertEqual(v, ad["pcrs_nonzero"].get(k, ZERO), f"PCR{k}")
                for field in ("public_key", "user_data", "nonce"):
                    want = ad[field]["hex"] if ad[field] is not None else None
                    self.assertEqual(out[field], want, field)
                self.assertEqual(len(out["certificates"]), 1 + ad["cabundle_len"])
                got = {c["role"]: c for c in out["certificates"]}
                for cert in a["certs"]:
                    mine = got[cert["which"]]
                    self.assertEqual(mine["sha256"], cert["sha256_fingerprint"], cert["which"])
                    self.assertEqual(mine["subject"], cert["subject"], cert["which"])
                    self.assertEqual(mine["issuer"], cert["issuer"], cert["which"])
                    self.assertEqual(mine["not_after"], rfc3339_z(cert["not_after"]), cert["which"])
                self.assertEqual(out["verification"]["verdict"], "valid")

    def test_base64_and_hex_inputs_give_the_same_result_as_raw(self):
        for stem, enc in [("evervault_ga_debug_2023-09-18", "b64"),
                          ("fastcrypto_fixed_valid_2024-11-14", "hex"),
                          ("fastcrypto_pcr16_indefmap_2025-11-10", "hex")]:
            with self.subTest(stem=stem, enc=enc):
                raw = self.inspect(doc(stem + ".cose.bin"), "--at", "document")
                other = self.inspect(doc(f"{stem}.cose.{enc}"), "--at", "document")
                self.assertEqual(other.returncode, 0, other.stderr)
                self.assertEqual(json.loads(other.stdout), json.loads(raw.stdout))

    def test_now_is_after_expiry_one_line_reason_exit_1(self):
        for stem in STEMS:
            with self.subTest(stem=stem):
                r = self.inspect(doc(stem + ".cose.bin"))
                self.assertEqual(r.returncode, 1, r.stdout)
                lines = r.stderr.strip("\n").split("\n")
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("INVALID", lines[0])
                self.assertIn("expired", lines[0])
                self.assertNotEqual(json.loads(r.stdout)["verification"]["verdict"], "valid")

    def test_explicit_times_inside_and_outside_the_leaf_validity(self):
        path = doc("fastcrypto_pcr16_indefmap_2025-11-10.cose.bin")
        # Leaf valid 2025-11-10T17:20:07Z .. 20:20:10Z.
        self.assertEqual(self.inspect(path, "--at", "2025-11-10T18:00:00Z").returncode, 0)
        r = self.inspect(path, "--at", "2025-11-10T21:00:00Z")
        self.assertEqual(r.returncode, 1)
        self.assertIn("expired", r.stderr)
        r = self.inspect(path, "--at", "2025-11-10T17:00:00Z")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not yet valid", r.stderr)

    def test_tampered_signature_is_invalid(self):
        with open(doc("fastcrypto_pcr16_indefmap_2025-11-10.cose.bin"), "rb") as f:
            data = bytearray(f.read())
        data[-5] ^= 0x01  # inside the 96-byte ES384 signature
        path = os.path.join(self.tmp, "tampered.cbor")
        with open(path, "wb") as f:
            f.write(data)
        r = self.inspect(path, "--at", "document")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("signature", r.stderr)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1)

    def test_at_document_with_a_timestamp_beyond_2262_is_a_clean_error(self):
        # The timestamp is whatever the bytes say: converting one beyond
        # SysTime's range used to overflow (UB), or wrap to 1969 above 2^63.
        with open(doc("fastcrypto_pcr16_indefmap_2025-11-10.cose.bin"), "rb") as f:
            data = f.read()
        key = b"\x69timestamp\x1b"  # text(9) "timestamp", then uint64
        at = data.index(key) + len(key)
        for ms in (10**17, 2**64 - 1):
            with self.subTest(ms=ms):
                patched = data[:at] + ms.to_bytes(8, "big") + data[at + 8:]
                path = os.path.join(self.tmp, f"ts_{ms}.cbor")
                with open(path, "wb") as f:
                    f.write(patched)
                r = self.inspect(path, "--at", "document")
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("out of range", r.stderr)
                self.assertIn(str(ms), r.stderr)
                self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)

    def test_usage_errors(self):
        path = doc("fastcrypto_pcr16_indefmap_2025-11-10.cose.bin")
        r = self.inspect(os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing: No such file or directory", r.stderr)
        # A directory, or input without end, is a usage error (not an abort, not
        # unbounded memory).
        for bad, why in ((self.tmp, "is a directory"), ("/dev/zero", "is larger than 1048576 bytes")):
            r = self.inspect(bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(why, r.stderr)
            r = kp("policy-check", "--policy", bad, "--pcr", f"0={AB}")
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(why, r.stderr)
        r = self.inspect(path, "--at", "yesterday")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--at", r.stderr)
        r = self.inspect(path, "--root", os.path.join(self.tmp, "missing.pem"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--root", r.stderr)
        garbage = os.path.join(self.tmp, "garbage")
        with open(garbage, "w") as f:
            f.write("hello")
        r = self.inspect(garbage)
        self.assertEqual(r.returncode, 1)
        self.assertIn("inspect-attestation:", r.stderr)


class AttestAndSimPkiTest(h.TempDirTestCase):
    def make_key(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        pem = os.path.join(self.tmp, "app.pub.pem")
        with open(pem, "wb") as f:
            f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
        return pem, spki

    def test_simulated_attest_binds_the_key_and_pcrs_and_inspect_needs_the_root(self):
        pki = h.sim_pki(self.tmp)
        pem, spki = self.make_key()
        out = os.path.join(self.tmp, "doc.cbor")
        r = kp("attest", "--attestation", "simulated", "--sim-pki", pki, "--pcr", f"0={AB}",
               "--pcr", f"PCR8={'cd' * 48}", "--public-key", pem, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        printed = json.loads(r.stdout)
        self.assertEqual(printed["public_key"], spki.hex())
        self.assertEqual(printed["pcrs"]["0"], AB)
        self.assertEqual(printed["pcrs"]["8"], "cd" * 48)
        self.assertEqual(printed["pcrs"]["1"], ZERO)
        self.assertEqual(printed["verification"]["verdict"], "valid")
        with open(out, "rb") as f:
            raw = f.read()
        self.assertEqual(raw[:1], b"\x84")  # untagged COSE_Sign1, as the NSM returns it

        # Without the simulated root, the pinned AWS root does not accept it.
        r = kp("inspect-attestation", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a trusted root", r.stderr)
        self.assertIn("--root PKI_DIR/root.pem", r.stderr)  # the way out
        root = os.path.join(pki, "root.pem")
        r = kp("inspect-attestation", out, "--root", root)
        self.assertEqual(r.returncode, 0, r.stderr)
        inspected = json.loads(r.stdout)
        self.assertEqual(inspected["public_key"], spki.hex())
        self.assertEqual(inspected["pcrs"], printed["pcrs"])
        # The same document as base64 and hex text.
        for name, text in [("doc.b64", base64.b64encode(raw).decode() + "\n"), ("doc.hex", raw.hex())]:
            p = os.path.join(self.tmp, name)
            with open(p, "w") as f:
                f.write(text)
            r = kp("inspect-attestation", p, "--root", root)
            self.assertEqual(r.returncode, 0, name + r.stderr)
            self.assertEqual(json.loads(r.stdout)["module_id"], inspected["module_id"])
        # Another PKI's root does not verify it either.
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        other_pki = h.sim_pki(other)
        r = kp("inspect-attestation", out, "--root", os.path.join(other_pki, "root.pem"))
        self.assertEqual(r.returncode, 1)
        # A PEM bundle: every certificate in it is a root, whatever the order.
        bundle = os.path.join(self.tmp, "bundle.pem")
        with open(bundle, "w") as f:
            f.write(open(os.path.join(other_pki, "root.pem")).read() + open(root).read())
        r = kp("inspect-attestation", out, "--root", bundle)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_attest_measurements_file(self):
        pki = h.sim_pki(self.tmp)
        meas = os.path.join(self.tmp, "m.json")
        with open(meas, "w") as f:
            json.dump({"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": PCR0_REAL,
                                        "PCR1": "11" * 48, "PCR2": "22" * 48}}, f)
        r = kp("attest", "--attestation", "simulated", "--sim-pki", pki, "--measurements", meas)
        self.assertEqual(r.returncode, 0, r.stderr)
        pcrs = json.loads(r.stdout)["pcrs"]
        self.assertEqual((pcrs["0"], pcrs["1"], pcrs["2"]), (PCR0_REAL, "11" * 48, "22" * 48))

    def test_attest_errors(self):
        r = kp("attest", "--nsm-device", os.path.join(self.tmp, "no-nsm"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-nsm", r.stderr)
        self.assertIn("--attestation simulated", r.stderr)  # what to do outside an enclave
        r = kp("attest", "--attestation", "simulated", "--sim-pki", os.path.join(self.tmp, "none"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--sim-pki", r.stderr)
        pki = h.sim_pki(self.tmp)
        r = kp("attest", "--attestation", "simulated", "--sim-pki", pki, "--pcr", "0=zz")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--pcr", r.stderr)
        r = kp("attest", "--attestation", "bogus")
        self.assertEqual(r.returncode, 2)
        # No PKI named: said so, not read from the working directory.
        r = kp("attest", "--attestation", "simulated")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--attestation simulated needs --sim-pki-dir DIR", r.stderr)
        # An --out that cannot be written names the reason.
        r = kp("attest", "--attestation", "simulated", "--sim-pki", pki,
               "--out", os.path.join(self.tmp, "no-dir", "doc.cbor"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("doc.cbor: No such file or directory", r.stderr)

    def test_emulator_logs_the_port_it_bound(self):
        emu, url = h.start_emulator(os.path.join(self.tmp, "data"))
        self.track(emu)
        port = url.rsplit(":", 1)[1]
        emu.wait_for_line(r"kms-emulator: serving 127\.0\.0\.1:" + port + r" over HTTP", timeout=10)
        # Its listener's own answers carry a request id too, as KMS's do.
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        self.assertTrue(head.startswith("http/1.1 400"), head)
        self.assertRegex(head, r"\r\nx-amzn-requestid: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

    def test_sim_pki_init_twice_refuses_without_force(self):
        d = os.path.join(self.tmp, "pki")
        r = kp("sim-pki", "init", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        names = sorted(os.listdir(d))
        self.assertEqual(names, ["intermediate.key", "intermediate.pem", "leaf.key", "leaf.pem",
                                 "root.key", "root.pem"])
        with open(os.path.join(d, "root.pem"), "rb") as f:
            root1 = f.read()
        r = kp("sim-pki", "init", d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already exists", r.stderr)
        self.assertIn("--force", r.stderr)
        with open(os.path.join(d, "root.pem"), "rb") as f:
            self.assertEqual(f.read(), root1, "a refused init must not touch the PKI")
        r = kp("sim-pki", "init", d, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "root.pem"), "rb") as f:
            self.assertNotEqual(f.read(), root1, "--force makes a new root")
        # Private keys are not readable by others.
        for name in ("root.key", "intermediate.key", "leaf.key"):
            self.assertEqual(os.stat(os.path.join(d, name)).st_mode & 0o077, 0, name)
        # A path that cannot be a directory: --force would not help, so no hint.
        a_file = os.path.join(self.tmp, "a-file")
        with open(a_file, "w") as f:
            f.write("x")
        r = kp("sim-pki", "init", a_file)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Not a directory", r.stderr)
        self.assertNotIn("--force", r.stderr)


if __name__ == "__main__":
    unittest.main()
