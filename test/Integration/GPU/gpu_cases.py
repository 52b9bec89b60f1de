"""Helpers the GPU tests of compiled kernels share: the manifests of a
kernel directory, random runtime tables in each table's element range, a
kernel's mask as a dense bool tensor (from its manifest's mask program), and
a median CUDA-event time. Imported by backward_test.py, block_max_test.py
and estimator_test.py (which put this directory on sys.path, being scripts)."""
import os

import torch

DEV = "cuda"
# Largest value each declared table element type holds in the random tables.
TABLE_MAX = {"i1": 1, "bool": 1, "i8": 3, "i16": 3, "i32": 3, "i64": 3}


def kernels_in(path):
    """The manifests of a kernel directory (sorted), or [path] for one manifest."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".json") and n != "entry.json")
        return [os.path.join(path, n) for n in names]
    return [path]


def random_tables(kernel, batch, lk, gen):
    """{name: int64 CUDA tensor} of random values in each table's range."""
    tables = {}
    for spec in kernel.manifest["tables"]:
        shape = kernel.table_shape(spec["name"], batch, lk)
        high = TABLE_MAX.get(spec["element"], 1) + 1
        tables[spec["name"]] = torch.randint(0, high, shape, device=DEV, generator=gen)
    return tables


def keep_mask(kernel, b, lq, lk, tables):
    """(H, Lq, Lk) bool: the kernel's mask for batch element b."""
    heads = torch.arange(kernel.heads, device=DEV)[:, None, None]
    pos = (torch.arange(lq, device=DEV) + (lk - lq))[None, :, None]
    keys = torch.arange(lk, device=DEV)[None, None, :]
    keep = kernel.mask_program.keep(torch.tensor(b, device=DEV), heads, pos, keys, lk, tables)
    return torch.broadcast_to(keep, (kernel.heads, lq, lk))


def median_ms(fn, warmups=3, repeats=10):
    """Median CUDA-event time of fn() in ms, after `warmups` calls."""
    for _ in range(warmups):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]
