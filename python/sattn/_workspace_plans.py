"""Device plans in PyTorch workspaces: the per-call path of `sattn.Kernel`
when a kernel's tile plan is built on the GPU (docs/DEVICE_PLANS.md).

A build (sattn_device_plan_build) writes the plan into a uint8 tensor that
the caller allocated with PyTorch (its caching allocator makes that cheap,
stream-ordered and safe under CUDA graph capture) and returns pointers into
it. A plan built once and launched later (``kernel.plan(...)``, passed to
the custom op as that tensor) is found again with sattn_device_plan_layout:
the runtime says where its buffers lie, so this module never repeats the
runtime's workspace layout. Nothing here copies to the host or waits.

Why a module of its own: sattn.runtime is the general binding; this is the
hot path of one kernel call (a memoised layout per problem size, pointer
arithmetic, one C call), shared by the two custom ops of sattn._torch_op.
"""

import ctypes
import threading

from . import tables as _tables
from ._capi import CPlan, check, tagged_error
from ._descriptors import _table_descriptors

__all__ = ["WorkspacePlans"]

# sattn_device_plan_build wants a 256-byte aligned workspace; allocations
# carry this much slack so that any tensor address can be aligned up.
ALIGN = 256


class _Launchable:
    """A plan in a workspace, as RuntimeKernel.run's plan_for returns it:
    pointer() is the `const sattn_plan *` sattn_launch takes; the workspace
    stays alive with it."""
    __slots__ = ("plan", "workspace")

    def __init__(self, plan, workspace):
        self.plan, self.workspace = plan, workspace

    def pointer(self):
        return ctypes.byref(self.plan)


class WorkspacePlans:
    """Device plans of one loaded kernel (a runtime.RuntimeKernel) in uint8
    torch workspaces."""

    _MEMO = 64  # problem sizes whose layouts are kept

    def __init__(self, rt):
        self._rt = rt
        self._layouts = {}
        self._lock = threading.Lock()

    def _layout(self, batch, lq, lk):
        """(bytes to allocate, the plan with byte offsets for pointers) of
        (batch, lq, lk); (0, None) for an empty problem (nothing to plan)."""
        key = (batch, lq, lk)
        found = self._layouts.get(key)
        if found is not None:
            return found
        if batch == 0 or lq == 0:
            found = (0, None)
        else:
            rt, size, plan = self._rt, ctypes.c_size_t(), CPlan()
            check(rt._lib.sattn_device_plan_workspace(rt._h(), batch, lq, lk,
                                                      ctypes.byref(size)))
            check(rt._lib.sattn_device_plan_layout(rt._h(), batch, lq, lk, ctypes.byref(plan)))
            found = (size.value + ALIGN, plan)
        with self._lock:
            if len(self._layouts) >= self._MEMO:
                self._layouts.clear()
            self._layouts[key] = found
        return found

    def workspace_bytes(self, batch, lq, lk):
        """Bytes of the uint8 workspace a plan of (batch, lq, lk) takes (the
        runtime's size plus alignment slack)."""
        return self._layout(int(batch), int(lq), int(lk))[0]

    def new_workspace(self, batch, lq, lk, device):
        import torch
        return torch.empty(self.workspace_bytes(batch, lq, lk), dtype=torch.uint8, device=device)

    def _placed(self, batch, lq, lk, workspace):
        """(aligned base address, bytes from it, the plan at that base)."""
        need, offsets = self._layout(batch, lq, lk)
        base = workspace.data_ptr()
        aligned = (base + ALIGN - 1) // ALIGN * ALIGN
        if str(workspace.dtype) != "torch.uint8" or workspace.numel() < need:
            raise tagged_error(ValueError, "PLAN", "the plan workspace holds %d bytes of %s; a "
                               "plan of batch %d, Lq %d, Lk %d takes a uint8 tensor of %d "
                               "(it was built for another problem size)", workspace.numel(),
                               workspace.dtype, batch, lq, lk, need)
        plan = CPlan()
        ctypes.pointer(plan)[0] = offsets
        plan.segments = aligned + (offsets.segments or 0)
        plan.offsets = aligned + (offsets.offsets or 0)
        plan.class_index = aligned + (offsets.class_index or 0)
        return aligned, workspace.numel() - (aligned - base), plan

    def build(self, batch, lq, lk, table_args, workspace, stream):
        """Enqueues the build of the plan of (batch, lq, lk) on `stream` (a raw
        CUstream) into `workspace`, in the current CUDA context. table_args:
        (address of the tables' packed sattn_tensor descriptors or None,
        their count). Returns the plan to launch."""
        aligned, size, _ = self._placed(batch, lq, lk, workspace)
        rt, out = self._rt, CPlan()
        check(rt._lib.sattn_device_plan_build(rt._h(), batch, lq, lk, table_args[0],
                                              table_args[1], aligned, size,
                                              ctypes.c_void_p(stream), ctypes.byref(out)))
        return _Launchable(out, workspace)

    def view(self, batch, lq, lk, workspace):
        """The plan of (batch, lq, lk) that an earlier build left in
        `workspace` (nothing is built or read)."""
        return _Launchable(self._placed(batch, lq, lk, workspace)[2], workspace)

    def build_workspace(self, q, k, tables):
        """A new workspace holding the plan of q's and k's problem (q: (B, H,
        Lq, D), k: (B, KV_H, Lk, D) CUDA tensors; only their shapes and
        device are read), built on PyTorch's current stream. tables: the
        kernel's tables in manifest order (int64 CUDA tensors)."""
        for name, t in (("q", q), ("k", k)):
            if t.dim() != 4:
                raise tagged_error(ValueError, "SHAPE", "%s has rank %d (shape %s); expected "
                                   "(B, heads, L, D)", name, t.dim(), tuple(t.shape))
        batch, lq, lk = int(q.shape[0]), int(q.shape[2]), int(k.shape[2])
        workspace = self.new_workspace(batch, lq, lk, q.device)
        if not workspace.numel():
            return workspace
        rt = self._rt
        names = rt._table_names
        tables = _tables.ordered(rt._name, names, tables)
        descriptors, table_args = _table_descriptors(names, tables)
        rt._on_device([q, k, workspace] + list(tables), lambda stream: self.build(
            batch, lq, lk, table_args, workspace, stream), None)
        del descriptors  # alive until here: table_args holds its address
        return workspace
