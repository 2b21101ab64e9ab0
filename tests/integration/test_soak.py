"""Load and soak, bounded and on loopback only (issue "Hardening" 3).

wrk drives kms-proxy (pass-through) in front of kms-emulator with a mix of
KMS operations: Encrypt, Decrypt, GenerateRandom, GenerateDataKey,
DescribeKey, plus requests that must fail (unknown operation and wrong
Content-Type answered by the proxy, an invalid ciphertext answered by the
emulator). At least 200,000 requests over 256 concurrent connections:

  * nothing is lost: zero wrk socket errors (connect/read/write/timeout), every
    response is a 2xx or a KMS-style error JSON, the proxy answered at least
    as many requests as wrk counted, and the error statuses are exactly the
    ones the mix asks for (no 5xx);
  * RSS and open descriptors stay flat after warm-up (growth under 10%), and
    the descriptors come back to the idle count when the clients are gone.

A second, shorter run does the same with simulated attestation (every
attested request gets an NSM document, the emulator seals to it, the proxy
opens the CMS) to show coalesced attestation loses nothing under load.

Figures are printed as "[soak] ..." lines (docs/security.md quotes them).
"""
import base64
import json
import os
import re
import subprocess
import threading
import time
import unittest
import urllib.request

import harness as h
from fault_support import fd_count, proxy_env, rss_kib, wait_until

CONNECTIONS = 256
TARGET_REQUESTS = 200_000
WARMUP_SECONDS = 5
CHUNK_SECONDS = 10
MAX_SECONDS = 150  # give up (and fail) if 200k have not been served by then

# One request per entry, sent round-robin by every wrk connection; the
# expected status of each is known, so the status counts are checked exactly
# (up to the requests in flight when wrk stops).
MIX_LUA = r'''
local key_id = os.getenv("KP_KEY_ID")
local ct = os.getenv("KP_CT")
-- Built at load time, before wrk.init() fills in wrk.headers.Host: give it
-- here (an HTTP/1.1 request without Host is a 400, RFC 9112 3.2).
local host = os.getenv("KP_HOST")
local function req(target, body, content_type)
  return wrk.format("POST", "/", {["Host"] = host, ["Content-Type"] = content_type or "application/x-amz-json-1.1",
    ["X-Amz-Target"] = "TrentService." .. target,
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIAAPPBOGUSBOGUS000/20240101/us-east-1/kms/aws4_request, "
      .. "SignedHeaders=content-type;host;x-amz-target, Signature=" .. string.rep("0", 64)}, body)
end
local reqs = {}
local function add(r) reqs[#reqs + 1] = r end
local pt = '"Plaintext":"c29hayB0ZXN0IHBsYWludGV4dA=="'
add(req("Encrypt", '{"KeyId":"' .. key_id .. '",' .. pt .. '}'))
add(req("Decrypt", '{"CiphertextBlob":"' .. ct .. '"}'))
add(req("GenerateRandom", '{"NumberOfBytes":32}'))
add(req("DescribeKey", '{"KeyId":"' .. key_id .. '"}'))
add(req("Encrypt", '{"KeyId":"' .. key_id .. '",' .. pt .. ',"EncryptionContext":{"a":"b"}}'))
add(req("GenerateDataKey", '{"KeyId":"' .. key_id .. '","KeySpec":"AES_256"}'))
add(req("NoSuchOperation", '{}'))                                      -- 400 from the proxy
add(req("Decrypt", '{"CiphertextBlob":"' .. string.rep("A", 64) .. '"}'))  -- 400 from the emulator
add(req("ListKeys", '{}', "text/plain"))                                 -- 400 from the proxy
add(req("Encrypt", '{"KeyId":"' .. key_id .. '",' .. pt .. '}'))
local i = 0
sent = 0
statuses = {}
kms_errors = 0
bad_errors = 0
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
function init(args) i = math.random(#reqs) end
function request()
  i = i % #reqs + 1
  sent = sent + 1
  return reqs[i]
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 300 then
    if body:find('"__type"', 1, true) and body:find('"message"', 1, true) then
      kms_errors = kms_errors + 1
    else
      bad_errors = bad_errors + 1
    end
  end
end
function done(summary, latency, requests)
  local tot_sent, tot_kms, tot_bad, st = 0, 0, 0, {}
  for _, t in ipairs(threads) do
    tot_sent = tot_sent + t:get("sent")
    tot_kms = tot_kms + t:get("kms_errors")
    tot_bad = tot_bad + t:get("bad_errors")
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.write(string.format('KPRESULT {"requests":%d,"sent":%d,"kms_errors":%d,"bad_errors":%d,'
    .. '"statuses":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, tot_sent, tot_kms, tot_bad, table.concat(parts, ","), e.connect, e.read, e.write,
    e.status, e.timeout, summary.duration, latency:percentile(50), latency:percentile(99), latency.max))
end
'''
MIX_SIZE = 10
MIX_ERRORS = 3  # entries answered 400 (NoSuchOperation, bad ciphertext, text/plain)


