"""Recipient end to end: boto3 sends attestation documents minted by an
independent Python implementation (attestation_minter.py) signed by a
development root passed with --trust-root; CiphertextForRecipient is opened
with `openssl cms -decrypt`, as the brief and protocol.md section 3 state."""
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attestation_minter import DevPki, recipient_key, write_temp  # noqa: E402
from emulator_harness import DEFAULT_ACCOUNT, Emulator, error_code, error_message  # noqa: E402

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl_cms_decrypt(tmp, cfr, key_pem_path):
    """openssl cms -decrypt -inform DER -inkey key.pem -binary (10 s timeout)."""
    path = write_temp(tmp, "cfr.der", cfr)
    out = subprocess.run([OPENSSL, "cms", "-decrypt", "-inform", "DER", "-in", path, "-inkey", key_pem_path,
                          "-binary"], capture_output=True, timeout=10, check=False)
    if out.returncode != 0:
        raise AssertionError("openssl cms -decrypt failed: " + out.stderr.decode(errors="replace"))
    return out.stdout


class RecipientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kms-emu-rcp-")
        cls.pki = DevPki()
        cls.root_path = write_temp(cls.tmp, "root.pem", cls.pki.root_pem())
        cls.rsa, cls.spki, pem = recipient_key()
        cls.key_path = write_temp(cls.tmp, "key.pem", pem)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.emu = Emulator(extra_args=["--trust-root", self.root_path])
        self.addCleanup(self.emu.stop)
        self.kms = self.emu.client()

    def recipient(self, doc):
        return {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": doc}

    def open_cfr(self, response):
        self.assertIn("CiphertextForRecipient", response)
        return openssl_cms_decrypt(self.tmp, response["CiphertextForRecipient"], self.key_path)

    def assertClientError(self, code, fn, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(**kwargs)
        self.assertEqual(error_code(cm.exception), code, error_message(cm.exception))
        return error_message(cm.exception)

    def test_decrypt_with_recipient_opens_with_openssl_cms(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        ct = self.kms.encrypt(KeyId=key_id, Plaintext=b"for the enclave only")["CiphertextBlob"]
        out = self.kms.decrypt(CiphertextBlob=ct, Recipient=self.recipient(self.pki.document(self.spki)))
        self.assertNotIn("Plaintext", out)
        self.assertEqual(out["KeyId"], f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/{key_id}")
        self.assertEqual(self.open_cfr(out), b"for the enclave only")

    def test_all_five_attested_operations(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        rec = self.recipient(self.pki.document(self.spki))

        dk = self.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", Recipient=rec)
        self.assertNotIn("Plaintext", dk)
        data_key = self.open_cfr(dk)
        self.assertEqual(len(data_key), 32)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"], data_key)

        pair = self.kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P384", Recipient=rec)
        self.assertNotIn("PrivateKeyPlaintext", pair)
        priv = serialization.load_der_private_key(self.open_cfr(pair), password=None)
        self.assertEqual(priv.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo),
                         pair["PublicKey"])

        rnd = self.kms.generate_random(NumberOfBytes=77, Recipient=rec)
        self.assertNotIn("Plaintext", rnd)
        self.assertEqual(len(self.open_cfr(rnd)), 77)

        ecdh = self.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        kms_pub = serialization.load_der_public_key(self.kms.get_public_key(KeyId=ecdh)["PublicKey"])
        peer = ec.generate_private_key(ec.SECP256R1())
        peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        ss = self.kms.derive_shared_secret(KeyId=ecdh, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der,
                                           Recipient=rec)
        self.assertNotIn("SharedSecret", ss)
        self.assertEqual(self.open_cfr(ss), peer.exchange(ec.ECDH(), kms_pub))

    def test_pcr0_gated_key_policy(self):
        image = bytes(range(48))
        policy = """{"Version":"2012-10-17","Statement":[
          {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},
           "Action":["kms:Create*","kms:Describe*","kms:Put*","kms:Get*","kms:List*","kms:Encrypt"],"Resource":"*"},
          {"Sid":"Enclave","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:Decrypt",
           "Resource":"*","Condition":{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":"%s"}}}]}""" % (
            DEFAULT_ACCOUNT, DEFAULT_ACCOUNT, image.hex())
        md = self.kms.create_key(Policy=policy)["KeyMetadata"]
        ct = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"gated")["CiphertextBlob"]
        ok = self.kms.decrypt(CiphertextBlob=ct, Recipient=self.recipient(self.pki.document(self.spki, {0: image})))
        self.assertEqual(self.open_cfr(ok), b"gated")
        expected = (f"User: arn:aws:iam::{DEFAULT_ACCOUNT}:root is not authorized to perform: kms:Decrypt on "
                    f"resource: {md['Arn']} because no resource-based policy allows the kms:Decrypt action")
        msg = self.assertClientError("AccessDeniedException", self.kms.decrypt, CiphertextBlob=ct,
                                     Recipient=self.recipient(self.pki.document(self.spki, {0: bytes(48)})))
        self.assertEqual(msg, expected)
        self.assertEqual(self.assertClientError("AccessDeniedException", self.kms.decrypt, CiphertextBlob=ct),
                         expected)

    def test_bad_documents_are_refused(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]

        def gdk(doc):
            return self.assertClientError("ValidationException", self.kms.generate_data_key, KeyId=key_id,
                                          KeySpec="AES_256", Recipient=self.recipient(doc))

        now = datetime.datetime.now(datetime.timezone.utc)
        expired = DevPki(leaf_validity=(now - datetime.timedelta(hours=5), now - datetime.timedelta(hours=2)))
        msg = gdk(expired.document(self.spki))  # its root is not trusted either, so use its own emulator below
        self.assertIn("does not verify", msg)
        foreign = DevPki()
        self.assertIn("does not verify", gdk(foreign.document(self.spki)))
        doc = bytearray(self.pki.document(self.spki))
        doc[-3] ^= 1  # inside the signature
        self.assertIn("does not verify", gdk(bytes(doc)))
        self.assertIn("no public_key", gdk(self.pki.document(None)))
        ec_spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertIn("RSA", gdk(self.pki.document(ec_spki)))

        # An expired leaf under a trusted root: refused for expiry.
        root2 = write_temp(self.tmp, "root2.pem", expired.root_pem())
        with Emulator(extra_args=["--trust-root", root2]) as emu2:
            kms2 = emu2.client()
            with self.assertRaises(ClientError) as cm:
                kms2.generate_random(NumberOfBytes=8, Recipient=self.recipient(expired.document(self.spki)))
            self.assertEqual(error_code(cm.exception), "ValidationException")
            self.assertIn("expired", error_message(cm.exception))
            # ... while a current leaf under the same root is accepted.
            expired.reissue_leaf(now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=2))
            out = kms2.generate_random(NumberOfBytes=8, Recipient=self.recipient(expired.document(self.spki)))
            self.assertEqual(len(self.open_cfr(out)), 8)


if __name__ == "__main__":
    unittest.main()
