"""`kms-proxy check`, the preflight: the real kms-proxy binary starts its proxy
from the given configuration and asks kms-emulator (which verifies attestation
documents against the simulated root and enforces PCR conditions) whether
this enclave gets its keys. Exit status and the report lines are checked."""
import json
import os
import re
import socket
import subprocess

import harness as h

ACCOUNT = "111122223333"  # the emulator's caller account without --credentials
PCR0 = "ab" * 48
OTHER_PCR0 = "cd" * 48


def proxy_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "AKIAPROXY", "AWS_SECRET_ACCESS_KEY": "proxy-secret",
                "AWS_REGION": "us-east-1"})
    env.update(extra)
    return env


def check(args, env=None, timeout=60):
    argv = [os.path.join(h.BIN, "kms-proxy"), "check"] + list(args)
    return subprocess.run(argv, env=env or proxy_env(), capture_output=True, text=True, timeout=timeout)


def line(out, subject_prefix):
    """The report line whose subject starts with `subject_prefix`: (status, text)."""
    for l in out.splitlines():
        m = re.match(r"^(ok|warn|FAIL)\s+(.*)$", l)
        if m and m.group(2).startswith(subject_prefix):
            return m.group(1), m.group(2)
    raise AssertionError(f"no report line for {subject_prefix!r} in:\n{out}")