class Sampler(threading.Thread):
    """Samples a process's RSS (KiB) and open descriptors every 250 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []  # (t, rss, fds)
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.samples.append((time.monotonic(), rss_kib(self.pid), fd_count(self.pid)))
            except (OSError, RuntimeError):
                return
            self.stop_ev.wait(0.25)

    def window(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]


def metric_total(url, name, label_filter=""):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    total = 0
    for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\d+)$", text, re.M):
        if label_filter in m.group(1):
            total += int(m.group(2))
    return total


class SoakTest(h.TempDirTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists("/usr/bin/wrk"):
            self.fail("wrk is not installed (scripts/install-deps.sh installs it)")
        self.lua = os.path.join(self.tmp, "mix.lua")
        with open(self.lua, "w") as f:
            f.write(MIX_LUA)

    def start_stack(self, attested):
        pki = h.sim_pki(self.tmp) if attested else None
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"), extra=["--workers", "2"],
                                        trust_roots=[os.path.join(pki, "root.pem")] if attested else ())
        self.track(emu)
        admin = h.boto3_kms(emu_url)
        key_id = admin.create_key()["KeyMetadata"]["KeyId"]
        ct = base64.b64encode(admin.encrypt(KeyId=key_id, Plaintext=b"k" * 32)["CiphertextBlob"]).decode()
        # Log level warn: an info line per request would make the log pump
        # the bottleneck. Without the "ready" line the port is chosen here.
        port = h.free_port()
        argv = [os.path.join(h.BIN, "kms-proxy"), "serve", "--listen", f"127.0.0.1:{port}",
                "--endpoint", f"us-east-1={emu_url}", "--log-level", "warn", "--max-connections", "1024",
                "--metrics-listen", f"127.0.0.1:{h.free_port()}"]
        argv += (["--attestation", "simulated", "--sim-pki", pki, "--pcr", "0=" + "ab" * 48]
                 if attested else ["--attestation", "none"])
        proxy = self.track(h.Proc("kms-proxy-soak", argv, env=proxy_env()))
        h.wait_port(port, proc=proxy.p)
        metrics = "http://" + argv[argv.index("--metrics-listen") + 1] + "/metrics"
        env = dict(os.environ, KP_KEY_ID=key_id, KP_CT=ct, KP_HOST=f"127.0.0.1:{port}")
        return proxy, port, metrics, env

    def wrk(self, port, env, seconds, connections=CONNECTIONS, threads=2):
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                              "-s", self.lua, f"http://127.0.0.1:{port}/"],
                             env=env, capture_output=True, text=True, timeout=seconds + 60)
        m = re.search(r"^KPRESULT (\{.*\})$", out.stdout, re.M)
        self.assertIsNotNone(m, f"no wrk result:\n{out.stdout}\n{out.stderr}")
        return json.loads(m.group(1))

    def check_run(self, r, connections):
        """Nothing lost: no socket error, every answer 2xx or KMS-style, exact error mix."""
        self.assertEqual(r["errors"]["connect"] + r["errors"]["read"] + r["errors"]["write"]
                         + r["errors"]["timeout"], 0, f"socket errors: {r}")
        self.assertEqual(r["bad_errors"], 0, f"non-KMS-style error bodies: {r}")
        # wrk stops with at most one request in flight per connection (and
        # may have built a few more in the loop iteration that stops it).
        self.assertLessEqual(r["sent"] - r["requests"], connections + 8, r)
        statuses = {int(k): v for k, v in r["statuses"].items()}
        self.assertEqual(sum(statuses.values()), r["requests"])
        self.assertEqual(set(statuses) - {200, 400}, set(), f"unexpected statuses: {statuses}")
        # Exactly 3 of every 10 are errors (each connection starts at a random
        # place in the mix and stops mid-cycle, hence the tolerance).
        want = r["requests"] * MIX_ERRORS / MIX_SIZE
        self.assertLess(abs(statuses.get(400, 0) - want), connections * MIX_ERRORS + 1, statuses)

    def quiescent(self, pid, idle_fds):
        """(RSS KiB, fds) once wrk's connections are gone: the proxy keeps only
        its listeners and the upstream keep-alive pool (8 per I/O thread)."""
        wait_until(lambda: fd_count(pid) <= idle_fds + 16, 10)
        time.sleep(0.3)
        return rss_kib(pid), fd_count(pid)

    def test_200k_mixed_requests_over_256_connections(self):
        proxy, port, metrics, env = self.start_stack(attested=False)
        pid = proxy.p.pid
        idle_fds = fd_count(pid)
        sampler = Sampler(pid)
        sampler.start()
        self.addCleanup(sampler.stop_ev.set)

        t0 = time.monotonic()
        warm = self.wrk(port, env, WARMUP_SECONDS)
        self.check_run(warm, CONNECTIONS)
        warm_load = sampler.window(t0, time.monotonic())
        rss_ref, fds_ref = self.quiescent(pid, idle_fds)
        t_warm = time.monotonic()
        runs, rests = [], []
        total = 0
        while total < TARGET_REQUESTS and time.monotonic() - t0 < MAX_SECONDS:
            r = self.wrk(port, env, CHUNK_SECONDS)
            self.check_run(r, CONNECTIONS)
            runs.append(r)
            total += r["requests"]
            rests.append(self.quiescent(pid, idle_fds))
        t_end = time.monotonic()
        elapsed = sum(r["duration_us"] for r in runs) / 1e6
        sampler.stop_ev.set()
        sampler.join(5)
        self.assertGreaterEqual(total, TARGET_REQUESTS,
                                f"only {total} requests in {t_end - t_warm:.0f}s ({total / elapsed:.0f}/s)")

        # The proxy's own count: every request wrk got an answer for was
        # answered by the proxy (plus the ones cut off when wrk stopped).
        served = metric_total(metrics, "kms_proxy_requests_total")
        answered = warm["requests"] + total
        sent = warm["sent"] + sum(r["sent"] for r in runs)
        self.assertGreaterEqual(served, answered)
        self.assertLessEqual(served, sent)
        self.assertEqual(metric_total(metrics, "kms_proxy_requests_total", 'status="5xx"'), 0)

        # Flat after warm-up. At rest (between wrk runs): RSS within 10% of the
        # warm-up's, descriptors back to the same count. Under load: peak RSS
        # within 10% of the warm-up's peak; descriptors bounded by one
        # upstream connection per client connection.
        load = sampler.window(t_warm, t_end)
        self.assertTrue(warm_load and load)
        rss_rest_max = max(r[0] for r in rests)
        fds_rest_max = max(r[1] for r in rests)
        rss_load_ref = max(s[1] for s in warm_load)
        rss_load_max = max(s[1] for s in load)
        fds_load_max = max(s[2] for s in load)
        p99 = max(r["p99_us"] for r in runs) / 1000
        n400 = sum(r["statuses"].get("400", 0) for r in runs)
        print(f"\n[soak] pass-through: {total} requests (+{warm['requests']} warm-up) in {elapsed:.1f}s of load "
              f"= {total / elapsed:.0f} req/s over {CONNECTIONS} connections; 400 (by design)={n400} 5xx=0 "
              f"socket errors=0; worst p99 {p99:.1f} ms. RSS at rest {rss_ref} KiB after warm-up, max "
              f"{rss_rest_max} KiB later (+{100.0 * (rss_rest_max - rss_ref) / rss_ref:.1f}%); under load "
              f"{rss_load_ref} -> max {rss_load_max} KiB (+{100.0 * (rss_load_max - rss_load_ref) / rss_load_ref:.1f}%). "
              f"fds at rest {fds_ref} -> max {fds_rest_max} (idle {idle_fds}), under load max {fds_load_max}",
              flush=True)
        self.assertLess(rss_rest_max, rss_ref * 1.10, f"RSS at rest grew {rss_ref} -> {rss_rest_max} KiB")
        self.assertLess(rss_load_max, rss_load_ref * 1.10, f"RSS under load grew {rss_load_ref} -> {rss_load_max}")
        self.assertLessEqual(fds_rest_max, fds_ref, f"descriptors at rest grew {fds_ref} -> {fds_rest_max}")
        self.assertLessEqual(fds_load_max, idle_fds + 2 * CONNECTIONS + 16)
        self.assertIsNone(proxy.p.poll())

    def test_attested_mix_under_load_loses_nothing(self):
        proxy, port, metrics, env = self.start_stack(attested=True)
        pid = proxy.p.pid
        idle_fds = fd_count(pid)
        warm = self.wrk(port, env, WARMUP_SECONDS, connections=64)
        self.check_run(warm, 64)
        rss_ref, fds_ref = self.quiescent(pid, idle_fds)
        runs, rests = [], []
        for _ in range(2):
            runs.append(self.wrk(port, env, 6, connections=64))
            self.check_run(runs[-1], 64)
            rests.append(self.quiescent(pid, idle_fds))
        total = sum(r["requests"] for r in runs)
        text = urllib.request.urlopen(metrics, timeout=10).read().decode()
        nsm_calls = int(re.search(r"^kms_proxy_nsm_calls_total (\d+)$", text, re.M).group(1))
        attested = int(re.search(r"^kms_proxy_attested_requests_total (\d+)$", text, re.M).group(1))
        rss_max = max(r[0] for r in rests)
        fds_max = max(r[1] for r in rests)
        print(f"\n[soak] attested (simulated NSM): {total} requests in 12 s over 64 connections "
              f"(+{warm['requests']} warm-up); {attested} attested requests served by {nsm_calls} NSM calls (both with the warm-up); "
              f"worst p99 {max(r['p99_us'] for r in runs) / 1000:.0f} ms; RSS at rest {rss_ref} -> max {rss_max} KiB "
              f"(+{100.0 * (rss_max - rss_ref) / rss_ref:.1f}%), fds at rest {fds_ref} -> max {fds_max}", flush=True)
        self.assertGreater(total, 500)
        self.assertGreater(attested, total // 4)
        self.assertLess(nsm_calls, attested, "attestation was not coalesced")
        self.assertLess(rss_max, rss_ref * 1.10)
        self.assertLessEqual(fds_max, fds_ref)
        self.assertEqual(metric_total(metrics, "kms_proxy_requests_total", 'status="5xx"'), 0)

if __name__ == "__main__":
    unittest.main()
