"""Device plans through the PyTorch face, with the stand-in torch of
Inputs/stub_torch and the fake driver (no GPU, no real torch): a kernel
whose manifest has a "device_plan" record and runtime tables builds each
call's plan on the device (sattn_device_plan_build on the current stream,
into a uint8 workspace from torch.empty) and launches with that plan,
without the host planner and without copying tables to the host; plans=
"host" goes the host way; a kernel without tables plans on the host;
kernel.plan() builds once and plan= calls launch from its workspace without
building; mismatched plans and bad plans= values are clear errors.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_device_plans.py MANIFEST SCRATCH_DIR
      (the kernel `device_planned` of test/Runtime/Inputs: `planned` with a
       plan builder; SCRATCH_DIR receives a table-less variant)
"""
import ctypes
import json
import os
import sys

import torch

import sattn
from sattn._capi import CPlan

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)


manifest_path, scratch = sys.argv[1], sys.argv[2]
kernel = sattn.load(manifest_path)
say("kernel: %s plans=%s, plans on the %s" % (kernel.name, kernel.plans, kernel._plan_on))
rt = kernel.runtime
lib = rt._lib

# Record what reaches the runtime and what is copied to the host.
events = []
workspaces = []


def record(name, real, describe):
    def wrapper(*args):
        status = real(*args)
        events.append((name,) + describe(*args))
        return status
    setattr(lib, name, wrapper)


def plan_of(pointer):
    plan = ctypes.cast(pointer, ctypes.POINTER(CPlan)).contents
    return (plan.segments, plan.offsets, plan.class_index, plan.num_segments,
            plan.num_classes, plan.num_query_tiles)


record("sattn_device_plan_build", lib.sattn_device_plan_build,
       lambda k, b, lq, lk, tables, n, ws, size, stream, out:
       (b, lq, lk, n, ws, size, stream.value, plan_of(out)))
record("sattn_launch", lib.sattn_launch,
       lambda *a: (plan_of(a[6]), a[-1].value))
record("sattn_plan_build", lib.sattn_plan_build, lambda *a: a[1:4])
record("sattn_plan_upload", lib.sattn_plan_upload, lambda *a: ())

real_numpy, real_empty = torch.Tensor.numpy, torch.empty


def numpy(self):
    events.append(("host copy", self.shape))
    return real_numpy(self)


def empty(*shape, **kw):
    t = real_empty(*shape, **kw)
    if kw.get("dtype") is torch.uint8:
        workspaces.append(t)
    return t


torch.Tensor.numpy, torch.empty = numpy, empty


def named(name):
    return [e for e in events if e[0] == name]


B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)
k = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
doc = torch.empty(B, Lk, dtype=torch.int32)
blocks = torch.empty(4, 3, 3, dtype=torch.bool)
tables = {"doc": doc, "blocks": blocks}
need = rt.device_plan_workspace(B, Lq, Lk)

# -- the default: a device plan per call --------------------------------------
kernel(q, k, k, tables=tables)
(build,) = named("sattn_device_plan_build")
(launch,) = named("sattn_launch")
ws = workspaces[-1]
_, b, lq, lk, n, address, size, stream, plan = build
say("device build: batch %d, Lq %d, Lk %d, %d tables, stream 0x%x" % (b, lq, lk, n, stream))
check(ws.dtype is torch.uint8 and ws.device == q.device and ws.numel() >= need + 256,
      "the workspace is a uint8 tensor on q's device with room for the plan")
check(address % 256 == 0 and ws.data_ptr() <= address < ws.data_ptr() + 256
      and address + size == ws.data_ptr() + ws.numel() and size >= need,
      "the build gets the workspace, aligned, and the bytes after that")
check(all(address <= p < address + need for p in plan[:3]), "the plan lies in the workspace")
check(launch[1:] == (plan, 0x1234), "the launch gets the built plan on the current stream")
check(not named("sattn_plan_build") and not named("sattn_plan_upload")
      and not named("host copy"), "no host planner, upload or host copy of the tables")
say("launch: the built plan (%d classes, %d query tiles), stream 0x%x; no host planning, "
    "upload or table copy" % (plan[4], plan[5], launch[2]))

kernel(q, k, k, tables=[doc, blocks])
check(len(named("sattn_device_plan_build")) == 2 and len(named("sattn_launch")) == 2,
      "every call builds its own plan")
say("second call: built again (2 builds, 2 launches)")

