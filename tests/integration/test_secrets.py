"""Secret hygiene (issue "Hardening" 4).

1. Logs: attested and non-attested requests (Encrypt, Decrypt,
   GenerateDataKey, GenerateDataKeyPair, GenerateRandom, error paths) through
   kms-proxy at --log-level trace --log-format json in front of kms-emulator
   (SigV4 checking on, also at trace). No log line of either process may
   contain a known plaintext, a returned data key, the app's secret key, or
   the proxy's secret key and session token -- raw, hex, or base64 at any
   byte alignment.
2. The serving proxy is not dumpable (PR_SET_DUMPABLE 0): run as an
   unprivileged user, its /proc/<pid> files belong to root and another
   process of the same user cannot read its memory or environment -- unlike
   an ordinary process of that user (the control, so the check can fail).
"""
import base64
import json
import os
import subprocess
import unittest

import harness as h
from fault_support import FaultUpstream, kms_raw, wait_until

ACCOUNT = "111122223333"
PCR0 = "ab" * 48
PROXY_AKID = "AKIAPROXYSECRETS0001"
PROXY_SECRET = "Proxy/Secret+Key/wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz"
PROXY_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDProxySessionToken0123456789abcdefSECRETTOKEN"
PLAINTEXTS = [b"enclave-db-password: correct horse battery staple",
              b"attested secret \x00\x01\x02 binary tail \xfe\xff",
              b"plain encrypt path secret 0123456789"]


def forms(secret):
    """The ways a secret could show up in a log: raw text, hex, base64 (standard
    and URL alphabets) at each of the three byte alignments (the inner part
    that does not depend on neighbouring bytes)."""
    if isinstance(secret, str):
        secret = secret.encode()
    out = set()
    try:
        text = secret.decode("utf-8")
        if len(text) >= 8:
            out.add(text)
    except UnicodeDecodeError:
        pass
    out.add(secret.hex())
    out.add(secret.hex().upper())
    for pad in range(3):
        b64 = base64.b64encode(b"\0" * pad + secret).decode().rstrip("=")
        # Characters that mix pad bytes or a partial last group are unreliable.
        lead = (pad * 8 + 5) // 6
        inner = b64[lead:len(b64) - 3]
        if len(inner) >= 12:
            out.add(inner)
            out.add(inner.replace("+", "-").replace("/", "_"))
    return out


def find_leaks(text, secrets):
    """[(name, form)] for every secret form found in `text`."""
    leaks = []
    for name, secret in secrets.items():
        for f in forms(secret):
            if f in text:
                leaks.append((name, f[:24]))
    return leaks


class DetectorTest(unittest.TestCase):
    """The grep itself must catch each encoding (else the hygiene test proves nothing)."""

    def test_detector_finds_every_encoding(self):
        s = PLAINTEXTS[1]
        for blob in (base64.b64encode(s), base64.b64encode(b"x" + s), base64.b64encode(b"xy" + s),
                     base64.urlsafe_b64encode(b"x" + s), s.hex().encode(), s.hex().upper().encode()):
            text = 'prefix {"Plaintext":"' + blob.decode() + '"} suffix'
            self.assertTrue(find_leaks(text, {"p": s}), blob)
        self.assertTrue(find_leaks("key=" + PROXY_SECRET, {"k": PROXY_SECRET}))
        self.assertEqual(find_leaks("nothing to see " + base64.b64encode(b"other").decode(), {"p": s}), [])


