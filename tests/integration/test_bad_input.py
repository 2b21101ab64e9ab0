"""Bad local input (issue "Hardening" 2), over raw sockets: malformed HTTP,
oversized headers (431) and bodies (413), slowloris, bad JSON, wrong
Content-Type, unknown or missing X-Amz-Target, HTTP/1.0, pipelining,
Expect: 100-continue, chunked bodies, the connection limit.

Every case gets a clear KMS-style 4xx (or is served correctly), and a
neighbour client that keeps calling the proxy on its own keep-alive
connection the whole time never sees a failure.
"""
import base64
import json
import re
import socket
import threading
import time
import unittest

import harness as h
from fault_support import (ENCRYPT_BODY, FaultUpstream, fake_auth, fd_count, kms_raw, proxy_env, wait_until,
                         write_config)

JSON_CT = b"application/x-amz-json-1.1"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
IDLE_TIMEOUT = 3.0


def request(target=b"TrentService.ListKeys", body=b"{}", version=b"1.1", extra=b"", ct=JSON_CT, close=False):
    head = b"POST / HTTP/%s\r\nHost: 127.0.0.1\r\n" % version
    if ct is not None:
        head += b"Content-Type: %s\r\n" % ct
    if target is not None:
        head += b"X-Amz-Target: %s\r\n" % target
    head += b"Content-Length: %d\r\n" % len(body)
    if close:
        head += b"Connection: close\r\n"
    return head + extra + b"\r\n" + body


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


class Conn:
    """A raw client socket with an HTTP/1.1 response reader (Content-Length framing)."""

    def __init__(self, port, timeout=10.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("connection closed by the proxy")
        self.buf += b

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode("latin1")
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, headers, body)

    def at_eof(self, timeout=5.0):
        """True if the proxy closes the connection (EOF or reset) within `timeout` seconds."""
        self.s.settimeout(timeout)
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    return True
                self.buf += b
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


