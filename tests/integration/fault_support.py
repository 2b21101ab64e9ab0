"""Shared by the hardening tests (test_faults, test_bad_input, test_secrets,
test_egress, test_soak, test_upstream_tls): a fake KMS upstream with
injectable faults, a raw KMS client, process probes (descriptors, RSS) and the
proxy's environment.

FaultUpstream answers KMS JSON 1.1 like a tiny KMS; its faults apply only to
the operations named in `fault_targets`, so a healthy operation on the very
same upstream shows that the proxy is not blocked as a whole.
"""
import base64
import concurrent.futures
import http.client
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import threading
import time

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
