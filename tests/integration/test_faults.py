"""Fault injection (issue "Hardening" 1): kms-proxy in front of a loopback
upstream that the test tells to misbehave.

For every fault the client gets a KMS-style error JSON {"__type","message"}
with a status its SDK handles (502/504 for transport faults, where a retry can
help; the upstream's own status for 5xx and ThrottlingException), requests on
other connections and to other endpoints keep working while the fault lasts,
the proxy recovers by itself once the fault clears, and no file descriptor is
leaked (the fault is repeated so that one leaked descriptor per fault would
show).

FaultUpstream (also used by test_bad_input, test_soak, test_egress) answers
KMS JSON 1.1 like a tiny KMS; its faults apply only to the operations named in
`fault_targets`, so a healthy operation on the very same upstream shows that
the proxy is not blocked as a whole.
"""
import base64
import concurrent.futures
import http.client
import http.server
import json
import re
import os
import socket
import socketserver
import ssl
import struct
import threading
import time
import unittest
import urllib.request

import botocore.exceptions

import harness as h

PROXY_CREDS = {"AWS_ACCESS_KEY_ID": "AKIAPROXYFAULTS00001", "AWS_SECRET_ACCESS_KEY": "proxy-secret-faults"}
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JSON_TYPE = "application/x-amz-json-1.1"


