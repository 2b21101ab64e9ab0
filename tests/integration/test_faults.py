"""Fault injection (issue "Hardening" 1): kms-proxy in front of a loopback
upstream that the test tells to misbehave.

For every fault the client gets a KMS-style error JSON {"__type","message"}
with a status its SDK handles (502/504 for transport faults, where a retry can
help; the upstream's own status for 5xx and ThrottlingException), requests on
other connections and to other endpoints keep working while the fault lasts,
the proxy recovers by itself once the fault clears, and no file descriptor is
leaked (the fault is repeated so that one leaked descriptor per fault would
show).

The fake upstream and the shared checks are in fault_support.py.
"""
import base64
import concurrent.futures
import http.client
import http.server
import json
import re
import os
import signal
import socket
import time
import unittest
import urllib.request

import botocore.exceptions

import harness as h
from fault_support import (ENCRYPT_BODY, JSON_TYPE, KEY_ARN, FaultCase, FaultUpstream, fd_count, kms_raw,
                           proxy_env, wait_until, write_config)

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


class ClientLeavesTest(FaultCase):
    """A client that gives up while KMS stalls frees its connection at once:
    the proxy cuts the request (logged as 499) and its upstream connection,
    instead of holding both until upstream.timeouts.request (30 s here)."""

    def test_request_of_a_client_that_left_is_cut(self):
        up = FaultUpstream()
        self.addCleanup(up.close)
        self.addCleanup(up.release.set)
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={up.url()}",
                                     "--metrics-listen", "127.0.0.1:0", "--threads", "1"],  # one pool
                                    env=proxy_env())
        self.track(proxy)
        metrics = int(proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10).group(1))

        def sample(name):
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
                return int(re.search(rf"^{name} (\d+)$", r.read().decode(), re.M).group(1))

        def active():
            return sample("kms_proxy_active_connections")

        # One answered request first: the stalled one then goes out on a pooled
        # connection, whose cut must not pass for a stale connection to retry.
        self.assertEqual(kms_raw(port, "TrentService.Encrypt", ENCRYPT_BODY)[0], 200)
        up.set_fault("stall", targets=["TrentService.Encrypt"])
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"POST / HTTP/1.1\r\nHost: kms\r\nContent-Type: " + JSON_TYPE.encode()
                  + b"\r\nX-Amz-Target: TrentService.Encrypt\r\nContent-Length: %d\r\n\r\n" % len(ENCRYPT_BODY)
                  + ENCRYPT_BODY)
        self.assertTrue(wait_until(lambda: up.count("faults") == 1, 5), "the request never reached the upstream")
        self.assertEqual(active(), 1)
        t0 = time.monotonic()
        c.close()
        self.assertTrue(wait_until(lambda: active() == 0, 5), "the slot is still held")
        self.assertLess(time.monotonic() - t0, 5)
        proxy.wait_for_line(r"request op=Encrypt status=499 ", timeout=5)
        self.assertEqual(sample("kms_proxy_upstream_connections_reused_total"), 1)
        self.assertEqual(sample("kms_proxy_upstream_retries_total"), 0)
        self.assertEqual(up.count("faults"), 1)
        self.assertNotIn("proxy error", proxy.output())  # the 499 line says it all
        # The proxy is still fine, and the upstream connection it cut is not reused.
        up.set_fault("ok")
        st, _, body, _ = kms_raw(port, "TrentService.Encrypt", ENCRYPT_BODY)
        self.assertEqual(st, 200, body)


class ShutdownCutTest(FaultCase):
    """A request still waiting on KMS when the shutdown grace (10 s) ends is
    answered 503 ServiceUnavailable (which SDKs retry) before its connection
    closes, instead of finding the connection dropped."""

    def stalled_proxy(self):
        """A proxy whose KMS never answers Encrypt: (proxy, port, upstream)."""
        up = FaultUpstream()
        self.addCleanup(up.close)
        self.addCleanup(up.release.set)
        proxy, port = h.start_proxy(["--attestation", "none", "--endpoint", f"us-east-1={up.url()}"],
                                    env=proxy_env())
        self.track(proxy)
        up.set_fault("stall", targets=["TrentService.Encrypt"])
        return proxy, port, up

    def test_request_cut_at_the_end_of_the_grace_gets_a_503(self):
        proxy, port, up = self.stalled_proxy()
        ex = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(ex.shutdown, wait=False)
        fut = ex.submit(kms_raw, port, "TrentService.Encrypt", ENCRYPT_BODY, "us-east-1", 40)
        self.assertTrue(wait_until(lambda: up.count("faults") == 1, 5), "the request never reached the upstream")
        t0 = time.monotonic()
        rc = proxy.stop(timeout=40)
        st, hdrs, body, _ = fut.result(timeout=30)
        self.assertEqual(rc, 1)  # not drained in the grace period
        self.assertGreater(time.monotonic() - t0, 9)
        self.assertEqual(st, 503, body)
        self.assertEqual(body["__type"], "ServiceUnavailable")
        self.assertIn("shutdown grace period", body["message"])
        self.assertIn(f"request_id={hdrs['x-amzn-requestid']}", proxy.output())
        self.assertIn("request op=Encrypt status=503 ", proxy.output())

    def test_client_that_leaves_during_the_grace_is_still_a_499(self):
        proxy, port, up = self.stalled_proxy()
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"POST / HTTP/1.1\r\nHost: kms\r\nContent-Type: " + JSON_TYPE.encode()
                  + b"\r\nX-Amz-Target: TrentService.Encrypt\r\nContent-Length: %d\r\n\r\n" % len(ENCRYPT_BODY)
                  + ENCRYPT_BODY)
        self.assertTrue(wait_until(lambda: up.count("faults") == 1, 5), "the request never reached the upstream")
        proxy.p.send_signal(signal.SIGTERM)
        proxy.wait_for_line(r"shutting down", timeout=5)
        t0 = time.monotonic()
        c.close()  # within the grace: the client's doing, not the proxy's
        self.assertEqual(proxy.p.wait(timeout=15), 0)  # drained: the cut request was the last one
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("request op=Encrypt status=499 ", proxy.output())
        self.assertNotIn("status=503", proxy.output())


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
