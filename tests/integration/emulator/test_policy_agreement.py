"""`kms-proxy policy-check` and kms-emulator must agree: for each policy and
request below, the verdict policy-check prints (exit 0 allowed, 1 denied) is
what the emulator does with the same request (boto3, with a Recipient minted
by attestation_minter.py unless the case says otherwise). Both build the
request's condition keys with policy::kms_request_context, so a key one of
them forgets, or a Resource one of them ignores, shows up here."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attestation_minter import DevPki, recipient_key, write_temp  # noqa: E402
from emulator_harness import BUILD, DEFAULT_ACCOUNT, Emulator, error_code  # noqa: E402

KMS_PROXY = os.path.join(BUILD, "bin", "kms-proxy")
ROOT = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
PCR0 = bytes.fromhex("ab" * 48)
OTHER_KEY = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/00000000-0000-4000-8000-000000000000"


def statement(action, condition=None, effect="Allow", resource="*", resource_element="Resource"):
    s = {"Effect": effect, "Principal": {"AWS": ROOT}, "Action": action, resource_element: resource}
    if condition:
        s["Condition"] = condition
    return s


# (name, statements, action, encryption context, with a Recipient, expected to be allowed)
CASES = [
    ("resource names another key", [statement("kms:*", resource=OTHER_KEY)], "kms:Decrypt", {}, True, False),
    ("resource names this key", [statement("kms:*", resource="THIS_KEY")], "kms:Decrypt", {}, True, True),
    ("deny NotResource another key", [statement("kms:*"), statement("kms:Decrypt", effect="Deny", resource=OTHER_KEY,
                                                                    resource_element="NotResource")],
     "kms:Decrypt", {}, True, False),
    ("kms:EncryptionAlgorithm", [statement("kms:Decrypt", {"StringEquals": {
        "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}})], "kms:Decrypt", {}, True, True),
    ("kms:KeySpec and KeyOrigin", [statement("kms:GenerateDataKey", {"StringEquals": {
        "kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyOrigin": "AWS_KMS"}})], "kms:GenerateDataKey", {}, True, True),
    ("aws:RequestedRegion", [statement("kms:Decrypt", {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})],
     "kms:Decrypt", {}, True, False),
    ("PCR0 matches", [statement("kms:Decrypt", {"StringEqualsIgnoreCase": {
        "kms:RecipientAttestation:PCR0": PCR0.hex()}})], "kms:Decrypt", {}, True, True),
    ("PCR0 differs", [statement("kms:Decrypt", {"StringEqualsIgnoreCase": {
        "kms:RecipientAttestation:ImageSha384": "cd" * 48}})], "kms:Decrypt", {}, True, False),
    ("PCR-gated key, no Recipient", [statement("kms:Decrypt", {"StringEqualsIgnoreCase": {
        "kms:RecipientAttestation:PCR0": PCR0.hex()}})], "kms:Decrypt", {}, False, False),
    ("attestation keys on Encrypt", [statement("kms:*", {"StringEqualsIgnoreCase": {
        "kms:RecipientAttestation:ImageSha384": PCR0.hex()}})], "kms:Encrypt", {}, False, False),
    ("StringLike ? on a UTF-8 value", [statement("kms:Decrypt", {"StringLike": {
        "kms:EncryptionContext:team": "caf?"}})], "kms:Decrypt", {"team": "caf\u00e9"}, True, True),
    ("Null on the attestation", [statement("kms:Decrypt", {"Null": {
        "kms:RecipientAttestation:PCR0": "false"}})], "kms:Decrypt", {}, True, True),
    ("aws:PrincipalArn of the root", [statement("kms:Decrypt", {"ArnEquals": {"aws:PrincipalArn": ROOT}})],
     "kms:Decrypt", {}, True, True),
    # ReEncrypt is authorized as two IAM actions (here on one key for both sides).
    ("ReEncryptFrom and To", [statement(["kms:ReEncryptFrom", "kms:ReEncryptTo"])], "kms:ReEncryptFrom", {}, False,
     True),
    ("kms:ReEncrypt is no IAM action", [statement("kms:ReEncrypt")], "kms:ReEncryptFrom", {}, False, False),
]


class PolicyCheckAgreesWithTheEmulator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kms-emu-agree-")
        cls.pki = DevPki()
        cls.root_path = write_temp(cls.tmp, "root.pem", cls.pki.root_pem())
        _, spki, _ = recipient_key()
        cls.doc = cls.pki.document(spki, pcrs={0: PCR0})
        cls.doc_path = write_temp(cls.tmp, "doc.cbor", cls.doc)
        cls.emu = Emulator(extra_args=["--trust-root", cls.root_path])
        cls.kms = cls.emu.client()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def emulator_allows(self, key_arn, action, context, with_recipient):
        kwargs = {"KeyId": key_arn}
        if context:
            kwargs["EncryptionContext"] = context
        recipient = {"Recipient": {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                                   "AttestationDocument": self.doc}} if with_recipient else {}
        try:
            if action == "kms:Encrypt":
                self.kms.encrypt(Plaintext=b"x", **kwargs)
            elif action == "kms:ReEncryptFrom":
                self.kms.re_encrypt(CiphertextBlob=self.ciphertext, SourceKeyId=key_arn, DestinationKeyId=key_arn)
            elif action == "kms:GenerateDataKey":
                self.kms.generate_data_key(KeySpec="AES_256", **kwargs, **recipient)
            else:
                self.kms.decrypt(CiphertextBlob=self.ciphertext, **kwargs, **recipient)
            return True
        except ClientError as e:
            self.assertEqual(error_code(e), "AccessDeniedException", str(e))
            return False

    def policy_check_allows(self, policy_path, key_arn, action, context, with_recipient):
        argv = [KMS_PROXY, "policy-check", "--policy", policy_path, "--key-arn", key_arn, "--action", action,
                "--attestation", self.doc_path]
        for k, v in context.items():
            argv += ["--encryption-context", f"{k}={v}"]
        if not with_recipient and action in ("kms:Decrypt", "kms:GenerateDataKey"):
            argv.append("--no-recipient")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        return r.returncode == 0, r.stdout

    def test_same_verdicts(self):
        for name, statements, action, context, with_recipient, expected in CASES:
            with self.subTest(case=name):
                key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
                key_arn = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/{key_id}"
                self.ciphertext = self.kms.encrypt(KeyId=key_id, Plaintext=b"agreement",
                                                   EncryptionContext=context)["CiphertextBlob"]
                body = json.dumps({"Version": "2012-10-17", "Statement": statements}).replace("THIS_KEY", key_arn)
                self.kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=body,
                                        BypassPolicyLockoutSafetyCheck=True)
                policy_path = write_temp(self.tmp, "policy.json", body.encode())
                checked, out = self.policy_check_allows(policy_path, key_arn, action, context, with_recipient)
                emulated = self.emulator_allows(key_arn, action, context, with_recipient)
                self.assertEqual(checked, emulated, f"policy-check says {out!r}")
                self.assertEqual(emulated, expected)


if __name__ == "__main__":
    unittest.main()
