"""Profiles of kms-proxy under the benchmark load (bench.py --profile).

perf (cpu-clock sampling: this machine's VM exposes no hardware cycle
counter, so "share of cycles" is the share of CPU-time samples) and
callgrind (instruction counts: repeatable whatever else the machine does).
Reports go to bench/results/profile/ as plain text; a summary of the top
symbols goes into the JSON under "profile".
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path


def _top_perf(report: str, n: int = 25) -> list[dict]:
    out = []
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[[.kH]\]\s+(.*)$", line)
        if m:
            out.append({"pct": float(m.group(1)), "comm": m.group(2), "dso": m.group(3),
                        "symbol": m.group(4).strip()})
        if len(out) >= n:
            break
    return out


def _top_callgrind(text: str, n: int = 30) -> list[dict]:
    out = []
    total = None
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*?):(.*?)\s*(\[.*\])?$", line)
        if m and total is not None and "PROGRAM TOTALS" not in line:
            out.append({"ir": int(m.group(1).replace(",", "")), "pct": float(m.group(2)),
                        "file": m.group(3).strip(), "function": m.group(4).strip()})
        if len(out) >= n:
            break
    return out


def _perf_run(bench, label: str, proxy_pid: int, port: int, op: str, conns: int, seconds: int,
              cpus: str | None, outdir: Path) -> dict:
    data = bench.tmp / f"perf-{label}.data"
    # DWARF unwinding: the Release binary and libcrypto have no frame pointers,
    # but both carry .eh_frame, so inclusive ("children") shares by function work.
    rec = bench.procs.start(f"perf-{label}", ["perf", "record", "-e", "cpu-clock", "-F", "499",
                                              "--call-graph", "dwarf,16384",
                                              "-p", str(proxy_pid), "-o", str(data)])
    time.sleep(0.5)
    res = bench.wrk(f"profile-{label}", port, op, conns, seconds, cpus=cpus, cpu_pids=[proxy_pid],
                    record=False)
    rec.p.send_signal(signal.SIGINT)
    try:
        rec.p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    bench.procs.stop(rec)
    flat = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                           "--sort", "comm,dso,symbol", "--percent-limit", "0.3"],
                          capture_output=True, text=True, timeout=300).stdout
    by_dso = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                             "--sort", "dso", "--percent-limit", "0.5"],
                            capture_output=True, text=True, timeout=300).stdout
    inclusive = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children", "-g", "none",
                                "--sort", "symbol", "--percent-limit", "1"],
                               capture_output=True, text=True, timeout=600).stdout
    by_thread = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                                "--sort", "tid", "--percent-limit", "0.5"],
                               capture_output=True, text=True, timeout=300).stdout
    (outdir / f"perf-{label}.txt").write_text(flat + "\n\n# by DSO\n" + by_dso + "\n\n# by thread\n" + by_thread)
    (outdir / f"perf-{label}-inclusive.txt").write_text(inclusive)
    return {"rps": res["rps"], "cpu_us_per_request": res.get("cpu_us_per_request"),
            "top": _top_perf(flat), "by_dso": _top_perf_dso(by_dso)}


def _top_perf_dso(report: str) -> list[dict]:
    out = []
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s*$", line)
        if m:
            out.append({"pct": float(m.group(1)), "dso": m.group(2)})
    return out


def _callgrind_run(bench, label: str, outdir: Path, attested: bool = False, op: str = "encrypt",
                   nginx: bool = False) -> dict:
    """Instructions per request of kms-proxy (or nginx) under a small steady
    load: instrumentation is switched on after a warm-up (so startup, RSA key
    generation and connection setup are excluded) and dumped after the run."""
    cg_out = bench.tmp / f"callgrind-{label}.out"
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={cg_out}"]
    if nginx:
        proc, port = bench.start_nginx(f"nginx-callgrind-{label}", wrapper=wrapper, single_process=True,
                                       ready_timeout=120)
    else:
        proc, port, _ = bench.start_proxy(f"proxy-callgrind-{label}", attested=attested, wrapper=wrapper,
                                          ready_timeout=180, log_level="warn")
    try:
        bench.wrk(f"callgrind-warm-{label}", port, op, 4, 2, record=False)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, timeout=60)
        res = bench.wrk(f"callgrind-{label}", port, op, 4, 6, record=False)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, timeout=120)
        time.sleep(1)
    finally:
        bench.procs.stop(proc)
    files = [p for p in bench.tmp.glob(f"callgrind-{label}.out.*")]
    if not files:
        return {"error": "no callgrind dump"}
    dump = max(files, key=lambda p: p.stat().st_size)
    texts = []
    for inclusive in ("no", "yes"):
        texts.append(subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=99",
                                     str(dump)], capture_output=True, text=True, timeout=300).stdout)
    (outdir / f"callgrind-{label}.txt").write_text(texts[0])
    (outdir / f"callgrind-{label}-inclusive.txt").write_text(texts[1])
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", "--threshold=99", str(dump)],
                          capture_output=True, text=True, timeout=300).stdout
    allocs = _allocation_calls(tree)
    total = None
    m = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", texts[0])
    if m:
        total = int(m.group(1).replace(",", ""))
    requests = res["requests"]
    # wrk counts requests that completed; in-flight ones at the end add < c/requests error.
    return {"requests_counted": requests, "instructions": total,
            "instructions_per_request": total / requests if total and requests else None,
            "allocations_per_request": allocs / requests if allocs is not None and requests else None,
            "top_exclusive": _top_callgrind(texts[0]), "top_inclusive": _top_callgrind(texts[1])}


def _allocation_calls(tree_text: str) -> int | None:
    """Calls of malloc and calloc from a `callgrind_annotate --tree=caller`
    report (operator new, OpenSSL's CRYPTO_malloc and, through glibc's
    memalign, Asio's aligned_new all end in malloc). In that report the
    callers of a function are listed, each with its call count "(Nx)", just
    above the line that names the function with a leading '*'."""
    wanted = re.compile(r"^\s*[\d,]+ \([\s\d.]+%\)\s+\*\s+\S*:(malloc|calloc) ")
    lines = tree_text.splitlines()
    total, found = 0, False
    for i, line in enumerate(lines):
        if not wanted.match(line):
            continue
        found = True
        j = i - 1
        while j >= 0 and "<" in lines[j] and "*" not in lines[j].split("<", 1)[0]:
            m = re.search(r"\(([\d,]+)x\)", lines[j])
            if m:
                total += int(m.group(1).replace(",", ""))
            j -= 1
    return total if found else None


def _strace_counts(bench, label: str, pids: list[int], port: int, conns: int, outdir: Path) -> dict:
    """System calls per request (strace -c over every thread of `pids`)."""
    out = bench.tmp / f"strace-{label}.txt"
    cmd = ["strace", "-f", "-c", "-o", str(out)]
    for pid in pids:
        cmd += ["-p", str(pid)]
    tracer = bench.procs.start(f"strace-{label}", cmd)
    time.sleep(0.5)
    res = bench.wrk(f"strace-{label}", port, "encrypt", conns, 2, record=False)
    tracer.p.send_signal(signal.SIGINT)
    try:
        tracer.p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    bench.procs.stop(tracer)
    text = out.read_text() if out.exists() else ""
    (outdir / f"strace-{label}.txt").write_text(text)
    per_req: dict[str, float] = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls = int(f[3])
            per_req[f[-1]] = round(calls / res["requests"], 2) if res["requests"] else 0
    total = round(sum(per_req.values()), 2)
    log_line = ", ".join(f"{k} {v}" for k, v in sorted(per_req.items(), key=lambda kv: -kv[1]) if v >= 0.05)
    return {"requests": res["requests"], "syscalls_per_request": total, "by_syscall": per_req,
            "summary": log_line}


def profile(bench, BenchError, log) -> None:  # noqa: N803 (the driver's exception class)
    outdir = Path(bench.args.out).parent / "profile"
    outdir.mkdir(parents=True, exist_ok=True)
    prof: dict = {}
    seconds = 1 if bench.smoke else 5
    if shutil.which("perf"):
        log("--- profile: perf")
        proxy, port, _ = bench.start_proxy("proxy-perf-passthrough", attested=False, log_level="warn")
        try:
            bench.warm(port, "encrypt", 16)
            prof["perf_passthrough_c16"] = _perf_run(bench, "passthrough", proxy.pid, port, "encrypt", 16,
                                                     seconds, None, outdir)
        finally:
            bench.procs.stop(proxy)
        cpu = str(bench.ncpu - 1)
        proxy, port, _ = bench.start_proxy("proxy-perf-attested", attested=True, cpus=cpu, log_level="warn",
                                           extra=["--threads", "1"])
        bench.pin(bench.stub, "0")
        try:
            bench.warm(port, "decrypt", bench.c_attested, cpus="0")
            prof["perf_attested_pinned"] = _perf_run(bench, "attested", proxy.pid, port, "decrypt",
                                                     bench.c_attested, seconds, "0", outdir)
        finally:
            bench.pin(bench.stub, None)
            bench.procs.stop(proxy)
    else:
        bench.problem("profile: perf not installed")
    if shutil.which("strace"):
        log("--- profile: strace (system calls per pass-through request)")
        from benchlib import children  # the driver's helper
        proxy, port, _ = bench.start_proxy("proxy-strace", attested=False, log_level="warn")
        nginx, nport = bench.start_nginx("nginx-strace")
        try:
            for conns in (1, 16):
                bench.warm(port, "encrypt", conns)
                prof[f"strace_proxy_c{conns}"] = _strace_counts(bench, f"proxy-c{conns}", [proxy.pid], port,
                                                                conns, outdir)
                bench.warm(nport, "encrypt", conns)
                prof[f"strace_nginx_c{conns}"] = _strace_counts(bench, f"nginx-c{conns}", children(nginx.pid),
                                                                nport, conns, outdir)
                log(f"syscalls/request c={conns}: kms-proxy {prof[f'strace_proxy_c{conns}']['summary']} | "
                    f"nginx {prof[f'strace_nginx_c{conns}']['summary']}")
        finally:
            bench.procs.stop(nginx)
            bench.procs.stop(proxy)
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        log("--- profile: callgrind")
        try:
            prof["callgrind_passthrough"] = _callgrind_run(bench, "passthrough", outdir)
            prof["callgrind_nginx"] = _callgrind_run(bench, "nginx", outdir, nginx=True)
            prof["callgrind_attested"] = _callgrind_run(bench, "attested", outdir, attested=True, op="decrypt")
            p, n = (prof["callgrind_passthrough"].get("instructions_per_request"),
                    prof["callgrind_nginx"].get("instructions_per_request"))
            if p and n:
                bench.figure("a_instructions_per_request_ratio_vs_nginx", p / n, unit="x",
                             proxy_instructions=p, nginx_instructions=n)
                log(f"callgrind: {p:.0f} instructions/request (kms-proxy) vs {n:.0f} (nginx): {p / n:.2f}x")
            pa, na = (prof["callgrind_passthrough"].get("allocations_per_request"),
                      prof["callgrind_nginx"].get("allocations_per_request"))
            if pa is not None and na is not None:
                bench.figure("a_allocations_per_request", pa, unit="", nginx_allocations=na)
                log(f"callgrind: {pa:.1f} allocations/request (kms-proxy) vs {na:.1f} (nginx)")
        except BenchError as e:
            bench.problem(f"profile: callgrind: {e}")
    else:
        bench.problem("profile: valgrind/callgrind_control not installed")
    bench.results["profile"] = prof
    log(f"profile reports in {outdir}")