class Neighbour(threading.Thread):
    """Calls ListKeys (region eu-west-1, its own upstream) every 20 ms on one
    keep-alive connection; counts failures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.ok = 0
        self.failures = []
        self.stop_ev = threading.Event()

    def run(self):
        conn = None
        while not self.stop_ev.is_set():
            try:
                if conn is None:
                    conn = Conn(self.port, timeout=5)
                t0 = time.monotonic()
                conn.send(request(extra=b"Authorization: " + fake_auth("eu-west-1").encode() + b"\r\n"))
                r = conn.read_response()
                took = time.monotonic() - t0
                if r.status != 200 or took > 2.0:
                    self.failures.append((r.status, round(took, 2)))
                else:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 (a failure of any kind is what we count)
                self.failures.append(repr(e))
                if conn:
                    conn.close()
                conn = None
            self.stop_ev.wait(0.02)
        if conn:
            conn.close()


class BadInputTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-bad-")
        cls.up = FaultUpstream()
        cls.other = FaultUpstream()  # the neighbour's
        pki = h.sim_pki(cls.cls_tmp)
        cfg = write_config(cls.cls_tmp, limits={"header_timeout": f"{HEADER_TIMEOUT:g}s",
                                                "body_timeout": f"{BODY_TIMEOUT:g}s",
                                                "idle_timeout": f"{IDLE_TIMEOUT:g}s"})
        # Simulated attestation: attested operations take the parse-and-splice path.
        cls.proxy, cls.port = h.start_proxy(
            ["--config", cfg, "--attestation", "simulated", "--sim-pki", pki, "--pcr", "0=" + "ab" * 48,
             "--endpoint", f"us-east-1={cls.up.url()}", "--endpoint", f"eu-west-1={cls.other.url()}",
             "--threads", "2"], env=proxy_env(), name="kms-proxy-bad")
        cls.pid = cls.proxy.p.pid
        cls.neighbour = Neighbour(cls.port)
        cls.neighbour.start()
        assert wait_until(lambda: cls.neighbour.ok > 0, 10), "neighbour never got an answer"
        cls.fd_base = fd_count(cls.pid)

    @classmethod
    def tearDownClass(cls):
        cls.neighbour.stop_ev.set()
        cls.neighbour.join(timeout=10)
        cls.proxy.stop()
        cls.up.close()
        cls.other.close()
        import shutil
        shutil.rmtree(cls.cls_tmp, True)

    def setUp(self):
        super().setUp()
        self.ok_before = self.neighbour.ok
        self.up_before = self.up.count("requests")

    def tearDown(self):
        # Nothing else was affected: the neighbour kept getting answers and a
        # fresh client is served.
        self.assertTrue(wait_until(lambda: self.neighbour.ok > self.ok_before, 5), "neighbour stalled")
        self.assertEqual(self.neighbour.failures, [], "the neighbour client saw failures")
        st, _, body, _ = kms_raw(self.port, timeout=5)
        self.assertEqual(st, 200, body)
        self.assertTrue(self.proxy.p.poll() is None, "the proxy died")
        super().tearDown()

    # ---------------------------------------------------------- helpers ---

    def one(self, data, close_expected=True):
        c = Conn(self.port)
        try:
            c.send(data)
            r = c.read_response()
            if close_expected:
                self.assertTrue(c.at_eof(3), f"connection left open after {r}")
            return r
        finally:
            c.close()

    def assert_kms_error(self, r, status, typ=None, msg_part=None, own_id=True):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r)
        body = r.json()
        self.assertEqual(set(body), {"__type", "message"}, body)
        if typ:
            self.assertEqual(body["__type"], typ, body)
        if msg_part:
            self.assertIn(msg_part, body["message"], body)
        # The proxy's own answers, the listener's included, carry a request id
        # of its making, as KMS's do (own_id=False: KMS answered, its id stays).
        if own_id:
            self.assertRegex(r.headers.get("x-amzn-requestid", ""),
                             r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", r)

    def upstream_requests(self):
        return self.up.count("requests") - self.up_before

    # ------------------------------------------------------- malformed ---

    def test_malformed_http_is_400_and_closed(self):
        cases = {
            "binary garbage": b"\x00\x01\x02\xff garbage\r\n\r\n",
            "no version": b"POST /\r\n\r\n",
            "unknown version": b"POST / HTTP/9.9\r\nHost: x\r\n\r\n",
            "field without colon": b"POST / HTTP/1.1\r\nHost x\r\n\r\n",
            "NUL in a field": b"POST / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            "space before colon": b"POST / HTTP/1.1\r\nHost : x\r\n\r\n",
            "bad Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
            "negative Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            "two Content-Lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "Content-Length and chunked (smuggling)": (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\n{}\r\n0\r\n\r\n"),
            "bad chunk size": (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.ListKeys\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
            "unknown transfer coding": (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.ListKeys\r\nTransfer-Encoding: gzip\r\n\r\n{}"),
        }
        for name, data in cases.items():
            with self.subTest(name):
                self.assert_kms_error(self.one(data), 400, "SerializationException", "malformed request")
        self.assertEqual(self.upstream_requests(), 0, "a malformed request reached the upstream")

    def test_wrong_method_or_path_is_400(self):
        for data, part in ((b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /"),
                           (b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", "POST /"),
                           (request().replace(b"POST / ", b"POST /x "), "path /"),
                           (request().replace(b"POST / ", b"POST http://evil.example/ "), "path /")):
            with self.subTest(data[:30]):
                # Answered by the handler: the connection stays usable.
                c = Conn(self.port)
                self.addCleanup(c.close)
                c.send(data)
                self.assert_kms_error(c.read_response(), 400, "SerializationException", part)
                c.send(request())
                self.assertEqual(c.read_response().status, 200)
        self.assertEqual(self.upstream_requests(), 4)  # only the four follow-ups

    # ------------------------------------------------------------ sizes ---

    def test_oversized_header_is_431(self):
        for name, data in (("one big field", request(extra=b"X-Big: " + b"a" * 20000 + b"\r\n")),
                           ("many fields", request(extra=b"".join(b"X-F%d: v\r\n" % i for i in range(3000)))),
                           ("long target", b"POST /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")):
            with self.subTest(name):
                self.assert_kms_error(self.one(data), 431, "RequestHeaderFieldsTooLargeException", "16384")
        # Just under the limit is fine.
        r = self.one(request(extra=b"X-Big: " + b"a" * 15000 + b"\r\n", close=True))
        self.assertEqual(r.status, 200, r)

    def test_oversized_body_is_413_without_reading_it_all(self):
        # Content-Length over the limit: answered from the header alone, even
        # while the client is still sending (the answer is not lost in a reset).
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"X-Amz-Target: TrentService.Encrypt\r\nContent-Length: 5000000\r\n\r\n")
        sender = threading.Thread(target=lambda: self._send_quietly(c, b"a" * 200000), daemon=True)
        sender.start()
        self.assert_kms_error(c.read_response(), 413, "RequestEntityTooLargeException", "1048576")
        sender.join(10)
        self.assertTrue(c.at_eof(5))
        # Chunked bodies are held to the same limit.
        chunk = b"a" * 65536
        data = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.Encrypt\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (b"10000\r\n" + chunk + b"\r\n") * 20 + b"0\r\n\r\n")
        self.assert_kms_error(self.one(data), 413, "RequestEntityTooLargeException")
        self.assertEqual(self.upstream_requests(), 0)
        # The operator's log has a line for each (no request bytes in it).
        self.proxy.wait_for_line(r"client_error status=413 reason=http: request body exceeds 1048576 bytes "
                                 r"request_id=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                                 timeout=5)

    @staticmethod
    def _send_quietly(c, data):
        try:
            c.send(data)
        except OSError:
            pass

    # ---------------------------------------------------------- timeouts ---

    def test_slowloris_is_closed_after_the_header_timeout(self):
        conns = []
        t0 = time.monotonic()
        for _ in range(40):
            c = Conn(self.port)
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\n")
            conns.append(c)
        self.addCleanup(lambda: [c.close() for c in conns])
        answered_at = {}
        # Trickle one header byte per connection every 300 ms: each byte
        # arrives well within any per-read timeout, but the whole header block
        # has a deadline. At the deadline each gets a 408, then the close.
        while time.monotonic() - t0 < HEADER_TIMEOUT + 3 and len(answered_at) < len(conns):
            for i, c in enumerate(conns):
                if i in answered_at:
                    continue
                try:
                    c.send(b"X")
                    c.s.settimeout(0.001)
                    got = c.s.recv(4096)
                    c.buf += got
                    if not got or b"\r\n\r\n" in c.buf:
                        answered_at[i] = time.monotonic() - t0
                except socket.timeout:
                    pass
                except OSError:
                    answered_at[i] = time.monotonic() - t0
            time.sleep(0.3)
        self.assertEqual(len(answered_at), len(conns), "some slow connections were never answered")
        self.assertGreaterEqual(min(answered_at.values()), HEADER_TIMEOUT - 0.5)
        self.assertLessEqual(max(answered_at.values()), HEADER_TIMEOUT + 2)
        for c in conns:
            self.assertTrue(c.at_eof(4), "left open after its 408")
            self.assertTrue(c.buf.startswith(b"HTTP/1.1 408 "), c.buf[:200])
            self.assertIn(b'"__type":"RequestTimeoutException"', c.buf)
            self.assertIn(b"request header not received within 2000 ms", c.buf)

    def test_body_that_stops_arriving_is_closed_after_the_body_timeout(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"X-Amz-Target: TrentService.Encrypt\r\nContent-Length: 100\r\n\r\n{\"KeyId\":")
        self.assertTrue(c.at_eof(BODY_TIMEOUT + 3))
        took = time.monotonic() - t0
        self.assertGreater(took, BODY_TIMEOUT - 0.5)
        # The client is told why (a KMS-style 408 it may retry), then closed.
        self.assertTrue(c.buf.startswith(b"HTTP/1.1 408 "), c.buf[:200])
        self.assertIn(b'"__type":"RequestTimeoutException"', c.buf)
        self.assertIn(b"Connection: close", c.buf)
        self.assertEqual(self.upstream_requests(), 0)

    def test_idle_keep_alive_connection_is_closed(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(request())
        self.assertEqual(c.read_response().status, 200)
        t0 = time.monotonic()
        self.assertTrue(c.at_eof(IDLE_TIMEOUT + 3))
        self.assertGreater(time.monotonic() - t0, IDLE_TIMEOUT - 0.5)

    # -------------------------------------------------------------- JSON ---

    def test_invalid_or_non_object_json_on_an_attested_operation_is_400_locally(self):
        for body in (b"{nope", b" ", b"[1,2]", b'"Recipient"', b"null", b"42", b'{"a":1} {"b":2}',
                     b'{"CiphertextBlob":"AA\xff\xfe"}', b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"):
            with self.subTest(body[:20]):
                r = self.one(request(b"TrentService.Decrypt", body, close=True))
                self.assert_kms_error(r, 400, "SerializationException", "kms: request body")
        self.assertEqual(self.upstream_requests(), 0, "bad JSON was spliced and sent upstream")

    def test_invalid_json_on_other_operations_is_answered_by_kms(self):
        # Non-attested operations are forwarded unchanged: KMS itself answers
        # 400 SerializationException (here the fake upstream, which checks).
        for body in (b"{nope", b"[1,2]"):
            r = self.one(request(b"TrentService.Encrypt", body, close=True))
            self.assert_kms_error(r, 400, "SerializationException", own_id=False)  # KMS answered
        self.assertEqual(self.upstream_requests(), 2)

    def test_empty_body_on_an_attested_operation_is_read_as_an_empty_object(self):
        # AWS JSON services read a missing payload as {}: the proxy attests it
        # and KMS names what is missing.
        before = self.upstream_requests()
        self.one(request(b"TrentService.GenerateRandom", b"", close=True))
        self.assertEqual(self.upstream_requests(), before + 1)
        sent = json.loads(self.up.requests[-1][2])
        self.assertEqual(list(sent), ["Recipient"])
        self.assertIn("AttestationDocument", sent["Recipient"])

    def test_two_recipient_members_are_400_locally(self):
        own = b'{"AttestationDocument":"AAAA","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}'
        for body in (b'{"Recipient":' + own + b',"CiphertextBlob":"AAAA","Recipient":null}',
                     b'{"Recipient":null,"CiphertextBlob":"AAAA","Recipient":' + own + b'}'):
            with self.subTest(body[:24]):
                r = self.one(request(b"TrentService.Decrypt", body, close=True))
                self.assert_kms_error(r, 400, "SerializationException", "more than one Recipient")
        self.assertEqual(self.upstream_requests(), 0)

    def test_recipient_nested_in_another_member_does_not_skip_attestation(self):
        body = json.dumps({"CiphertextBlob": base64.b64encode(b"c" * 32).decode(),
                           "EncryptionContext": {"Recipient": "not the real one"}}).encode()
        r = self.one(request(b"TrentService.Decrypt", body, close=True))
        # The fake upstream ignores Recipient and answers in plaintext: the
        # proxy must refuse that rather than hand out a response it cannot trust.
        self.assert_kms_error(r, 500, "KMSProxyRecipientException", "CiphertextForRecipient", own_id=False)
        # KMS did answer: its request id comes with the proxy's error.
        self.assertRegex(r.headers.get("x-amzn-requestid", ""), r"^fake-\d{6}$", r)
        sent = json.loads(self.up.requests[-1][2])
        self.assertIn("AttestationDocument", sent["Recipient"])
        self.assertEqual(sent["EncryptionContext"], {"Recipient": "not the real one"})

    # ---------------------------------------------------- headers/target ---

    def test_wrong_content_type_is_400(self):
        ids = set()
        for ct in (b"application/json", b"text/plain", b"application/x-www-form-urlencoded", None):
            with self.subTest(ct):
                c = Conn(self.port)
                self.addCleanup(c.close)
                c.send(request(ct=ct))
                r = c.read_response()
                self.assert_kms_error(r, 400, "SerializationException", "Content-Type")
                # A request id of the proxy's own, as KMS gives one: the SDK
                # reports it, the proxy's warning names it.
                rid = r.headers.get("x-amzn-requestid", "")
                self.assertRegex(rid, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
                self.proxy.wait_for_line(rf"proxy error op=\S+ type=SerializationException .*request_id={rid}$",
                                         timeout=10)
                ids.add(rid)
        self.assertEqual(len(ids), 4)
        for ct in (b"application/x-amz-json-1.1; charset=utf-8", b"application/x-amz-json-1.0"):
            with self.subTest(ct):
                self.assertEqual(self.one(request(ct=ct, close=True)).status, 200)

    def test_unknown_or_missing_target_is_400(self):
        for target, part in ((b"TrentService.NoSuchOperation", "unknown X-Amz-Target"),
                             (b"TrentService.", "unknown X-Amz-Target"),
                             (b"DynamoDB_20120810.ListTables", "unknown X-Amz-Target"),
                             (b"TrentService.ListKeys\x7f", None),
                             (b"T" * 8000, "unknown X-Amz-Target"),
                             (None, "missing X-Amz-Target")):
            with self.subTest(target and target[:40]):
                r = self.one(request(target=target, close=True))
                self.assertEqual(r.status, 400, r)
                if part:
                    self.assert_kms_error(r, 400, "UnknownOperationException", part)
        self.assertEqual(self.upstream_requests(), 0)

    def test_bad_authorization_or_region_is_400(self):
        for auth, typ in ((b"AWS4-HMAC-SHA256 garbage", "IncompleteSignatureException"),
                          (fake_auth("us-east-1.evil.example").encode(), None),
                          (fake_auth("../../x").encode(), None),
                          (fake_auth("us-east-1").replace("/kms/", "/s3/").encode(), "IncompleteSignatureException")):
            with self.subTest(auth[:60]):
                r = self.one(request(extra=b"Authorization: " + auth + b"\r\n", close=True))
                self.assert_kms_error(r, 400, typ)
        self.assertEqual(self.upstream_requests(), 0)

    # ---------------------------------------------------------- protocol ---

    def test_http_1_0(self):
        # Without keep-alive: one answer, then close.
        r = self.one(request(version=b"1.0"))
        self.assertEqual(r.status, 200, r)
        # With keep-alive: the connection carries a second request.
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(request(version=b"1.0", extra=b"Connection: keep-alive\r\n"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("connection", "").lower(), "keep-alive")
        c.send(request(b"TrentService.Encrypt", ENCRYPT_BODY, version=b"1.0"))
        self.assertIn("CiphertextBlob", c.read_response().json())
        self.assertTrue(c.at_eof(3))

    def test_pipelined_requests_are_answered_in_order(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        ops = [b"ListKeys", b"GenerateRandom", b"Encrypt", b"DescribeKey", b"ListKeys", b"Encrypt"]
        bodies = {b"Encrypt": ENCRYPT_BODY, b"GenerateRandom": b'{"NumberOfBytes":16}',
                  b"DescribeKey": b'{"KeyId":"k"}'}
        c.send(b"".join(request(b"TrentService." + op, bodies.get(op, b"{}")) for op in ops))
        markers = {b"ListKeys": "Keys", b"Encrypt": "CiphertextBlob", b"DescribeKey": "KeyMetadata"}
        for op in ops:
            r = c.read_response()
            if op == b"GenerateRandom":
                # Attested: it waits for the NSM mid-pipeline, then the fake
                # upstream answers without CiphertextForRecipient (refused).
                self.assertEqual(r.status, 500, r)
                self.assertEqual(r.json()["__type"], "KMSProxyRecipientException")
                continue
            self.assertEqual(r.status, 200, r)
            self.assertIn(markers[op], r.json(), f"response out of order for {op}")
        self.assertEqual([q[0].rpartition(".")[2] for q in self.up.requests[-len(ops):]],
                         [o.decode() for o in ops])

    def test_pipelined_garbage_after_a_good_request(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(request() + b"BLAH\r\n\r\n" + request())
        self.assertEqual(c.read_response().status, 200)
        self.assert_kms_error(c.read_response(), 400, "SerializationException")
        self.assertTrue(c.at_eof(3))
        self.assertEqual(self.upstream_requests(), 1, "the request after the garbage must not be served")

    def test_expect_100_continue(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        head = request(b"TrentService.Encrypt", ENCRYPT_BODY, extra=b"Expect: 100-continue\r\n")
        head, body = head[:-len(ENCRYPT_BODY)], ENCRYPT_BODY
        c.send(head)
        interim = c.read_response()
        self.assertEqual(interim.status, 100)
        c.send(body)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertIn("CiphertextBlob", r.json())
        # Too large: refused at once, no 100 Continue, the body is never needed.
        c2 = Conn(self.port)
        self.addCleanup(c2.close)
        c2.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"X-Amz-Target: TrentService.Encrypt\r\nContent-Length: 9000000\r\nExpect: 100-continue\r\n\r\n")
        self.assert_kms_error(c2.read_response(), 413, "RequestEntityTooLargeException")

    def test_chunked_request_body(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        parts = [ENCRYPT_BODY[:7], ENCRYPT_BODY[7:30], ENCRYPT_BODY[30:]]
        chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"X-Amz-Target: TrentService.Encrypt\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        target, headers, body, _ = self.up.requests[-1]
        self.assertEqual(body, ENCRYPT_BODY, "the upstream must get the de-chunked body")
        lower = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(lower.get("content-length"), str(len(ENCRYPT_BODY)))
        self.assertNotIn("transfer-encoding", lower)
        self.assertNotIn("x-trailer", lower)
        # The same connection goes on.
        c.send(request())
        self.assertEqual(c.read_response().status, 200)

    def test_no_descriptor_leak_after_all_that(self):
        # Runs last (alphabetically after the others in this class is not
        # guaranteed, so it makes its own mess): 100 bad connections of
        # several kinds, then the count must come back.
        base = fd_count(self.pid)
        for i in range(25):
            for data in (b"\x00garbage\r\n\r\n", request(extra=b"X-Big: " + b"a" * 20000 + b"\r\n"),
                         request(b"TrentService.Decrypt", b"[1]", close=True), request(close=True)):
                c = Conn(self.port)
                c.send(data)
                try:
                    c.read_response()
                finally:
                    c.close()
        after = wait_until(lambda: fd_count(self.pid) <= base + 1 and fd_count(self.pid), 10) or fd_count(self.pid)
        self.assertLessEqual(after, base + 1, f"fds {base} -> {after}")


class ConnectionLimitTest(h.TempDirTestCase):
    def test_over_the_limit_gets_503_and_slots_come_back_after_the_header_timeout(self):
        up = FaultUpstream()
        self.addCleanup(up.close)
        cfg = write_config(self.tmp, limits={"header_timeout": "2s"})
        proxy, port = h.start_proxy(["--config", cfg, "--attestation", "none", "--max-connections", "8",
                                     "--endpoint", f"us-east-1={up.url()}", "--metrics-listen", "127.0.0.1:0"],
                                    env=proxy_env())
        self.track(proxy)
        m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        metrics_url = f"http://127.0.0.1:{m.group(1)}/metrics"
        hogs = [Conn(port) for _ in range(8)]
        self.addCleanup(lambda: [c.close() for c in hogs])
        for c in hogs:
            c.send(b"POST / HTTP/1.1\r\n")  # and nothing more
        time.sleep(0.3)
        extra = Conn(port)
        self.addCleanup(extra.close)
        r = extra.read_response()
        self.assertEqual(r.status, 503)
        body = r.json()
        self.assertEqual(body["__type"], "ServiceUnavailable")
        self.assertIn("too many connections", body["message"])
        # boto3 sees a retryable 503.
        import botocore.exceptions
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.list_keys()
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        # The hogs are cut after the header timeout; service is back.
        self.assertTrue(all(c.at_eof(5) for c in hogs))
        self.assertTrue(wait_until(lambda: kms_raw(port, timeout=5)[0] == 200, 5))
        self.assertEqual(len(kms.list_keys()["Keys"]), 1)
        # An operator sees all of it in the listener's counters.
        import urllib.request
        with urllib.request.urlopen(metrics_url, timeout=10) as resp:
            text = resp.read().decode()

        def counter(name):
            found = re.search(rf"^{name} (\d+)$", text, re.M)
            self.assertIsNotNone(found, f"{name} missing:\n{text}")
            return int(found.group(1))

        self.assertGreaterEqual(counter("kms_proxy_connections_rejected_total"), 2)  # raw + boto3
        self.assertEqual(counter("kms_proxy_client_timeouts_total"), 8)  # the hogs
        self.assertEqual(counter("kms_proxy_client_errors_total"), 8)    # their 408s
        self.assertGreaterEqual(counter("kms_proxy_connections_accepted_total"), 9)
        # ... and in the log: each 408 the listener answered, and the refusals
        # (at most a line a second: the first at once, later ones counted).
        self.assertEqual(len(re.findall(r"client_error status=408 reason=http: request header not received "
                                        r"within 2000 ms request_id=[0-9a-f-]{36}", proxy.output())), 8)
        refusals = re.findall(r"connections_refused refused=(\d+) max_connections=8 reason=limits\.max_connections "
                              r"reached", proxy.output())
        self.assertEqual(refusals[:1], ["1"])
        # The tail of the burst is reported within a second, with no later refusal to bring it out.
        time.sleep(1.5)
        refusals = re.findall(r"connections_refused refused=(\d+) ", proxy.output())
        self.assertEqual(sum(map(int, refusals)), counter("kms_proxy_connections_rejected_total"))


if __name__ == "__main__":
    unittest.main()
