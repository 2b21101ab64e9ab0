"""The aws CLI (v1, preinstalled) against the kms-emulator binary."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_harness import DUMMY_ENV, Emulator  # noqa: E402

AWS = shutil.which("aws")


@unittest.skipIf(AWS is None, "aws CLI not installed")
class AwsCliTest(unittest.TestCase):
    def setUp(self):
        self.emu = Emulator()
        self.addCleanup(self.emu.stop)
        self.tmp = tempfile.mkdtemp(prefix="kms-emu-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def aws(self, *args, check=True):
        env = dict(os.environ)
        env.update(DUMMY_ENV)
        env["AWS_CONFIG_FILE"] = os.path.join(self.tmp, "config")  # no user profile leaks in
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.tmp, "credentials")
        out = subprocess.run([AWS, "--endpoint-url", self.emu.endpoint, "--output", "json", "kms", *args],
                             capture_output=True, timeout=60, env=env, check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
        return out

    def test_key_alias_encrypt_decrypt(self):
        md = json.loads(self.aws("create-key", "--description", "cli").stdout)["KeyMetadata"]
        self.aws("create-alias", "--alias-name", "alias/cli", "--target-key-id", md["KeyId"])
        aliases = json.loads(self.aws("list-aliases").stdout)["Aliases"]
        self.assertEqual(aliases[0]["TargetKeyId"], md["KeyId"])
        plain = os.path.join(self.tmp, "plain.bin")
        with open(plain, "wb") as f:
            f.write(b"\x00\x01binary\xff")
        enc = json.loads(self.aws("encrypt", "--key-id", "alias/cli", "--plaintext", f"fileb://{plain}",
                                  "--encryption-context", "purpose=cli").stdout)
        blob = os.path.join(self.tmp, "ct.bin")
        with open(blob, "wb") as f:
            f.write(base64.b64decode(enc["CiphertextBlob"]))
        dec = json.loads(self.aws("decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context",
                                  "purpose=cli").stdout)
        self.assertEqual(base64.b64decode(dec["Plaintext"]), b"\x00\x01binary\xff")
        self.assertEqual(dec["KeyId"], md["Arn"])
        rnd = json.loads(self.aws("generate-random", "--number-of-bytes", "16").stdout)
        self.assertEqual(len(base64.b64decode(rnd["Plaintext"])), 16)

    def test_errors_reach_the_cli(self):
        bad = self.aws("decrypt", "--ciphertext-blob", "fileb:///etc/hostname", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn(b"(InvalidCiphertextException)", bad.stderr)
        val = self.aws("create-key", "--key-spec", "RSA_2048", check=False)
        self.assertNotEqual(val.returncode, 0)
        self.assertIn(b"(ValidationException)", val.stderr)


if __name__ == "__main__":
    unittest.main()
