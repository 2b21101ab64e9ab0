"""The real-client examples in examples/ (boto3, boto3 without endpoint code,
Node @aws-sdk/client-kms, Ruby aws-sdk-kms, Go aws-sdk-go-v2, aws CLI) run
unchanged under `kms-proxy run` against kms-emulator.

Per client class: a development PKI (`kms-proxy sim-pki init`), a kms-emulator
that trusts its root and checks SigV4 (--credentials), and keys whose policy
allows Decrypt/GenerateDataKey/GenerateDataKeyPair/DeriveSharedSecret only with
kms:RecipientAttestation:ImageSha384 = the simulated PCR0. Then:
  * through the proxy: the example prints every result (Plaintext read as
    usual), although the app itself holds bogus credentials and an
    Enclaver-style HTTP(S)_PROXY/NO_PROXY environment;
  * straight to the emulator (valid credentials, no proxy): the same example's
    Decrypt is denied with AccessDeniedException.
A missing toolchain FAILS (never skips): scripts/install-deps.sh installs them.
"""
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness as h  # noqa: E402

EXAMPLES = os.path.join(h.REPO, "examples")
ACCOUNT = "111122223333"
REGION = "us-east-1"
# The identity the proxy signs with; the emulator accepts only this key.
PROXY_CREDS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLESPROXY001", "AWS_SECRET_ACCESS_KEY": "examples-proxy-secret-0123456789"}
ATTESTED_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:DeriveSharedSecret"]
RESULT_LINE = re.compile(r"^(sdk|endpoint|decrypt|datakey|random|datakeypair|derive|done)(?:: (.*))?$")
RUN_TIMEOUT = 180
TIMINGS = []


def enclave_key_policy(pcr0_hex):
    """Administration and Encrypt for the account; the attested operations only
    for an enclave whose PCR0 matches (GenerateRandom has no key: IAM only)."""
    root = f"arn:aws:iam::{ACCOUNT}:root"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root}, "NotAction": ATTESTED_ACTIONS,
         "Resource": "*"},
        {"Sid": "EnclaveOnly", "Effect": "Allow", "Principal": {"AWS": root}, "Action": ATTESTED_ACTIONS,
         "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": pcr0_hex}}},
    ]})