class CheckTest(h.TempDirTestCase):
    def assert_fails(self, args, subject_prefix):
        """Runs check, expects exit 1 and a FAIL line for the subject; returns (that line, the run)."""
        r = check(args, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        status, text = line(r.stdout, subject_prefix)
        self.assertEqual(status, "FAIL", text)
        return text, r

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-check-")
        cls.pki = h.sim_pki(cls.cls_tmp)
        cls.emu, cls.emu_url = h.start_emulator(os.path.join(cls.cls_tmp, "data"),
                                                trust_roots=[os.path.join(cls.pki, "root.pem")])
        admin = h.boto3_kms(cls.emu_url)
        meta = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]
        cls.key_arn = meta["Arn"]
        admin.create_alias(AliasName="alias/check-app", TargetKeyId=meta["KeyId"])
        cls.ec_key_arn = admin.create_key(Policy=h.attested_key_policy(
            ACCOUNT, PCR0, {"StringEquals": {"kms:EncryptionContext:app": "billing"}}))["KeyMetadata"]["Arn"]
        cls.rsa_key_arn = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0), KeySpec="RSA_2048",
                                           KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
        cls.agreement_key_arn = admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0),
                                                 KeySpec="ECC_NIST_P384",
                                                 KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
        # A key whose policy does not let the caller describe it.
        policy = json.loads(h.attested_key_policy(ACCOUNT, PCR0))
        policy["Statement"][0]["Action"] = [a for a in policy["Statement"][0]["Action"] if a != "kms:Describe*"]
        cls.undescribed_key_arn = admin.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def sim(self, pcr0=PCR0, pki=None):
        return ["--attestation", "simulated", "--sim-pki", pki or self.pki, "--pcr", f"0={pcr0}",
                "--endpoint", f"us-east-1={self.emu_url}"]

    def sim_to(self, port, timeout):
        """Simulated attestation, KMS at 127.0.0.1:port, --timeout."""
        return ["--attestation", "simulated", "--sim-pki", self.pki, "--endpoint",
                f"us-east-1=http://127.0.0.1:{port}", "--timeout", timeout]

    def test_allowed_enclave_passes_every_check(self):
        r = check(self.sim() + ["--key-id", self.key_arn, "--key-id", "alias/check-app"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, text = line(r.stdout, "proxy: started")
        self.assertEqual(status, "ok")
        self.assertIn("attestation=SIMULATED", text)
        self.assertRegex(text, r"public_key_sha256=[0-9a-f]{64}")
        status, text = line(r.stdout, "attestation + KMS")
        self.assertEqual(status, "ok", text)
        self.assertIn("KMS accepted the document", text)
        for key in (self.key_arn, "alias/check-app"):
            status, text = line(r.stdout, f"key {key}")
            self.assertEqual(status, "ok", text)
            self.assertIn("DryRunOperationException", text)
        self.assertIn("result: ok (4 checks, 0 failed, 0 warnings)", r.stdout)
        self.assertNotIn("ready listen", r.stdout + r.stderr)  # its own proxy's port is no news

    def test_enclave_with_another_pcr0_is_told_its_key_is_denied(self):
        text, r = self.assert_fails(self.sim(pcr0=OTHER_PCR0) + ["--key-id", self.key_arn],
                                    f"key {self.key_arn}")
        self.assertIn("AccessDeniedException", text)
        # The document itself is fine (trusted root): only the key policy says no.
        self.assertEqual(line(r.stdout, "attestation + KMS")[0], "ok")
        self.assertIn("hint: ", r.stdout)
        self.assertIn("policy-check", r.stdout)
        # The proxy's own warning names the measurements it attested.
        self.assertIn(f"PCR0 (ImageSha384)={OTHER_PCR0}", r.stderr)
        self.assertIn("result: FAILED", r.stdout)

    def test_other_attested_operations(self):
        ops = ["--operation", "Decrypt", "--operation", "GenerateDataKey", "--operation", "GenerateDataKeyPair"]
        r = check(self.sim() + ["--key-id", self.key_arn] + ops)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for suffix in ("", " (GenerateDataKey)", " (GenerateDataKeyPair)"):
            status, text = line(r.stdout, f"key {self.key_arn}{suffix}:")
            self.assertEqual(status, "ok", text)
        r = check(self.sim(pcr0=OTHER_PCR0) + ["--key-id", self.key_arn] + ops)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for suffix in ("", " (GenerateDataKey)", " (GenerateDataKeyPair)"):
            status, text = line(r.stdout, f"key {self.key_arn}{suffix}:")
            self.assertEqual(status, "FAIL", text)
            self.assertIn("AccessDeniedException", text)
        r = check(self.sim() + ["--key-id", self.key_arn, "--operation", "Encrypt"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_asymmetric_and_key_agreement_keys(self):
        # DescribeKey tells check what each key needs: an RSA key's Decrypt
        # names its algorithm (KMS refused the default SYMMETRIC_DEFAULT, so
        # check failed keys the enclave can use), a key-agreement key is
        # checked with DeriveSharedSecret (a fresh P-384 public key).
        keys = ["--key-id", self.rsa_key_arn, "--key-id", self.agreement_key_arn, "--key-id",
                self.undescribed_key_arn]
        r = check(self.sim() + keys)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for subject in (f"key {self.rsa_key_arn}:", f"key {self.agreement_key_arn} (DeriveSharedSecret):",
                        f"key {self.undescribed_key_arn}:"):
            status, text = line(r.stdout, subject)
            self.assertEqual(status, "ok", text)
        r = check(self.sim(pcr0=OTHER_PCR0) + keys)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for subject in (f"key {self.rsa_key_arn}:", f"key {self.agreement_key_arn} (DeriveSharedSecret):",
                        f"key {self.undescribed_key_arn}:"):
            status, text = line(r.stdout, subject)
            self.assertEqual(status, "FAIL", text)
            self.assertIn("AccessDeniedException", text)
        # --operation applies to the keys that can do it (DescribeKey said
        # which): the key-agreement key is checked with DeriveSharedSecret,
        # the others with what was asked, and what a key cannot do is named.
        ops = ["--operation", "Decrypt", "--operation", "GenerateDataKey"]
        r = check(self.sim() + ["--key-id", self.key_arn, "--key-id", self.agreement_key_arn] + ops)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for subject in (f"key {self.key_arn}:", f"key {self.key_arn} (GenerateDataKey):",
                        f"key {self.agreement_key_arn} (DeriveSharedSecret):"):
            status, text = line(r.stdout, subject)
            self.assertEqual(status, "ok", text)
        _, text = line(r.stdout, f"key {self.agreement_key_arn} (DeriveSharedSecret):")
        self.assertIn("not checked: Decrypt, GenerateDataKey, not an operation of this KEY_AGREEMENT", text)
        self.assertNotIn(f"key {self.agreement_key_arn}:", r.stdout)
        # Asked on a symmetric key only: its own operation instead, with the note.
        r = check(self.sim() + ["--key-id", self.key_arn, "--operation", "DeriveSharedSecret"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, text = line(r.stdout, f"key {self.key_arn}:")
        self.assertEqual(status, "ok", text)
        self.assertIn("not checked: DeriveSharedSecret", text)
        # A key check could not describe gets what was asked, and KMS's verdict.
        r = check(self.sim() + ["--key-id", self.undescribed_key_arn, "--operation", "DeriveSharedSecret"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        status, text = line(r.stdout, f"key {self.undescribed_key_arn} (DeriveSharedSecret):")
        self.assertEqual(status, "FAIL", text)
        self.assertIn("InvalidKeyUsageException", text)

    def test_encryption_context_reaches_the_policy(self):
        self.assert_fails(self.sim() + ["--key-id", self.ec_key_arn], f"key {self.ec_key_arn}")
        r = check(self.sim() + ["--key-id", self.ec_key_arn, "--encryption-context", "app=billing"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(line(r.stdout, f"key {self.ec_key_arn}")[0], "ok")
        r = check(self.sim() + ["--key-id", self.ec_key_arn, "--encryption-context", "novalue"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_json_report(self):
        import json
        r = check(self.sim() + ["--key-id", self.key_arn, "--key-id", "alias/no-such-key", "--json"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertFalse(doc["ok"])
        self.assertEqual([c["status"] for c in doc["checks"]], ["ok", "ok", "ok", "fail"])
        self.assertEqual(doc["checks"][2]["subject"], f"key {self.key_arn}")
        self.assertIn("NotFoundException", doc["checks"][3]["detail"])
        # Failures before any check still give one JSON document: a bad
        # configuration (exit 2), a proxy that cannot start (exit 1).
        r = check(["--attestation", "simulated", "--key-id", self.key_arn, "--json"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertFalse(doc["ok"])
        self.assertEqual(doc["checks"][0]["subject"], "configuration")
        self.assertIn("sim_pki_dir", doc["checks"][0]["detail"])
        r = check(["--attestation", "nsm", "--nsm-device", os.path.join(self.tmp, "no-nsm"),
                   "--key-id", self.key_arn, "--json"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["ok"], doc["checks"][0]["subject"]), (False, "startup"))
        self.assertIn("no-nsm", doc["checks"][0]["detail"])
        # A command line the parser refuses (exit 2) too.
        for args, detail in ((["--bogus-flag"], "--bogus-flag"), (["--key-id"], "--key-id")):
            r = check(["--attestation", "none", "--json"] + args)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual((doc["ok"], doc["checks"][0]["subject"]), (False, "usage"))
            self.assertIn(detail, doc["checks"][0]["detail"])

    def test_unknown_key_fails_with_not_found(self):
        text, r = self.assert_fails(self.sim() + ["--key-id", "alias/no-such-key"], "key alias/no-such-key")
        self.assertIn("NotFoundException", text)
        self.assertIn("region 'us-east-1'", r.stdout)

    def test_document_from_an_untrusted_root_is_refused(self):
        other_pki = h.sim_pki(self.tmp)
        text, r = self.assert_fails(self.sim(pki=other_pki), "attestation + KMS")
        self.assertIn("ValidationException", text)
        self.assertIn("KMS refused the attestation document", r.stdout)

    def test_unreachable_kms_fails_with_the_route_hint(self):
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        text, r = self.assert_fails(self.sim_to(dead, "10s"), "attestation + KMS")
        self.assertIn("KMSProxyUpstreamException", text)
        self.assertIn("route", r.stdout)

    def test_kms_that_never_answers_is_cut_by_the_timeout(self):
        with socket.socket() as silent:  # accepts connections (backlog), never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
            text, r = self.assert_fails(self.sim_to(port, "2s"), "attestation + KMS")
        self.assertIn("KMSProxyCheckError", text)
        self.assertIn("nothing within --timeout (2000 ms): the proxy was still waiting for KMS or the NSM", text)
        self.assertIn("--timeout", r.stdout)
        self.assertIn("longer than upstream.timeouts.request", r.stdout)

    def test_does_not_need_the_configured_port(self):
        # A proxy already serves on the manifest's port: check starts its own
        # on a free one instead of failing to bind.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            cfg = os.path.join(self.tmp, "enclaver.yaml")
            with open(cfg, "w") as f:
                f.write(f"version: v1\nname: app\ntarget: app:latest\nkms_proxy:\n  listen_port: {port}\n")
            r = check(["--config", cfg] + self.sim() + ["--key-id", self.key_arn])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_talks_to_the_configured_loopback_address(self):
        hosts = ["127.0.0.2:0", "localhost:0"]
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", 0))
            hosts.append("[::1]:0")
        except OSError:
            pass  # no IPv6 loopback on this machine
        for listen in hosts:
            with self.subTest(listen=listen):
                r = check(["--listen", listen] + self.sim() + ["--key-id", self.key_arn])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_attestation_none_checks_credentials_and_route_only(self):
        # Without a Recipient the PCR-gated key refuses.
        _, r = self.assert_fails(["--attestation", "none", "--endpoint", f"us-east-1={self.emu_url}",
                                  "--key-id", self.key_arn], f"key {self.key_arn}")
        status, text = line(r.stdout, "KMS")
        self.assertEqual(status, "ok", text)
        self.assertIn("without attestation", text)

    def test_without_a_region_the_report_says_so(self):
        env = {k: v for k, v in proxy_env().items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        r = check(self.sim() + ["--key-id", "alias/check-app"], env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(line(r.stdout, "attestation + KMS")[0], "FAIL")
        self.assertIn("no region", r.stdout)
        self.assertEqual(line(r.stdout, "key alias/check-app")[0], "FAIL")
        # A key ARN names its region: then both checks can run.
        r = check(self.sim() + ["--key-id", self.key_arn], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_configuration_errors_are_usage_errors(self):
        r = check(["--attestation", "simulated"])  # no sim PKI
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("sim_pki_dir", r.stderr)
        self.assertNotIn("result:", r.stdout)

    def test_its_own_flags_are_reported_with_the_configuration(self):
        # Every bad value at once (check's own flags too), one trailer, exit 2.
        r = check(["--attestation", "none", "--pcr", "0=zz", "--operation", "Encrypt",
                   "--encryption-context", "noequals", "--timeout", "xyz"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for text in ("--pcr: PCR0", "--operation: 'Encrypt' is not one of", "--encryption-context: 'noequals'",
                     "--timeout: 'xyz' is not a positive duration"):
            self.assertIn(text, r.stderr)
        self.assertEqual(r.stderr.count("kms-proxy: configuration errors (nothing was started)"), 1, r.stderr)
        self.assertNotIn("result:", r.stdout)
        r = check(["--attestation", "none", "--operation", "Encrypt", "--timeout", "0s", "--json"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["ok"], doc["checks"][0]["subject"]), (False, "configuration"))
        self.assertIn("--operation", doc["checks"][0]["detail"])
        self.assertIn("--timeout", doc["checks"][0]["detail"])

    def test_help_explains_the_checks(self):
        r = subprocess.run([os.path.join(h.BIN, "kms-proxy"), "check", "--help"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for needle in ("--key-id", "DryRun", "IGNORE_CIPHERTEXT", "Exit status", "Examples"):
            self.assertIn(needle, r.stdout)


if __name__ == "__main__":
    import unittest
    unittest.main()