class LogHygieneTest(h.TempDirTestCase):
    def test_no_secret_in_any_log_at_trace_level(self):
        pki = h.sim_pki(self.tmp)
        creds_file = os.path.join(self.tmp, "creds.txt")
        with open(creds_file, "w") as f:
            f.write(f"{PROXY_AKID} {PROXY_SECRET} {ACCOUNT} role/enclave\n"
                    f"AKIAADMINADMIN000001 admin-secret-key {ACCOUNT} user/admin\n")
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"), trust_roots=[os.path.join(pki, "root.pem")],
                                        extra=["--credentials", creds_file, "--log-level", "trace"])
        self.track(emu)
        admin_env = dict(h.APP_ENV, AWS_ACCESS_KEY_ID="AKIAADMINADMIN000001", AWS_SECRET_ACCESS_KEY="admin-secret-key")
        admin = h.boto3_kms(emu_url, env=admin_env)
        role = f"arn:aws:iam::{ACCOUNT}:role/enclave"
        policy = json.loads(h.attested_key_policy(ACCOUNT, PCR0))
        policy["Statement"].append({"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": role},
                                    "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"})
        for st in policy["Statement"]:
            if st["Sid"] == "EnclaveOnly":
                st["Principal"] = {"AWS": [f"arn:aws:iam::{ACCOUNT}:root", role]}
        key_id = admin.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]

        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": PROXY_AKID, "AWS_SECRET_ACCESS_KEY": PROXY_SECRET,
                    "AWS_SESSION_TOKEN": PROXY_TOKEN, "AWS_REGION": "us-east-1"})
        proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", pki, "--pcr", f"0={PCR0}", "--endpoint",
             f"us-east-1={emu_url}", "--log-level", "trace", "--log-format", "json"], env=env,
            name="kms-proxy-secrets")
        self.track(proxy)
        app = h.boto3_kms(f"http://127.0.0.1:{port}")

        returned = {}
        # Attested Decrypt of a ciphertext made directly (admin), and of one
        # made through the proxy (the proxy's own Encrypt path).
        ct0 = admin.encrypt(KeyId=key_id, Plaintext=PLAINTEXTS[0], EncryptionContext={"a": "b"})["CiphertextBlob"]
        self.assertEqual(app.decrypt(CiphertextBlob=ct0, EncryptionContext={"a": "b"})["Plaintext"], PLAINTEXTS[0])
        ct1 = app.encrypt(KeyId=key_id, Plaintext=PLAINTEXTS[1])["CiphertextBlob"]
        self.assertEqual(app.decrypt(CiphertextBlob=ct1)["Plaintext"], PLAINTEXTS[1])
        ct2 = app.encrypt(KeyId=key_id, Plaintext=PLAINTEXTS[2])["CiphertextBlob"]
        self.assertEqual(app.decrypt(CiphertextBlob=ct2, KeyId=key_id)["Plaintext"], PLAINTEXTS[2])
        dk = app.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        returned["data key"] = dk["Plaintext"]
        pair = app.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
        returned["data key pair private key"] = pair["PrivateKeyPlaintext"]
        returned["random"] = app.generate_random(NumberOfBytes=32)["Plaintext"]
        # Error paths with the plaintext in the request: unknown key,
        # wrong encryption context, a malformed body after the plaintext.
        import botocore.exceptions
        with self.assertRaises(botocore.exceptions.ClientError):
            app.encrypt(KeyId="alias/does-not-exist", Plaintext=PLAINTEXTS[0])
        with self.assertRaises(botocore.exceptions.ClientError):
            app.decrypt(CiphertextBlob=ct0, EncryptionContext={"a": "wrong"})
        b64 = base64.b64encode(PLAINTEXTS[2]).decode()
        too_long = base64.b64encode(PLAINTEXTS[2] * 120).decode()  # over Encrypt's 4096-byte limit
        for target, body in (("TrentService.Decrypt", '{"Plaintext":"%s", oops' % b64),
                             ("TrentService.Encrypt", '{"KeyId":"%s","Plaintext":"%s"}' % (key_id, too_long)),
                             ("TrentService.Encrypt", '{"KeyId":"%s","Plaintext":{"x":"%s"}}' % (key_id, b64))):
            st, _, resp, _ = kms_raw(port, target, body.encode())
            self.assertEqual(st, 400, resp)
        # Both processes stop (their final lines included).
        proxy.stop()
        emu.stop()

        secrets = {f"plaintext {i}": p for i, p in enumerate(PLAINTEXTS)}
        secrets.update(returned)
        secrets.update({"app secret key": h.APP_ENV["AWS_SECRET_ACCESS_KEY"], "proxy secret key": PROXY_SECRET,
                        "proxy session token": PROXY_TOKEN, "admin secret key": "admin-secret-key"})
        logs = {"kms-proxy": proxy.output(), "kms-emulator": emu.output()}
        for p in (proxy, emu):
            with open(p.log_path, errors="replace") as f:
                logs[p.name + " (file)"] = f.read()
        # The logs are real: trace-level JSON lines from the proxy, with the
        # requests in them.
        lines = [ln for ln in logs["kms-proxy"].splitlines() if ln.startswith("{")]
        self.assertGreater(len(lines), 10)
        levels = set()
        for ln in lines:
            levels.add(json.loads(ln)["level"])
        self.assertIn("info", levels)
        self.assertIn("op=Decrypt status=200", logs["kms-proxy"])
        self.assertIn("GenerateDataKey", logs["kms-emulator"])
        for name, text in logs.items():
            with self.subTest(log=name):
                self.assertEqual(find_leaks(text, secrets), [], f"secret found in the {name} log")
        print(f"\n[secrets] {sum(len(t) for t in logs.values())} bytes of logs ({len(lines)} proxy JSON lines, "
              f"levels {sorted(levels)}), {len(secrets)} secrets x {sum(len(forms(s)) for s in secrets.values())} "
              f"encodings: none found", flush=True)


