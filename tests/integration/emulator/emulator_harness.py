"""Start the real kms-emulator binary for integration tests.

Each test gets its own process on 127.0.0.1 port 0 with a temporary data
directory; the port is read from the readiness line the binary prints on
stdout ("kms-emulator listening on http://127.0.0.1:<port>"). Every wait has a
timeout and every process is killed at the end.

Binary: $KMS_EMULATOR_BIN, else $KP_BUILD_DIR/bin/kms-emulator, else
<repo>/build/bin/kms-emulator.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import boto3
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("KP_BUILD_DIR", os.path.join(REPO, "build"))
BINARY = os.environ.get("KMS_EMULATOR_BIN", os.path.join(BUILD, "bin", "kms-emulator"))
REGION = "us-east-1"
DEFAULT_ACCOUNT = "111122223333"
# Loopback only: never route test traffic through a proxy from the environment.
_no_proxy = [h for h in os.environ.get("NO_PROXY", "").split(",") if h]
os.environ["NO_PROXY"] = ",".join(_no_proxy + ["127.0.0.1", "localhost"])
os.environ["no_proxy"] = os.environ["NO_PROXY"]

READY = re.compile(r"^kms-emulator listening on http://127\.0\.0\.1:(\d+)$")

# Clients sign with these unless a test gives others; without --credentials
# the emulator does not check signatures.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_MAX_ATTEMPTS": "1",
}


class Emulator:
    """One kms-emulator process. Use as a context manager or call stop()."""

    def __init__(self, data_dir=None, extra_args=(), ready_timeout=20.0):
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="kms-emu-it-")
        self.state_dir = os.path.join(self.data_dir, "state") if self._own_dir else self.data_dir
        self.args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.proc = None
        self.port = None
        self.stderr_lines = []
        self.start()

    def start(self):
        if not os.path.exists(BINARY):
            raise RuntimeError(f"kms-emulator binary not found at {BINARY} (set KMS_EMULATOR_BIN)")
        argv = [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.state_dir] + self.args
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.stderr_lines = []
        self._threads = [threading.Thread(target=self._pump_stderr, args=(self.proc,), daemon=True)]
        self._threads[0].start()
        found = {}
        done = threading.Event()

        def read_ready():
            for raw in self.proc.stdout:
                m = READY.match(raw.decode("utf-8", "replace").strip())
                if m:
                    found["port"] = int(m.group(1))
                    break
            done.set()

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        self._threads.append(reader)
        if not done.wait(self.ready_timeout) or "port" not in found:
            self.kill()
            raise RuntimeError("kms-emulator did not become ready: " + "\n".join(self.stderr_lines))
        self.port = found["port"]

    def _pump_stderr(self, proc):
        for raw in proc.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self, access_key="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
               region=REGION):
        cfg = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 1})
        return boto3.session.Session().client(
            "kms", endpoint_url=self.endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret, config=cfg)

    def kill(self, sig=signal.SIGKILL, timeout=10.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        for t in self._threads:  # the pipes hit EOF once the process is gone
            t.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        return self.proc.returncode

    def restart(self):
        self.kill()
        self.start()

    def stop(self):
        self.kill(signal.SIGTERM)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def error_code(exc):
    return exc.response["Error"]["Code"]


def error_message(exc):
    return exc.response["Error"]["Message"]


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
