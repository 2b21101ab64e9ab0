"""What an operator sees: the metrics endpoint (Prometheus text: requests by
operation and status, latency by phase, NSM calls vs attested requests,
credential refreshes, upstream connections), /healthz and /readyz, and the
JSON log (one object per line, one line per request with its timings, the
startup lines naming mode, key fingerprint, listen address and upstream path).

Real programs on 127.0.0.1: boto3 -> kms-proxy (simulated NSM) -> kms-emulator."""
import concurrent.futures
import json
import math
import os
import re
import subprocess
import threading
import urllib.error
import urllib.request

import botocore.exceptions

import harness as h

ACCOUNT = "111122223333"
PCR0 = "ab" * 48
KMS_PROXY = os.path.join(h.BIN, "kms-proxy")


def proxy_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    env.update({"AWS_ACCESS_KEY_ID": "AKIAPROXYOBSERVE0001", "AWS_SECRET_ACCESS_KEY": "proxy-secret",
                "AWS_REGION": "us-east-1"})
    env.update(extra)
    return env


def http_get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# --- a strict reader of the Prometheus text exposition format (0.0.4) -------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
_SAMPLE = re.compile(rf"^({_NAME})(\{{(?:{_LABEL}(?:,{_LABEL})*)?\}})? (\S+)$")
_LABEL_RX = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_prometheus(text, test):
    """Returns ({(name, frozenset(labels)): value}, {family: type}); fails the
    test on any malformed line, a TYPE after samples or twice, or a sample of
    an undeclared family."""
    samples, types, seen_sample = {}, {}, set()
    test.assertTrue(text.endswith("\n"), "exposition must end with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            test.assertRegex(line, rf"^# HELP {_NAME} \S")
            continue
        if line.startswith("# TYPE "):
            m = re.match(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$", line)
            test.assertIsNotNone(m, line)
            fam = m.group(1)
            test.assertNotIn(fam, types, f"TYPE {fam} declared twice")
            test.assertNotIn(fam, seen_sample, f"TYPE {fam} after its samples")
            types[fam] = m.group(2)
            continue
        test.assertFalse(line.startswith("#"), line)
        test.assertNotEqual(line.strip(), "", "blank line in the exposition")
        m = _SAMPLE.match(line)
        test.assertIsNotNone(m, f"malformed sample line: {line!r}")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if re.sub(r"_(bucket|sum|count)$", "", name) in types \
            else name
        test.assertIn(fam, types, f"sample of undeclared family: {line}")
        seen_sample.add(fam)
        v = float(value)  # raises on garbage
        key = (name, frozenset(_LABEL_RX.findall(labels)))
        test.assertNotIn(key, samples, f"duplicate sample {line}")
        samples[key] = v
    # Histograms: cumulative buckets, +Inf == _count, a _sum per label set.
    for fam, typ in types.items():
        if typ != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                rest = frozenset(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), v))
        test.assertTrue(series, f"histogram {fam} has no buckets")
        for rest, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            test.assertEqual(counts, sorted(counts), f"{fam}{dict(rest)} buckets not cumulative")
            test.assertEqual(buckets[-1][0], math.inf)
            test.assertEqual(buckets[-1][1], samples[(fam + "_count", rest)])
            test.assertIn((fam + "_sum", rest), samples)
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class MetricsAndJsonLogTest(h.TempDirTestCase):
    """One proxy for the whole class; each test reads deltas or its own lines."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-obs-")
        cls.pki = h.sim_pki(cls.cls_tmp)
        cls.emu, cls.emu_url = h.start_emulator(os.path.join(cls.cls_tmp, "data"),
                                                trust_roots=[os.path.join(cls.pki, "root.pem")])
        cls.proxy, cls.port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", cls.pki, "--pcr", f"0={PCR0}",
             "--endpoint", f"us-east-1={cls.emu_url}", "--metrics-listen", "127.0.0.1:0",
             "--log-format", "json", "--log-level", "debug", "--sim-nsm-latency", "100ms"],
            env=proxy_env(), name="kms-proxy-observability")
        m = cls.proxy.wait_for_line(r'"msg":"metrics listen=127\.0\.0\.1:(\d+)"', timeout=10)
        cls.metrics = f"http://127.0.0.1:{m.group(1)}"
        cls.url = f"http://127.0.0.1:{cls.port}"
        cls.admin = h.boto3_kms(cls.emu_url)
        cls.key_id = cls.admin.create_key(Policy=h.attested_key_policy(ACCOUNT, PCR0))["KeyMetadata"]["KeyId"]
        cls.lock = threading.Lock()  # tests read deltas of shared counters: one at a time

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.emu.stop()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def setUp(self):
        super().setUp()
        self.kms = h.boto3_kms(self.url)

    def scrape(self):
        status, headers, body = http_get(self.metrics + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers)
        return parse_prometheus(body, self)

    def json_lines(self):
        """Every line the proxy wrote, each parsed as one JSON object."""
        out = []
        for line in self.proxy.output().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail(f"not a JSON line: {line!r}")
            self.assertIsInstance(obj, dict, line)
            for k in ("time", "level", "msg"):
                self.assertIn(k, obj, line)
            self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")
            out.append(obj)
        return out

    def request_lines(self, request_ids):
        by_id = {o.get("request_id"): o for o in self.json_lines() if o.get("event") == "request"}
        return [by_id.get(r) for r in request_ids]

    def test_requests_by_operation_and_status_and_latency_by_phase(self):
        with self.lock:
            before, types = self.scrape()
            ct = self.admin.encrypt(KeyId=self.key_id, Plaintext=b"observed")["CiphertextBlob"]
            for _ in range(3):
                self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"observed")
            for _ in range(2):
                self.assertEqual(len(self.kms.generate_random(NumberOfBytes=16)["Plaintext"]), 16)
            with self.assertRaises(botocore.exceptions.ClientError):
                self.kms.decrypt(CiphertextBlob=b"\x01" * 64)  # upstream 400
            self.kms.list_keys()  # not attested
            after, _ = self.scrape()

        def delta(name, **labels):
            return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

        self.assertEqual(types["kms_proxy_requests_total"], "counter")
        self.assertEqual(types["kms_proxy_request_duration_seconds"], "histogram")
        req = "kms_proxy_requests_total"
        self.assertEqual(delta(req, operation="Decrypt", status="2xx"), 3)
        self.assertEqual(delta(req, operation="Decrypt", status="4xx"), 1)
        self.assertEqual(delta(req, operation="GenerateRandom", status="2xx"), 2)
        self.assertEqual(delta(req, operation="ListKeys", status="2xx"), 1)
        hist = "kms_proxy_request_duration_seconds_count"
        self.assertEqual(delta(hist, phase="total"), 7)
        self.assertEqual(delta(hist, phase="upstream"), 7)
        self.assertEqual(delta(hist, phase="attestation"), 6)   # every attested request
        self.assertEqual(delta(hist, phase="decryption"), 5)    # the successful attested ones
        # The simulated NSM takes >= 100 ms per call: the attestation phase shows it.
        sum_att = delta("kms_proxy_request_duration_seconds_sum", phase="attestation")
        self.assertGreaterEqual(sum_att, 6 * 0.09)
        self.assertGreaterEqual(delta("kms_proxy_request_duration_seconds_sum", phase="total"), sum_att)
        # NSM calls and the requests they served.
        self.assertEqual(types["kms_proxy_nsm_calls_total"], "counter")
        self.assertEqual(delta("kms_proxy_attested_requests_total"), 6)
        self.assertGreaterEqual(delta("kms_proxy_nsm_calls_total"), 1)
        self.assertLessEqual(delta("kms_proxy_nsm_calls_total"), 6)
        self.assertEqual(value(after, "kms_proxy_nsm_failures_total"), 0)
        self.assertEqual(types["kms_proxy_attestation_waiting"], "gauge")
        self.assertEqual(value(after, "kms_proxy_attestation_waiting"), 0)
        # Upstream keep-alive: sequential requests reuse the pooled connection.
        opened = delta("kms_proxy_upstream_connections_opened_total")
        reused = delta("kms_proxy_upstream_connections_reused_total")
        self.assertGreaterEqual(reused, 5)
        self.assertLessEqual(opened, 2)
        self.assertEqual(value(after, "kms_proxy_info", version="0.1.0", attestation="simulated"), 1)
        for fam in ("kms_proxy_credential_refreshes_total", "kms_proxy_active_connections",
                    "kms_proxy_connections_accepted_total", "kms_proxy_connections_rejected_total",
                    "kms_proxy_client_errors_total", "kms_proxy_client_timeouts_total",
                    "kms_proxy_internal_errors_total"):
            self.assertIn(fam, types)
        self.assertEqual(types["kms_proxy_client_errors_total"], "counter")
        self.assertEqual(types["kms_proxy_internal_errors_total"], "counter")
        self.assertEqual(value(after, "kms_proxy_internal_errors_total"), 0)

    def test_requests_per_nsm_call_exceed_one_under_concurrency(self):
        with self.lock:
            before, _ = self.scrape()
            with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
                results = list(ex.map(lambda _: h.boto3_kms(self.url).generate_random(NumberOfBytes=8),
                                      range(24)))
            after, _ = self.scrape()
        self.assertEqual(len(results), 24)
        calls = value(after, "kms_proxy_nsm_calls_total") - value(before, "kms_proxy_nsm_calls_total")
        served = (value(after, "kms_proxy_attested_requests_total")
                  - value(before, "kms_proxy_attested_requests_total"))
        self.assertEqual(served, 24)
        self.assertGreater(served / calls, 1.0, f"{served} requests, {calls} NSM calls")

    def test_debug_level_shows_each_nsm_call(self):
        with self.lock:
            self.kms.generate_random(NumberOfBytes=8)
        calls = [o for o in self.json_lines() if o.get("event") == "nsm_call"]
        self.assertTrue(calls, "no nsm_call line at --log-level debug")
        last = calls[-1]
        self.assertEqual(last["level"], "debug")
        self.assertIs(last["ok"], True)
        self.assertGreaterEqual(last["waiting"], 1)
        self.assertGreaterEqual(last["took_us"], 90_000)  # --sim-nsm-latency 100ms
        self.assertEqual([o["seq"] for o in calls], list(range(1, len(calls) + 1)))

    def test_health_endpoints(self):
        for path in ("/healthz", "/readyz"):
            status, _, body = http_get(self.metrics + path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body.strip(), "ok")
        self.assertEqual(http_get(self.metrics + "/nope")[0], 404)
        for method in ("POST", "DELETE"):
            status, headers, _ = http_get(self.metrics + "/metrics", method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers.get("Allow"), "GET, HEAD", method)  # RFC 9110 15.5.6
        # The metrics listener is not the KMS listener and vice versa.
        self.assertNotEqual(self.metrics, self.url)
        self.assertEqual(http_get(self.url + "/metrics")[0], 400)

    def test_one_json_line_per_request_with_phase_timings(self):
        ids = []
        with self.lock:
            r = self.kms.generate_random(NumberOfBytes=8)
            ids.append(("GenerateRandom", 200, r["ResponseMetadata"]["RequestId"]))
            r = self.kms.list_keys()
            ids.append(("ListKeys", 200, r["ResponseMetadata"]["RequestId"]))
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                self.kms.decrypt(CiphertextBlob=b"\x02" * 64)
            ids.append(("Decrypt", 400, cm.exception.response["ResponseMetadata"]["RequestId"]))
        for rid in [i[2] for i in ids]:
            self.proxy.wait_for_line(re.escape(f'"request_id":"{rid}"'), timeout=10)
        lines = self.request_lines([i[2] for i in ids])
        for (op, status, rid), line in zip(ids, lines):
            with self.subTest(op=op):
                self.assertIsNotNone(line, f"no request line with request_id {rid}")
                self.assertEqual(line["op"], op)
                self.assertEqual(line["status"], status)
                self.assertEqual(line["level"], "info")
                for k in ("attest_us", "upstream_us", "decrypt_us", "total_us"):
                    self.assertIsInstance(line[k], int, k)
                    self.assertGreaterEqual(line[k], 0, k)
                self.assertGreater(line["upstream_us"], 0)
                self.assertGreaterEqual(line["total_us"], line["attest_us"] + line["upstream_us"])
                self.assertIn(f"request_id={rid}", line["msg"])  # the text form is kept in msg
        gr, lk, dec = lines
        self.assertGreaterEqual(gr["attest_us"], 90_000)  # the 100 ms simulated NSM
        self.assertGreater(gr["decrypt_us"], 0)
        self.assertEqual(lk["attest_us"], 0)
        self.assertEqual(lk["decrypt_us"], 0)
        self.assertEqual(dec["decrypt_us"], 0)
        # Exactly one line per request id.
        all_ids = [o.get("request_id") for o in self.json_lines() if o.get("event") == "request"]
        for _, _, rid in ids:
            self.assertEqual(all_ids.count(rid), 1)

    def test_startup_lines_state_mode_key_listen_and_upstream_path(self):
        lines = self.json_lines()
        mode = [o for o in lines if "public_key_sha256" in o]
        self.assertEqual(len(mode), 1, lines[:6])
        self.assertTrue(mode[0]["attestation"].startswith("SIMULATED"), mode[0])
        self.assertRegex(mode[0]["public_key_sha256"], r"^[0-9a-f]{64}$")
        self.assertEqual(mode[0]["upstream_path"], "direct")
        self.assertTrue(mode[0]["credentials"].startswith("environment"), mode[0])
        self.assertNotIn("proxy-secret", json.dumps(lines))
        ready = [o for o in lines if o.get("event") == "ready"]
        self.assertEqual(len(ready), 1)
        self.assertEqual(ready[0]["listen"], f"127.0.0.1:{self.port}")
        warn = [o for o in lines if o["level"] == "warning" and "SIMULATED ATTESTATION" in o["msg"]]
        self.assertEqual(len(warn), 1)
        metrics = [o for o in lines if o.get("event") == "metrics"]
        self.assertEqual(metrics[0]["listen"], self.metrics[len("http://"):])


class CredentialRefreshTest(h.TempDirTestCase):
    """Short-lived credentials from a container endpoint on 127.0.0.1 are
    refreshed (half-way through their life) and counted; failures too."""

    def start_creds_server(self, fail=False, lifetime_s=4):
        url, hits, self.sent_expirations = h.container_credentials(self, fail=fail, lifetime_s=lifetime_s)
        return url, hits

    def start(self, creds_url):
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"))
        self.track(emu)
        env = proxy_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=creds_url,
                        AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.tmp, "none"))  # not ~/.aws
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={emu_url}",
                                     "--metrics-listen", "127.0.0.1:0"], env=env)
        self.track(proxy)
        m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        return proxy, h.boto3_kms(f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{m.group(1)}/metrics"

    def metric(self, url, name):
        samples, _ = parse_prometheus(http_get(url)[2], self)
        return value(samples, name)

    def test_refreshes_are_counted(self):
        import time
        creds_url, hits = self.start_creds_server(lifetime_s=4)
        proxy, kms, metrics = self.start(creds_url)
        kms.list_keys()
        self.assertEqual(len(hits), 1)
        self.assertEqual(self.metric(metrics, "kms_proxy_credential_refreshes_total"), 1)
        # The expiry gauge is the served document's Expiration.
        self.assertEqual(self.metric(metrics, "kms_proxy_credentials_expiry_timestamp_seconds"),
                         self.sent_expirations[0])
        time.sleep(2.5)  # past half the credentials' life
        kms.list_keys()
        deadline = time.monotonic() + 10
        while self.metric(metrics, "kms_proxy_credential_refreshes_total") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.metric(metrics, "kms_proxy_credential_refreshes_total"), 2)
        self.assertEqual(len(hits), 2)
        self.assertEqual(self.metric(metrics, "kms_proxy_credential_refresh_failures_total"), 0)
        self.assertEqual(self.metric(metrics, "kms_proxy_credentials_expiry_timestamp_seconds"),
                         self.sent_expirations[1])

    def test_refresh_failures_are_counted(self):
        creds_url, hits = self.start_creds_server(fail=True)
        proxy, kms, metrics = self.start(creds_url)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertGreaterEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.assertGreaterEqual(len(hits), 1)
        self.assertGreaterEqual(self.metric(metrics, "kms_proxy_credential_refresh_failures_total"), 1)
        self.assertEqual(self.metric(metrics, "kms_proxy_credential_refreshes_total"), 0)
        # No credentials in use: no expiry to report, and the warning does not
        # speak of keys in use.
        self.assertIsNone(self.metric(metrics, "kms_proxy_credentials_expiry_timestamp_seconds"))
        # The warning says why (the credentials endpoint's 500).
        proxy.wait_for_line(r"credentials: fetching credentials failed \(.*500.*\); requests are answered "
                            r"with KMSProxyCredentialsException", timeout=5)
        self.assertNotIn("keys in use are kept", proxy.output())


    def test_environment_keys_with_an_expiration(self):
        # AWS_CREDENTIAL_EXPIRATION: in the startup line and the expiry gauge
        # (no refresh counted); keys already expired are a startup warning.
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"))
        self.track(emu)
        for stamp, unix, expired in (("2031-05-06T07:08:09Z", 1935817689, False),
                                     ("2021-05-06T09:08:09+02:00", 1620284889, True)):
            env = proxy_env(AWS_CREDENTIAL_EXPIRATION=stamp,
                            AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.tmp, "none"))
            proxy, _ = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={emu_url}",
                                      "--metrics-listen", "127.0.0.1:0"], env=env)
            self.track(proxy)
            m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
            metrics = f"http://127.0.0.1:{m.group(1)}/metrics"
            self.assertEqual(self.metric(metrics, "kms_proxy_credentials_expiry_timestamp_seconds"), unix)
            self.assertEqual(self.metric(metrics, "kms_proxy_credential_refreshes_total"), 0)
            self.assertIn("credentials=environment (", proxy.output())
            self.assertIn(", expires 20", proxy.output())
            self.assertEqual("the keys from environment expired at" in proxy.output(), expired, proxy.output())
            proxy.stop()


class RealNsmModeTest(h.TempDirTestCase):
    """`--attestation nsm` with a device that is not an NSM: the startup line
    says nsm (not simulated), requests fail with a KMS-style error and the
    failure is counted and logged."""

    def test_nsm_mode_line_and_failed_nsm_calls(self):
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"))
        self.track(emu)
        proxy, port = h.start_proxy(["--nsm-device", "/dev/null", "--endpoint", f"us-east-1={emu_url}",
                                     "--metrics-listen", "127.0.0.1:0", "--log-format", "json"],
                                    env=proxy_env())
        self.track(proxy)
        m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        line = json.loads(proxy.wait_for_line(r"public_key_sha256", timeout=5).string)
        self.assertEqual(line["attestation"], "nsm")
        self.assertEqual(line["device"], "/dev/null")
        self.assertNotIn("SIMULATED", proxy.output())
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.generate_random(NumberOfBytes=8)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        samples, _ = parse_prometheus(http_get(f"http://127.0.0.1:{m.group(1)}/metrics")[2], self)
        failures = value(samples, "kms_proxy_nsm_failures_total")
        self.assertGreaterEqual(failures, 1)
        self.assertEqual(value(samples, "kms_proxy_nsm_calls_total"), failures)
        self.assertEqual(value(samples, "kms_proxy_attested_requests_total"), 0)
        self.assertEqual(value(samples, "kms_proxy_info", version="0.1.0", attestation="nsm"), 1)
        self.assertGreaterEqual(value(samples, "kms_proxy_requests_total", operation="GenerateRandom",
                                      status="5xx"), 1)
        proxy.wait_for_line(r'"event":"request","op":"GenerateRandom","status":500', timeout=5)


class JsonStartupFailureTest(h.TempDirTestCase):
    def test_startup_failures_are_json_lines_too(self):
        env = proxy_env()
        for args in (["serve", "--nsm-device", os.path.join(self.tmp, "nsm"), "--port", "0"],
                     ["run", "--nsm-device", os.path.join(self.tmp, "nsm"), "--port", "0", "--", "true"],
                     ["run", "--attestation", "none", "--port", "0", "--", os.path.join(self.tmp, "nope")]):
            with self.subTest(args=args):
                r = subprocess.run([KMS_PROXY, *args, "--log-format", "json"] if "--" not in args else
                                   [KMS_PROXY, *args[:args.index("--")], "--log-format", "json",
                                    *args[args.index("--"):]],
                                   capture_output=True, text=True, timeout=60, env=env)
                self.assertNotEqual(r.returncode, 0)
                lines = [json.loads(l) for l in r.stderr.splitlines()]  # every line is JSON
                errors = [o for o in lines if o["level"] == "error"]
                self.assertTrue(errors, r.stderr)
                self.assertTrue(any(self.tmp in o["msg"] for o in errors), r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
