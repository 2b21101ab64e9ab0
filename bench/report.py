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


def print_table(results: dict) -> None:
    figs = results["figures"]
    rows = []
    for name, f in figs.items():
        unit = f.get("unit", "")
        target = f.get("target")
        tgt = ""
        if target is not None:
            rel = ">=" if name.startswith(("c_", "d_")) else "<="
            tgt = f"{rel} {fmt(target, unit)}"
            if f.get("limit") is not None:
                tgt += f" (limit {fmt(f['limit'], unit)})"
        rows.append((name, fmt(f.get("value"), unit), tgt, verdict(name, f)))
    w = [max(len(r[i]) for r in rows + [("figure", "value", "target", "")]) for i in range(4)]
    line = "  ".join(h.ljust(w[i]) for i, h in enumerate(("figure", "value", "target", "status")))
    print()
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    m = results.get("machine", {})
    print(f"\nmachine: {m.get('cpu_model')} x{m.get('cpus')}, {m.get('mem_total_mb')} MB, "
          f"kernel {m.get('kernel')}, build {m.get('build_type')}, mode {results.get('mode')}, "
          f"{results.get('elapsed_s')} s, load average {m.get('loadavg_at_start')} -> {m.get('loadavg_at_end')}")
    busy = (m.get("loadavg_at_start") or [0])[0]
    if busy > 0.5:
        print(f"note: the machine was busy (1-min load {busy}) when the run started: "
              "wall-clock figures are pessimistic; CPU-time figures (a, c cpu) are less affected")


def plot(results: dict, png: Path, tmp: Path) -> None:
    """Latency percentile curves (HDR-style x axis) of every recorded run."""
    runs = results["runs"]
    panels = [("pass-through Encrypt", [k for k in runs if "encrypt" in k]),
              ("attested Decrypt", [k for k in runs if "attested" in k])]
    script = [f"set terminal pngcairo size 1200,520 noenhanced font ',9'" if has_cairo() else
              "set terminal png size 1200,520 noenhanced",
              f"set output '{png}'", "set multiplot layout 1,2", "set logscale xy", "set grid",
              "set xlabel 'percentile'", "set ylabel 'latency (us)'", "set key top left",
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
