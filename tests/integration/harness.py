"""Shared helpers for integration tests: start real programs on loopback.

Every process is bound to 127.0.0.1 on a free port, every wait has a
timeout, and every process is stopped at the end of the test. Logs are kept
so tests (and the secret-hygiene check) can read them.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KP_BUILD_DIR", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")
VECTORS = os.environ.get("KP_VECTORS_DIR", os.path.join(os.path.dirname(REPO), "shared", "vectors"))
LOG_DIR = os.environ.get("KP_TEST_LOG_DIR", os.path.join(BUILD, "test-logs"))

# Credentials the *app* uses: deliberately bogus, they must never reach upstream.
APP_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAAPPBOGUSBOGUS000",
    "AWS_SECRET_ACCESS_KEY": "app-secret-that-must-not-reach-upstream",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "1",
}


_handed_out = set()


def _ephemeral_floor():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port that is free now, for a program that must be told
    its port before it starts (nginx, moto, tinyproxy, a "down" upstream).

    The port is released before that program binds it. bind(0) would pick it
    from the kernel's ephemeral range, the range every outgoing connection of
    every test running in parallel also draws from, so one of them could take
    it in between. Ports are drawn at random from the 16k below that range
    instead, checked, and never handed out twice by this process.
    """
    floor = _ephemeral_floor()
    low = max(1024, floor - 16384)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, floor) if floor > low else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def wait_port(port, timeout=20.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Proc:
    """A child process whose stdout+stderr are collected line by line."""

    def __init__(self, name, argv, env=None, cwd=None):
        os.makedirs(LOG_DIR, exist_ok=True)
        self.name = name
        self.lines = []
        self._eof = False  # the reader thread has drained the pipe
        self._cv = threading.Condition()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.log_path = os.path.join(LOG_DIR, f"{name}-{os.getpid()}-{int(time.time()*1000)}.log")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                  start_new_session=True)
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        with open(self.log_path, "w") as log:
            for raw in self.p.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._cv:
                    self.lines.append(line)
                    self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def wait_for_line(self, pattern, timeout=20.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = 0
        with self._cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                # Give up only once the process exited AND its output is drained.
                if self._eof and self.p.poll() is not None and i >= len(self.lines):
                    raise RuntimeError(f"{self.name} exited ({self.p.returncode}) before /{pattern}/:\n"
                                       + "\n".join(self.lines[-30:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no line /{pattern}/ in {timeout}s:\n"
                                       + "\n".join(self.lines[-30:]))
                self._cv.wait(min(left, 0.2))

    def output(self):
        with self._cv:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        self._t.join(timeout=5)
        if self.p.stdout is not None:
            self.p.stdout.close()
        return self.p.returncode


def start_moto(auth=False, cert=None, key=None):
    env = {"MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "4"
    scheme = "https" if cert else "http"
    for attempt in range(3):
        port = free_port()
        argv = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
        if cert:
            argv += ["-c", cert, "-k", key]
        p = Proc("moto", argv, env=env)
        try:
            wait_port(port, timeout=30, proc=p.p)
        except RuntimeError:
            # Exited before listening: most likely the port was taken between
            # free_port() and moto's bind. Another port, twice at most.
            p.stop()
            if attempt == 2 or "Address already in use" not in p.output():
                raise
            continue
        return p, port, f"{scheme}://127.0.0.1:{port}"


def start_proxy(args, env=None, name="kms-proxy"):
    """Starts `kms-proxy serve --listen 127.0.0.1:0 ...`, returns (Proc, port)."""
    argv = [os.path.join(BIN, "kms-proxy"), "serve", "--listen", "127.0.0.1:0"] + list(args)
    p = Proc(name, argv, env=env)
    m = p.wait_for_line(r"ready .*listen=127\.0\.0\.1:(\d+)", timeout=30)
    return p, int(m.group(1))


def list_keys_upstream(test, record, host="127.0.0.1"):
    """A plain-HTTP stand-in for KMS that answers every request with an empty
    ListKeys result and calls `record(handler)` first (to note its headers).
    Serves on `host` ("::1" for IPv6; raises OSError where that is missing)
    until the test ends; returns the port."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            record(self)
            body = b'{"Keys": [], "Truncated": false}'
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return serve_http(test, Handler, host)


def container_credentials(test, fail=False, lifetime_s=3600):
    """A container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)
    on 127.0.0.1: each GET gets fresh keys (AccessKeyId ASIACONTAINER0001,
    0002, ...) that expire `lifetime_s` later, or a 500 with `fail`. Returns
    (url, the paths asked for, the Unix expiration of each document served)."""
    import datetime
    import http.server
    hits = []
    sent_expirations = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if fail:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            exp_at = (datetime.datetime.now(datetime.timezone.utc)
                      + datetime.timedelta(seconds=lifetime_s)).replace(microsecond=0)
            sent_expirations.append(int(exp_at.timestamp()))
            body = json.dumps({"AccessKeyId": f"ASIACONTAINER{len(hits):04d}", "SecretAccessKey": "s",
                               "Token": "t", "Expiration": exp_at.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = serve_http(test, Handler)
    return f"http://127.0.0.1:{port}/creds", hits, sent_expirations


def serve_http(test, handler, host="127.0.0.1"):
    """Serves `handler` (a BaseHTTPRequestHandler class) on `host`, one thread
    per connection, until the test ends; returns the port."""
    import http.server

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, 0), handler)
    test.addCleanup(server.server_close)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    test.addCleanup(server.shutdown)
    return server.server_address[1]


def make_test_ca(tmpdir, hostnames=("localhost",), ips=("127.0.0.1",)):
    """A throwaway CA and a server certificate signed by it (openssl CLI)."""
    ca_key = os.path.join(tmpdir, "ca.key")
    ca_crt = os.path.join(tmpdir, "ca.crt")
    key = os.path.join(tmpdir, "server.key")
    csr = os.path.join(tmpdir, "server.csr")
    crt = os.path.join(tmpdir, "server.crt")
    ext = os.path.join(tmpdir, "ext.cnf")
    san = ",".join([f"DNS:{h}" for h in hostnames] + [f"IP:{i}" for i in ips])
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=kms-proxy test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={hostnames[0]}")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def boto3_kms(endpoint, env=APP_ENV, **kw):
    import boto3
    from botocore.config import Config
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=env.get("AWS_REGION", "us-east-1"))
    return session.client("kms", endpoint_url=endpoint, config=cfg, **kw)


class TempDirTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kp-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []

    def track(self, proc):
        self.procs.append(proc)
        self.addCleanup(proc.stop)
        return proc


def start_emulator(data_dir, trust_roots=(), extra=()):
    """Starts kms-emulator on a free port; returns (Proc, url). The url is
    https:// when `extra` carries --tls-cert/--tls-key."""
    argv = [os.path.join(BIN, "kms-emulator"), "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]
    for r in trust_roots:
        argv += ["--trust-root", r]
    argv += list(extra)
    p = Proc("kms-emulator", argv)
    m = p.wait_for_line(r"kms-emulator listening on (https?://127\.0\.0\.1:\d+)", timeout=30)
    return p, m.group(1)


def sim_pki(tmpdir):
    """Creates a development PKI with `kms-proxy sim-pki init`; returns its dir."""
    d = os.path.join(tmpdir, "pki")
    subprocess.run([os.path.join(BIN, "kms-proxy"), "sim-pki", "init", d], check=True,
                   capture_output=True, timeout=60)
    return d


def attested_key_policy(account, pcr0_hex, extra_conditions=None):
    """A key policy that lets the account administer the key but allows the
    attested operations only to an enclave whose PCR0 (ImageSha384) matches."""
    cond = {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": pcr0_hex}}
    if extra_conditions:
        cond.update(extra_conditions)
    root = f"arn:aws:iam::{account}:root"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                        "kms:Get*", "kms:Disable*", "kms:ScheduleKeyDeletion", "kms:Encrypt",
                        "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPairWithoutPlaintext",
                        "kms:ReEncrypt*", "kms:TagResource"],
             "Resource": "*"},
            {"Sid": "EnclaveOnly", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPair",
                        "kms:GenerateRandom", "kms:DeriveSharedSecret"],
             "Resource": "*", "Condition": cond},
        ]})


