"""Reporting for the checks that run sattn's PyTorch glue on the stand-in
torch (check_torch_glue.py, check_torch_device_plans.py): their lines go to
stderr, since the fake driver prints its own to stdout; a failed check
names what failed and exits 1."""
import sys

import torch

assert not hasattr(torch, "compile"), "this test needs the stand-in torch"


def say(*args):
    print(*args, file=sys.stderr)


def check(cond, what):
    if not cond:
        say("FAILED:", what)
        sys.exit(1)
