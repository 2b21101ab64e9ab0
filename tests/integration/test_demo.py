"""scripts/demo.sh, the README's demo, run as a user would (with this build's
binaries): every step's promise is checked in its output, so the demo cannot
silently rot."""
import os
import subprocess
import unittest

import harness as h


class DemoTest(unittest.TestCase):
    def test_demo_runs_and_each_step_says_what_it_promises(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["KP_DEMO_BIN"] = h.BIN
        p = subprocess.run(["bash", os.path.join(h.REPO, "scripts", "demo.sh")], env=env,
                           capture_output=True, text=True, timeout=240)
        out = p.stdout
        self.assertEqual(p.returncode, 0, f"demo.sh failed:\n{out}\n{p.stderr}")
        # 4. the seed's app decrypts the PCR0-gated secret through the proxy.
        self.assertIn("app decrypted: the launch codes are 0000", out)
        # 5. the same Decrypt without attestation is denied by KMS.
        step5 = out.split("== 5.")[1].split("== 6.")[0]
        self.assertIn("AccessDeniedException", step5)
        self.assertNotIn("launch codes", step5)
        # 6. a proxy attesting a different PCR0 is denied.
        self.assertRegex(out, r"denied as expected: AccessDeniedException")
        # 7. the preflight passes for the right image and fails for the other one.
        step7 = out.split("== 7.")[1]
        right, _, other = step7.partition("   FAIL")
        self.assertRegex(right, r"(?m)^\s+ok\s+key arn:aws:kms:\S+: Decrypt is allowed for this enclave")
        self.assertRegex(right, r"(?m)^\s+result: ok \(3 checks, 0 failed")
        self.assertRegex(other, r"^\s+key arn:aws:kms:\S+: Decrypt would fail: AccessDeniedException")
        self.assertRegex(other, r"(?m)^\s+result: FAILED \(3 checks, 1 failed")
        self.assertTrue(out.rstrip().endswith("== demo complete"), out[-400:])


if __name__ == "__main__":
    unittest.main()
