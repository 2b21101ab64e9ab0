"""The proxy's own credentials as enclaver.yaml configures them: only the
sources listed in `credentials.sources`, in their order (by default env,
profile, container, imds), the shared credentials file's profile, IMDS at
`credentials.imds_endpoint`, each IMDS call bounded by
`credentials.imds_timeout`. A fake IMDSv2 and a recording upstream on
loopback stand in for the instance and KMS; boto3 is the client."""
import datetime
import http.server
import json
import os
import re
import subprocess
import time

import harness as h

IMDS_KEY = "ASIAFROMIMDS00000001"
ENV_KEY = "AKIAFROMENVIRONMENT1"
PROFILE_KEY = "ASIAFROMPROFILEDEV01"


def fake_imds(test, delay_s=0.0, ttl=datetime.timedelta(hours=6)):
    """IMDSv2: a token, one role, and that role's credentials (after `delay_s`,
    expiring `ttl` from the answer)."""
    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            calls.append(("PUT", self.path))
            if self.path == "/latest/api/token":
                self._send(200, "fake-imds-token")
            else:
                self._send(404, "")

        def do_GET(self):
            calls.append(("GET", self.path))
            if self.headers.get("X-aws-ec2-metadata-token") != "fake-imds-token":
                self._send(401, "")
            elif self.path == "/latest/meta-data/iam/security-credentials/":
                self._send(200, "enclave-role")
            elif self.path == "/latest/meta-data/iam/security-credentials/enclave-role":
                time.sleep(delay_s)
                expires = datetime.datetime.now(datetime.timezone.utc) + ttl
                self._send(200, json.dumps({
                    "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": IMDS_KEY,
                    "SecretAccessKey": "imds-secret-key", "Token": "imds-session-token",
                    "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
            elif self.path == "/latest/meta-data/placement/region":
                self._send(200, "us-east-1")
            else:
                self._send(404, "")

        def log_message(self, *args):
            pass

    return h.serve_http(test, Handler), calls


def recording_kms(test):
    """Answers ListKeys; records the access key id of every request's signature."""
    keys = []

    def record(req):
        m = re.search(r"Credential=([^/]+)/", req.headers.get("Authorization", ""))
        keys.append(m.group(1) if m else None)

    return h.list_keys_upstream(test, record), keys


class CredentialSourcesTest(h.TempDirTestCase):
    def proxy(self, credentials_yaml, env_extra=None, flags=()):
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("version: v1\nname: creds-test\nkms_proxy:\n  listen_port: 9999\n"
                    "  credentials:\n" + credentials_yaml)
        kms_port, self.signed_with = recording_kms(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ENV_KEY,
                    "AWS_SECRET_ACCESS_KEY": "environment-secret",
                    # never the machine's own ~/.aws/credentials or ~/.aws/config
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.tmp, "no-credentials-file"),
                    "AWS_CONFIG_FILE": os.path.join(self.tmp, "no-config-file")})
        for k, v in (env_extra or {}).items():  # None removes a variable
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        proxy, port = h.start_proxy(["--config", cfg, "--attestation", "none",
                                     "--endpoint", f"us-east-1=http://127.0.0.1:{kms_port}", *flags], env=env)
        self.track(proxy)
        return proxy, port

    def test_listed_sources_in_order_and_the_configured_imds_endpoint(self):
        imds_port, imds_calls = fake_imds(self)
        # The environment has keys, but only IMDS is listed (then env): IMDS wins.
        proxy, port = self.proxy(f"    sources: [imds, env]\n"
                                 f"    imds_endpoint: http://127.0.0.1:{imds_port}\n")
        self.assertRegex(proxy.output(), rf"credentials=IMDSv2 http://127\.0\.0\.1:{imds_port}")
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [IMDS_KEY])
        self.assertIn(("PUT", "/latest/api/token"), imds_calls)

    def test_sources_as_a_flag_override_the_file(self):
        # An Enclaver manifest cannot carry credentials.sources: the flag does
        # the same (here against a file that lists the environment first).
        imds_port, imds_calls = fake_imds(self)
        proxy, port = self.proxy(f"    sources: [env, imds]\n"
                                 f"    imds_endpoint: http://127.0.0.1:{imds_port}\n",
                                 flags=["--credential-sources", "imds"])
        self.assertRegex(proxy.output(), rf"credentials=IMDSv2 http://127\.0\.0\.1:{imds_port}")
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [IMDS_KEY])
        self.assertIn(("PUT", "/latest/api/token"), imds_calls)

    def test_env_alone_never_falls_back_to_imds(self):
        imds_port, imds_calls = fake_imds(self)
        proxy, port = self.proxy(f"    sources: [env]\n"
                                 f"    imds_endpoint: http://127.0.0.1:{imds_port}\n")
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [ENV_KEY])
        self.assertEqual(imds_calls, [])

    def test_imds_timeout_is_the_limit_of_each_call(self):
        # The credentials answer after 6 s: beyond the HTTP client's default
        # 5 s response deadline, within the configured 15 s.
        imds_port, _ = fake_imds(self, delay_s=6.0)
        proxy, port = self.proxy(f"    sources: [imds]\n"
                                 f"    imds_endpoint: http://127.0.0.1:{imds_port}\n"
                                 f"    imds_timeout: 15s\n")
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [IMDS_KEY])


    def test_an_idle_proxy_refreshes_before_expiry(self):
        # No request arrives: credentials that enter the refresh window are
        # refreshed anyway, so they never lapse and the expiry metric moves on.
        imds_port, imds_calls = fake_imds(self, ttl=datetime.timedelta(seconds=12))
        role = "/latest/meta-data/iam/security-credentials/enclave-role"
        self.proxy(f"    sources: [imds]\n"
                   f"    imds_endpoint: http://127.0.0.1:{imds_port}\n"
                   f"    refresh_margin: 10s\n")
        # The first fetch, then a refresh of those (12 s) credentials once they
        # are within 10 s of expiry: two fetches, with no request at all.
        deadline = time.monotonic() + 20
        while imds_calls.count(("GET", role)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertGreaterEqual(imds_calls.count(("GET", role)), 2, "no refresh without requests")
        self.assertEqual(self.signed_with, [])

    def test_profile_of_the_shared_credentials_file(self):
        # No keys in the environment: the default order (env, profile, container,
        # imds) takes AWS_PROFILE's keys from AWS_SHARED_CREDENTIALS_FILE, and
        # never asks IMDS.
        imds_port, imds_calls = fake_imds(self)
        creds_file = os.path.join(self.tmp, "credentials")
        with open(creds_file, "w") as f:
            f.write("[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = d\n\n"
                    "[dev]\naws_access_key_id = " + PROFILE_KEY + "\naws_secret_access_key = dev-secret\n"
                    "aws_session_token = dev-token\n")
        proxy, port = self.proxy(f"    imds_endpoint: http://127.0.0.1:{imds_port}\n",
                                 env_extra={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                            "AWS_SHARED_CREDENTIALS_FILE": creds_file, "AWS_PROFILE": "dev"})
        self.assertRegex(proxy.output(), r"credentials=profile \[dev\] of .*credentials \(aws_access_key_id=ASIA")
        self.assertNotIn("dev-secret", proxy.output())
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [PROFILE_KEY])
        self.assertEqual(imds_calls, [])

    def test_a_missing_profile_falls_through_to_imds(self):
        imds_port, _ = fake_imds(self)
        creds_file = os.path.join(self.tmp, "credentials")
        with open(creds_file, "w") as f:
            f.write("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = o\n")
        proxy, port = self.proxy(f"    imds_endpoint: http://127.0.0.1:{imds_port}\n",
                                 env_extra={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                            "AWS_SHARED_CREDENTIALS_FILE": creds_file})
        h.boto3_kms(f"http://127.0.0.1:{port}").list_keys()
        self.assertEqual(self.signed_with, [IMDS_KEY])

    def test_a_named_profile_that_is_missing_or_a_role_stops_the_start(self):
        # As the SDKs stop (ProfileNotFound, or they assume the role): falling
        # through to IMDS would sign as the instance role instead.
        imds_port, imds_calls = fake_imds(self)
        creds_file = os.path.join(self.tmp, "credentials")
        with open(creds_file, "w") as f:
            f.write("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = o\n")
        config_file = os.path.join(self.tmp, "config")
        with open(config_file, "w") as f:
            f.write("[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = other\n")
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("version: v1\nname: creds-test\nkms_proxy:\n  listen_port: 9999\n  credentials:\n"
                    f"    imds_endpoint: http://127.0.0.1:{imds_port}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": creds_file,
                    "AWS_CONFIG_FILE": config_file})
        for profile, expected in (("prod", r"AWS_PROFILE=prod names no profile \(no \[prod\] in .*credentials, "
                                           r"no \[profile prod\] in .*config\)"),
                                  ("deploy", r"config file .*config \[profile deploy\]: role_arn profiles are not "
                                             r"supported")):
            with self.subTest(profile=profile):
                r = subprocess.run([os.path.join(h.BIN, "kms-proxy"), "serve", "--listen", "127.0.0.1:0",
                                    "--config", cfg, "--attestation", "none"],
                                   env=dict(env, AWS_PROFILE=profile), capture_output=True, text=True, timeout=30)
                self.assertNotEqual(r.returncode, 0)
                self.assertRegex(r.stderr + r.stdout, expected)
        self.assertEqual(imds_calls, [])


if __name__ == "__main__":
    import unittest
    unittest.main()
