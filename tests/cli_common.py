"""cli_common.py - what the end-to-end tests of the drivers share: running a program
from $LF_BIN, and counting PASS/FAIL lines for the closing "N passed, M failed"."""
import os
import subprocess
import sys


class Suite:
    def __init__(self, name, program):
        self.name = name
        self.bin = os.path.join(os.environ.get("LF_BIN", "bin"), program)
        self.passed = self.failed = 0

    def report(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}{'  ' + detail if detail else ''}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        sys.stdout.flush()

    def run(self, *args):
        p = subprocess.run([self.bin, *args], capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
