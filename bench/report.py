"""The result table and the latency plot of bench.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchlib import is_number, run


def fmt(v, unit="") -> str:
    if not is_number(v):
        return "n/a"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "ns":
        return f"{v / 1000:.2f} us" if v >= 10000 else f"{v:.0f} ns"
    if abs(v) >= 100:
        return f"{v:.0f} {unit}".strip()
    return f"{v:.1f} {unit}".strip()


def verdict(name: str, f: dict) -> str:
    v, t, lim = f.get("value"), f.get("target"), f.get("limit")
    if not is_number(v) or t is None:
        return ""
    higher_is_better = name.startswith(("c_", "d_"))
    ok = v >= t if higher_is_better else v <= t
    if ok:
        return "meets target"
    if lim is not None and v <= lim:
        return "misses target, within limit"
    return "MISSES target"


def detail(name: str, f: dict) -> str:
    """The measurements behind a figure, in a few words."""
    def n(k, spec=".0f"):
        v = f.get(k)
        return format(v, spec) if is_number(v) else "?"
    if name.startswith("a_instructions"):
        return f"{n('proxy_instructions')} vs {n('nginx_instructions')} instructions/request (callgrind)"
    if name.startswith("a_allocations"):
        return f"nginx {n('nginx_allocations', '.1f')} (malloc/calloc calls per request, callgrind)"
    if name.startswith("a_"):
        return (f"cpu/req {n('proxy_cpu_us', '.1f')} us vs nginx {n('nginx_cpu_us', '.1f')} us "
                f"(kernel {n('proxy_system_cpu_us', '.1f')} vs {n('nginx_system_cpu_us', '.1f')}); "
                f"{n('proxy_rps')} vs {n('nginx_rps')} req/s")
    if name.startswith("b_"):
        return f"proxy {n('proxy_us')} us, direct {n('direct_us')} us (nginx adds {n('nginx_added_us')} us)"
    if name == "c_attested_cpu_ratio_vs_rsa":
        return f"RSA {n('rsa_cpu_us_per_op', '.0f')} us cpu/op; proxy {n('proxy_cpu_us_per_request')} us cpu/req"
    if name.startswith("c_attested_io_thread_cpu_ratio_vs_rsa"):
        where = "all on one core" if name.endswith("_one_core") else "NSM offloaded"
        return (f"RSA {n('rsa_cpu_us_per_op', '.0f')} us cpu/op; I/O thread "
                f"{n('io_thread_cpu_us_per_request', '.0f')} us cpu/req ({where})")
    if name.startswith("c_"):
        return (f"{n('rps')} req/s; RSA {n('rsa_us_per_op')} us/op ({n('rsa_ops_per_sec')}/s); "
                f"{n('requests_per_nsm_call', '.1f')} req/NSM call")
    if name.startswith("d_"):
        return (f"{n('rps')} req/s vs {n('reference_rps')}/s; {n('requests_per_nsm_call', '.1f')} req/NSM call; "
                f"c=1: {n('measured_c1_rps')} req/s")
    if name == "e_rss_1000_idle_conns_mb":
        return f"{n('per_conn_kb', '.1f')} KB per connection"
    if name.startswith("f_"):
        return f"median of {n('starts')}; max {n('max_ms')} ms; cpu {n('cpu_ms_median')} ms (median)"
    return ""


def table_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, f in results["figures"].items():
        unit = f.get("unit", "")
        target = f.get("target")
        tgt = ""
        if target is not None:
            rel = ">=" if name.startswith(("c_", "d_")) else "<="
            tgt = f"{rel} {fmt(target, unit)}"
            if f.get("limit") is not None:
                tgt += f" (limit {fmt(f['limit'], unit)})"
        rows.append((name, fmt(f.get("value"), unit), tgt, verdict(name, f), detail(name, f)))
    return rows


def machine_line(results: dict) -> str:
    m = results.get("machine", {})
    return (f"{m.get('cpu_model')} x{m.get('cpus')}, {m.get('mem_total_mb')} MB, kernel {m.get('kernel')}, "
            f"OpenSSL {m.get('openssl')}, nginx {m.get('nginx')}, wrk {m.get('wrk')}, g++ {m.get('compiler')}, "
            f"build {m.get('build_type')} @ {m.get('git_commit')}; mode {results.get('mode')}, "
            f"{results.get('elapsed_s')} s, load average {m.get('loadavg_at_start')} -> {m.get('loadavg_at_end')}")


def print_table(results: dict) -> None:
    rows = table_rows(results)
    head = ("figure", "value", "target", "status", "measured")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = "  ".join(h.ljust(w[i]) for i, h in enumerate(head))
    print()
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print(f"\nmachine: {machine_line(results)}")
    busy = (results.get("machine", {}).get("loadavg_at_start") or [0])[0]
    if busy > 0.5:
        print(f"note: the machine was busy (1-min load {busy}) when the run started: "
              "wall-clock figures are pessimistic; CPU-time figures (a, c cpu) are less affected")


def write_markdown(results: dict, path: Path) -> None:
    """The same table as Markdown (docs/performance.md quotes it)."""
    out = ["| figure | value | target | status | measured |", "|---|---|---|---|---|"]
    for r in table_rows(results):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    out.append("")
    out.append(f"Machine: {machine_line(results)}.")
    path.write_text("\n".join(out) + "\n")


def plot(results: dict, png: Path, tmp: Path) -> None:
    """Latency percentile curves (HDR-style x axis) of every recorded run."""
    runs = results["runs"]
    panels = [("pass-through Encrypt", [k for k in runs if "encrypt" in k]),
              ("attested Decrypt", [k for k in runs if "attested" in k])]
    script = [f"set terminal pngcairo size 1300,700 noenhanced font ',9'" if has_cairo() else
              "set terminal png size 1300,700 noenhanced",
              f"set output '{png}'", "set multiplot layout 1,2", "set logscale xy", "set grid",
              "set xlabel 'percentile'", "set ylabel 'latency (us)'", "set key below",
              "set xrange [1:20000]",
              "set xtics ('0' 1, '50' 2, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000)"]
    for title, keys in panels:
        keys = [k for k in keys if runs[k].get("percentiles")]
        if not keys:
            script.append(f"set title '{title}'")
            script.append("set label 1 'not measured in this run' at graph 0.35, graph 0.5")
            script.append("plot 1 notitle lc rgb 'white'")
            script.append("unset label 1")
            continue
        parts = []
        for k in keys:
            dat = tmp / f"plot-{k}.dat"
            with open(dat, "w") as f:
                for p, us in runs[k]["percentiles"]:
                    if 0 <= p < 100:
                        f.write(f"{100.0 / (100.0 - p)} {max(us, 1)}\n")
            parts.append(f"'{dat}' using 1:2 with linespoints title '{k}'")
        script.append(f"set title '{title}'")
        script.append("plot " + ", ".join(parts))
    script.append("unset multiplot")
    gp = tmp / "plot.gp"
    gp.write_text("\n".join(script) + "\n")
    run(["gnuplot", str(gp)], timeout=60)


def has_cairo() -> bool:
    try:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True, timeout=10)
        return "pngcairo" in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False
