"""Egress (issue "Hardening" 5).

* KMS over an HTTP CONNECT proxy: kms-proxy -> tinyproxy (a real CONNECT
  proxy, as odyn's egress proxy is for Enclaver) -> moto over TLS with a test
  CA, selected by --egress-proxy-port, by https_proxy, or bypassed by
  no_proxy; tinyproxy's log shows the tunnels (or their absence).
* A CONNECT proxy that refuses the destination gives a KMS-style 502
  KMSProxyEgressException; a CONNECT proxy that is down gives 502 too; both
  recover when the proxy is back / allows the port.
* The egress policy (enclaver.yaml egress.allow / deny) that does not admit
  the KMS host stops the proxy at startup with a message naming the host, the
  file and line, and a pattern that would admit it.
"""
import os
import re
import subprocess
import unittest

import botocore.exceptions

import harness as h
from fault_support import kms_raw, proxy_env


def start_tinyproxy(tmpdir, connect_ports, port=None, name="tinyproxy"):
    port = port or h.free_port()
    conf = os.path.join(tmpdir, f"{name}-{port}.conf")
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "Allow 127.0.0.1", "LogLevel Info",
             "MaxClients 64"]
    lines += [f"ConnectPort {p}" for p in connect_ports]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = h.Proc(name, ["tinyproxy", "-d", "-c", conf])
    h.wait_port(port, timeout=15, proc=p.p)
    return p, port


def tunnels(tp, host_port):
    """How many CONNECT requests for host_port tinyproxy logged."""
    return len(re.findall(rf"CONNECT {re.escape(host_port)} HTTP/1\.[01]", tp.output()))


class ConnectProxyTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-egress-")
        cls.ca, crt, key = h.make_test_ca(cls.cls_tmp)
        cls.moto, cls.moto_port, _ = h.start_moto(cert=crt, key=key)
        cls.dest = f"localhost:{cls.moto_port}"

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def proxy_args(self):
        return ["--attestation", "none", "--ca-file", self.ca, "--endpoint", f"us-east-1=https://{self.dest}"]

    def roundtrip(self, port):
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        key_id = kms.create_key(Description="via CONNECT")["KeyMetadata"]["KeyId"]
        ct = kms.encrypt(KeyId=key_id, Plaintext=b"through the tunnel")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"through the tunnel")
        return kms

    def test_egress_proxy_port_tunnels_tls_through_tinyproxy(self):
        tp, tp_port = start_tinyproxy(self.tmp, [self.moto_port])
        self.track(tp)
        proxy, port = h.start_proxy(self.proxy_args() + ["--egress-proxy-port", str(tp_port)], env=proxy_env())
        self.track(proxy)
        proxy.wait_for_line(rf"upstream_path=proxy 127\.0\.0\.1:{tp_port}", timeout=5)
        self.roundtrip(port)
        self.assertGreaterEqual(tunnels(tp, self.dest), 1, tp.output()[-2000:])

    def test_check_goes_through_the_egress_proxy(self):
        # `kms-proxy check` takes the same route as serve: TLS inside a CONNECT tunnel.
        tp, tp_port = start_tinyproxy(self.tmp, [self.moto_port])
        self.track(tp)
        argv = [os.path.join(h.BIN, "kms-proxy"), "check"] + self.proxy_args() + [
            "--egress-proxy-port", str(tp_port)]
        r = subprocess.run(argv, env=proxy_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, rf"ok +proxy: started: .*upstream_path=proxy 127\.0\.0\.1:{tp_port}")
        self.assertRegex(r.stdout, r"ok +KMS: GenerateRandom without attestation")
        self.assertGreaterEqual(tunnels(tp, self.dest), 1, tp.output()[-2000:])
        # An egress proxy that refuses the KMS port: the check names the egress error.
        tp2, tp2_port = start_tinyproxy(self.tmp, [443], name="tinyproxy-443-only")
        self.track(tp2)
        argv[-1] = str(tp2_port)
        r = subprocess.run(argv, env=proxy_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"FAIL +KMS: GenerateRandom: KMSProxyEgressException")

    def test_https_proxy_environment_and_no_proxy(self):
        tp, tp_port = start_tinyproxy(self.tmp, [self.moto_port])
        self.track(tp)
        proxy, port = h.start_proxy(self.proxy_args(), env=proxy_env({"https_proxy": f"http://127.0.0.1:{tp_port}"}))
        self.track(proxy)
        self.roundtrip(port)
        n = tunnels(tp, self.dest)
        self.assertGreaterEqual(n, 1)
        proxy.stop()
        # no_proxy names the host: direct connection, no new tunnel.
        proxy2, port2 = h.start_proxy(self.proxy_args(), env=proxy_env(
            {"https_proxy": f"http://127.0.0.1:{tp_port}", "no_proxy": "localhost"}))
        self.track(proxy2)
        self.roundtrip(port2)
        self.assertEqual(tunnels(tp, self.dest), n, "no_proxy host went through the CONNECT proxy")
        proxy2.wait_for_line(r"upstream_path=proxy 127\.0\.0\.1:\d+ no_proxy=localhost", timeout=5)

    def test_loopback_container_credentials_bypass_the_egress_proxy(self):
        # A container credentials endpoint on localhost is an agent on this
        # machine: behind an egress proxy it must still be reached directly.
        creds_url, calls, _ = h.container_credentials(self)
        creds_port = int(creds_url.split(":")[2].split("/")[0])
        tp, tp_port = start_tinyproxy(self.tmp, [self.moto_port, creds_port])
        self.track(tp)
        env = proxy_env({"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds_url})
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        proxy, port = h.start_proxy(self.proxy_args() + ["--egress-proxy-port", str(tp_port)], env=env)
        self.track(proxy)
        self.roundtrip(port)
        self.assertGreaterEqual(len(calls), 1, "the container endpoint was never asked")
        self.assertGreaterEqual(tunnels(tp, self.dest), 1, tp.output()[-2000:])  # KMS: through the proxy
        self.assertNotRegex(tp.output(), rf"(CONNECT|GET) \S*:{creds_port}\b",
                            "the loopback credentials endpoint went through the egress proxy")

    def test_connect_refused_by_the_egress_proxy_is_502_egress_error(self):
        # tinyproxy allows CONNECT to port 443 only: the KMS port is refused (403).
        tp, tp_port = start_tinyproxy(self.tmp, [443])
        self.track(tp)
        proxy, port = h.start_proxy(self.proxy_args() + ["--egress-proxy-port", str(tp_port)], env=proxy_env())
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        err = cm.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 502)
        self.assertEqual(err["Error"]["Code"], "KMSProxyEgressException")
        self.assertIn("refused CONNECT", err["Error"]["Message"])
        self.assertIn(self.dest, err["Error"]["Message"])
        # The egress proxy is reconfigured to allow the port (same address):
        # the proxy recovers without a restart.
        tp.stop()
        tp2, _ = start_tinyproxy(self.tmp, [self.moto_port], port=tp_port, name="tinyproxy-fixed")
        self.track(tp2)
        self.roundtrip(port)

    def test_egress_proxy_down_is_502_then_recovers(self):
        tp_port = h.free_port()
        proxy, port = h.start_proxy(self.proxy_args() + ["--egress-proxy-port", str(tp_port)], env=proxy_env())
        self.track(proxy)
        st, _, body, took = kms_raw(port)
        self.assertEqual(st, 502, body)
        self.assertEqual(body["__type"], "KMSProxyUpstreamException")
        self.assertIn("refused", body["message"])
        self.assertLess(took, 5)
        tp, _ = start_tinyproxy(self.tmp, [self.moto_port], port=tp_port)
        self.track(tp)
        self.roundtrip(port)


class EgressPolicyStartupTest(h.TempDirTestCase):
    def serve(self, cfg, *args, env_extra=None):
        env = proxy_env(env_extra)
        argv = [os.path.join(h.BIN, "kms-proxy"), "serve", "--config", cfg, "--listen", "127.0.0.1:0",
                "--attestation", "none"] + list(args)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)

    def config(self, text):
        path = os.path.join(self.tmp, "enclaver.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_allow_list_without_the_kms_host_stops_startup(self):
        cfg = self.config("kms_proxy:\n  listen_port: 9999\n  region: us-east-1\n"
                          "egress:\n  allow:\n    - s3.*.amazonaws.com\n    - 169.254.169.254\n")
        r = self.serve(cfg)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"enclaver\.yaml:\d+: egress policy does not admit kms\.us-east-1\.amazonaws\.com")
        self.assertIn("add 'kms.*.amazonaws.com' to egress.allow", r.stderr)
        self.assertIn("nothing was started", r.stderr)
        self.assertNotIn("ready", r.stderr + r.stdout)

    def test_endpoint_override_not_admitted_names_that_host(self):
        cfg = self.config("kms_proxy:\n  listen_port: 9999\n  endpoints:\n    eu-west-1: kms-vpce.internal.example:8443\n"
                          "egress:\n  allow:\n    - kms.*.amazonaws.com\n")
        r = self.serve(cfg, "--region", "eu-west-1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("egress policy does not admit kms-vpce.internal.example (KMS endpoint for eu-west-1)", r.stderr)
        self.assertIn("add 'kms-vpce.internal.example' to egress.allow", r.stderr)

    def test_deny_wins_over_allow(self):
        cfg = self.config("kms_proxy:\n  listen_port: 9999\n  region: us-east-1\n"
                          "egress:\n  allow:\n    - kms.*.amazonaws.com\n  deny:\n    - kms.us-east-1.amazonaws.com\n")
        r = self.serve(cfg)
        self.assertEqual(r.returncode, 2, r.stderr)
        line = [ln for ln in r.stderr.splitlines() if "does not admit kms.us-east-1.amazonaws.com" in ln]
        self.assertEqual(len(line), 1, r.stderr)
        self.assertIn("denied by egress.deny pattern 'kms.us-east-1.amazonaws.com'", line[0])
        self.assertNotIn("add '", line[0], "a denied host must not get an allow suggestion")

    def test_credentials_source_the_policy_refuses_stops_startup(self):
        # The source the chain picks is the one every request would use: IMDS
        # (no keys in the environment) or a container endpoint on a host the
        # allow list leaves out could never sign a request.
        cfg = self.config("kms_proxy:\n  listen_port: 9999\n  region: us-east-1\n"
                          "egress:\n  allow:\n    - kms.*.amazonaws.com\n")
        no_keys = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                   "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.tmp, "none"),
                   "AWS_CONFIG_FILE": os.path.join(self.tmp, "none")}
        for extra, host, kind in (({}, "169.254.169.254", "imds"),
                                  ({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"},
                                   "169.254.170.23", "container")):
            with self.subTest(kind=kind):
                r = self.serve(cfg, env_extra=dict(no_keys, **extra))
                self.assertNotEqual(r.returncode, 0, r.stderr)
                self.assertIn(f"credentials: {kind} credentials come from {host}, which the egress policy refuses",
                              r.stderr)
                self.assertIn(f"add '{host}' to egress.allow", r.stderr)
                self.assertNotIn("ready", r.stderr + r.stdout)

    def test_admitting_policy_starts(self):
        # The control: the same file with a pattern that admits the host starts
        # (no connection is made at startup). Only warnings about IMDS.
        cfg = self.config("kms_proxy:\n  listen_port: 9999\n  region: us-east-1\n"
                          "egress:\n  proxy_port: 18999\n  allow:\n    - kms.*.amazonaws.com\n")
        proxy = self.track(h.Proc("kms-proxy-egress-ok", [
            os.path.join(h.BIN, "kms-proxy"), "serve", "--config", cfg, "--listen", "127.0.0.1:0",
            "--attestation", "none"], env=proxy_env()))
        proxy.wait_for_line(r"upstream_path=proxy 127\.0\.0\.1:18999", timeout=30)
        proxy.wait_for_line(r"ready .*listen=127\.0\.0\.1:\d+", timeout=10)
        self.assertNotIn("error", proxy.output().lower().replace("errors", ""))


if __name__ == "__main__":
    unittest.main()
