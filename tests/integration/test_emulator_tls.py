"""kms-emulator over HTTPS (serve --tls-cert/--tls-key) with a throwaway CA:
boto3 verifying with verify=<ca>, the aws CLI with --ca-bundle, kms-proxy
forwarding to the https emulator (--ca-file) including an attested Decrypt
with simulated attestation, and the TLS floor (1.1 refused, 1.2 and 1.3 ok)."""
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import warnings

import botocore.exceptions

import harness as h

ACCOUNT = "111122223333"  # the emulator's caller account without --credentials
PCR0 = "ab" * 48
AWS = shutil.which("aws")


def proxy_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "AKIAPROXY", "AWS_SECRET_ACCESS_KEY": "proxy-secret",
                "AWS_REGION": "us-east-1"})
    return env


class EmulatorTlsTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-emu-tls-")
        cls.ca, cls.crt, cls.key = h.make_test_ca(cls.cls_tmp)
        cls.pki = h.sim_pki(cls.cls_tmp)
        cls.emu, cls.url = h.start_emulator(os.path.join(cls.cls_tmp, "data"),
                                            trust_roots=[os.path.join(cls.pki, "root.pem")],
                                            extra=["--tls-cert", cls.crt, "--tls-key", cls.key])
        cls.port = int(cls.url.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.cls_tmp, True)

    def test_readiness_line_says_https(self):
        self.assertTrue(self.url.startswith("https://127.0.0.1:"), self.url)

    def test_boto3_with_the_ca_creates_encrypts_and_decrypts(self):
        kms = h.boto3_kms(self.url, verify=self.ca)
        key_id = kms.create_key(Description="over tls")["KeyMetadata"]["KeyId"]
        ct = kms.encrypt(KeyId=key_id, Plaintext=b"tls secret",
                         EncryptionContext={"via": "https"})["CiphertextBlob"]
        out = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"via": "https"})
        self.assertEqual(out["Plaintext"], b"tls secret")
        self.assertTrue(out["KeyId"].endswith(key_id))
        # One client, several calls: keep-alive over TLS works too.
        for _ in range(3):
            self.assertEqual(len(kms.generate_random(NumberOfBytes=32)["Plaintext"]), 32)

    def test_key_policy_sees_secure_transport(self):
        # Encrypt only over TLS: the emulator's aws:SecureTransport is true here
        # (emulator/test_boto3_api.py shows the same policy denying over HTTP).
        kms = h.boto3_kms(self.url, verify=self.ca)
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
            {"Sid": "TlsOnly", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:Encrypt", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})
        key_id = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
        self.assertIn("CiphertextBlob", kms.encrypt(KeyId=key_id, Plaintext=b"x"))

    def test_boto3_without_the_ca_refuses_the_server(self):
        kms = h.boto3_kms(self.url)  # the default bundle does not know the test CA
        with self.assertRaises(botocore.exceptions.SSLError) as cm:
            kms.list_keys()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(cm.exception))

    def test_plain_http_to_the_https_port_fails_and_the_server_carries_on(self):
        kms = h.boto3_kms(f"http://127.0.0.1:{self.port}")
        with self.assertRaises((botocore.exceptions.ConnectionClosedError,
                                botocore.exceptions.EndpointConnectionError,
                                botocore.exceptions.ClientError)) as cm:
            kms.list_keys()
        if isinstance(cm.exception, botocore.exceptions.ClientError):
            self.fail(f"a plaintext HTTP answer came from the HTTPS port: {cm.exception}")
        self.assertIn("Keys", h.boto3_kms(self.url, verify=self.ca).list_keys())

    @unittest.skipIf(AWS is None, "aws CLI not installed")
    def test_aws_cli_with_ca_bundle(self):
        env = dict(os.environ)
        env.update(h.APP_ENV)
        env["AWS_CONFIG_FILE"] = os.path.join(self.tmp, "config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.tmp, "credentials")
        env.pop("AWS_CA_BUNDLE", None)

        def aws(*args, ca=True):
            argv = [AWS, "--endpoint-url", self.url, "--output", "json"]
            if ca:
                argv += ["--ca-bundle", self.ca]
            return subprocess.run(argv + ["kms", *args], capture_output=True, timeout=120, env=env)

        created = aws("create-key", "--description", "cli over tls")
        self.assertEqual(created.returncode, 0, created.stderr.decode(errors="replace"))
        key_id = json.loads(created.stdout)["KeyMetadata"]["KeyId"]
        plain = os.path.join(self.tmp, "plain.bin")
        with open(plain, "wb") as f:
            f.write(b"cli\x00secret")
        enc = aws("encrypt", "--key-id", key_id, "--plaintext", f"fileb://{plain}")
        self.assertEqual(enc.returncode, 0, enc.stderr.decode(errors="replace"))
        blob = os.path.join(self.tmp, "ct.bin")
        with open(blob, "wb") as f:
            f.write(base64.b64decode(json.loads(enc.stdout)["CiphertextBlob"]))
        dec = aws("decrypt", "--ciphertext-blob", f"fileb://{blob}")
        self.assertEqual(dec.returncode, 0, dec.stderr.decode(errors="replace"))
        self.assertEqual(base64.b64decode(json.loads(dec.stdout)["Plaintext"]), b"cli\x00secret")
        refused = aws("list-keys", ca=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(b"SSL validation failed", refused.stderr)

    def test_proxy_forwards_to_the_https_emulator_with_attestation(self):
        admin = h.boto3_kms(self.url, verify=self.ca)
        key_id = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        ct = admin.encrypt(KeyId=key_id, Plaintext=b"enclave secret over tls")["CiphertextBlob"]
        proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", self.pki, "--pcr", f"0={PCR0}",
             "--endpoint", f"us-east-1={self.url}", "--ca-file", self.ca],
            env=proxy_env(), name="kms-proxy-tls")
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        # Attested: the proxy adds a simulated document; the emulator checks
        # PCR0 against the key policy and answers CiphertextForRecipient.
        out = kms.decrypt(CiphertextBlob=ct)
        self.assertEqual(out["Plaintext"], b"enclave secret over tls")
        self.assertNotIn("CiphertextForRecipient", out)
        # The same call without attestation, straight to the emulator: denied.
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            admin.decrypt(CiphertextBlob=ct)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        # Non-attested operations pass through the proxy as well.
        self.assertTrue(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"])

    def test_proxy_without_the_ca_gets_a_certificate_error(self):
        proxy, port = h.start_proxy(
            ["--attestation", "none", "--endpoint", f"us-east-1={self.url}"],
            env=proxy_env(), name="kms-proxy-noca")
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 502)
        self.assertIn("certificate", cm.exception.response["Error"]["Message"])

    def _handshake(self, min_version, max_version, ciphers=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
            ctx.minimum_version = min_version
            ctx.maximum_version = max_version
        if ciphers:
            ctx.set_ciphers(ciphers)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version(), tls.cipher()[0]

    def test_tls_1_1_is_refused_1_2_and_1_3_accepted(self):
        # The client lowers its own security level so it can offer TLS 1.1;
        # the refusal must come from the server (a protocol_version alert).
        with self.assertRaises(ssl.SSLError) as cm:
            self._handshake(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0")
        self.assertIn("PROTOCOL_VERSION", str(cm.exception).upper().replace(" ", "_"))
        version, cipher = self._handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        self.assertEqual(version, "TLSv1.2")
        self.assertTrue(cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher)
        version, _ = self._handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED)
        self.assertEqual(version, "TLSv1.3")


class EmulatorTlsStartupTest(h.TempDirTestCase):
    def test_bad_tls_files_are_reported_with_the_other_errors(self):
        out = subprocess.run([os.path.join(h.BIN, "kms-emulator"), "serve", "--data-dir",
                              os.path.join(self.tmp, "data"), "--tls-cert", "/etc/hostname",
                              "--tls-key", os.path.join(self.tmp, "missing.key"), "--account", "1"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        err = out.stderr.decode()
        self.assertIn("certificate file '/etc/hostname': no PEM CERTIFICATE", err)
        self.assertIn("missing.key': cannot read", err)
        self.assertIn("--account must be 12 digits", err)
        self.assertNotIn("listening", out.stdout.decode())

    def test_every_startup_problem_exits_2(self):
        emulator = os.path.join(h.BIN, "kms-emulator")
        data = os.path.join(self.tmp, "data")
        for args, message in ((["serve"], "--data-dir is required"),
                              (["serve", "--data-dir", data, "--no-such-flag"], "--no-such-flag"),
                              (["serve", "--data-dir", data, "--workers", "abc"], "--workers"),
                              (["serve", "--data-dir", data, "--listen", "0.0.0.0:0", "--log-level", "bogus"],
                               "--listen 0.0.0.0:0 is not a loopback address (add --allow-non-loopback")):
            with self.subTest(args=args):
                out = subprocess.run([emulator, *args], capture_output=True, timeout=30)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(message, out.stderr.decode())
        self.assertIn("--log-level must be one of", out.stderr.decode())  # with the --listen problem
        self.assertEqual(subprocess.run([emulator, "--version"], capture_output=True, timeout=30).returncode, 0)


if __name__ == "__main__":
    unittest.main()
