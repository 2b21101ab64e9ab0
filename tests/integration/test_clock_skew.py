"""Clock-skew correction end to end. kms-emulator checks SigV4 (--credentials,
5-minute tolerance, AWS's messages) with a clock minutes away from the
proxy's (--clock-offset-seconds), as KMS is from an enclave whose clock
drifted. The app's calls through the real boto3 client still succeed: the
proxy learns the offset from the Date header of KMS's answer, signs again and
resends once, and signs every later request with the corrected time."""
import os
import re
import urllib.request

import botocore.exceptions

import harness as h

ACCOUNT = "111122223333"
PCR0 = "5e" * 48
PROXY_AKID = "AKIAPROXYSKEWTEST001"
PROXY_SECRET = "proxy-skew-secret"


def metric(metrics_url, name):
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    if m is None:
        raise AssertionError(f"{name} not in /metrics")
    return float(m.group(1))


class ClockSkewTest(h.TempDirTestCase):
    def start(self, offset_seconds, secret=PROXY_SECRET):
        """Emulator `offset_seconds` ahead of this machine, the proxy in front
        of it; returns (proxy Proc, boto3 client of the app, metrics url)."""
        pki = h.sim_pki(self.tmp)
        creds = os.path.join(self.tmp, "creds.txt")
        with open(creds, "w") as f:
            f.write(f"{PROXY_AKID} {PROXY_SECRET} {ACCOUNT}\n")
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"), trust_roots=[os.path.join(pki, "root.pem")],
                                        extra=["--credentials", creds, "--clock-offset-seconds", str(offset_seconds)])
        self.track(emu)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": PROXY_AKID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"})
        proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", pki, "--pcr", f"0={PCR0}",
             "--endpoint", f"us-east-1={emu_url}", "--metrics-listen", "127.0.0.1:0"], env=env,
            name="kms-proxy-skew")
        self.track(proxy)
        m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        return proxy, h.boto3_kms(f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{m.group(1)}/metrics"

    def round_trip(self, app):
        """CreateKey and Encrypt (passed through) and an attested Decrypt."""
        key_id = app.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        blob = app.encrypt(KeyId=key_id, Plaintext=b"skewed but fine")["CiphertextBlob"]
        self.assertEqual(app.decrypt(CiphertextBlob=blob)["Plaintext"], b"skewed but fine")
        self.assertEqual(len(app.generate_random(NumberOfBytes=24)["Plaintext"]), 24)

    def test_kms_ten_minutes_ahead(self):
        proxy, app, metrics = self.start(600)
        self.round_trip(app)
        self.assertAlmostEqual(metric(metrics, "kms_proxy_clock_offset_seconds"), 600.5, delta=3)
        # Only the first request was refused and resent; later ones were
        # signed with the corrected time from the start.
        self.assertEqual(metric(metrics, "kms_proxy_clock_skew_retries_total"), 1)
        warning = proxy.wait_for_line(r"clock: KMS's Date \(.* GMT\) puts this machine's clock (599|60[01]) s behind",
                                      timeout=5)
        self.assertIn("Synchronise the enclave's clock", warning.string)

    def test_kms_ten_minutes_behind(self):
        proxy, app, metrics = self.start(-600)
        self.round_trip(app)
        self.assertAlmostEqual(metric(metrics, "kms_proxy_clock_offset_seconds"), -599.5, delta=3)
        self.assertEqual(metric(metrics, "kms_proxy_clock_skew_retries_total"), 1)
        proxy.wait_for_line(r"puts this machine's clock (599|60[01]) s ahead", timeout=5)

    def test_skew_within_the_threshold_is_left_alone(self):
        _, app, metrics = self.start(20)
        self.round_trip(app)
        self.assertEqual(metric(metrics, "kms_proxy_clock_offset_seconds"), 0)
        self.assertEqual(metric(metrics, "kms_proxy_clock_skew_retries_total"), 0)

    def wrong_secret(self, offset_seconds):
        """ListKeys signed with a secret KMS does not know, KMS `offset_seconds`
        away: the error the app gets, and (resends, correction) afterwards."""
        _, app, metrics = self.start(offset_seconds, secret="not-the-proxy-secret")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            app.list_keys()
        return (cm.exception.response["Error"]["Code"], metric(metrics, "kms_proxy_clock_skew_retries_total"),
                metric(metrics, "kms_proxy_clock_offset_seconds"))

    def test_a_wrong_secret_is_not_mistaken_for_skew(self):
        # InvalidSignatureException for a signature that does not match: the
        # Date agrees with the clock, so the error reaches the app unchanged
        # and nothing is resent.
        self.assertEqual(self.wrong_secret(0), ("InvalidSignatureException", 0, 0))

    def test_skew_and_a_wrong_secret_are_resent_once_only(self):
        # The Date shows a real skew, so the proxy corrects and resends once;
        # the signature still does not match, and that answer goes to the app.
        code, retries, offset = self.wrong_secret(900)
        self.assertEqual((code, retries), ("InvalidSignatureException", 1))
        self.assertAlmostEqual(offset, 900.5, delta=3)

if __name__ == "__main__":
    import unittest
    unittest.main()