def proxy_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in
           ("https_proxy", "http_proxy", "no_proxy")}
    env.update(PROXY_CREDS)
    env["AWS_REGION"] = "us-east-1"
    for k, v in (extra or {}).items():  # None removes a variable
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# --------------------------------------------------------------- helpers ---

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_until(pred, timeout, interval=0.1):
    """Polls pred() until it is truthy or `timeout` seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def fake_auth(region):
    """A well-formed SigV4 Authorization header (not a valid signature: the
    proxy drops it and re-signs) that selects `region`."""
    return (f"AWS4-HMAC-SHA256 Credential=AKIAAPPBOGUSBOGUS000/20240101/{region}/kms/aws4_request, "
            f"SignedHeaders=content-type;host;x-amz-target, Signature={'0' * 64}")


def kms_raw(port, target="TrentService.ListKeys", body=b"{}", region=None, timeout=30, headers=None):
    """One KMS JSON 1.1 call on a fresh connection: (status, headers, parsed JSON or raw bytes, seconds)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": JSON_TYPE, "X-Amz-Target": target}
        if region:
            hdrs["Authorization"] = fake_auth(region)
        if headers:
            hdrs.update(headers)
        conn.request("POST", "/", body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed, time.monotonic() - t0
    finally:
        conn.close()


def write_config(dirpath, name="enclaver.yaml", request="2s", connect="1s", tls_handshake="1s",
                 max_idle=2, limits=None, extra_kms_proxy="", extra_top=""):
    """A small enclaver.yaml with short upstream timeouts (only configurable in the file)."""
    lines = ["kms_proxy:", "  listen_port: 9999", "  upstream:", "    timeouts:",
             f"      connect: {connect}", f"      tls_handshake: {tls_handshake}", f"      request: {request}",
             "    pool:", f"      max_idle_per_host: {max_idle}"]
    if limits:
        lines.append("  limits:")
        lines += [f"    {k}: {v}" for k, v in limits.items()]
    if extra_kms_proxy:
        lines.append(extra_kms_proxy.rstrip("\n"))
    if extra_top:
        lines.append(extra_top.rstrip("\n"))
    path = os.path.join(dirpath, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class _Drop(Exception):
    """Ends a connection from setup() without the default error report."""


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request, client_address):  # faults make noise by design
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kms"
    sys_version = ""

    def log_message(self, *args):
        pass

    def finish(self):
        try:
            super().finish()
        finally:
            if isinstance(self.request, ssl.SSLSocket):  # socketserver closes only the raw socket
                self.request.close()

    def setup(self):
        up = self.server.up
        up._count("connections")
        self.request.settimeout(60)
        if up.tls_ctx is not None:
            mode = up.tls_fault
            if mode == "not_tls":
                # Not a TLS ServerHello: the proxy's handshake must fail cleanly.
                try:
                    self.request.recv(4096)
                    self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                finally:
                    self.request.close()
                raise _Drop()
            if mode == "tls_stall":
                up.release.wait(60)
                self.request.close()
                raise _Drop()
            ctx = up.wrong_ctx if mode == "wrong_cert" else up.tls_ctx
            tls = ctx.wrap_socket(self.request, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError):
                up._count("tls_failures")
                tls.close()
                raise _Drop()
            self.request = tls
        super().setup()

    def _send(self, status, obj, extra_headers=(), request_id=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("x-amzn-RequestId",
                         request_id or "fake-%06d" % self.server.up.counters.get("requests", 0))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _rst(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        self.connection.close()

    def do_POST(self):
        up = self.server.up
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        target = self.headers.get("X-Amz-Target", "")
        fault = up._take_fault(target)
        up._record(target, dict(self.headers), body, fault)
        if fault in (None, "ok"):
            status, obj = up.answer(target, body)
            self._send(status, obj)
            return
        if fault == "close":  # close without a byte of response
            self.close_connection = True
            self.connection.close()
        elif fault == "reset":  # a response head and part of the body, then RST
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                             b"Content-Length: 400\r\n\r\n{\"CiphertextBlob\":\"AQID")
            self.wfile.flush()
            time.sleep(0.05)
            self._rst()
        elif fault == "stall":  # read the request, never answer
            up.release.wait(60)
            self.close_connection = True
            self.connection.close()
        elif fault == "garbage":
            self.wfile.write(b"\x16\x03\x01 this is not HTTP at all \xff\xfe\r\n\r\n")
            self.close_connection = True
            self.connection.close()
        elif fault == "big_header":  # 128 KiB of header fields (the proxy reads at most 64 KiB)
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(128):
                self.wfile.write(b"X-Filler-%03d: " % i + b"a" * 1000 + b"\r\n")
            self.wfile.write(b"Content-Length: 2\r\n\r\n{}")
            self.close_connection = True
        elif fault == "big_body":  # 2 MiB body (the proxy reads at most 1 MiB)
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                             b"Content-Length: 2097152\r\n\r\n")
            try:
                self.wfile.write(b"{\"a\":\"" + b"b" * (2097152 - 8) + b"\"}")
            except OSError:
                pass
            self.close_connection = True
        elif fault == "truncated":  # Content-Length promises more than is sent
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                             b"Content-Length: 1000\r\n\r\n{\"KeyId\":\"arn:aws:kms")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
        elif fault == "slow_body":  # a head at once, then the body trickles past the deadline
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                             b"Content-Length: 100\r\n\r\n{")
            self.wfile.flush()
            up.release.wait(60)
            self.close_connection = True
            self.connection.close()
        elif fault == "500":
            self._send(500, {"__type": "KMSInternalException", "message": "fake upstream internal error"})
        elif fault == "503":
            self._send(503, {"__type": "ServiceUnavailableException", "message": "fake upstream unavailable"})
        elif fault == "throttle":
            self._send(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        elif fault == "hostile_request_id":  # a request id that would forge log fields
            status, obj = up.answer(target, body)
            self._send(status, obj, request_id="fake status=999 forged=1 \xff\xfe")
        elif fault == "typed_by_header":  # the error type in x-amzn-ErrorType only
            self._send(400, {"message": "Rate exceeded"},
                       extra_headers=[("x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/")])
        else:
            raise AssertionError(f"unknown fault {fault}")


class FaultUpstream:
    """A KMS-like JSON 1.1 server on 127.0.0.1 (optionally TLS) with injectable faults.

    set_fault(mode, targets=..., count=None): requests to those X-Amz-Targets
    (all when targets is None) get the fault (`count` times, or until
    set_fault("ok")). TLS connection faults: set_tls_fault("wrong_cert" |
    "not_tls" | "tls_stall" | None).
    """

    def __init__(self, port=0, tls=None, wrong_tls=None):
        self.lock = threading.Lock()
        self.counters = {}
        self.requests = []  # (target, headers, body, fault)
        self.release = threading.Event()
        self.fault = "ok"
        self.fault_targets = None
        self.fault_left = None
        self.tls_fault = None
        self.tls_ctx = self.wrong_ctx = None
        if tls:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(*tls)
        if wrong_tls:
            self.wrong_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.wrong_ctx.load_cert_chain(*wrong_tls)
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.up = self
        self.port = self.server.server_address[1]
        self._t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._t.start()

    def url(self, host="127.0.0.1"):
        return f"{'https' if self.tls_ctx else 'http'}://{host}:{self.port}"

    def set_fault(self, mode, targets=None, count=None):
        with self.lock:
            self.fault = mode
            self.fault_targets = set(targets) if targets else None
            self.fault_left = count
        if mode == "ok":
            self.release.set()  # free stalled handlers
        else:
            self.release.clear()

    def set_tls_fault(self, mode):
        self.tls_fault = mode
        if mode is None:
            self.release.set()
        else:
            self.release.clear()

    def _take_fault(self, target):
        with self.lock:
            if self.fault == "ok":
                return None
            if self.fault_targets is not None and target not in self.fault_targets:
                return None
            if self.fault_left is not None:
                if self.fault_left <= 0:
                    return None
                self.fault_left -= 1
            return self.fault

    def _count(self, name, n=1):
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def _record(self, target, headers, body, fault):
        with self.lock:
            self.counters["requests"] = self.counters.get("requests", 0) + 1
            if fault:
                self.counters["faults"] = self.counters.get("faults", 0) + 1
            self.requests.append((target, headers, body, fault))

    def count(self, name):
        with self.lock:
            return self.counters.get(name, 0)

    def answer(self, target, body):
        op = target.rpartition(".")[2]
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):  # what KMS answers to a body that is not a JSON object
            return 400, {"__type": "SerializationException", "message": "fake-kms: body is not a JSON object"}
        if op == "ListKeys":
            return 200, {"Keys": [{"KeyId": KEY_ARN.rpartition("/")[2], "KeyArn": KEY_ARN}], "Truncated": False}
        if op == "Encrypt":
            return 200, {"CiphertextBlob": base64.b64encode(b"\x01\x02fake-ciphertext").decode(),
                         "KeyId": KEY_ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if op == "Decrypt":
            return 200, {"Plaintext": base64.b64encode(b"fake plaintext").decode(), "KeyId": KEY_ARN,
                         "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if op == "GenerateRandom":
            return 200, {"Plaintext": base64.b64encode(os.urandom(16)).decode()}
        if op == "DescribeKey":
            return 200, {"KeyMetadata": {"KeyId": KEY_ARN.rpartition("/")[2], "Arn": KEY_ARN,
                                         "Enabled": True, "KeyState": "Enabled"}}
        return 400, {"__type": "UnsupportedOperationException", "message": f"fake-kms does not implement {op}"}

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._t.join(timeout=5)


# ------------------------------------------------------------------ tests ---

ENCRYPT_BODY = json.dumps({"KeyId": KEY_ARN, "Plaintext": base64.b64encode(b"fault test").decode()}).encode()


class FaultCase(h.TempDirTestCase):
    """Shared checks: KMS-style error, unaffected neighbours, recovery, no fd leak."""

    def assert_kms_error(self, status, body, want_status, want_type=None, msg_part=None):
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, dict, f"error body is not JSON: {body!r}")
        self.assertEqual(set(body), {"__type", "message"}, body)
        if want_type:
            self.assertEqual(body["__type"], want_type, body)
        if msg_part:
            self.assertIn(msg_part, body["message"], body)

    def settle_fds(self, pid, ceiling, timeout=10):
        """Waits for the proxy's descriptors to fall back to `ceiling`; returns the last count."""
        return wait_until(lambda: fd_count(pid) <= ceiling and fd_count(pid), timeout) or fd_count(pid)

    def saturate_pool(self, port, region=None, n=16):
        """Fills the proxy's upstream keep-alive pool (bounded by max_idle_per_host per thread)
        so the descriptor baseline does not grow later for legitimate reasons."""
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            res = list(ex.map(lambda _: kms_raw(port, region=region)[0], range(n)))
        self.assertEqual(res, [200] * n)


class UpstreamFaultTest(FaultCase):
    """Plain-HTTP upstream faults (the transport is the same code as TLS after the handshake)."""

    REPEAT = 8

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-faults-")
        cls.up = FaultUpstream()
        cls.other = FaultUpstream()  # eu-west-1: never faulty
        cfg = write_config(cls.cls_tmp, request="2s", connect="1s", max_idle=2)
        cls.proxy, cls.port = h.start_proxy(
            ["--config", cfg, "--attestation", "none", "--threads", "2",
             "--endpoint", f"us-east-1={cls.up.url()}", "--endpoint", f"eu-west-1={cls.other.url()}"],
            env=proxy_env(), name="kms-proxy-faults")
        cls.pid = cls.proxy.p.pid

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.up.close()
        cls.other.close()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def setUp(self):
        super().setUp()
        self.up.set_fault("ok")
        self.saturate_pool(self.port)
        self.saturate_pool(self.port, region="eu-west-1")
        self.fd_base = fd_count(self.pid)

    def run_fault(self, mode, want_status, want_type, msg_part, wait_arrival=False):
        """REPEAT concurrent Encrypts hit `mode`; meanwhile ListKeys (same upstream) and
        eu-west-1 (other upstream) must answer promptly; then recovery and fds."""
        self.up.set_fault(mode, targets=["TrentService.Encrypt"])
        faults_before = self.up.count("faults")
        with concurrent.futures.ThreadPoolExecutor(self.REPEAT) as ex:
            futs = [ex.submit(kms_raw, self.port, "TrentService.Encrypt", ENCRYPT_BODY) for _ in range(self.REPEAT)]
            if wait_arrival:
                arrived = wait_until(lambda: self.up.count("faults") - faults_before >= self.REPEAT, 10)
                self.assertTrue(arrived, "the faulty requests never reached the upstream")
            # Neighbours while the fault is live.
            for region in (None, "eu-west-1"):
                st, _, body, took = kms_raw(self.port, "TrentService.ListKeys", region=region, timeout=10)
                self.assertEqual(st, 200, body)
                self.assertLess(took, 1.5, f"a healthy request waited {took:.2f}s behind the fault")
            results = [f.result(timeout=30) for f in futs]
        for st, hdrs, body, took in results:
            self.assert_kms_error(st, body, want_status, want_type, msg_part)
            self.assertTrue(hdrs.get("content-type", "").startswith("application/x-amz-json-1.1"), hdrs)
            self.assertLess(took, 10, "the error took too long")
        # The fault clears: the proxy recovers without a restart.
        self.up.set_fault("ok")
        st, _, body, _ = kms_raw(self.port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 200, body)
        self.assertIn("CiphertextBlob", body)
        # No descriptor leak: REPEAT faulted connections must all be gone.
        self.saturate_pool(self.port)
        after = self.settle_fds(self.pid, self.fd_base + 1)
        self.assertLessEqual(after, self.fd_base + 1, f"fd leak: {self.fd_base} -> {after} after {mode}")
        return results

    def test_connection_closed_before_response_is_502(self):
        self.run_fault("close", 502, "KMSProxyUpstreamException", "without responding")

    def test_reset_mid_response_is_502(self):
        self.run_fault("reset", 502, "KMSProxyUpstreamException", "upstream")

    def test_stall_times_out_with_504(self):
        results = self.run_fault("stall", 504, "KMSProxyTimeoutException", "no response", wait_arrival=True)
        for _, _, _, took in results:
            self.assertGreater(took, 1.5, "answered before the 2 s request timeout")
            self.assertLess(took, 6)

    def test_body_that_never_completes_times_out_with_504(self):
        results = self.run_fault("slow_body", 504, "KMSProxyTimeoutException", "timed out", wait_arrival=True)
        for _, _, _, took in results:
            self.assertGreater(took, 1.5)

    def test_garbage_response_is_502(self):
        self.run_fault("garbage", 502, "KMSProxyUpstreamException", "malformed response")

    def test_oversized_response_header_is_502(self):
        self.run_fault("big_header", 502, "KMSProxyUpstreamException", "exceeds")

    def test_oversized_response_body_is_502(self):
        self.run_fault("big_body", 502, "KMSProxyUpstreamException", "exceeds")

    def test_truncated_body_is_502(self):
        self.run_fault("truncated", 502, "KMSProxyUpstreamException", "truncated")

    def test_upstream_5xx_and_throttling_pass_through_with_their_status(self):
        for mode, status, typ in (("500", 500, "KMSInternalException"),
                                  ("503", 503, "ServiceUnavailableException"),
                                  ("throttle", 400, "ThrottlingException")):
            with self.subTest(mode=mode):
                self.run_fault(mode, status, typ, None)

    def test_error_type_header_is_passed_through(self):
        self.up.set_fault("typed_by_header", targets=["TrentService.Encrypt"])
        st, hdrs, body, _ = kms_raw(self.port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 400, body)
        self.assertEqual(hdrs.get("x-amzn-errortype"), "ThrottlingException:http://internal.amazon.com/", hdrs)
        self.assertTrue(hdrs.get("x-amzn-requestid", "").startswith("fake-"), hdrs)
        self.assertEqual(body, {"message": "Rate exceeded"})
        # A success carries no such header.
        self.up.set_fault("ok")
        st, hdrs, body, _ = kms_raw(self.port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 200, body)
        self.assertNotIn("x-amzn-errortype", hdrs)

    def test_boto3_sees_the_error_code_and_status(self):
        kms = h.boto3_kms(f"http://127.0.0.1:{self.port}")
        for mode, status, code in (("stall", 504, "KMSProxyTimeoutException"),
                                   ("garbage", 502, "KMSProxyUpstreamException"),
                                   ("throttle", 400, "ThrottlingException")):
            with self.subTest(mode=mode):
                self.up.set_fault(mode, targets=["TrentService.Encrypt"])
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    kms.encrypt(KeyId=KEY_ARN, Plaintext=b"x")
                err = cm.exception.response
                self.assertEqual(err["Error"]["Code"], code)
                self.assertTrue(err["Error"]["Message"])
                self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status)
                self.up.set_fault("ok")
                self.assertTrue(kms.encrypt(KeyId=KEY_ARN, Plaintext=b"x")["CiphertextBlob"])

    def test_sdk_retry_gets_through_a_transient_fault(self):
        # Two faulty answers, then healthy: boto3's standard retry (3 attempts)
        # treats 502/504 and ThrottlingException as retryable and succeeds.
        import boto3
        from botocore.config import Config
        cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        kms = boto3.session.Session(aws_access_key_id="AKIAX", aws_secret_access_key="x",
                                    region_name="us-east-1").client(
            "kms", endpoint_url=f"http://127.0.0.1:{self.port}", config=cfg)
        for mode in ("garbage", "reset", "throttle", "503"):
            with self.subTest(mode=mode):
                before = self.up.count("faults")
                self.up.set_fault(mode, targets=["TrentService.Encrypt"], count=2)
                resp = kms.encrypt(KeyId=KEY_ARN, Plaintext=b"x")
                self.assertTrue(resp["CiphertextBlob"])
                self.assertEqual(resp["ResponseMetadata"]["RetryAttempts"], 2)
                self.assertEqual(self.up.count("faults") - before, 2)

    def test_upstream_sees_the_models_spelling_of_the_target(self):
        # X-Amz-Target is matched case-insensitively; what goes upstream is
        # always "TrentService.<Operation>" as the KMS model spells it.
        for sent in ("TrentService.Encrypt", "trentservice.encrypt", "TRENTSERVICE.ENCRYPT",
                     "TrentService.encrypt"):
            with self.subTest(sent):
                before = len(self.up.requests)
                st, _, body, _ = kms_raw(self.port, sent, ENCRYPT_BODY)
                self.assertEqual(st, 200, body)
                with self.up.lock:
                    targets = [r[0] for r in self.up.requests[before:]]
                self.assertEqual(targets, ["TrentService.Encrypt"])

    def test_client_connection_survives_an_upstream_error(self):
        # An upstream fault is answered on the client's keep-alive connection,
        # which then carries the next request normally.
        self.up.set_fault("garbage", targets=["TrentService.Encrypt"])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(conn.close)
        hdr = {"Content-Type": JSON_TYPE, "X-Amz-Target": "TrentService.Encrypt"}
        conn.request("POST", "/", body=ENCRYPT_BODY, headers=hdr)
        r = conn.getresponse()
        self.assertEqual(r.status, 502)
        r.read()
        self.up.set_fault("ok")
        conn.request("POST", "/", body=ENCRYPT_BODY, headers=hdr)
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn("CiphertextBlob", json.loads(r.read()))


