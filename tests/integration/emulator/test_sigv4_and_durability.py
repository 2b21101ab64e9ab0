"""--credentials (SigV4 checking with boto3's real signer) and durability of
the data directory across SIGKILL."""
import os
import shutil
import signal
import sys
import tempfile
import unittest

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_harness import Emulator, error_code, error_message  # noqa: E402


class SigV4Test(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kms-emu-sig-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        creds = os.path.join(self.tmp, "creds.json")
        with open(creds, "w") as f:
            f.write('{"credentials":['
                    '{"access_key_id":"AKIDALICE","secret_access_key":"alice/secret","account":"111122223333",'
                    '"user":"alice"},'
                    '{"access_key_id":"AKIDBOB","secret_access_key":"bob-secret","account":"444455556666"}]}')
        self.emu = Emulator(extra_args=["--credentials", creds])
        self.addCleanup(self.emu.stop)

    def code(self, fn, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(**kwargs)
        return error_code(cm.exception), error_message(cm.exception)

    def test_signed_callers_and_signature_errors(self):
        alice = self.emu.client("AKIDALICE", "alice/secret")
        md = alice.create_key()["KeyMetadata"]
        self.assertEqual(md["AWSAccountId"], "111122223333")
        self.assertEqual(alice.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["KeyId"], md["Arn"])
        bob = self.emu.client("AKIDBOB", "bob-secret")
        code, msg = self.code(bob.encrypt, KeyId=md["Arn"], Plaintext=b"x")
        self.assertEqual(code, "AccessDeniedException")
        self.assertTrue(msg.startswith("User: arn:aws:iam::444455556666:root is not authorized to perform: "
                                       "kms:Encrypt on resource: " + md["Arn"]), msg)
        self.assertEqual(self.code(self.emu.client("AKIDALICE", "wrong").list_keys)[0], "InvalidSignatureException")
        self.assertEqual(self.code(self.emu.client("AKIDNOBODY", "x").list_keys)[0], "UnrecognizedClientException")
        self.assertEqual(self.code(self.emu.client("AKIDALICE", "alice/secret", region="eu-west-1").list_keys)[0],
                         "InvalidSignatureException")


class DurabilityTest(unittest.TestCase):
    def test_state_survives_sigkill_between_requests(self):
        tmp = tempfile.mkdtemp(prefix="kms-emu-dur-")
        self.addCleanup(shutil.rmtree, tmp, True)
        emu = Emulator(data_dir=os.path.join(tmp, "state"))
        self.addCleanup(emu.kill)
        kms = emu.client()
        key_id = kms.create_key(Description="durable")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/durable", TargetKeyId=key_id)
        ct = kms.encrypt(KeyId="alias/durable", Plaintext=b"still here")["CiphertextBlob"]
        rsa_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        emu.kill(signal.SIGKILL)
        emu.start()
        kms = emu.client()
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"still here")
        self.assertEqual(kms.describe_key(KeyId="alias/durable")["KeyMetadata"]["Description"], "durable")
        pub = kms.get_public_key(KeyId=rsa_id)["PublicKey"]
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=kms.get_key_policy(KeyId=key_id)["Policy"])
        kms.disable_key(KeyId=rsa_id)
        emu.kill(signal.SIGKILL)
        emu.start()
        kms = emu.client()
        self.assertEqual(kms.describe_key(KeyId=rsa_id)["KeyMetadata"]["KeyState"], "Disabled")
        kms.enable_key(KeyId=rsa_id)
        self.assertEqual(kms.get_public_key(KeyId=rsa_id)["PublicKey"], pub)
        # Files are private to the owner.
        state = os.path.join(tmp, "state")
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o700)
        for name in os.listdir(os.path.join(state, "keys")):
            self.assertEqual(os.stat(os.path.join(state, "keys", name)).st_mode & 0o777, 0o600)
        self.assertEqual(emu.kill(signal.SIGTERM), 0)


if __name__ == "__main__":
    unittest.main()
