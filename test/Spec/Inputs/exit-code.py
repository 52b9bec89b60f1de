# Runs a command and checks its exact exit status: `exit-code.py N cmd...`.
# lit's `not` only tells zero from non-zero; sattn-compile promises 1 for a
# bad spec and 2 for an internal error, and that difference is tested here.
import subprocess
import sys

expected = int(sys.argv[1])
status = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
if status != expected:
    print(f"expected exit status {expected}, got {status}: {sys.argv[2:]}")
    sys.exit(1)