class UpstreamDownTest(FaultCase):
    """Connection refused, then the upstream comes up on that port: recovery."""

    def test_refused_is_502_then_recovers_when_the_upstream_starts(self):
        port = h.free_port()
        other = FaultUpstream()
        self.addCleanup(other.close)
        cfg = write_config(self.tmp, connect="1s", max_idle=2)
        proxy, pport = h.start_proxy(
            ["--config", cfg, "--attestation", "none", "--threads", "2",
             "--endpoint", f"us-east-1=http://127.0.0.1:{port}", "--endpoint", f"eu-west-1={other.url()}"],
            env=proxy_env())
        self.track(proxy)
        self.saturate_pool(pport, region="eu-west-1")
        base = fd_count(proxy.p.pid)
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(kms_raw, pport, "TrentService.Encrypt", ENCRYPT_BODY) for _ in range(20)]
            st, _, body, took = kms_raw(pport, region="eu-west-1")
            self.assertEqual(st, 200, body)
            for f in futs:
                st, _, body, took = f.result(timeout=30)
                self.assert_kms_error(st, body, 502, "KMSProxyUpstreamException", "refused")
                self.assertLess(took, 3)
        after = self.settle_fds(proxy.p.pid, base)
        self.assertLessEqual(after, base, "fd leak after refused connections")
        kms = h.boto3_kms(f"http://127.0.0.1:{pport}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 502)
        self.assertEqual(cm.exception.response["Error"]["Code"], "KMSProxyUpstreamException")
        up = FaultUpstream(port=port)
        self.addCleanup(up.close)
        self.assertEqual(len(kms.list_keys()["Keys"]), 1)
        self.assertEqual(kms_raw(pport, "TrentService.Encrypt", ENCRYPT_BODY)[0], 200)

    def test_unroutable_connect_times_out_or_fails_fast(self):
        # A listener whose accept queue is full never completes the handshake
        # is hard to build portably; a TCP peer that accepts nothing at all is
        # modelled by a listening socket with backlog 0 that we never accept,
        # filled first. Either way: an answer within connect timeout + slack.
        lst = socket.socket()
        self.addCleanup(lst.close)
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(lst.getsockname())
            fillers.append(s)
        self.addCleanup(lambda: [s.close() for s in fillers])
        cfg = write_config(self.tmp, connect="1s", request="2s")
        proxy, pport = h.start_proxy(
            ["--config", cfg, "--attestation", "none",
             "--endpoint", f"us-east-1=http://127.0.0.1:{lst.getsockname()[1]}"], env=proxy_env())
        self.track(proxy)
        st, _, body, took = kms_raw(pport, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertIn(st, (502, 504), body)
        self.assertEqual(set(body), {"__type", "message"})
        self.assertLess(took, 5)


class TlsFaultTest(FaultCase):
    """TLS upstream: handshake failure, certificate for the wrong host, a peer
    that never finishes the handshake; recovery once TLS is right again."""

    def setUp(self):
        super().setUp()
        ca, crt, key = h.make_test_ca(self.tmp)
        wrong_dir = os.path.join(self.tmp, "wrong")
        os.makedirs(wrong_dir)
        # A certificate from a CA the proxy trusts... for another host.
        _, wcrt, wkey = self._sign_for(ca, wrong_dir, "wrong.example")
        self.up = FaultUpstream(tls=(crt, key), wrong_tls=(wcrt, wkey))
        self.addCleanup(self.up.close)
        self.other = FaultUpstream()
        self.addCleanup(self.other.close)
        cfg = write_config(self.tmp, connect="1s", tls_handshake="1s", request="2s", max_idle=0)
        self.proxy, self.port = h.start_proxy(
            ["--config", cfg, "--attestation", "none", "--ca-file", ca, "--threads", "2",
             "--endpoint", f"us-east-1={self.up.url('localhost')}", "--endpoint", f"eu-west-1={self.other.url()}"],
            env=proxy_env())
        self.track(self.proxy)

    def _sign_for(self, ca_crt, d, host):
        import subprocess
        ca_key = os.path.join(os.path.dirname(ca_crt), "ca.key")
        key, csr, crt, ext = (os.path.join(d, n) for n in ("s.key", "s.csr", "s.crt", "ext.cnf"))
        with open(ext, "w") as f:
            f.write(f"subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n")
        run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", f"/CN={host}")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext)
        return ca_crt, crt, key

    def _tls_fault(self, mode, want_status, want_type, msg_part, max_took=4):
        self.assertEqual(kms_raw(self.port)[0], 200)  # healthy first
        base = fd_count(self.proxy.p.pid)
        self.up.set_tls_fault(mode)
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            futs = [ex.submit(kms_raw, self.port, "TrentService.Encrypt", ENCRYPT_BODY) for _ in range(6)]
            st, _, body, took = kms_raw(self.port, region="eu-west-1", timeout=10)
            self.assertEqual(st, 200, body)
            self.assertLess(took, 1.5)
            for f in futs:
                st, _, body, took = f.result(timeout=30)
                self.assert_kms_error(st, body, want_status, want_type, msg_part)
                self.assertLess(took, max_took)
        self.up.set_tls_fault(None)
        st, _, body, _ = kms_raw(self.port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 200, body)
        after = self.settle_fds(self.proxy.p.pid, base)
        self.assertLessEqual(after, base, f"fd leak after TLS fault {mode}")

    def test_certificate_for_the_wrong_host_is_502(self):
        self._tls_fault("wrong_cert", 502, "KMSProxyUpstreamException", "hostname mismatch")

    def test_peer_that_does_not_speak_tls_is_502(self):
        self._tls_fault("not_tls", 502, "KMSProxyUpstreamException", "TLS handshake")

    def test_handshake_that_never_completes_is_504(self):
        self._tls_fault("tls_stall", 504, "KMSProxyTimeoutException", "TLS handshake", max_took=4)


class UpstreamTextInLogsTest(FaultCase):
    """Text from the upstream reaches the request's log line only sanitised."""

    def test_request_id_from_the_upstream_cannot_forge_log_fields(self):
        up = FaultUpstream()
        self.addCleanup(up.close)
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={up.url()}",
                                     "--log-format", "json"], env=proxy_env())
        self.track(proxy)
        up.set_fault("hostile_request_id", targets=["TrentService.Encrypt"])
        st, _, body, _ = kms_raw(port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 200, body)
        line = json.loads(proxy.wait_for_line(r'"event":"request","op":"Encrypt"', timeout=5).string)
        self.assertEqual(line["request_id"], "fake?status=999?forged=1???")
        self.assertEqual(line["status"], 200)
        self.assertNotIn("forged", line)


