"""Attested KMS operations end to end: the real boto3 client -> kms-proxy
(simulated NSM) -> kms-emulator, which verifies the attestation document
against the simulated root, evaluates the key policy's PCR0 condition and
answers with CiphertextForRecipient. The app sees ordinary responses."""
import base64
import concurrent.futures
import os
import re

import botocore.exceptions
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization

import harness as h

ACCOUNT = "111122223333"  # the emulator's caller account without --credentials
PCR0 = "ab" * 48
OTHER_PCR0 = "cd" * 48


def proxy_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "AKIAPROXY", "AWS_SECRET_ACCESS_KEY": "proxy-secret",
                "AWS_REGION": "us-east-1"})
    return env


class AttestedTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-att-")
        cls.pki = h.sim_pki(cls.cls_tmp)
        cls.emu, cls.emu_url = h.start_emulator(os.path.join(cls.cls_tmp, "data"),
                                                trust_roots=[os.path.join(cls.pki, "root.pem")])
        # A 30 ms NSM, like a real one takes milliseconds: without it the
        # simulated call (~1 ms) can finish between two boto3 requests every
        # time and the coalescing test would measure Python, not the proxy.
        cls.proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", cls.pki, "--pcr", f"0={PCR0}",
             "--sim-nsm-latency", "30ms",
             "--endpoint", f"us-east-1={cls.emu_url}", "--metrics-listen", "127.0.0.1:0"],
            env=proxy_env(), name="kms-proxy-attested")
        cls.url = f"http://127.0.0.1:{port}"
        m = cls.proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        cls.metrics_url = f"http://127.0.0.1:{m.group(1)}/metrics"
        admin = h.boto3_kms(cls.emu_url)
        cls.key_id = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        cls.ecc_key_id = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0),
                                          KeySpec="ECC_NIST_P256",
                                          KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        cls.admin = admin

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.emu.stop()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def setUp(self):
        super().setUp()
        self.kms = h.boto3_kms(self.url)

    def test_decrypt_returns_plaintext_through_the_proxy(self):
        ct = self.admin.encrypt(KeyId=self.key_id, Plaintext=b"enclave secret",
                                EncryptionContext={"app": "demo"})["CiphertextBlob"]
        resp = self.kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "demo"})
        self.assertEqual(resp["Plaintext"], b"enclave secret")
        self.assertNotIn("CiphertextForRecipient", resp)
        self.assertTrue(resp["KeyId"].endswith(self.key_id))

    def test_same_decrypt_directly_without_attestation_is_denied(self):
        ct = self.admin.encrypt(KeyId=self.key_id, Plaintext=b"x")["CiphertextBlob"]
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.admin.decrypt(CiphertextBlob=ct)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")

    def test_generate_data_key(self):
        resp = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
        self.assertEqual(len(resp["Plaintext"]), 32)
        self.assertNotIn("CiphertextForRecipient", resp)
        # The KMS-wrapped copy is kept and decrypts (attested) to the same key.
        again = self.kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"]
        self.assertEqual(again, resp["Plaintext"])

    def test_generate_data_key_pair(self):
        resp = self.kms.generate_data_key_pair(KeyId=self.key_id, KeyPairSpec="ECC_NIST_P256")
        priv = serialization.load_der_private_key(resp["PrivateKeyPlaintext"], password=None)
        pub = serialization.load_der_public_key(resp["PublicKey"])
        self.assertEqual(priv.public_key().public_numbers(), pub.public_numbers())
        self.assertIn("PrivateKeyCiphertextBlob", resp)
        self.assertNotIn("CiphertextForRecipient", resp)

    def test_generate_random(self):
        a = self.kms.generate_random(NumberOfBytes=64)["Plaintext"]
        b = self.kms.generate_random(NumberOfBytes=64)["Plaintext"]
        self.assertEqual(len(a), 64)
        self.assertNotEqual(a, b)

    def test_derive_shared_secret(self):
        peer = ec.generate_private_key(ec.SECP256R1())
        peer_pub = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        resp = self.kms.derive_shared_secret(KeyId=self.ecc_key_id, KeyAgreementAlgorithm="ECDH",
                                             PublicKey=peer_pub)
        kms_pub = serialization.load_der_public_key(
            self.admin.get_public_key(KeyId=self.ecc_key_id)["PublicKey"])
        expected = peer.exchange(ec.ECDH(), kms_pub)
        self.assertEqual(resp["SharedSecret"], expected)

    def test_null_recipient_counts_as_absent(self):
        # botocore leaves unset members out; a client that writes them as
        # null sends "Recipient": null, which KMS reads as no Recipient. The
        # proxy attests as usual and the app gets its plaintext.
        import json

        def add_null_recipient(request, **_):
            body = json.loads(request.body)
            request.data = json.dumps({"Recipient": None, **body}).encode()

        self.kms.meta.events.register("before-sign.kms.Decrypt", add_null_recipient)
        ct = self.admin.encrypt(KeyId=self.key_id, Plaintext=b"null is absent")["CiphertextBlob"]
        before = self._nsm_calls()
        resp = self.kms.decrypt(CiphertextBlob=ct)
        self.assertEqual(resp["Plaintext"], b"null is absent")
        self.assertNotIn("CiphertextForRecipient", resp)
        self.assertGreater(self._nsm_calls(), before)

    def test_client_supplied_recipient_is_left_alone(self):
        # The app does its own attestation (its own key in the document): the
        # proxy forwards the request unchanged and leaves CiphertextForRecipient
        # in the response for the app to open.
        import subprocess
        key_pem = os.path.join(self.tmp, "app.key")
        pub_pem = os.path.join(self.tmp, "app.pub")
        doc_path = os.path.join(self.tmp, "doc.cbor")
        run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_pem)
        run("openssl", "pkey", "-in", key_pem, "-pubout", "-out", pub_pem)
        run(os.path.join(h.BIN, "kms-proxy"), "attest", "--attestation", "simulated", "--sim-pki", self.pki,
            "--pcr", f"0={PCR0}", "--public-key", pub_pem, "--out", doc_path)
        with open(doc_path, "rb") as f:
            doc = f.read()
        before = self._nsm_calls()
        resp = self.kms.generate_random(NumberOfBytes=16, Recipient={
            "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": doc})
        self.assertEqual(self._nsm_calls(), before, "the proxy must not attest a request that has a Recipient")
        self.assertFalse(resp.get("Plaintext"))
        cms = os.path.join(self.tmp, "cfr.ber")
        with open(cms, "wb") as f:
            f.write(resp["CiphertextForRecipient"])
        out = run("openssl", "cms", "-decrypt", "-inform", "DER", "-in", cms, "-inkey", key_pem, "-binary")
        self.assertEqual(len(out.stdout), 16)

    def test_concurrent_requests_share_nsm_calls(self):
        before = self._nsm_calls()
        n = 48

        def one(_):
            return self.kms.generate_random(NumberOfBytes=8)["Plaintext"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(one, range(n)))
        self.assertEqual(len(results), n)
        self.assertTrue(all(len(r) == 8 for r in results))
        calls = self._nsm_calls() - before
        # Every request needed a document; coalescing served them with fewer
        # NSM calls than requests (16 clients in flight at once).
        self.assertGreater(calls, 0)
        self.assertLess(calls, n)

    def _nsm_calls(self):
        import urllib.request
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        m = re.search(r"^kms_proxy_nsm_calls_total (\d+)$", text, re.M)
        self.assertIsNotNone(m, text)
        return int(m.group(1))


