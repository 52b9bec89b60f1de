"""`sattn.reference`: dense masked attention in fp32, for checking kernels.

Takes the kernel as a `Kernel`, a manifest, a `MaskProgram` or a spec (which
it compiles with `sattn.compile`) and hands the mask program to the dense
computation of sattn._dense; runtime tables are checked there exactly as a
kernel call checks them.
"""

import json
import os

from . import _dense
from .compiler import compile as compile_spec
from .kernel import Kernel
from .mask_program import MaskProgram

__all__ = ["reference"]


def _source(spec_or_kernel):
    """(MaskProgram, scale or None, kernel name, table declarations) of a
    manifest (dict or NAME.json path) or a MaskProgram; for a spec (text or
    path), the Kernel sattn.compile makes of it."""
    if isinstance(spec_or_kernel, os.PathLike):
        spec_or_kernel = os.fspath(spec_or_kernel)
    if isinstance(spec_or_kernel, MaskProgram):
        return spec_or_kernel, None, "<mask program>", list(spec_or_kernel.tables)
    if isinstance(spec_or_kernel, dict):
        manifest = spec_or_kernel
    elif isinstance(spec_or_kernel, str) and spec_or_kernel.endswith(".json"):
        with open(spec_or_kernel, encoding="utf-8") as f:
            manifest = json.load(f)
    else:
        return compile_spec(spec_or_kernel)
    prog = MaskProgram(manifest["mask_program"])
    return (prog, manifest["scale"], manifest.get("name", "<manifest>"),
            _dense.table_specs(prog, manifest.get("tables", [])))


def reference(spec_or_kernel, q, k, v, tables=None, scale=None, chunk_elements=1 << 24):
    """Dense masked attention in fp32: returns (o, lse).

    spec_or_kernel: a `Kernel`, a manifest (dict or NAME.json path), a
    `MaskProgram`, or a spec (text or .sattn path; compiled through
    `sattn.compile`). q (B, H, Lq, D), k and v (B, KV_H, Lk, D): torch tensors
    (any device) or NumPy arrays, any float dtype. Query head h reads K/V head
    h // (H // KV_H); query row i has absolute position i + Lk - Lq. tables:
    {name: integer array} or a sequence in manifest order, checked as the
    runtime checks a kernel call's tables (same errors and messages). scale:
    None for the kernel's (1/sqrt(D) for a bare MaskProgram).

    o is (B, H, Lq, D) float32, lse (B, H, Lq) float32 (natural log of the
    sum of exp of the scaled kept scores); rows with no kept key give o = 0
    and lse = -inf. Rows are processed in chunks of about `chunk_elements`
    scores to bound memory.
    """
    source = spec_or_kernel if isinstance(spec_or_kernel, Kernel) else _source(spec_or_kernel)
    if isinstance(source, Kernel):
        return source.reference(q, k, v, tables=tables, scale=scale,
                                chunk_elements=chunk_elements)
    prog, kernel_scale, name, specs = source
    return _dense.attention(prog, name, specs, q, k, v, tables,
                            kernel_scale if scale is None else scale, chunk_elements)
