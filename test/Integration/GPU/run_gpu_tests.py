"""GPU test runner for sattn kernels (runs on a machine with a CUDA device).

Needs only the CUDA driver, libsattn_runtime (built from lib/Runtime) and
PyTorch. Reads the cases that scripts/gpu-test.sh prepared (manifests, PTX,
tile plans and runtime tables, built ahead on a machine with MLIR), and for
each case: draws fresh random inputs, poisons the outputs with NaN, launches
the kernel through the runtime, and compares with a dense masked attention
computed in fp32 by PyTorch, the mask coming from the kernel's compiled mask
program (python/sattn/mask_program.py). A case passes when
||O - ref|| / ||ref|| <= 1e-2 (bf16) or 5e-3 (fp16), every element of O was
written, rows with no kept key hold 0, and LSE (when returned) matches to
1e-3 absolute with -inf on the same rows.

Kernels whose manifest carries a device plan builder (docs/DEVICE_PLANS.md)
are also planned on the GPU from the same tables: that plan must equal the
case's host plan segment for segment (manifest "plan_gathers": false; or
visit the same tiles with FULL where the host planner, which is looser on a
few unions, says PARTIAL) or visit every tile the host plan's ranges visit
(host plans that gather keys),
and the kernel launched on it must pass the same checks.

Usage: python3 run_gpu_tests.py CASES_DIR [--filter SUBSTRING] [--json OUT]
"""
import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from sattn import MaskProgram  # noqa: E402
from sattn import runtime  # noqa: E402

TOL = {"bf16": 1e-2, "f16": 5e-3}
DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16}


def read_i64(path, count):
    data = torch.from_file(path, shared=False, size=count, dtype=torch.int64)
    return data


def make_inputs(case, manifest, dt, dev, gen):
    B, H, KVH, D = case["batch"], manifest["heads"], manifest["kv_heads"], manifest["head_dim"]
    lq, lk = case["lq"], case["lk"]
    pad = 8 if case.get("padded") else 0  # extra elements per row / head: non-contiguous strides

    def tensor(heads, length):
        base = torch.randn(B, heads + (1 if pad else 0), length, D + pad, device=dev, dtype=dt, generator=gen)
        return base[:, :heads, :, :D]

    q, k, v = tensor(H, lq), tensor(KVH, lk), tensor(KVH, lk)
    o = torch.full((B, H, lq, D + pad), float("nan"), device=dev, dtype=dt)[..., :D]
    lse = torch.full((B, H, lq), float("nan"), device=dev, dtype=torch.float32) if manifest["return_lse"] else None
    return q, k, v, o, lse