class NsmHangTest(FaultCase):
    """The (simulated) NSM takes longer than the proxy's 10 s attestation wait:
    attested requests fail with a retryable 5xx KMS-style error after ~10 s;
    non-attested requests are not held up meanwhile."""

    def test_nsm_hang_fails_attested_requests_only(self):
        pki = h.sim_pki(self.tmp)
        up = FaultUpstream()
        self.addCleanup(up.close)
        proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", pki, "--pcr", "0=" + "ab" * 48,
             "--sim-nsm-latency", "13s", "--endpoint", f"us-east-1={up.url()}",
             "--metrics-listen", "127.0.0.1:0"], env=proxy_env())
        self.track(proxy)
        self.saturate_pool(port)
        base = fd_count(proxy.p.pid)
        body = json.dumps({"CiphertextBlob": base64.b64encode(b"x" * 64).decode()}).encode()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futs = [ex.submit(kms_raw, port, "TrentService.Decrypt", body) for _ in range(3)]
            time.sleep(0.5)
            # Meanwhile: non-attested operations answer at once.
            for _ in range(5):
                st, _, b, took = kms_raw(port, "TrentService.Encrypt", ENCRYPT_BODY, timeout=5)
                self.assertEqual(st, 200, b)
                self.assertLess(took, 1.5)
            for f in futs:
                st, _, b, took = f.result(timeout=30)
                self.assertEqual(st, 503, b)  # a timeout: worth a retry
                self.assertEqual(set(b), {"__type", "message"})
                self.assertEqual(b["__type"], "KMSProxyAttestationException")
                self.assertIn("NSM", b["message"])
                self.assertGreater(took, 9)
                self.assertLess(took, 14)
        # The attested requests never reached the upstream without a Recipient.
        self.assertEqual([r for r in up.requests if r[0].endswith("Decrypt")], [])
        self.assertLessEqual(self.settle_fds(proxy.p.pid, base), base)
        # SIGTERM while an NSM call hangs: the proxy drains the in-flight
        # request (answered when its attestation wait times out, ~9 s from
        # here) and exits without waiting for the NSM call, which starts
        # after the request arrived and returns 12 s or more from here.
        ex = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(ex.shutdown, wait=False)
        ex.submit(kms_raw, port, "TrentService.Decrypt", body)
        time.sleep(1.0)
        t0 = time.monotonic()
        rc = proxy.stop(timeout=40)
        took = time.monotonic() - t0
        print(f"[nsm-hang] stop during a hung NSM call: rc={rc} after {took:.1f}s", flush=True)
        self.assertIn(rc, (0, 1), "the proxy had to be killed")  # 1 = not drained in the grace period
        self.assertLess(took, 12, "the stop waited for the hung NSM call")


    def test_attestation_timeout_is_configurable(self):
        """--attestation-timeout bounds the wait for a document (default 10 s)."""
        pki = h.sim_pki(self.tmp)
        up = FaultUpstream()
        self.addCleanup(up.close)
        proxy, port = h.start_proxy(
            ["--attestation", "simulated", "--sim-pki", pki, "--pcr", "0=" + "ab" * 48,
             "--sim-nsm-latency", "3s", "--attestation-timeout", "400ms",
             "--endpoint", f"us-east-1={up.url()}", "--metrics-listen", "127.0.0.1:0"], env=proxy_env())
        self.track(proxy)
        metrics = int(proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10).group(1))

        def sample(name):
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
                return int(re.search(rf"^{name} (\d+)$", r.read().decode(), re.M).group(1))

        body = json.dumps({"CiphertextBlob": base64.b64encode(b"x" * 64).decode()}).encode()
        t0 = time.monotonic()
        for _ in range(3):  # the first starts the 3 s call; the others queue behind it
            st, _, b, took = kms_raw(port, "TrentService.Decrypt", body, timeout=10)
            self.assertEqual(st, 503, b)
            self.assertEqual(b["__type"], "KMSProxyAttestationException")
            self.assertIn("400 ms", b["message"])
            self.assertGreater(took, 0.35)
            self.assertLess(took, 2.5)  # well before the 3 s NSM call ends
        self.assertEqual([r for r in up.requests if r[0].endswith("Decrypt")], [])
        # Requests that gave up left the queue, and once the call returns none
        # is counted as served, nor does a call start for them.
        self.assertEqual(sample("kms_proxy_attestation_waiting"), 0)
        time.sleep(max(0.0, 3.8 - (time.monotonic() - t0)))
        self.assertEqual(sample("kms_proxy_nsm_calls_total"), 1)
        self.assertEqual(sample("kms_proxy_attested_requests_total"), 0)


if __name__ == "__main__":
    unittest.main()