# -- plans="host" --------------------------------------------------------------
host_kernel = sattn.load(manifest_path, plans="host")
check(host_kernel is kernel and kernel.plans == "host", "plans= sets the kernel's choice")
kernel(q, k, k, tables=tables)
check(len(named("sattn_device_plan_build")) == 2 and len(named("sattn_plan_build")) == 1
      and len(named("sattn_plan_upload")) == 1 and named("host copy"),
      "plans='host' plans on the host")
say("plans=host: %d host plan, %d upload, no device build"
    % (len(named("sattn_plan_build")), len(named("sattn_plan_upload"))))
kernel.plans = "auto"

# -- bad choices ---------------------------------------------------------------
for label, fn in [("load", lambda: sattn.load(manifest_path, plans="gpu")),
                  ("attribute", lambda: setattr(kernel, "plans", None))]:
    try:
        fn()
        say("bad plans= (%s): no error" % label)
    except ValueError as e:
        say("bad plans= (%s): ValueError %s" % (label, e))
check(kernel.plans == "auto", "a refused choice changes nothing")

# -- kernel.plan() and plan= -------------------------------------------------
events.clear()
kplan = kernel.plan(q, k, tables)
(build,) = named("sattn_device_plan_build")
check(isinstance(kplan, sattn.KernelPlan) and kplan.workspace is workspaces[-1]
      and (kplan.batch, kplan.lq, kplan.lk) == (B, Lq, Lk) and build[7] == 0x1234,
      "kernel.plan builds into its own workspace on the current stream")
for layer in range(2):
    kernel(q, k, k, tables=tables, plan=kplan)
launches = named("sattn_launch")
check(len(named("sattn_device_plan_build")) == 1 and len(launches) == 2,
      "plan= calls launch without building")
check(all(launch[1] == build[8] for launch in launches),
      "plan= calls launch with the plan kernel.plan built (found through the layout)")
say("plan reuse: 1 build, 2 launches with its plan")

plan_op = torch.library.registered[1]
fake_ws = plan_op.fake(kernel.key, q, k, [doc, blocks])
check(fake_ws.dtype is torch.uint8 and fake_ws.numel() == kplan.workspace.numel(),
      "the fake device_plan gives the workspace's size")
say("fake device_plan: uint8 (%d bytes)" % fake_ws.numel())

q_short = torch.empty(B, 4, Lq - 1, 64, dtype=torch.bfloat16)
other = kplan._replace(kernel="/elsewhere/other.json")
moved = kplan._replace(workspace=torch.empty(10, dtype=torch.uint8, device="cuda:1"))
small = kplan._replace(workspace=torch.empty(10, dtype=torch.uint8))
for label, fn in [("Lq", lambda: kernel(q_short, k, k, tables=tables, plan=kplan)),
                  ("kernel", lambda: kernel(q, k, k, tables=tables, plan=other)),
                  ("device", lambda: kernel(q, k, k, tables=tables, plan=moved)),
                  ("size", lambda: kernel(q, k, k, tables=tables, plan=small)),
                  ("type", lambda: kernel(q, k, k, tables=tables, plan=kplan.workspace))]:
    try:
        fn()
        say("plan mismatch (%s): no error" % label)
    except (ValueError, TypeError) as e:
        say("plan mismatch (%s): %s %s" % (label, type(e).__name__, e))
check(len(named("sattn_launch")) == 2 and len(named("sattn_device_plan_build")) == 1,
      "mismatched plans reach no launch")

# -- a kernel without tables plans on the host -------------------------------
with open(manifest_path) as f:
    plain = json.load(f)
plain["name"], plain["tables"] = "no_tables", []
plain["device_plan"]["params"] = [p for p in plain["device_plan"]["params"]
                                  if not p.startswith("table_")]
plain["mask_program"].update(root=0, tables=[], operands=[],
                             nodes=plain["mask_program"]["nodes"][:1])  # causal
with open(manifest_path[:-5] + ".ptx") as f:
    ptx = "".join(line for line in f.read().splitlines(True) if "/* table_" not in line)
with open(os.path.join(scratch, "no_tables.json"), "w") as f:
    json.dump(plain, f)
with open(os.path.join(scratch, "no_tables.ptx"), "w") as f:
    f.write(ptx)
events.clear()
bare = sattn.load(os.path.join(scratch, "no_tables.json"))
bare(q, k, k)
bare(q, k, k)
check(len(named("sattn_plan_build")) == 1 and not named("sattn_device_plan_build")
      and len(named("sattn_launch")) == 2, "a kernel without tables plans on the host, once")
say("no tables: plans=%s, 1 host plan for 2 calls, no device build" % bare.plans)
bare.plans = "device"
bare(q, k, k)
check(len(named("sattn_device_plan_build")) == 1, "plans='device' plans on the device")
say("no tables, plans=device: built on the device")
