"""The kms-proxy command line around the proxy itself: `run` (exit codes,
signals, the child's environment, startup failures), `serve` (graceful stop,
configuration errors), --help of every subcommand and `cmake --install`.

Every process binds 127.0.0.1 only and every wait has a timeout."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

import harness as h
from cli_support import KMS_PROXY, TIMEOUT, clean_env, drained_output, kp

AB = "ab" * 48

# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------

CHILD = r"""
import json, os, signal, socket, sys, time
out = sys.argv[1]
mode = sys.argv[2]
def dump(extra):
    d = {k: v for k, v in os.environ.items()}
    d.update(extra)
    with open(out + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(out + ".tmp", out)
if mode == "env":
    url = os.environ["AWS_KMS_ENDPOINT"]
    host, port = url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass  # the proxy is already listening when CMD starts
    dump({"_connected": "yes"})
    sys.exit(0)
if mode == "term":
    def on_term(signo, frame):
        dump({"_signal": str(signo)})
        sys.exit(7)
    signal.signal(signal.SIGTERM, on_term)
    print("child-ready", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(99)
"""


class RunTest(h.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.child = os.path.join(self.tmp, "child.py")
        with open(self.child, "w") as f:
            f.write(CHILD)
        self.marker = os.path.join(self.tmp, "marker.json")

    def run_proxy(self, *args, cmd, env=None):
        return kp("run", "--attestation", "none", "--port", "0", *args, "--", *cmd, env=env or clean_env())

    def test_exit_status_of_the_command(self):
        for code in (0, 3):
            with self.subTest(code=code):
                r = self.run_proxy(cmd=["sh", "-c", f"exit {code}"])
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(f"command exited with status {code}", r.stderr)
        r = self.run_proxy(cmd=[os.path.join(self.tmp, "no-such-command")])
        self.assertEqual(r.returncode, 127)
        self.assertIn("no-such-command", r.stderr)

    def test_killed_by_a_signal_gives_128_plus_n(self):
        r = self.run_proxy(cmd=["sh", "-c", "kill -KILL $$"])
        self.assertEqual(r.returncode, 128 + signal.SIGKILL)
        r = self.run_proxy(cmd=["sh", "-c", "kill -USR1 $$"])
        self.assertEqual(r.returncode, 128 + signal.SIGUSR1)

    def test_child_environment_without_egress(self):
        env = clean_env()  # no proxy variables inherited from the caller
        r = subprocess.run([KMS_PROXY, "run", "--attestation", "none", "--port", "0", "--",
                            sys.executable, self.child, self.marker, "env"],
                           capture_output=True, text=True, timeout=TIMEOUT, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        port = re.search(r"ready listen=127\.0\.0\.1:(\d+)", r.stderr).group(1)
        with open(self.marker) as f:
            child_env = json.load(f)
        self.assertEqual(child_env["AWS_KMS_ENDPOINT"], f"http://127.0.0.1:{port}")
        self.assertEqual(child_env["AWS_ENDPOINT_URL_KMS"], f"http://127.0.0.1:{port}")
        self.assertEqual(child_env["_connected"], "yes")
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
            self.assertNotIn(name, child_env)
        # The rest of the environment is inherited.
        self.assertEqual(child_env["AWS_ACCESS_KEY_ID"], env["AWS_ACCESS_KEY_ID"])

    def test_child_environment_with_egress(self):
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("kms_proxy:\n  listen_port: 9999\n"
                    "egress:\n  proxy_port: 10123\n  allow:\n    - kms.*.amazonaws.com\n    - 169.254.169.254\n")
        r = kp("run", "--config", cfg, "--attestation", "none", "--port", "0", "--",
               sys.executable, self.child, self.marker, "env", env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("upstream_path=", r.stderr)
        self.assertIn("127.0.0.1:10123", r.stderr)
        with open(self.marker) as f:
            child_env = json.load(f)
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            self.assertEqual(child_env[name], "http://127.0.0.1:10123/", name)
        for name in ("no_proxy", "NO_PROXY"):
            self.assertEqual(child_env[name], "localhost,127.0.0.1", name)
        self.assertTrue(child_env["AWS_KMS_ENDPOINT"].startswith("http://127.0.0.1:"))

    def test_sigterm_to_the_proxy_is_forwarded_to_the_command(self):
        p = self.track(h.Proc("kms-proxy-run-term", [
            KMS_PROXY, "run", "--attestation", "none", "--port", "0", "--",
            sys.executable, self.child, self.marker, "term"], env=clean_env()))
        p.wait_for_line(r"child-ready", timeout=30)
        os.kill(p.p.pid, signal.SIGTERM)  # the proxy only, not its process group
        code = p.p.wait(timeout=30)
        self.assertEqual(code, 7, p.output())
        with open(self.marker) as f:
            self.assertEqual(json.load(f)["_signal"], str(int(signal.SIGTERM)))
        out = drained_output(p)
        self.assertIn("command exited with status 7", out)
        self.assertIn("stopped drained=true", out)

    def test_open_file_limit_raised_for_the_proxy_and_given_back_to_the_command(self):
        # 3000 connections need ~6128 descriptors: the proxy raises its soft
        # limit (from 1024 here) toward the hard one; CMD gets 1024 back.
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 6128:
            self.skipTest(f"hard RLIMIT_NOFILE {hard} < 6128")
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("version: v1\nname: nofile\nkms_proxy:\n  listen_port: 9999\n  limits:\n"
                    "    max_connections: 3000\n")
        out = os.path.join(self.tmp, "nofile.txt")
        r = subprocess.run([KMS_PROXY, "run", "--config", cfg, "--attestation", "none", "--port", "0", "--",
                            "sh", "-c", f"ulimit -Sn > {out}"],
                           capture_output=True, text=True, timeout=TIMEOUT, env=clean_env(),
                           stdin=subprocess.DEVNULL,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("raised the open-file limit from 1024 to 6128 for limits.max_connections=3000", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read().strip(), "1024")

    def test_proxy_that_cannot_start_never_starts_the_command(self):
        cmd = ["sh", "-c", f"touch {self.marker}"]
        # NSM attestation without an NSM device (as on any machine outside an enclave).
        r = kp("run", "--port", "0", "--nsm-device", os.path.join(self.tmp, "nsm"), "--", *cmd,
               env=clean_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("command was not started", r.stderr)
        self.assertIn(os.path.join(self.tmp, "nsm"), r.stderr)
        self.assertIn("--attestation simulated", r.stderr)  # the hint
        self.assertFalse(os.path.exists(self.marker))
        # The default device (/dev/nsm) on this machine.
        if not os.path.exists("/dev/nsm"):
            r = kp("run", "--port", "0", "--", *cmd, env=clean_env())
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("/dev/nsm", r.stderr)
            self.assertFalse(os.path.exists(self.marker))
        # A bad configuration file: exit 2, file:line, nothing started.
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("kms_proxy:\n  listen_port: 9999\n  listen_host: 0.0.0.0\n")
        r = kp("run", "--config", cfg, "--attestation", "none", "--", *cmd, env=clean_env())
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{cfg}:3:", r.stderr)
        self.assertIn("nothing was started", r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        # Files the configuration names but that cannot be used: every one is
        # reported, each at the line that names it, and nothing is started.
        files_cfg = os.path.join(self.tmp, "files.yaml")
        with open(files_cfg, "w") as f:
            f.write("kms_proxy:\n  listen_port: 0\n  upstream:\n"
                    f"    ca_file: [{self.tmp}/no-ca-1.pem, {self.tmp}/no-ca-2.pem]\n"
                    f"  attestation:\n    mode: simulated\n    sim_pki_dir: {self.tmp}/no-pki\n")
        r = kp("run", "--config", files_cfg, "--", *cmd, env=clean_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"{files_cfg}:4: upstream: cannot load CA file '{self.tmp}/no-ca-1.pem': No such file", r.stderr)
        self.assertIn(f"{files_cfg}:4: upstream: cannot load CA file '{self.tmp}/no-ca-2.pem': No such file", r.stderr)
        self.assertIn(f"{files_cfg}:7: simulated attestation: sim_pki: cannot read {self.tmp}/no-pki/", r.stderr)
        self.assertIn("command was not started", r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        # Malformed numeric flags are reported with the file's errors, all at once.
        r = kp("run", "--config", cfg, "--attestation", "none", "--port", "abc", "--threads", "x", "--",
               *cmd, env=clean_env())
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{cfg}:3:", r.stderr)
        self.assertIn("--port: expected a whole number 0..65535, got 'abc'", r.stderr)
        self.assertIn("--threads: expected a whole number 0..256, got 'x'", r.stderr)
        self.assertFalse(os.path.exists(self.marker))
        # The listen port is taken.
        import socket
        with socket.socket() as s, socket.socket() as m:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            busy = s.getsockname()[1]
            m.bind(("127.0.0.1", 0))
            m.listen(1)
            busy_metrics = m.getsockname()[1]
            r = kp("run", "--attestation", "none", "--port", str(busy),
                   "--metrics-listen", f"127.0.0.1:{busy_metrics}", "--", *cmd, env=clean_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("command was not started", r.stderr)
        # Both taken ports are reported, not the first alone.
        self.assertIn(f"cannot bind 127.0.0.1:{busy}", r.stderr)
        self.assertIn(f"cannot bind 127.0.0.1:{busy_metrics}", r.stderr)
        self.assertFalse(os.path.exists(self.marker))

    def test_command_words_reach_the_command_verbatim(self):
        # CLI11 read "[a,b]" as a list: CMD got "a" and "b" ("[ -e f ]" broke sh).
        words = ["[%s]", "[a,b]", "[]", '["x"]', "a,b", "--", "--port", "-x", "'q'"]
        script = "import json, sys; print(json.dumps(sys.argv[1:]))"
        for sep in (["--"], []):  # `run [options] -- CMD ...` and `run [options] CMD ...`
            with self.subTest(sep=sep):
                r = kp("run", "--attestation", "none", "--port", "0",
                       "--endpoint", "us-east-1=http://127.0.0.1:9", *sep,
                       sys.executable, "-c", script, *words, env=clean_env())
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout.strip().splitlines()[-1]), words)

    def test_the_command_does_not_hold_the_proxy_sockets(self):
        # Asio opens sockets without close-on-exec: CMD held the listener,
        # and a daemon it left behind kept the port bound after run ended.
        script = ("import os, json; fds = {}\n"
                  "for fd in os.listdir('/proc/self/fd'):\n"
                  "    try: fds[fd] = os.readlink('/proc/self/fd/' + fd)\n"
                  "    except OSError: pass\n"
                  "print(json.dumps(fds))")
        r = kp("run", "--attestation", "none", "--port", "0", "--metrics-listen", "127.0.0.1:0", "--",
               sys.executable, "-c", script, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        fds = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertFalse([t for t in fds.values() if t.startswith("socket:")], fds)

    def test_a_terminal_quit_reaches_the_command_once(self):
        # ^C and ^\ go to the whole foreground process group, CMD included:
        # the proxy must not pass them on a second time (^\ was).
        import pty
        counter = os.path.join(self.tmp, "counter.py")
        ready = os.path.join(self.tmp, "ready")
        with open(counter, "w") as f:
            f.write("import signal, sys, time, os\n"
                    "seen = []\n"
                    "for s in (signal.SIGINT, signal.SIGQUIT):\n"
                    "    signal.signal(s, lambda n, _: seen.append(signal.Signals(n).name))\n"
                    "open(sys.argv[1], 'w').close()\n"
                    "end = time.monotonic() + 2.0\n"
                    "while time.monotonic() < end: time.sleep(0.02)\n"
                    "print('SEEN', ','.join(seen), flush=True)\n")
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(KMS_PROXY, [KMS_PROXY, "run", "--attestation", "none", "--port", "0", "--log-level", "warn",
                                      "--", sys.executable, counter, ready], clean_env())
            finally:
                os._exit(127)
        out = b""
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(ready) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(ready), "the command did not start")
            os.write(fd, b"\x03")  # ^C
            time.sleep(0.2)
            os.write(fd, b"\x1c")  # ^\
            deadline = time.monotonic() + 30
            import select
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.5)
                if r:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        m = re.search(rb"SEEN ([A-Z,]*)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1).decode().split(","), ["SIGINT", "SIGQUIT"], out)

    def test_usage_errors(self):
        r = kp("run", "--attestation", "none", env=clean_env())
        self.assertEqual(r.returncode, 2)
        self.assertIn("command", r.stderr)


# --------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------

def proxy_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "AKIAPROXY", "AWS_SECRET_ACCESS_KEY": "proxy-secret",
                "AWS_REGION": "us-east-1"})
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    return env


class ServeTest(h.TempDirTestCase):
    def test_listeners_are_logged_as_authorities_and_ephemeral_ones_at_warn(self):
        import socket
        import urllib.request
        cases = [("127.0.0.1", r"127\.0\.0\.1")]
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", 0))
            cases.append(("[::1]", r"\[::1\]"))  # bracketed, so that host:port reads back
        except OSError:
            pass  # no IPv6 loopback on this machine
        for host, pattern in cases:
            with self.subTest(host=host):
                # --log-level warn (the tuning advice): a port the system chose
                # is still logged, as it can be learned nowhere else.
                p = h.Proc("kms-proxy-where", [KMS_PROXY, "serve", "--listen", f"{host}:0", "--metrics-listen",
                                               f"{host}:0", "--attestation", "none", "--log-level", "warn"],
                           env=proxy_env())
                self.track(p)
                m = p.wait_for_line(rf"warning metrics listen={pattern}:(\d+)", timeout=30)
                p.wait_for_line(rf"warning ready listen={pattern}:(\d+)", timeout=30)
                with urllib.request.urlopen(f"http://{host}:{m.group(1)}/healthz", timeout=5) as r:
                    self.assertEqual(r.status, 200)
                p.stop()

    def test_sigterm_waits_for_the_request_in_flight_then_exits_0(self):
        pki = h.sim_pki(self.tmp)
        emu, emu_url = h.start_emulator(os.path.join(self.tmp, "data"),
                                        trust_roots=[os.path.join(pki, "root.pem")])
        self.track(emu)
        proxy, port = h.start_proxy(["--attestation", "simulated", "--sim-pki", pki, "--pcr", f"0={AB}",
                                     "--endpoint", f"us-east-1={emu_url}", "--sim-nsm-latency", "2s"],
                                    env=proxy_env(), name="kms-proxy-graceful")
        self.track(proxy)
        kms = h.boto3_kms(f"http://127.0.0.1:{port}")
        result = {}

        def call():
            t0 = time.monotonic()
            try:
                result["bytes"] = kms.generate_random(NumberOfBytes=32)["Plaintext"]
            except Exception as e:  # reported by the assertions below
                result["error"] = repr(e)
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=call, daemon=True)
        t0 = time.monotonic()
        t.start()
        time.sleep(0.7)  # the request now waits for the (2 s) simulated NSM
        self.assertTrue(t.is_alive(), "the request finished before SIGTERM: latency not applied")
        os.kill(proxy.p.pid, signal.SIGTERM)
        proxy.wait_for_line(r"signal 15: shutting down", timeout=10)
        # No new connections once shutdown began...
        import socket
        deadline = time.monotonic() + 1.0
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    time.sleep(0.05)
            except OSError:
                refused = True
        self.assertTrue(refused, "the listener still accepts after SIGTERM")
        # ...but the one in flight completes.
        t.join(timeout=30)
        self.assertFalse(t.is_alive())
        self.assertNotIn("error", result, result)
        self.assertEqual(len(result["bytes"]), 32)
        self.assertGreaterEqual(result["elapsed"], 1.5)
        self.assertEqual(proxy.p.wait(timeout=30), 0, proxy.output())
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        out = drained_output(proxy)
        self.assertRegex(out, r"request op=GenerateRandom status=200 attest_us=(\d{7,}) ")  # >= 1 s
        self.assertIn("stopped drained=true", out)

    def test_configuration_errors_are_reported_together_with_file_and_line(self):
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("version: v1\n"
                    "kms_proxy:\n"
                    "  listen_port: \"9999\"\n"          # 3: a string, not an integer
                    "  no_such_key: 1\n"                 # 4: unknown key
                    "egress:\n"
                    "  allow:\n"
                    "    - kms-*.amazonaws.com\n"        # 7: wildcard not a whole label
                    "defaults:\n"
                    "  memory_mb: -5\n")                 # 9: not positive
        r = kp("serve", "--config", cfg, "--attestation", "none", "--log-format", "xml",
               env=clean_env())
        self.assertEqual(r.returncode, 2, r.stderr)
        for line in (3, 4, 7, 9):
            self.assertRegex(r.stderr, rf"(?m)^{re.escape(cfg)}:{line}(:\d+)?: ", f"line {line}")
        self.assertIn("--log-format", r.stderr)
        self.assertIn("nothing was started", r.stderr)
        self.assertNotIn("ready", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_cross_field_errors_are_reported_together(self):
        cfg = os.path.join(self.tmp, "enclaver.yaml")
        with open(cfg, "w") as f:
            f.write("ingress:\n"
                    "  - listen_port: 9999\n"
                    "kms_proxy:\n"
                    "  listen_port: 9999\n"
                    "egress:\n"
                    "  allow:\n"
                    "    - example.com\n")
        r = kp("serve", "--config", cfg, "--attestation", "none", "--listen", "0.0.0.0",
               env=clean_env())
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, rf"{re.escape(cfg)}:2(:\d+)?: .*ingress")
        self.assertIn("loopback", r.stderr)
        self.assertIn("kms.*.amazonaws.com", r.stderr)  # the suggested egress pattern
        self.assertNotIn("ready", r.stderr)

    def test_nsm_unavailable(self):
        r = kp("serve", "--port", "0", "--nsm-device", os.path.join(self.tmp, "nsm"), env=clean_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot start", r.stderr)
        self.assertIn(os.path.join(self.tmp, "nsm"), r.stderr)


# --------------------------------------------------------------------------
# --help, --version, cmake --install
# --------------------------------------------------------------------------

class HelpTest(unittest.TestCase):
    SUBCOMMANDS = [["serve"], ["run"], ["check"], ["attest"], ["inspect-attestation"], ["sim-pki"],
                   ["sim-pki", "init"], ["policy-check"]]

    def test_every_subcommand_has_help_with_examples(self):
        top = kp("--help")
        self.assertEqual(top.returncode, 0)
        for sub in ("serve", "run", "check", "attest", "inspect-attestation", "sim-pki", "policy-check"):
            self.assertIn(sub, top.stdout)
        self.assertIn("Examples:", top.stdout)
        for sub in self.SUBCOMMANDS:
            with self.subTest(sub=sub):
                r = kp(*sub, "--help")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"Examples?:\n  kms-(proxy|emulator) ")
                for line in r.stdout.split("Example")[1].splitlines()[1:]:
                    if line.startswith("  kms-proxy "):
                        self.assertIn(line.split()[1], [s[0] for s in self.SUBCOMMANDS] + ["sim-pki"],
                                      f"example uses an unknown subcommand: {line}")

    def test_help_mentions_exit_status_where_it_matters(self):
        for sub in (["run"], ["check"], ["inspect-attestation"], ["policy-check"], ["serve"], ["attest"]):
            with self.subTest(sub=sub):
                self.assertIn("Exit status", kp(*sub, "--help").stdout)

    def test_emulator_has_version_and_examples(self):
        emulator = os.path.join(h.BUILD, "bin", "kms-emulator")
        v = subprocess.run([emulator, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertRegex(v.stdout.strip(), r"^kms-emulator \d+\.\d+\.\d+$")
        for args in ([], ["serve"]):
            with self.subTest(args=args):
                r = subprocess.run([emulator, *args, "--help"], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"Examples?:\n(  .*\n)*  kms-emulator serve --data-dir ")

    def test_no_subcommand_is_a_usage_error(self):
        r = kp()
        self.assertEqual(r.returncode, 2)
        r = kp("frobnicate")
        self.assertEqual(r.returncode, 2)


class InstallTest(h.TempDirTestCase):
    def test_cmake_install_puts_both_binaries_in_bin(self):
        cmake = shutil.which("cmake")
        if cmake is None:
            self.skipTest("cmake not on PATH")
        prefix = os.path.join(self.tmp, "prefix")
        r = subprocess.run([cmake, "--install", h.BUILD, "--prefix", prefix], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        proxy = os.path.join(prefix, "bin", "kms-proxy")
        emulator = os.path.join(prefix, "bin", "kms-emulator")
        for path in (proxy, emulator):
            self.assertTrue(os.access(path, os.X_OK), path)
        v = subprocess.run([proxy, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertRegex(v.stdout.strip(), r"^kms-proxy \d+\.\d+\.\d+$")
        e = subprocess.run([emulator, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertIn("serve", e.stdout)
        # Only the two programs: no test binaries, no static libraries.
        installed = sorted(os.path.relpath(os.path.join(d, f), prefix)
                           for d, _, files in os.walk(prefix) for f in files)
        self.assertEqual(installed, ["bin/kms-emulator", "bin/kms-proxy"])


if __name__ == "__main__":
    unittest.main()
