"""Process handling, /proc readers and small socket helpers for bench.py."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------- processes --


class Proc:
    """A child process whose merged output is pumped into a log file by a
    thread; `wait_for(regex)` waits for a line matching it."""

    def __init__(self, name: str, cmd: list[str], logdir: Path, env: dict | None = None):
        self.name = name
        self.cmd = cmd
        self.log_path = logdir / f"{name}.log"
        self._lines: list[tuple[float, str]] = []
        self._cv = threading.Condition()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.t_start = time.monotonic()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=full_env)
        self.pid = self.p.pid
        self._pump = threading.Thread(target=self._run_pump, daemon=True)
        self._pump.start()

    def _run_pump(self) -> None:
        with open(self.log_path, "w", encoding="utf-8", errors="replace") as out:
            assert self.p.stdout is not None
            for raw in self.p.stdout:
                now = time.monotonic()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                with self._cv:
                    self._lines.append((now, line))
                    self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, re.Match]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                while seen < len(self._lines):
                    t, line = self._lines[seen]
                    seen += 1
                    m = rx.search(line)
                    if m:
                        return t, m
                if self.p.poll() is not None and not self._pump.is_alive():
                    raise BenchError(f"{self.name} exited with {self.p.returncode} before "
                                     f"printing /{pattern}/ (see {self.log_path}): {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{self.name}: no /{pattern}/ within {timeout}s "
                                     f"(see {self.log_path}): {self.tail()}")
                self._cv.wait(min(left, 0.2))

    def tail(self, n: int = 3) -> str:
        with self._cv:
            return " | ".join(line for _, line in self._lines[-n:])

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._pump.join(timeout=2)


class Procs:
    """Every long-running child, stopped (by pid) at the end, newest first."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.items: list[Proc] = []

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> Proc:
        p = Proc(name, cmd, self.logdir, env)
        self.items.append(p)
        return p

    def stop(self, p: Proc) -> None:
        p.stop()
        if p in self.items:
            self.items.remove(p)

    def stop_all(self) -> None:
        for p in reversed(self.items):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {p.name}: {e}")
        self.items.clear()


def run(cmd: list[str], timeout: float, env: dict | None = None, check: bool = True) -> str:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, env=full_env)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])}... exited {r.returncode}: {r.stderr.strip()[-400:]}")
    return r.stdout


# ------------------------------------------------------------- /proc reads --


def _stat_cpu(path: str) -> tuple[float, float]:
    """(utime, stime) from a /proc .../stat file (fields 14 and 15)."""
    with open(path) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process (all threads, dead ones included)."""
    return _stat_cpu(f"/proc/{pid}/stat")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads, dead ones included)."""
    return sum(proc_cpu_split(pid))


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def thread_cpu(pid: int) -> dict[int, float]:
    """utime + stime per thread of `pid`."""
    out: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(tid)] = sum(_stat_cpu(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:
            continue
    return out


def cpu_of(pids: list[int]) -> float:
    return sum(proc_cpu_seconds(p) for p in pids)


def system_cpu_of(pids: list[int]) -> float:
    """stime (CPU time in the kernel) of `pids`."""
    return sum(proc_cpu_split(p)[1] for p in pids)


def rss_kb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def scrape_metrics(port: int) -> dict[str, float]:
    """Samples of a Prometheus text page (GET /metrics), keyed by name with
    its labels as written (`name{phase="decryption"}`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out: dict[str, float] = {}
    for line in data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+([-+0-9.eE]+|NaN)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free now and not handed out before in this run (the
    kernel may give a just-closed port to the next bind(0), and two of the
    bench's own choices must not meet, e.g. a listener and a metrics port)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise BenchError("no fresh loopback port after 100 tries")


def wait_port(port: int, timeout: float, proc: "Proc | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise BenchError(f"{proc.name} exited with {proc.p.returncode}: {proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def loadavg() -> list[float]:
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return []


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_http_response(s: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError("connection closed before a response")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError("connection closed mid-body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        status = head.split(b"\r\n")[0]
        raise BenchError(f"unexpected response: {status!r}")
    return body


def socket_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def merge_rounds(rs: list[dict]) -> dict:
    """One record from interleaved rounds of the same target: totals for
    requests/CPU, median of each latency percentile, the median round's curve."""
    req = sum(r["requests"] for r in rs)
    dur = sum(r["duration_us"] for r in rs)
    out = {"op": rs[0]["op"], "concurrency": rs[0]["concurrency"], "rounds": len(rs), "requests": req,
           "duration_us": dur, "rps": req / (dur / 1e6) if dur else 0.0,
           "error_count": sum(r["error_count"] for r in rs),
           "latency_us": {q: statistics.median(r["latency_us"][q] for r in rs)
                          for q in ("min", "max", "mean", "p50", "p90", "p99", "p999")},
           "rounds_p50_us": [r["latency_us"]["p50"] for r in rs],
           "rounds_p99_us": [r["latency_us"]["p99"] for r in rs]}
    mid = sorted(rs, key=lambda r: r["latency_us"]["p50"])[len(rs) // 2]
    out["percentiles"] = mid["percentiles"]
    if all("cpu_seconds" in r for r in rs):
        cpu = sum(r["cpu_seconds"] for r in rs)
        out["cpu_seconds"] = cpu
        out["cpu_us_per_request"] = cpu * 1e6 / req if req else None
        sys_cpu = sum(r["system_cpu_seconds"] for r in rs)
        out["system_cpu_us_per_request"] = sys_cpu * 1e6 / req if req else None
        out["rounds_cpu_us_per_request"] = [r.get("cpu_us_per_request") for r in rs]
    return out
