#!/usr/bin/env python3
"""Benchmark driver for kms-proxy (run through scripts/bench.sh).

Runs everything on loopback with bounded durations, stops every process it
started, writes a JSON result file (and a latency plot beside it when gnuplot
is installed) and prints a table. Every figure is measured in the same run as
its reference and reported as a ratio where the issue asks for one:

  a  pass-through (Encrypt) CPU time per request: kms-proxy / nginx
     (nginx as an HTTP -> HTTPS keep-alive reverse proxy to the same stub,
     same load; CPU = utime+stime deltas from /proc/<pid>/stat)
  b  added latency p50/p99 vs calling the stub directly, concurrency 1 and 64
  c  attested Decrypt throughput with kms-proxy pinned to one core, times the
     OpenSSL RSA-2048 OAEP private-decrypt time measured on that core
  d  coalescing: attested throughput at concurrency 64 with a simulated NSM
     taking 5 ms per call, over the one-call-per-request rate (200/s)
  e  RSS idle and with 1,000 idle keep-alive client connections
  f  start to ready (includes RSA key generation), median of N starts
  g  Google Benchmark microbenchmarks (bench/micro)

Not a test: it never asserts a speed. --smoke runs every figure briefly and
exits non-zero only if a figure was not produced or is not a number.
Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attested import AttestedFigure  # noqa: E402
from benchlib import (BenchError, Proc, Procs, children, cpu_of, free_port, is_number,  # noqa: E402
                      loadavg, log, merge_rounds, proc_cpu_seconds, read_http_response, rss_kb, run, scrape_metrics,
                      socket_open, system_cpu_of, wait_port)
from report import plot, print_table, write_markdown  # noqa: E402



REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LUA = BENCH / "wrk" / "kms.lua"

NSM_LATENCY_MS = 5.0
# Idle upstream keep-alive connections per proxy thread / nginx worker.
UPSTREAM_KEEPALIVE = 64
# The latency variant of figures a/b: io.busy_poll_us (see docs/configuration.md).
BUSY_POLL_US = 50

# Credentials the proxy signs with (the stub does not verify signatures).
PROXY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYBENCHKEY",
    "AWS_REGION": "us-east-1",
}


# ----------------------------------------------------------------- helpers --


class Bench(AttestedFigure):
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.build = Path(args.build_dir).resolve()
        self.bin = self.build / "bin"
        self.tmp = Path(tempfile.mkdtemp(prefix="kp-bench-"))
        self.logdir = self.tmp / "logs"
        self.logdir.mkdir()
        self.procs = Procs(self.logdir)
        self.results: dict = {"figures": {}, "runs": {}, "problems": []}
        self.ncpu = os.cpu_count() or 1
        # Durations (seconds). wrk's -d takes whole seconds.
        if self.smoke:
            self.d_run, self.d_warm, self.d_rsa, self.n_starts = 1, 0, 0.3, 1
            self.att_rounds, self.d_att_round = 1, 1
            self.rounds, self.d_round = 1, 1
        else:
            self.d_run, self.d_warm, self.d_rsa, self.n_starts = 5, 1, 1.0, 5
            self.att_rounds, self.d_att_round = 4, 3  # figure c: rounds per variant, seconds each
            self.rounds, self.d_round = 3, 2
        self.c_high = 64
        self.c_attested = args.attested_concurrency
        self.idle_conns = 1000
        self.stub = None
        self.stub_tls = self.stub_http = 0

    # --- tools

    def tool(self, name: str) -> str:
        p = self.bin / name
        if not p.exists():
            raise BenchError(f"{p} not built")
        return str(p)

    def proxy_bin(self) -> str:
        return self.tool("kms-proxy")

    def taskset(self, cpus: str | None) -> list[str]:
        if cpus is None or shutil.which("taskset") is None:
            return []
        return ["taskset", "-c", cpus]

    # --- setup

    def make_tls(self) -> None:
        d = self.tmp / "tls"
        d.mkdir()
        self.ca = d / "ca.pem"
        self.cert = d / "server.pem"
        self.key = d / "server.key"
        ossl = "openssl"
        run([ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(d / "ca.key"), "-out", str(self.ca), "-days", "2", "-subj", "/CN=kp bench CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
            timeout=30)
        run([ossl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(self.key), "-out", str(d / "server.csr"), "-subj", "/CN=localhost"], timeout=30)
        ext = d / "ext.cnf"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        run([ossl, "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(self.ca), "-CAkey",
             str(d / "ca.key"), "-CAcreateserial", "-out", str(self.cert), "-days", "2", "-extfile",
             str(ext)], timeout=30)

    def make_sim_pki(self) -> None:
        self.sim_pki = self.tmp / "sim-pki"
        run([self.proxy_bin(), "sim-pki", "init", str(self.sim_pki)], timeout=60)

    def start_stub(self) -> None:
        self.stub = self.procs.start("stub", [self.tool("kp_kms_stub"), "--cert", str(self.cert),
                                              "--key", str(self.key), "--threads", "1"])
        _, m = self.stub.wait_for(r"ready tls=(\d+) http=(\d+)", 10)
        self.stub_tls, self.stub_http = int(m.group(1)), int(m.group(2))

    def pin(self, proc: Proc, cpus: str | None) -> None:
        """Re-pins every thread of a running process (None: all CPUs)."""
        if shutil.which("taskset") is None:
            return
        mask = cpus if cpus is not None else f"0-{self.ncpu - 1}"
        run(["taskset", "-a", "-p", "-c", mask, str(proc.pid)], timeout=10)

    def proxy_config(self) -> Path:
        """The bench's proxy settings: the upstream pool as large as nginx's
        keepalive cache (UPSTREAM_KEEPALIVE per thread/worker) and room for the
        1,000-connection memory figure. Everything else is the default."""
        path = self.tmp / "kms-proxy.yaml"
        if not path.exists():
            path.write_text("kms_proxy:\n  listen_port: 9999\n  upstream:\n    pool:\n"
                            f"      max_idle_per_host: {UPSTREAM_KEEPALIVE}\n"
                            "  limits:\n    max_connections: 4096\n")
        return path

    def start_proxy(self, name: str, attested: bool, cpus: str | None = None,
                    extra: list[str] | None = None, wrapper: list[str] | None = None,
                    ready_timeout: float = 20.0, log_level: str = "info",
                    defaults: bool = False) -> tuple[Proc, int, float]:
        """Starts kms-proxy serve; returns (process, port, ms from spawn to ready).
        Readiness is the "ready ... listen=" log line (info level); below info
        the port is chosen here and readiness is the first accepted connection.
        defaults=True: no config file (the product's default settings)."""
        quiet = log_level not in ("trace", "debug", "info")
        listen = f"127.0.0.1:{free_port()}" if quiet else "127.0.0.1:0"
        cmd = (wrapper or []) + self.taskset(cpus) + [self.proxy_bin(), "serve"]
        if not defaults:
            cmd += ["--config", str(self.proxy_config())]
        cmd += ["--listen", listen, "--log-level", log_level,
                "--endpoint", f"us-east-1=https://localhost:{self.stub_tls}", "--ca-file", str(self.ca)]
        if attested:
            cmd += ["--attestation", "simulated", "--sim-pki", str(self.sim_pki)]
        else:
            cmd += ["--attestation", "none"]
        cmd += extra or []
        p = self.procs.start(name, cmd, env=PROXY_ENV)
        if quiet:
            port = int(listen.rsplit(":", 1)[1])
            wait_port(port, ready_timeout, p)
            return p, port, (time.monotonic() - p.t_start) * 1000.0
        t, m = p.wait_for(r"ready\b.*listen=127\.0\.0\.1:(\d+)", ready_timeout)
        return p, int(m.group(1)), (t - p.t_start) * 1000.0

    def start_nginx(self, name: str = "nginx", wrapper: list[str] | None = None,
                    single_process: bool = False, ready_timeout: float = 10.0) -> tuple[Proc, int]:
        """nginx as an HTTP -> HTTPS keep-alive reverse proxy to the stub: one
        worker per CPU (as kms-proxy runs one I/O thread per CPU), the same
        upstream keep-alive cache size, access log off, and TLS 1.3 to the
        stub as kms-proxy negotiates (nginx 1.22's default proxy_ssl_protocols
        stops at TLS 1.2, whose records cost OpenSSL 3.0 fewer instructions). single_process: no
        master (for callgrind)."""
        d = self.tmp / name
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = d / "nginx.conf"
        procs = "worker_processes 1;\nmaster_process off;" if single_process else f"worker_processes {self.ncpu};"
        conf.write_text(f"""
{procs}
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  upstream kms {{
    server 127.0.0.1:{self.stub_tls};
    keepalive {UPSTREAM_KEEPALIVE};
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{
      proxy_pass https://kms;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_ssl_server_name on;
      proxy_ssl_name localhost;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {self.ca};
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.3;
    }}
  }}
}}
""")
        p = self.procs.start(name, (wrapper or []) + ["nginx", "-p", str(d), "-c", str(conf),
                                                      "-g", "daemon off;"])
        wait_port(port, ready_timeout, p)
        return p, port

    # --- load

    def wrk(self, label: str, port: int, op: str, conns: int, seconds: int,
            cpus: str | None = None, cpu_pids: list[int] | None = None, record: bool = True) -> dict:
        """One wrk run; CPU time of `cpu_pids` measured around it."""
        out = self.tmp / f"wrk-{label}.json"
        threads = 1 if conns < 8 else min(2, self.ncpu)
        if cpus is not None and "," not in cpus and "-" not in cpus:
            threads = 1
        cmd = self.taskset(cpus) + ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s",
                                    "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}/"]
        env = {"KP_WRK_OP": op, "KP_WRK_OUT": str(out)}
        c0 = cpu_of(cpu_pids) if cpu_pids else 0.0
        s0 = system_cpu_of(cpu_pids) if cpu_pids else 0.0
        t0 = time.monotonic()
        run(cmd, timeout=seconds + 30, env=env)
        wall = time.monotonic() - t0
        c1 = cpu_of(cpu_pids) if cpu_pids else 0.0
        s1 = system_cpu_of(cpu_pids) if cpu_pids else 0.0
        res = json.loads(out.read_text())
        res["rps"] = res["requests"] / (res["duration_us"] / 1e6) if res["duration_us"] else 0.0
        errs = sum(res["errors"].values())
        res["error_count"] = errs
        if cpu_pids:
            res["cpu_seconds"] = c1 - c0
            res["system_cpu_seconds"] = s1 - s0
            res["cpu_us_per_request"] = (c1 - c0) * 1e6 / res["requests"] if res["requests"] else None
        res["wall_seconds"] = wall
        res["concurrency"] = conns
        res["wrk_threads"] = threads
        if errs:
            self.problem(f"{label}: {errs} errors {res['errors']} (of {res['requests']} requests)")
        if record:
            self.results["runs"][label] = res
        log(f"{label:<22} c={conns:<3} {res['rps']:>9.0f} req/s  p50={res['latency_us']['p50']}us "
            f"p99={res['latency_us']['p99']}us" +
            (f"  cpu/req={res['cpu_us_per_request']:.1f}us" if res.get("cpu_us_per_request") else ""))
        return res

    def warm(self, port: int, op: str, conns: int, cpus: str | None = None) -> None:
        if self.d_warm > 0:
            self.wrk("warmup", port, op, conns, self.d_warm, cpus=cpus, record=False)

    def problem(self, msg: str) -> None:
        log("PROBLEM: " + msg)
        self.results["problems"].append(msg)

    def figure(self, name: str, value, **extra) -> None:
        entry = {"value": value}
        entry.update(extra)
        self.results["figures"][name] = entry

    # --- figures a + b

    def fig_passthrough(self) -> None:
        """a + b. "proxy": the bench config (upstream pool as large as nginx's
        keepalive cache, --log-level warn as nginx has access_log off);
        "proxy-busypoll": the same with io.busy_poll_us (threads poll for
        BUSY_POLL_US after each event instead of sleeping at once: latency
        for CPU); "proxy-defaults": the product's defaults (the same pool
        size, one info log line per request), without a target."""
        m1, m2, m3 = free_port(), free_port(), free_port()
        proxy, pport, _ = self.start_proxy("proxy-passthrough", attested=False, log_level="warn",
                                           extra=["--metrics-listen", f"127.0.0.1:{m1}"])
        proxy_bp, bport, _ = self.start_proxy("proxy-passthrough-busypoll", attested=False, log_level="warn",
                                              extra=["--metrics-listen", f"127.0.0.1:{m3}",
                                                     "--busy-poll-us", str(BUSY_POLL_US)])
        proxy_def, dport, _ = self.start_proxy("proxy-passthrough-defaults", attested=False, defaults=True,
                                               extra=["--metrics-listen", f"127.0.0.1:{m2}"])
        nginx, nport = self.start_nginx()
        nginx_pids = [nginx.pid] + children(nginx.pid)
        runs = {}
        targets = (("direct", self.stub_http, [self.stub.pid]), ("proxy", pport, [proxy.pid]),
                   ("nginx", nport, nginx_pids), ("proxy-busypoll", bport, [proxy_bp.pid]),
                   ("proxy-defaults", dport, [proxy_def.pid]))
        try:
            for conns in (1, self.c_high):
                for _, port, _ in targets:
                    self.warm(port, "encrypt", conns)
                # Interleaved rounds, so a burst of other load on the machine hits
                # every target alike; CPU is summed, latency percentiles are the
                # median over rounds.
                rounds: dict[str, list[dict]] = {t: [] for t, _, _ in targets}
                for r in range(self.rounds):
                    for target, port, pids in targets:
                        rounds[target].append(self.wrk(f"{target}-encrypt-c{conns}-r{r}", port, "encrypt",
                                                       conns, self.d_round, cpu_pids=pids, record=False))
                for target, _, _ in targets:
                    runs[(target, conns)] = merge_rounds(rounds[target])
                    self.results["runs"][f"{target}-encrypt-c{conns}"] = runs[(target, conns)]
            for label, mport in (("proxy", m1), ("proxy-busypoll", m3), ("proxy-defaults", m2)):
                try:
                    m = scrape_metrics(mport)
                    self.results["runs"][f"{label}-upstream-pool"] = {
                        k: v for k, v in m.items() if k.startswith("kms_proxy_upstream_")}
                except OSError as e:
                    self.problem(f"metrics of {label}: {e}")
        finally:
            self.procs.stop(nginx)
            self.procs.stop(proxy_def)
            self.procs.stop(proxy_bp)
            self.procs.stop(proxy)

        def cpu(t, c):
            return runs[(t, c)].get("cpu_us_per_request")

        def system_cpu(t, c):
            return runs[(t, c)].get("system_cpu_us_per_request")

        variants = (("proxy", ""), ("proxy-busypoll", "_busy_poll"), ("proxy-defaults", "_defaults"))
        for c in (1, self.c_high):
            n = cpu("nginx", c)
            for variant, suffix in variants:
                p = cpu(variant, c)
                main = not suffix and c == self.c_high
                self.figure(f"a_cpu_per_request_ratio_vs_nginx_c{c}{suffix}", p / n if p and n else None,
                            unit="x", target=1.0 if main else None, limit=1.5 if main else None,
                            proxy_cpu_us=p, nginx_cpu_us=n,
                            proxy_system_cpu_us=system_cpu(variant, c), nginx_system_cpu_us=system_cpu("nginx", c),
                            proxy_rps=runs[(variant, c)]["rps"], nginx_rps=runs[("nginx", c)]["rps"])
            for q in ("p50", "p99"):
                d = runs[("direct", c)]["latency_us"][q]
                for variant, suffix in variants:
                    v = runs[(variant, c)]["latency_us"][q]
                    # The target is shown for the bench settings with and without busy polling.
                    self.figure(f"b_added_latency_{q}_c{c}{suffix}_us", v - d, unit="us",
                                target=50 if (c == 1 and q == "p50" and suffix != "_defaults") else None,
                                direct_us=d, proxy_us=v,
                                nginx_added_us=runs[("nginx", c)]["latency_us"][q] - d)

    # --- figure c: AttestedFigure, attested.py

    # --- figure d

    def fig_coalescing(self) -> None:
        mport = free_port()
        proxy, port, _ = self.start_proxy("proxy-coalescing", attested=True, log_level="warn",
                                          extra=["--sim-nsm-latency", f"{int(NSM_LATENCY_MS)}ms",
                                                 "--metrics-listen", f"127.0.0.1:{mport}"])
        calls = {}
        try:
            self.warm(port, "decrypt", self.c_high)
            one = self.wrk("proxy-attested-nsm5ms-c1", port, "decrypt", 1, max(1, self.d_run // 2),
                           cpu_pids=[proxy.pid])
            m0 = self.nsm_calls(mport)
            res = self.wrk(f"proxy-attested-nsm5ms-c{self.c_high}", port, "decrypt", self.c_high,
                           self.d_run, cpu_pids=[proxy.pid])
            m1 = self.nsm_calls(mport)
            if m0 is not None and m1 is not None and m1 > m0:
                calls = {"nsm_calls": m1 - m0, "requests_per_nsm_call": res["requests"] / (m1 - m0)}
        finally:
            self.procs.stop(proxy)
        reference = 1000.0 / NSM_LATENCY_MS
        ok = res["requests"] and not res["error_count"]
        self.figure("d_coalescing_ratio_vs_one_call_per_request", res["rps"] / reference if ok else None,
                    unit="x", target=10.0, rps=res["rps"], reference_rps=reference,
                    nsm_latency_ms=NSM_LATENCY_MS, measured_c1_rps=one["rps"], concurrency=self.c_high,
                    **calls)

    def nsm_calls(self, mport: int) -> float | None:
        return self.proxy_counters(mport).get("nsm_calls")

    # --- figure e

    def fig_memory(self) -> None:
        proxy, port, _ = self.start_proxy("proxy-memory", attested=True)
        try:
            time.sleep(1.0)
            idle = rss_kb(proxy.pid)
            socks = []
            req = self.encrypt_request()
            try:
                for _ in range(self.idle_conns):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(req)
                    read_http_response(s)
                    socks.append(s)
                time.sleep(1.0)
                loaded = rss_kb(proxy.pid)
                alive = sum(1 for s in socks if socket_open(s))
            finally:
                for s in socks:
                    s.close()
        finally:
            self.procs.stop(proxy)
        self.results["runs"]["memory"] = {"idle": idle, "with_conns": loaded, "conns": self.idle_conns,
                                          "conns_still_open": alive}
        if alive != self.idle_conns:
            self.problem(f"memory: only {alive} of {self.idle_conns} connections still open")
        self.figure("e_rss_idle_mb", idle["VmRSS"] / 1024.0, unit="MB", target=16)
        self.figure("e_rss_1000_idle_conns_mb", loaded["VmRSS"] / 1024.0, unit="MB", target=48,
                    per_conn_kb=(loaded["VmRSS"] - idle["VmRSS"]) / self.idle_conns)

    def encrypt_request(self) -> bytes:
        body = b'{"KeyId":"alias/bench","Plaintext":"SGVsbG8="}'
        head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
                "X-Amz-Target: TrentService.Encrypt\r\nX-Amz-Date: 20240101T000000Z\r\n"
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/kms/"
                "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
                + "0" * 64 + f"\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    # --- figure f

    def fig_startup(self) -> None:
        """f. Spawn to the "ready" log line, simulated attestation (so the RSA
        key pair is generated), default settings. The CPU time the process
        used until then is recorded too (insensitive to other load)."""
        times, cpu_ms = [], []
        for i in range(self.n_starts):
            proxy, _, ms = self.start_proxy(f"proxy-start-{i}", attested=True, defaults=True)
            try:
                cpu_ms.append(proc_cpu_seconds(proxy.pid) * 1000.0)
            except OSError:
                pass
            self.procs.stop(proxy)
            times.append(ms)
        self.results["runs"]["start_to_ready_ms"] = times
        self.results["runs"]["start_cpu_ms"] = cpu_ms
        self.figure("f_start_to_ready_ms", statistics.median(times), unit="ms", target=200,
                    max_ms=max(times), starts=len(times),
                    cpu_ms_median=statistics.median(cpu_ms) if cpu_ms else None)
        log(f"start to ready: {', '.join(f'{t:.0f}' for t in times)} ms "
            f"(cpu {', '.join(f'{t:.0f}' for t in cpu_ms)} ms)")

    # --- figure g

    def fig_micro(self) -> None:
        out = self.tmp / "micro.json"
        min_time = "0.01" if self.smoke else "0.3"
        run([self.tool("kp_micro_bench"), f"--benchmark_min_time={min_time}",
             f"--benchmark_out={out}", "--benchmark_out_format=json"], timeout=300)
        data = json.loads(out.read_text())
        micro = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            # CPU time: single-threaded loops, insensitive to other load on the machine.
            micro[b["name"]] = b["cpu_time"] * scale
        self.results["runs"]["micro_context"] = data.get("context", {})
        for name, ns in micro.items():
            self.figure(f"g_{name}_ns", ns, unit="ns")
        log(f"micro: {len(micro)} benchmarks")

    # --- machine

    def machine(self) -> dict:
        info = {"cpus": self.ncpu}
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
            for line in open("/proc/meminfo"):
                if line.startswith("MemTotal"):
                    info["mem_total_mb"] = int(line.split()[1]) // 1024
        except OSError:
            pass
        info["kernel"] = os.uname().release
        info["loadavg_at_start"] = loadavg()

        def ver(cmd, rx):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                m = re.search(rx, r.stdout + r.stderr)
                return m.group(1) if m else None
            except (OSError, subprocess.SubprocessError):
                return None

        info["openssl"] = ver(["openssl", "version"], r"OpenSSL (\S+)")
        info["nginx"] = ver(["nginx", "-v"], r"nginx/(\S+)")
        info["wrk"] = ver(["wrk", "--version"], r"wrk (\S+)")
        info["compiler"] = ver(["c++", "--version"], r"\(.*?\) (\S+)")
        try:
            for line in open(self.build / "CMakeCache.txt"):
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    info["build_type"] = line.split("=", 1)[1].strip()
        except OSError:
            pass
        info["git_commit"] = ver(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], r"(\S+)")
        return info

    # --- main

    def run_all(self) -> int:
        t_begin = time.monotonic()
        self.results["schema"] = 1
        self.results["mode"] = "smoke" if self.smoke else "full"
        self.results["started_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.results["machine"] = self.machine()
        self.results["config"] = {"duration_s": self.d_run, "warmup_s": self.d_warm,
                                  "passthrough_rounds": self.rounds, "passthrough_round_s": self.d_round,
                                  "attested_rounds": self.att_rounds, "attested_round_s": self.d_att_round,
                                  "rsa_reference_s": self.d_rsa, "concurrency_high": self.c_high,
                                  "attested_concurrency": self.c_attested, "idle_conns": self.idle_conns,
                                  "starts": self.n_starts, "nsm_latency_ms": NSM_LATENCY_MS}
        steps = [("ab", "a+b pass-through", self.fig_passthrough),
                 ("c", "c attested pinned", self.fig_attested_pinned),
                 ("d", "d coalescing", self.fig_coalescing), ("e", "e memory", self.fig_memory),
                 ("f", "f start to ready", self.fig_startup), ("g", "g micro", self.fig_micro)]
        only = set(self.args.only.replace(",", "")) if self.args.only else None
        try:
            self.make_tls()
            self.make_sim_pki()
            self.start_stub()
            for letters, name, fn in steps:
                if only and not (only & set(letters)):
                    continue
                log(f"--- {name}")
                try:
                    fn()
                except (BenchError, subprocess.SubprocessError, OSError, KeyError, ValueError) as e:
                    self.problem(f"{name}: {e}")
            if self.args.profile:
                from profile_proxy import profile  # bench/profile_proxy.py
                profile(self, BenchError, log)
        except BenchError as e:
            self.problem(str(e))
        finally:
            self.procs.stop_all()
        self.results["elapsed_s"] = round(time.monotonic() - t_begin, 1)
        self.results["machine"]["loadavg_at_end"] = loadavg()
        return self.finish()

    def expected_figures(self) -> list[str]:
        by_letter = {
            "a": [f"a_cpu_per_request_ratio_vs_nginx_c{c}" for c in (1, self.c_high)],
            "b": [f"b_added_latency_{q}_c{c}{s}_us" for c in (1, self.c_high) for q in ("p50", "p99")
                  for s in ("", "_busy_poll")],
            "c": ["c_attested_throughput_ratio_vs_rsa", "c_attested_cpu_ratio_vs_rsa",
                  "c_attested_throughput_ratio_vs_rsa_nsm_offloaded"],
            "d": ["d_coalescing_ratio_vs_one_call_per_request"],
            "e": ["e_rss_idle_mb", "e_rss_1000_idle_conns_mb"],
            "f": ["f_start_to_ready_ms"],
            "g": ["g_BM_SigV4_SignRequest_Encrypt_ns", "g_BM_Kms_AddRecipient_ns",
                  "g_BM_Crypto_OpenEnveloped_ns", "g_BM_Attestation_VerifyDocument_Simulated_ns"],
        }
        only = set(self.args.only.replace(",", "")) if self.args.only else set(by_letter)
        if "a" in only or "b" in only:
            only |= {"a", "b"}
        return [n for letter, names in by_letter.items() if letter in only for n in names]

    def finish(self) -> int:
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.results, indent=1, sort_keys=False) + "\n")
        print_table(self.results)
        write_markdown(self.results, out.with_suffix(".md"))
        if shutil.which("gnuplot"):
            try:
                plot(self.results, out.with_suffix(".png"), self.tmp)
                print(f"plot:    {out.with_suffix('.png')}")
            except (BenchError, subprocess.SubprocessError, OSError) as e:
                self.problem(f"plot: {e}")
        else:
            print("plot:    skipped (gnuplot not installed: apt-get install gnuplot-nox)")
        print(f"results: {out}")
        missing = [n for n in self.expected_figures() if not is_number(self.results["figures"].get(n, {}).get("value"))]
        if not self.args.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"logs:    {self.logdir}")
        if missing:
            print(f"MISSING figures (not produced or not a number): {', '.join(missing)}")
            for p in self.results["problems"]:
                print(f"  problem: {p}")
            return 1
        if self.results["problems"]:
            for p in self.results["problems"]:
                print(f"  problem: {p}")
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build-bench"))
    ap.add_argument("--smoke", action="store_true", help="every figure, briefly (CI)")
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/latest.json, "
                                                "smoke: bench/results/smoke.json)")
    ap.add_argument("--only", default="", help="comma list of figure letters: a,b,c,d,e,f,g")
    ap.add_argument("--profile", action="store_true",
                    help="also profile (perf, strace, callgrind; ~3 min; reports in <out dir>/profile/)")
    ap.add_argument("--profile-only", action="store_true", help="profile, no figures")
    ap.add_argument("--attested-concurrency", type=int, default=16)
    ap.add_argument("--keep-tmp", action="store_true", help="keep logs and configs")
    args = ap.parse_args()
    if args.profile_only:
        args.profile, args.only = True, "-"
    if args.out is None:
        name = "profile.json" if args.profile_only else "smoke.json" if args.smoke else "latest.json"
        args.out = str(BENCH / "results" / name)
    # 1,000 client sockets here and as many in kms-proxy (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    b = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return b.run_all()
    except KeyboardInterrupt:
        b.procs.stop_all()
        return 130


if __name__ == "__main__":
    sys.exit(main())