class WrongMeasurementTest(h.TempDirTestCase):
    def test_proxy_simulating_another_pcr0_is_denied_and_logs_the_measurements(self):
        pki = h.sim_pki(self.tmp)
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"),
                                        trust_roots=[os.path.join(pki, "root.pem")])
        self.track(emu)
        admin = h.boto3_kms(emu_url)
        key_id = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        ct = admin.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        proxy, port = h.start_proxy(["--attestation", "simulated", "--sim-pki", pki, "--pcr",
                                     f"0={OTHER_PCR0}", "--endpoint", f"us-east-1={emu_url}"],
                                    env=proxy_env())
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.decrypt(CiphertextBlob=ct)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        proxy.wait_for_line(r"AccessDeniedException.*PCR0 \(ImageSha384\)=" + OTHER_PCR0, timeout=10)

    def test_untrusted_simulated_root_is_refused_by_the_emulator(self):
        pki = h.sim_pki(self.tmp)
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"))  # AWS root only
        self.track(emu)
        admin = h.boto3_kms(emu_url)
        key_id = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        ct = admin.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        proxy, port = h.start_proxy(["--attestation", "simulated", "--sim-pki", pki, "--pcr", f"0={PCR0}",
                                     "--endpoint", f"us-east-1={emu_url}"], env=proxy_env())
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.decrypt(CiphertextBlob=ct)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)


if __name__ == "__main__":
    import unittest
    unittest.main()
