"""Shared by the command-line tests (test_cli.py, test_cli_run.py): running
kms-proxy to completion with a clean environment."""
import os
import subprocess

import harness as h

KMS_PROXY = os.path.join(h.BIN, "kms-proxy")
TIMEOUT = 60


def kp(*args, env=None, timeout=TIMEOUT, cwd=None):
    """Runs kms-proxy to completion; returns CompletedProcess (text)."""
    return subprocess.run([KMS_PROXY, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL)


def clean_env(**extra):
    """A minimal environment: no proxies, no AWS_* from the caller, a region
    (so the proxy never waits for IMDS) and bogus static credentials."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIAPROXYCLITEST0001",
           "AWS_SECRET_ACCESS_KEY": "proxy-cli-test-secret", "AWS_EC2_METADATA_DISABLED": "true"}
    env.update(extra)
    return env


def drained_output(proc, timeout=10):
    """The whole output of a Proc whose process has exited: waits for its
    reader thread to reach EOF first (harness.wait_for_line gives up as soon
    as the process is gone, possibly before its last lines were read)."""
    proc.p.wait(timeout=timeout)
    proc._t.join(timeout=timeout)
    return proc.output()