class NonDumpableTest(h.TempDirTestCase):
    """PR_SET_DUMPABLE 0 as seen from outside. As root the kernel lets us do
    anything, so the proxy runs as `nobody` and a second `nobody` process
    probes it; an ordinary `nobody` process is the control."""

    NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def probe(self, pid):
        """(owner uid of /proc/pid/mem, can another nobody read its environ?, its mem?)"""
        owner = os.stat(f"/proc/{pid}/mem").st_uid
        env = subprocess.run(self.NOBODY + ["cat", f"/proc/{pid}/environ"], capture_output=True, timeout=10)
        mem = subprocess.run(self.NOBODY + ["python3", "-c", f"open('/proc/{pid}/mem','rb').close()"],
                             capture_output=True, timeout=30)
        return owner, env.returncode == 0, mem.returncode == 0

    def test_serving_proxy_is_not_dumpable(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to start processes as another user")
        up = FaultUpstream()
        self.addCleanup(up.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "nondumpable-secret",
                    "AWS_REGION": "us-east-1"})
        # Control: an ordinary process of the same user is dumpable.
        ctl = self.track(h.Proc("control", self.NOBODY + ["sleep", "60"], env=env))
        self.assertTrue(wait_until(lambda: os.stat(f"/proc/{ctl.p.pid}").st_uid == 65534, 5))
        owner, env_ok, mem_ok = self.probe(ctl.p.pid)
        self.assertEqual((owner, env_ok, mem_ok), (65534, True, True), "the control must be readable")

        # Port 0: a port picked here could be taken by a parallel test before the proxy binds it.
        proxy = self.track(h.Proc("kms-proxy-nondumpable", self.NOBODY + [
            os.path.join(h.BIN, "kms-proxy"), "serve", "--listen", "127.0.0.1:0", "--attestation", "none",
            "--endpoint", f"us-east-1={up.url()}"], env=env))
        port = int(proxy.wait_for_line(r"ready .*listen=127\.0\.0\.1:(\d+)", timeout=30).group(1))
        self.assertEqual(kms_raw(port)[0], 200)
        pid = proxy.p.pid
        with open(f"/proc/{pid}/status") as f:
            self.assertIn("\t65534\t", [ln for ln in f if ln.startswith("Uid:")][0])
        owner, env_ok, mem_ok = self.probe(pid)
        print(f"\n[secrets] /proc/{pid}/mem owner uid {owner}; environ readable by nobody: {env_ok}; "
              f"mem openable by nobody: {mem_ok} (control: 65534, True, True)", flush=True)
        self.assertEqual(owner, 0, "a non-dumpable process's /proc files belong to root")
        self.assertFalse(env_ok, "another process of the same user read the proxy's environment")
        self.assertFalse(mem_ok, "another process of the same user opened the proxy's memory")


class LoopbackOnlyTest(h.TempDirTestCase):
    """Only processes inside the enclave may reach the proxy: the listener and
    the metrics endpoint refuse non-loopback addresses, and the KMS port may
    not be published through Enclaver's ingress."""

    def serve(self, *args, config=None):
        argv = [os.path.join(h.BIN, "kms-proxy"), "serve", "--attestation", "none"] + list(args)
        if config:
            path = os.path.join(self.tmp, "enclaver.yaml")
            with open(path, "w") as f:
                f.write(config)
            argv += ["--config", path]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"})
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)

    def test_non_loopback_listeners_are_refused(self):
        for args, config, part in (
                (["--listen", "0.0.0.0:0"], None, "not a loopback address"),
                (["--listen", "[::]:0"], None, "not a loopback address"),
                (["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"], None, "not a loopback address"),
                ([], "kms_proxy:\n  listen_port: 9999\ningress:\n  - listen_port: 9999\n",
                 "also listed under ingress")):
            with self.subTest(args=args, config=config):
                r = self.serve(*args, config=config)
                self.assertIn(r.returncode, (1, 2), r.stderr)
                self.assertIn(part, r.stderr)
                self.assertNotIn("ready", r.stderr)


if __name__ == "__main__":
    unittest.main()
