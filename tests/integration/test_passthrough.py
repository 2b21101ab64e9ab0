"""kms-proxy as a transparent, re-signing pass-through in front of a real moto
server, driven by the real boto3 client and the aws CLI (issue: foundation)."""
import json
import os
import subprocess
import time
import unittest

import botocore.exceptions

import harness as h

PROXY_CREDS = {
    "AWS_ACCESS_KEY_ID": "AKIAPROXYPROXY000001",
    "AWS_SECRET_ACCESS_KEY": "proxy-secret-key-0123456789",
}


def proxy_env(creds=PROXY_CREDS):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds)
    env["AWS_REGION"] = "us-east-1"
    return env


class PassThroughTest(h.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.moto, self.moto_port, self.moto_url = h.start_moto()
        self.track(self.moto)
        self.proxy, self.port = h.start_proxy(
            ["--attestation", "none", "--endpoint", f"us-east-1={self.moto_url}"], env=proxy_env())
        self.track(self.proxy)
        self.url = f"http://127.0.0.1:{self.port}"
        self.kms = h.boto3_kms(self.url)

    def test_key_lifecycle_and_crypto(self):
        key_id = self.kms.create_key(Description="pass-through")["KeyMetadata"]["KeyId"]
        desc = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(desc["Description"], "pass-through")
        self.assertIn(key_id, [k["KeyId"] for k in self.kms.list_keys()["Keys"]])

        ct = self.kms.encrypt(KeyId=key_id, Plaintext=b"secret bytes",
                              EncryptionContext={"purpose": "test"})["CiphertextBlob"]
        pt = self.kms.decrypt(CiphertextBlob=ct, EncryptionContext={"purpose": "test"})["Plaintext"]
        self.assertEqual(pt, b"secret bytes")

        dk = self.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        self.assertEqual(len(dk["Plaintext"]), 32)
        again = self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"]
        self.assertEqual(again, dk["Plaintext"])

    def test_upstream_error_is_passed_through(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.kms.decrypt(CiphertextBlob=b"garbage-ciphertext-that-is-not-valid")
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], "InvalidCiphertextException")
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_wrong_service_scope_is_rejected_with_kms_style_error(self):
        import boto3
        sess = boto3.session.Session(aws_access_key_id="AKIAX", aws_secret_access_key="x",
                                     region_name="us-east-1")
        # An SQS client signs for service "sqs": the proxy must refuse it (400).
        from botocore.awsrequest import AWSRequest
        from botocore.auth import SigV4Auth
        req = AWSRequest(method="POST", url=self.url + "/", data=b"{}",
                         headers={"X-Amz-Target": "TrentService.ListKeys",
                                  "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(sess.get_credentials(), "sqs", "us-east-1").add_auth(req)
        import urllib.request
        r = urllib.request.Request(self.url + "/", data=b"{}", method="POST", headers=dict(req.headers))
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(r, timeout=10)
        self.assertEqual(cm.exception.code, 400)
        body = json.loads(cm.exception.read())
        self.assertIn("__type", body)
        self.assertIn("sqs", body["message"])

    def test_aws_cli(self):
        env = dict(os.environ)
        env.update(h.APP_ENV)
        out = subprocess.run(["aws", "kms", "create-key", "--endpoint-url", self.url, "--output", "json"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        key_id = json.loads(out.stdout)["KeyMetadata"]["KeyId"]
        pt = os.path.join(self.tmp, "pt.bin")
        with open(pt, "wb") as f:
            f.write(b"cli secret")
        enc = subprocess.run(["aws", "kms", "encrypt", "--endpoint-url", self.url, "--key-id", key_id,
                              "--plaintext", f"fileb://{pt}", "--output", "text", "--query", "CiphertextBlob"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(enc.returncode, 0, enc.stderr)
        ct = os.path.join(self.tmp, "ct.bin")
        import base64
        with open(ct, "wb") as f:
            f.write(base64.b64decode(enc.stdout.strip()))
        dec = subprocess.run(["aws", "kms", "decrypt", "--endpoint-url", self.url, "--ciphertext-blob",
                              f"fileb://{ct}", "--output", "text", "--query", "Plaintext"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(dec.returncode, 0, dec.stderr)
        self.assertEqual(base64.b64decode(dec.stdout.strip()), b"cli secret")


def process_cpu_seconds(pid):
    """utime + stime of every thread of `pid`, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BusyPollTest(h.TempDirTestCase):
    """io.busy_poll_us from the config file: the proxy serves the real SDK as
    usual, and its threads stop polling once the window has passed (an idle
    proxy uses no CPU)."""

    def test_busy_polling_proxy_serves_sdk_and_sleeps_when_idle(self):
        moto, _, moto_url = h.start_moto()
        self.track(moto)
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("kms_proxy:\n  listen_port: 9999\n  io:\n    threads: 2\n    busy_poll_us: 2000\n")
        proxy, port = h.start_proxy(["--config", cfg, "--attestation", "none",
                                     "--endpoint", f"us-east-1={moto_url}"], env=proxy_env())
        self.track(proxy)
        self.assertRegex(proxy.output(), r"io_threads=2 busy_poll_us=2000\b")
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        for i in range(20):
            msg = f"message {i}".encode()
            ct = kms.encrypt(KeyId=key_id, Plaintext=msg)["CiphertextBlob"]
            self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], msg)
        # Idle: after the 2 ms window the threads block. Two threads polling
        # through this second would use ~2 s of CPU.
        time.sleep(0.2)
        before = process_cpu_seconds(proxy.p.pid)
        time.sleep(1.0)
        self.assertLess(process_cpu_seconds(proxy.p.pid) - before, 0.2)

    def test_out_of_range_busy_poll_is_a_startup_error(self):
        p = h.Proc("kms-proxy-bad", [os.path.join(h.BIN, "kms-proxy"), "serve", "--listen", "127.0.0.1:0",
                                     "--attestation", "none", "--busy-poll-us", "20000"], env=proxy_env())
        self.track(p)
        self.assertNotEqual(p.p.wait(timeout=30), 0)
        p.wait_for_line(r"--busy-poll-us: expected a whole number 0\.\.10000, got '20000'", timeout=5)


class SignatureCheckingUpstreamTest(h.TempDirTestCase):
    """moto in SigV4-checking mode: only the proxy's re-signature can pass."""

    def setUp(self):
        super().setUp()
        self.moto, _, self.moto_url = h.start_moto(auth=True)
        self.track(self.moto)
        import boto3
        iam = boto3.client("iam", endpoint_url=self.moto_url, region_name="us-east-1",
                           aws_access_key_id="AKIASETUP", aws_secret_access_key="setup")
        iam.create_user(UserName="proxy")
        arn = iam.create_policy(PolicyName="kms-all", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="proxy", PolicyArn=arn)
        key = iam.create_access_key(UserName="proxy")["AccessKey"]
        self.real = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def test_proxy_signature_is_valid_and_app_credentials_never_reach_upstream(self):
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={self.moto_url}"],
                                    env=proxy_env(self.real))
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")  # bogus app credentials
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        ct = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"x")
        # Directly, the app's bogus credentials are refused by the same server.
        direct = h.boto3_kms(self.moto_url)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            direct.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_wrong_proxy_secret_is_refused_upstream(self):
        bad = dict(self.real)
        bad["AWS_SECRET_ACCESS_KEY"] = "wrong"
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={self.moto_url}"],
                                    env=proxy_env(bad))
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)


class TlsUpstreamTest(h.TempDirTestCase):
    def test_tls_upstream_with_test_ca(self):
        ca, crt, key = h.make_test_ca(self.tmp)
        moto, port, _ = h.start_moto(cert=crt, key=key)
        self.track(moto)
        proxy, pport = h.start_proxy(
            ["--attestation", "none", "--endpoint", f"us-east-1=https://localhost:{port}", "--ca-file", ca],
            env=proxy_env())
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{pport}")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertTrue(key_id)

    def test_tls_upstream_without_trusting_the_ca_fails_with_502(self):
        ca, crt, key = h.make_test_ca(self.tmp)
        moto, port, _ = h.start_moto(cert=crt, key=key)
        self.track(moto)
        proxy, pport = h.start_proxy(
            ["--attestation", "none", "--endpoint", f"us-east-1=https://localhost:{port}"], env=proxy_env())
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{pport}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 502)
        self.assertIn("certificate", cm.exception.response["Error"]["Message"])


if __name__ == "__main__":
    unittest.main()


class Ipv6UpstreamTest(h.TempDirTestCase):
    """An upstream given as an IPv6 literal: the Host field carries it in
    brackets (RFC 9110 7.2), which strict servers insist on."""

    def test_host_field_brackets_an_ipv6_upstream(self):
        seen = []
        try:
            upstream_port = h.list_keys_upstream(self, lambda req: seen.append(req.headers.get("Host")), host="::1")
        except OSError as e:
            self.skipTest(f"no IPv6 loopback here: {e}")
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint",
                                     f"us-east-1=http://[::1]:{upstream_port}"], env=proxy_env())
        self.track(proxy)
        self.assertEqual(h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()["Keys"], [])
        self.assertEqual(seen, [f"[::1]:{upstream_port}"])