def base_env(tmp):
    """The test's environment without anything that could leak in from the
    machine: no AWS settings, no proxies, no shared config files."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    env.update({
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": os.path.join(tmp, "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "no-aws-credentials"),
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
    })
    return env


def run_to_end(argv, env, timeout=RUN_TIMEOUT, cwd=None):
    """Runs argv in its own process group; returns (rc, stdout, stderr, secs).
    On timeout the whole group is killed and the test fails."""
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        raise AssertionError(f"{argv} did not finish in {timeout}s:\n{out.decode()}\n{err.decode()}")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - start


def parse_results(stdout):
    """'name: value' lines -> ordered list of (name, value); any other stdout line is an error."""
    results = []
    for line in stdout.splitlines():
        m = RESULT_LINE.match(line)
        if not m:
            raise AssertionError(f"unexpected output line {line!r} in:\n{stdout}")
        results.append((m.group(1), m.group(2)))
    return results


def require_tool(test, name, hint):
    path = shutil.which(name)
    if path is None:
        test.fail(f"{name} is not installed ({hint}); run scripts/install-deps.sh")
    return path


class ExampleStack:
    """PKI + SigV4-checking kms-emulator + PCR0-bound keys, shared by one client's tests."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="kp-examples-")
        self.emulator = None

    def start(self):
        for binary in ("kms-proxy", "kms-emulator"):
            if not os.access(os.path.join(h.BIN, binary), os.X_OK):
                raise AssertionError(f"{binary} is not built in {h.BIN} (set KP_BUILD_DIR)")
        self.pki = os.path.join(self.tmp, "pki")
        subprocess.run([os.path.join(h.BIN, "kms-proxy"), "sim-pki", "init", self.pki], check=True,
                       capture_output=True, timeout=60)
        creds = os.path.join(self.tmp, "emulator-credentials")
        with open(creds, "w") as f:
            f.write(f"{PROXY_CREDS['AWS_ACCESS_KEY_ID']} {PROXY_CREDS['AWS_SECRET_ACCESS_KEY']} {ACCOUNT}\n")
        self.emulator = h.Proc("kms-emulator", [
            os.path.join(h.BIN, "kms-emulator"), "serve", "--listen", "127.0.0.1:0",
            "--data-dir", os.path.join(self.tmp, "emulator-data"),
            "--trust-root", os.path.join(self.pki, "root.pem"), "--credentials", creds])
        m = self.emulator.wait_for_line(r"kms-emulator listening on (http://127\.0\.0\.1:\d+)", timeout=30)
        self.emulator_url = m.group(1)

        self.pcr0 = secrets.token_hex(48)
        self.secret = f"enclave-secret-{secrets.token_hex(4)}"
        admin = h.boto3_kms(self.emulator_url, env=dict(PROXY_CREDS, AWS_REGION=REGION))
        policy = enclave_key_policy(self.pcr0)
        self.key_id = admin.create_key(Policy=policy, Description="examples data key")["KeyMetadata"]["KeyId"]
        self.ecdh_key_id = admin.create_key(Policy=policy, KeySpec="ECC_NIST_P256",
                                            KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        blob = admin.encrypt(KeyId=self.key_id, Plaintext=self.secret.encode())["CiphertextBlob"]
        self.ciphertext_b64 = base64.b64encode(blob).decode()

    def inputs(self):
        return {"KMS_KEY_ID": self.key_id, "KMS_ECDH_KEY_ID": self.ecdh_key_id,
                "KMS_CIPHERTEXT": self.ciphertext_b64}

    def stop(self):
        if self.emulator is not None:
            self.emulator.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ExampleChecks:
    """Mixed into one unittest.TestCase per client."""
    name = ""
    # step -> expected value (str) or compiled regex
    expected = {}
    uses_endpoint_url_env = False  # app reads AWS_ENDPOINT_URL_KMS instead of AWS_KMS_ENDPOINT

    @classmethod
    def setUpClass(cls):
        cls.stack = ExampleStack()
        cls.addClassCleanup(cls.stack.stop)
        cls.stack.start()

    def setUp(self):
        self.env = base_env(self.stack.tmp)

    def command(self):
        raise NotImplementedError

    def expected_results(self):
        exp = {"decrypt": self.stack.secret, "datakey": "ok 32", "random": "32 bytes",
               "datakeypair": "ok ECC_NIST_P256", "derive": "ok 32", "done": None}
        exp.update(self.expected)
        return exp

    def record(self, what, secs):
        TIMINGS.append((f"{self.name} {what}", secs))
        sys.stderr.write(f"[timing] {self.name} {what}: {secs:.1f}s\n")

    def test_through_proxy(self):
        cmd = self.command()
        # What an enclave app sees: bogus credentials of its own, and an egress
        # proxy (nothing listens there) that must not be used for 127.0.0.1.
        egress = f"http://127.0.0.1:{h.free_port()}/"
        app_env = [f"{k}={v}" for k, v in h.APP_ENV.items() if k.startswith("AWS_") and "KEY" in k]
        app_env += [f"{k}={egress}" for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")]
        app_env += ["NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1"]
        env = dict(self.env, **PROXY_CREDS, **self.stack.inputs())
        argv = [os.path.join(h.BIN, "kms-proxy"), "run", "--port", "0",
                "--attestation", "simulated", "--sim-pki", self.stack.pki, "--pcr", f"0={self.stack.pcr0}",
                "--endpoint", f"{REGION}={self.stack.emulator_url}",
                "--", "env"] + app_env + cmd
        rc, out, err, secs = run_to_end(argv, env)
        self.record("through kms-proxy", secs)
        self.assertEqual(rc, 0, f"stdout:\n{out}\nstderr:\n{err}")
        results = parse_results(out)
        got = dict(results)
        for step, want in self.expected_results().items():
            self.assertIn(step, got, f"no '{step}:' line in:\n{out}\nstderr:\n{err}")
            if isinstance(want, re.Pattern):
                self.assertRegex(got[step] or "", want, step)
            else:
                self.assertEqual(got[step], want, step)
        self.assertEqual(results[-1][0], "done")
        if self.uses_endpoint_url_env:
            self.assertRegex(got["endpoint"], r"^http://127\.0\.0\.1:\d+$")
            self.assertNotEqual(got["endpoint"], self.stack.emulator_url)

    def test_direct_to_kms_is_denied(self):
        """The same program with valid credentials but no proxy (so no
        attestation document): the key policy denies it."""
        cmd = self.command()
        env = dict(self.env, **PROXY_CREDS, **self.stack.inputs(), KMS_STEPS="decrypt")
        env["AWS_ENDPOINT_URL_KMS" if self.uses_endpoint_url_env else "AWS_KMS_ENDPOINT"] = self.stack.emulator_url
        rc, out, err, secs = run_to_end(cmd, env)
        self.record("direct (denied)", secs)
        self.assertNotEqual(rc, 0, f"stdout:\n{out}\nstderr:\n{err}")
        self.assertRegex(err, r"(?m)^error: decrypt: AccessDeniedException: .*kms:Decrypt")
        self.assertNotIn(self.stack.secret, out + err)


class PythonExample(ExampleChecks, unittest.TestCase):
    name = "python"

    def command(self):
        for module in ("boto3", "cryptography"):
            if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                              timeout=60).returncode != 0:
                self.fail(f"python module {module} is missing for {sys.executable}")
        return [sys.executable, os.path.join(EXAMPLES, "python", "app.py")]

    def test_wrong_pcr0_is_denied(self):
        """Through the proxy, but attesting another image: denied by the same policy."""
        other = "0" * 96 if not self.stack.pcr0.startswith("0") else "1" * 96
        env = dict(self.env, **PROXY_CREDS, **self.stack.inputs(), KMS_STEPS="decrypt")
        argv = [os.path.join(h.BIN, "kms-proxy"), "run", "--port", "0",
                "--attestation", "simulated", "--sim-pki", self.stack.pki, "--pcr", f"0={other}",
                "--endpoint", f"{REGION}={self.stack.emulator_url}", "--"] + self.command()
        rc, out, err, secs = run_to_end(argv, env)
        self.record("wrong PCR0 (denied)", secs)
        self.assertNotEqual(rc, 0, out + err)
        self.assertRegex(err, r"(?m)^error: decrypt: AccessDeniedException: ")
        self.assertNotIn(self.stack.secret, out)

    def test_other_attested_operations_are_denied_directly(self):
        kms = h.boto3_kms(self.stack.emulator_url, env=dict(PROXY_CREDS, AWS_REGION=REGION))
        import botocore.exceptions
        calls = {
            "GenerateDataKey": lambda: kms.generate_data_key(KeyId=self.stack.key_id, KeySpec="AES_256"),
            "GenerateDataKeyPair": lambda: kms.generate_data_key_pair(KeyId=self.stack.key_id,
                                                                      KeyPairSpec="ECC_NIST_P256"),
            "DeriveSharedSecret": lambda: kms.derive_shared_secret(
                KeyId=self.stack.ecdh_key_id, KeyAgreementAlgorithm="ECDH",
                PublicKey=kms.get_public_key(KeyId=self.stack.ecdh_key_id)["PublicKey"]),
        }
        for op, call in calls.items():
            with self.subTest(op=op):
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    call()
                self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")


class PythonNoEndpointExample(ExampleChecks, unittest.TestCase):
    name = "python-no-endpoint"
    uses_endpoint_url_env = True
    expected = {"endpoint": re.compile(r"^http://127\.0\.0\.1:\d+$")}

    def expected_results(self):
        exp = super().expected_results()
        del exp["datakeypair"], exp["derive"]
        return exp

    def command(self):
        return [sys.executable, os.path.join(EXAMPLES, "python", "app_no_endpoint.py")]


class NodeExample(ExampleChecks, unittest.TestCase):
    name = "node"

    def command(self):
        node = require_tool(self, "node", "Node.js >= 20")
        app_dir = os.path.join(EXAMPLES, "node")
        with open(os.path.join(app_dir, "package.json")) as f:
            deps = json.load(f)["dependencies"]
        for package, version in deps.items():
            manifest = os.path.join(app_dir, "node_modules", *package.split("/"), "package.json")
            if not os.path.exists(manifest):
                self.fail(f"{package} is not installed: run `npm ci --prefix {app_dir}`")
            with open(manifest) as f:
                self.assertEqual(json.load(f)["version"], version, f"{package} is not the pinned version")
        return [node, os.path.join(app_dir, "app.mjs")]


class RubyExample(ExampleChecks, unittest.TestCase):
    name = "ruby"
    # Debian's aws-sdk-kms 1.24 predates both operations.
    expected = {"datakeypair": re.compile(r"^unsupported "), "derive": re.compile(r"^unsupported ")}

    def command(self):
        ruby = require_tool(self, "ruby", "apt-get install ruby ruby-aws-sdk-kms")
        if subprocess.run([ruby, "-e", 'require "aws-sdk-kms"'], capture_output=True, timeout=60).returncode != 0:
            self.fail("the aws-sdk-kms gem is missing (apt-get install ruby-aws-sdk-kms)")
        return [ruby, os.path.join(EXAMPLES, "ruby", "app.rb")]


class GoExample(ExampleChecks, unittest.TestCase):
    name = "go"
    # Debian's service/kms 1.18.15 has GenerateDataKeyPair but no DeriveSharedSecret.
    expected = {"derive": re.compile(r"^unsupported ")}
    binary = None

    def command(self):
        if GoExample.binary is None:
            go = require_tool(self, "go", "apt-get install golang-go golang-github-aws-aws-sdk-go-v2-dev")
            if not os.path.isdir("/usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/service/kms"):
                self.fail("aws-sdk-go-v2 is missing (apt-get install golang-github-aws-aws-sdk-go-v2-dev)")
            out = os.path.join(self.stack.tmp, "go-example")
            env = dict(self.env, GO111MODULE="off", GOFLAGS="",
                       GOPATH=os.path.join(self.stack.tmp, "gopath") + ":/usr/share/gocode",
                       GOCACHE=os.path.join(h.BUILD, "go-build-cache"))
            rc, sout, serr, secs = run_to_end([go, "build", "-o", out, "app.go"], env, timeout=600,
                                              cwd=os.path.join(EXAMPLES, "go"))
            self.record("go build", secs)
            self.assertEqual(rc, 0, f"go build failed:\n{sout}\n{serr}")
            GoExample.binary = out
        return [GoExample.binary]


class CliExample(ExampleChecks, unittest.TestCase):
    name = "aws-cli"

    def command(self):
        for tool in ("aws", "openssl", "base64", "od", "cmp"):
            require_tool(self, tool, "aws CLI and coreutils/openssl")
        return ["sh", os.path.join(EXAMPLES, "cli", "app.sh")]


def setUpModule():
    # Only 127.0.0.1 is used; a proxy configured on the machine (CI) must not
    # capture the test's own boto3 calls to the emulator.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        os.environ.pop(name, None)
        os.environ.pop(name.upper(), None)


def tearDownModule():
    if TIMINGS:
        sys.stderr.write("[timing] " + ", ".join(f"{n}={s:.1f}s" for n, s in TIMINGS) + "\n")


if __name__ == "__main__":
    unittest.main()