def reference(prog, manifest, case, q, k, v, tables, dev):
    """Dense masked attention in fp32, chunked over query rows."""
    B, H, KVH = case["batch"], manifest["heads"], manifest["kv_heads"]
    lq, lk, scale = case["lq"], case["lk"], manifest["scale"]
    group = H // KVH
    out = torch.empty(B, H, lq, q.shape[-1], device=dev, dtype=torch.float32)
    lse = torch.empty(B, H, lq, device=dev, dtype=torch.float32)
    kk = torch.arange(lk, device=dev)
    rows = max(1, min(lq, (1 << 26) // max(1, lk * H)))
    for b in range(B):
        for r0 in range(0, lq, rows):
            r1 = min(lq, r0 + rows)
            qpos = torch.arange(r0, r1, device=dev) + (lk - lq)
            keep = prog.keep(torch.tensor(b, device=dev), torch.arange(H, device=dev)[:, None, None],
                             qpos[None, :, None], kk[None, None, :], lk, tables)
            keep = torch.broadcast_to(keep, (H, r1 - r0, lk))
            kf = k[b].float().repeat_interleave(group, 0)
            vf = v[b].float().repeat_interleave(group, 0)
            s = torch.einsum("hqd,hkd->hqk", q[b, :, r0:r1].float(), kf) * scale
            s = s.masked_fill(~keep, float("-inf"))
            m = s.amax(-1, keepdim=True)
            empty = torch.isinf(m) & (m < 0)
            p = torch.exp(s - torch.where(empty, torch.zeros_like(m), m))
            l = p.sum(-1, keepdim=True)
            o = torch.einsum("hqk,hkd->hqd", p, vf) / torch.where(empty, torch.ones_like(l), l)
            out[b, :, r0:r1] = torch.where(empty, torch.zeros_like(o), o)
            lse[b, :, r0:r1] = torch.where(empty[..., 0], torch.full_like(l[..., 0], float("-inf")),
                                           (m + torch.log(l))[..., 0])
    return out, lse


def load_plan_and_tables(case, manifest, root, dev):
    """The case's runtime tables ({name: tensor} and manifest-ordered list)
    and its tile plan as a runtime.Plan, all on `dev`."""
    tables, table_list = {}, []
    for t in case["tables"]:
        n = int(math.prod(t["shape"]))
        tensor = read_i64(os.path.join(root, t["file"]), n).reshape(t["shape"]).to(dev)
        tables[t["name"]] = tensor
        table_list.append(tensor)
    p = case["plan"]
    plan = runtime.Plan(
        segments=read_i64(os.path.join(root, p["segments"]), p["num_segments"] * 7).to(dev),
        offsets=read_i64(os.path.join(root, p["offsets"]), p["num_classes"] * (p["num_query_tiles"] + 1)).to(dev),
        class_index=read_i64(os.path.join(root, p["class_index"]), case["batch"] * manifest["heads"]).to(dev),
        num_segments=p["num_segments"], num_classes=p["num_classes"],
        num_query_tiles=p["num_query_tiles"], block_m=manifest["block_m"], block_n=manifest["block_n"])
    return tables, table_list, plan


def plan_rows(plan, batch, heads):
    """{(b, h, m): [(kind, full, lo, hi), ...]} of a runtime.Plan on the device."""
    seg = plan.segments.reshape(-1, 7)[:, :4].cpu().tolist()
    off = plan.offsets.reshape(plan.num_classes, -1).cpu().tolist()
    cls = plan.class_index.reshape(-1).cpu().tolist()
    rows = {}
    for b in range(batch):
        for h in range(heads):
            o = off[cls[b * heads + h]]
            for m in range(plan.num_query_tiles):
                rows[(b, h, m)] = [tuple(seg[s]) for s in range(o[m], o[m + 1])]
    return rows


def compare_device_plan(device_plan, host_plan, manifest, batch):
    """'equal', 'tighter' (the same tiles, some FULL that the host planner
    marks PARTIAL: its must-sets of unions under-approximate), 'covers'
    (host plans that gather keys: every tile of their ranges visited),
    'lists' (the device plan lists column keys, docs/DEVICE_PLANS.md
    "Column lists": its tiles differ from any host plan's, and the
    attention run on it is what checks it), 'gathers' (the device plan
    gathers a lattice's keys or the bands of kept diagonals, "Lattice
    gathers" and "Diagonal bands": host Range tiles may be gathered instead;
    the attention run checks it, and CI checks such plans pair by pair), or
    the first difference."""
    heads = manifest["heads"]
    dev_rows = plan_rows(device_plan, batch, heads)
    host_rows = plan_rows(host_plan, batch, heads)
    ranges_only = not manifest["plan_gathers"]

    def tiles(row):
        return {n: full for (kind, full, lo, hi) in row if kind == 0 for n in range(lo, hi)}
    kinds = {kind for row in dev_rows.values() for (kind, _, _, _) in row}
    if 2 in kinds:
        return "lists"
    if 1 in kinds:
        return "gathers"
    verdict = "equal" if ranges_only else "covers"
    for key, host in host_rows.items():
        got, want = tiles(dev_rows[key]), tiles(host)
        if ranges_only and dev_rows[key] != host:
            if got.keys() != want.keys() or any(want[n] and not got[n] for n in want):
                return "differs at (b, h, m) = %s: device %s, host %s" % (key, dev_rows[key], host)
            verdict = "tighter"
        if not set(want) <= set(got):
            return "host range tiles %s not visited at (b, h, m) = %s" % (
                sorted(set(want) - set(got))[:8], key)
    return verdict


def check_output(manifest, o, lse, ref_o, ref_lse, dev):
    """(ok, rel err, every element written, LSE error or None)."""
    written = not bool(torch.isnan(o).any())
    err = float((o.float() - ref_o).norm() / max(ref_o.norm(), torch.tensor(1e-30, device=dev)))
    ok = written and err <= TOL[manifest["dtype"]]
    lse_err = None
    if lse is not None:
        finite = ~torch.isinf(ref_lse)
        same_inf = bool((torch.isinf(lse) == torch.isinf(ref_lse)).all())
        lse_err = float((lse[finite] - ref_lse[finite]).abs().max()) if bool(finite.any()) else 0.0
        scale = float(ref_lse[finite].abs().max()) if bool(finite.any()) else 1.0
        ok = ok and same_inf and not bool(torch.isnan(lse).any()) and lse_err <= 1e-3 * max(1.0, scale)
    return ok, err, written, lse_err


def run_case(case, root, dev, gen):
    manifest_path = os.path.join(root, case["manifest"])
    manifest = json.load(open(manifest_path))
    prog = MaskProgram(manifest["mask_program"])
    kernel = runtime.load_kernel(manifest_path)
    dt = DTYPE[manifest["dtype"]]
    q, k, v, o, lse = make_inputs(case, manifest, dt, dev, gen)
    tables, table_list, plan = load_plan_and_tables(case, manifest, root, dev)
    kernel.launch(q, k, v, o, lse=lse, plan=plan, tables=table_list)
    torch.cuda.synchronize()
    ref_o, ref_lse = reference(prog, manifest, case, q, k, v, tables, dev)
    ok, err, written, lse_err = check_output(manifest, o, lse, ref_o, ref_lse, dev)
    result = dict(case=case["name"], ok=bool(ok), rel_err=err, written=written, lse_err=lse_err)
    if "device_plan" in manifest:
        device_plan = kernel.build_device_plan(case["batch"], case["lq"], case["lk"], table_list)
        o.fill_(float("nan"))
        if lse is not None:
            lse.fill_(float("nan"))
        kernel.launch(q, k, v, o, lse=lse, plan=device_plan, tables=table_list)
        torch.cuda.synchronize()
        same = compare_device_plan(device_plan, plan, manifest, case["batch"])
        dev_ok, dev_err, _, _ = check_output(manifest, o, lse, ref_o, ref_lse, dev)
        result.update(device_plan=same, device_plan_rel_err=dev_err,
                      ok=bool(ok and dev_ok and same in ("equal", "tighter", "covers", "lists", "gathers")))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases_dir")
    ap.add_argument("--filter", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    dev = torch.device("cuda")
    cases = json.load(open(os.path.join(args.cases_dir, "cases.json")))
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(time.time()))
    results = []
    for case in cases:
        if args.filter and args.filter not in case["name"]:
            continue
        try:
            r = run_case(case, args.cases_dir, dev, gen)
        except Exception as e:  # report and go on: one broken case must not hide the others
            r = dict(case=case["name"], ok=False, rel_err=None, written=False, lse_err=None,
                     error="%s: %s" % (type(e).__name__, e))
        results.append(r)
        print(("PASS" if r["ok"] else "FAIL"), r["case"], "rel_err=%s" % r["rel_err"],
              "lse_err=%s" % r["lse_err"],
              "device_plan=%s rel_err=%s" % (r["device_plan"], r["device_plan_rel_err"])
              if "device_plan" in r else "", r.get("error", ""), flush=True)
    passed = sum(r["ok"] for r in results)
    planned = [r.get("device_plan") for r in results if "device_plan" in r]
    counts = {v: planned.count(v) for v in ("equal", "tighter", "covers", "lists", "gathers")}
    print("%d passed, %d failed; device plans: %d equal to the host plan, %d tighter, %d cover "
          "it (it gathers), %d list columns, %d gather lattices or bands, %d wrong" % (
              passed, len(results) - passed, counts["equal"], counts["tighter"],
              counts["covers"], counts["lists"], counts["gathers"],
              len(planned) - sum(counts.values())))
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)
    sys.exit(0 if passed == len(results) and results else 1)


if __name__ == "__main__":
    main()
