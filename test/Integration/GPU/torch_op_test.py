"""GPU test of sattn's PyTorch face: sattn.compile / load from a cache, Kernel
calls (the custom op torch.ops.sattn.attention) eagerly, on a side stream and
under torch.compile(fullgraph=True), the fake (meta) implementation, the host
plan cache, device plans (the default for table kernels; kernel.plan reused
across layers, eagerly and under torch.compile; a CUDA graph captured with
tables and replayed with new contents), and the errors bad input raises. Every result is checked against
sattn.reference (dense fp32): ||O - ref|| / ||ref|| <= 1e-2 (bf16) or 5e-3
(fp16), LSE to 1e-3 with -inf on the same rows.

Runs on the GPU machine (no sattn-compile there): the kernels come from a
cache directory that scripts/gpu-python-prep.sh filled on a machine with the
compiler.

Usage: python3 torch_op_test.py CACHE_DIR [--filter SUBSTRING]
Prints a table and exits 1 when any check fails.
"""
import argparse
import os
import sys
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
import sattn  # noqa: E402

SPEC = os.path.join(HERE, "Inputs", "torch_op.sattn")
TOL = {"bf16": 1e-2, "f16": 5e-3}
DEV = "cuda"


def inputs(kernel, batch, lq, lk, gen):
    dt = kernel.torch_dtype

    def t(heads, length):
        return torch.randn(batch, heads, length, kernel.head_dim, device=DEV, dtype=dt,
                           generator=gen)
    return t(kernel.heads, lq), t(kernel.kv_heads, lk), t(kernel.kv_heads, lk)


def doc_table(batch, lk, gen):
    """Sorted document ids: a few documents of random lengths per row."""
    cuts = torch.rand(batch, lk, device=DEV, generator=gen) < 8.0 / max(lk, 1)
    return torch.cumsum(cuts.to(torch.int64), dim=1)


def compare(kernel, out, q, k, v, tables=None):
    """A short description when `out` (o, or (o, lse)) matches the
    reference; AssertionError saying why not otherwise."""
    o, lse = out if kernel.returns_lse else (out, None)
    ref_o, ref_lse = sattn.reference(kernel, q, k, v, tables=tables)
    if o.shape != q.shape or o.dtype != q.dtype:
        return "o has shape %s dtype %s" % (tuple(o.shape), o.dtype)
    err = float((o.float() - ref_o).norm() / ref_o.norm().clamp_min(1e-30))
    problems = [] if err <= TOL[kernel.dtype] else ["rel err %.2e" % err]
    if torch.isnan(o).any():
        problems.append("NaN in o")
    if lse is not None:
        if lse.shape != ref_lse.shape or lse.dtype != torch.float32:
            problems.append("lse has shape %s dtype %s" % (tuple(lse.shape), lse.dtype))
        else:
            finite = ~torch.isinf(ref_lse)
            if not bool((torch.isinf(lse) == ~finite).all()):
                problems.append("lse -inf rows differ")
            elif bool(finite.any()):
                lse_err = float((lse[finite] - ref_lse[finite]).abs().max())
                if lse_err > 1e-3 * max(1.0, float(ref_lse[finite].abs().max())):
                    problems.append("lse err %.2e" % lse_err)
    if problems:
        raise AssertionError("; ".join(problems))
    return "rel err %.1e" % err


class Results:
    def __init__(self, filt):
        self.rows, self.filter = [], filt

    def run(self, name, fn):
        if self.filter and self.filter not in name:
            return
        try:
            ok, detail = True, fn()
        except Exception as e:  # report and go on
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
            traceback.print_exc()
        self.rows.append((name, ok, detail))
        print("%-4s %-44s %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)


def check(cond, detail, failure):
    if not cond:
        raise AssertionError(failure)
    return detail


def expect(exc_type, needle, fn):
    try:
        fn()
    except exc_type as e:
        if needle not in str(e):
            raise AssertionError("%s without %r: %s" % (exc_type.__name__, needle, e))
        return "%s: %s" % (exc_type.__name__, str(e).splitlines()[0][:90])
    raise AssertionError("no %s raised" % exc_type.__name__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache_dir")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    os.environ["SATTN_CACHE_DIR"] = os.path.abspath(args.cache_dir)
    gen = torch.Generator(device=DEV)
    gen.manual_seed(1234)
    res = Results(args.filter)
    print("torch %s on %s, cache %s" % (torch.__version__, torch.cuda.get_device_name(),
                                         os.environ["SATTN_CACHE_DIR"]))

    kernels = {}

    def load_all():
        kernels.update(sattn.compile_all(SPEC))
        return ", ".join("%s (%s)" % (n, k.dtype) for n, k in sorted(kernels.items()))
    res.run("compile or load from cache", load_all)
    if not kernels:
        return finish(res)
    st, docs, mqa = kernels["torch_streaming"], kernels["torch_documents"], kernels["torch_fp16_mqa"]

    # -- eager ------------------------------------------------------------------
    for kernel, b, lq, lk in [(st, 1, 1000, 1000), (st, 2, 300, 1000), (st, 1, 1, 4097),
                              (mqa, 2, 777, 777), (mqa, 1, 64, 2000)]:
        def eager(kernel=kernel, b=b, lq=lq, lk=lk):
            q, k, v = inputs(kernel, b, lq, lk, gen)
            return compare(kernel, kernel(q, k, v), q, k, v)
        res.run("eager %s B=%d Lq=%d Lk=%d" % (kernel.name, b, lq, lk), eager)

    def strided_views():
        q, k, v = inputs(st, 2, 513, 700, gen)
        q = q.transpose(1, 2).contiguous().transpose(1, 2)
        return compare(st, st(q, k, v, scale=st.scale), q, k, v)
    res.run("eager (B, L, H, D)-strided q, scale= given", strided_views)

    def side_stream():
        q, k, v = inputs(st, 1, 2048, 2048, gen)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            out = st(q, k, v)
        s.synchronize()
        return compare(st, out, q, k, v)
    res.run("eager on a side stream (current stream)", side_stream)

    def plan_cache():
        q, k, v = inputs(st, 1, 640, 640, gen)
        st(q, k, v)
        before = (st._plans.hits, st._plans.misses)
        out = st(q, k, v)
        after = (st._plans.hits, st._plans.misses)
        check(after == (before[0] + 1, before[1]), "", "second call was not a plan-cache hit")
        return compare(st, out, q, k, v) + ", hit"
    res.run("plan cache: same shape reuses the plan", plan_cache)

    def tables():
        docs.plans = "host"
        try:
            q, k, v = inputs(docs, 2, 900, 900, gen)
            doc = doc_table(2, 900, gen)
            first = compare(docs, docs(q, k, v, tables={"doc": doc}), q, k, v,
                            tables={"doc": doc})
            misses = docs._plans.misses
            doc2 = doc_table(2, 900, gen)
            second = compare(docs, docs(q, k, v, tables=[doc2.to(torch.int32)]), q, k, v,
                             tables={"doc": doc2})
            check(docs._plans.misses == misses + 1, "", "new table contents did not re-plan")
        finally:
            docs.plans = "auto"
        return "%s / %s (int32 table, re-planned)" % (first, second)
    res.run("eager with a runtime table, plans=host", tables)

    # -- device plans (docs/DEVICE_PLANS.md) -------------------------------------
    def device_default():
        check(docs.plans == "auto" and docs._plan_on == "device", "",
              "a table kernel with a plan builder does not plan on the device by default")
        q, k, v = inputs(docs, 2, 1000, 1000, gen)
        misses = docs._plans.misses
        details = []
        for _ in range(2):
            doc = doc_table(2, 1000, gen)
            details.append(compare(docs, docs(q, k, v, tables={"doc": doc}), q, k, v,
                                   tables={"doc": doc}))
        check(docs._plans.misses == misses, "", "the host plan cache was used")
        return " / ".join(details) + " (new tables, no host plan)"
    res.run("device plans by default (table kernel)", device_default)

    def device_lq_lt_lk():
        q, k, v = inputs(docs, 1, 300, 1000, gen)
        doc = doc_table(1, 1000, gen)
        return compare(docs, docs(q, k, v, tables={"doc": doc}), q, k, v, tables={"doc": doc})
    res.run("device plans, Lq < Lk", device_lq_lt_lk)

    def plan_reuse():
        doc = doc_table(2, 700, gen)
        q1, k1, v1 = inputs(docs, 2, 700, 700, gen)
        plan = docs.plan(q1, k1, {"doc": doc})
        check(isinstance(plan, sattn.KernelPlan) and plan.workspace.dtype == torch.uint8, "",
              "kernel.plan returned %r" % (plan,))
        first = compare(docs, docs(q1, k1, v1, tables={"doc": doc}, plan=plan), q1, k1, v1,
                        tables={"doc": doc})
        q2, k2, v2 = inputs(docs, 2, 700, 700, gen)  # the next "layer"
        second = compare(docs, docs(q2, k2, v2, tables={"doc": doc}, plan=plan), q2, k2, v2,
                         tables={"doc": doc})
        return "%s / %s (one plan, two layers)" % (first, second)
    res.run("kernel.plan reused by two layers", plan_reuse)

    def plan_mismatch():
        q, k, v = inputs(docs, 1, 256, 256, gen)
        plan = docs.plan(q, k, {"doc": doc_table(1, 256, gen)})
        q2, k2, v2 = inputs(docs, 1, 128, 256, gen)
        return expect(ValueError, "the plan was built for", lambda: docs(
            q2, k2, v2, tables={"doc": doc_table(1, 256, gen)}, plan=plan))
    res.run("error: plan of another problem size", plan_mismatch)

    def cuda_graph():
        b, length = 2, 1024
        q, k, v = inputs(docs, b, length, length, gen)
        doc = doc_table(b, length, gen)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up (module load) outside the capture
            docs(q, k, v, tables={"doc": doc})
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = docs(q, k, v, tables={"doc": doc})
        details = []
        for _ in range(2):
            doc.copy_(doc_table(b, length, gen))  # new contents, same tensor
            graph.replay()
            torch.cuda.synchronize()
            details.append(compare(docs, out, q, k, v, tables={"doc": doc.clone()}))
        return " / ".join(details) + " (replayed with new tables)"
    res.run("CUDA graph with tables, replayed with new ones", cuda_graph)

    # -- torch.compile ---------------------------------------------------------
    class Block(torch.nn.Module):
        def __init__(self, kernel):
            super().__init__()
            self.kernel = kernel

        def forward(self, q, k, v, doc=None):
            q = q * 1.0  # something for Inductor around the op
            tables = None if doc is None else {"doc": doc}
            out = self.kernel(q, k, v, tables=tables)
            o = out[0] if isinstance(out, tuple) else out
            return (o + 0).to(q.dtype), out

    def compiled(kernel, b, lq, lk, with_doc=False):
        torch._dynamo.reset()
        model = torch.compile(Block(kernel), fullgraph=True)
        q, k, v = inputs(kernel, b, lq, lk, gen)
        doc = doc_table(b, lk, gen) if with_doc else None
        o, out = model(q, k, v, doc)
        detail = compare(kernel, out, q, k, v, tables=None if doc is None else {"doc": doc})
        explain = torch._dynamo.explain(Block(kernel))(q, k, v, doc)
        check(explain.graph_break_count == 0 and explain.graph_count == 1, "",
              "dynamo: %d graphs, %d breaks" % (explain.graph_count, explain.graph_break_count))
        return detail + ", 1 graph, 0 breaks"
    res.run("torch.compile fullgraph streaming (lse)", lambda: compiled(st, 2, 512, 1024))
    res.run("torch.compile fullgraph fp16 MQA", lambda: compiled(mqa, 1, 333, 333))
    res.run("torch.compile fullgraph with a table", lambda: compiled(docs, 2, 400, 400, True))

    def compiled_dynamic():
        torch._dynamo.reset()
        model = torch.compile(Block(st), fullgraph=True, dynamic=True)
        details = []
        for lq in (256, 300, 511):
            q, k, v = inputs(st, 1, lq, lq, gen)
            details.append(compare(st, model(q, k, v)[1], q, k, v))
        return " / ".join(details)
    res.run("torch.compile dynamic shapes", compiled_dynamic)

    class Layers(torch.nn.Module):
        """Two attention "layers" sharing one plan built in the graph."""
        def __init__(self, kernel):
            super().__init__()
            self.kernel = kernel

        def forward(self, q, k, v, doc):
            tables = {"doc": doc}
            plan = self.kernel.plan(q, k, tables)
            h = self.kernel(q, k, v, tables=tables, plan=plan)
            return h, self.kernel(h * 0.5, k, v, tables=tables, plan=plan)

    def compiled_plan():
        torch._dynamo.reset()
        model = torch.compile(Layers(docs), fullgraph=True)
        q, k, v = inputs(docs, 2, 512, 512, gen)
        doc = doc_table(2, 512, gen)
        h, o = model(q, k, v, doc)
        first = compare(docs, h, q, k, v, tables={"doc": doc})
        second = compare(docs, o, h * 0.5, k, v, tables={"doc": doc})
        explain = torch._dynamo.explain(Layers(docs))(q, k, v, doc)
        check(explain.graph_break_count == 0 and explain.graph_count == 1, "",
              "dynamo: %d graphs, %d breaks" % (explain.graph_count, explain.graph_break_count))
        return "%s / %s, 1 graph, 0 breaks" % (first, second)
    res.run("torch.compile fullgraph: kernel.plan + plan=", compiled_plan)

    # -- fake tensors ----------------------------------------------------------
    def fake():
        from torch._subclasses.fake_tensor import FakeTensorMode
        with FakeTensorMode():
            q = torch.empty(3, 8, 77, 128, device=DEV, dtype=torch.bfloat16)
            k = torch.empty(3, 2, 99, 128, device=DEV, dtype=torch.bfloat16)
            o, lse = torch.ops.sattn.attention.default(st.key, q, k, k, [], [], "host")
            q2 = torch.empty(1, 4, 10, 64, device=DEV, dtype=torch.float16)
            k2 = torch.empty(1, 1, 10, 64, device=DEV, dtype=torch.float16)
            o2, lse2 = torch.ops.sattn.attention.default(mqa.key, q2, k2, k2, [], [], "host")
        check(tuple(o.shape) == (3, 8, 77, 128) and o.dtype == torch.bfloat16
              and tuple(lse.shape) == (3, 8, 77) and lse.dtype == torch.float32
              and tuple(o2.shape) == (1, 4, 10, 64) and lse2.numel() == 0, "",
              "fake shapes %s %s %s %s" % (o.shape, lse.shape, o2.shape, lse2.shape))
        return "o %s, lse %s; no-LSE kernel: lse %s" % (tuple(o.shape), tuple(lse.shape),
                                                        tuple(lse2.shape))
    res.run("fake tensor shapes (FakeTensorMode)", fake)

    def opcheck():
        if not hasattr(torch.library, "opcheck"):
            return "torch.library.opcheck not available: skipped"
        q, k, v = inputs(st, 1, 200, 260, gen)
        torch.library.opcheck(torch.ops.sattn.attention.default,
                              (st.key, q, k, v, [], [], "host"))
        q, k, v = inputs(docs, 1, 128, 128, gen)
        doc = doc_table(1, 128, gen)
        torch.library.opcheck(torch.ops.sattn.attention.default,
                              (docs.key, q, k, v, [doc], [], "device"))
        # The workspace holds scratch buffers and unused plan rows whose bytes
        # are unspecified (docs/DEVICE_PLANS.md), so eager and traced outputs
        # are not compared bitwise; the attention op's check below reads it.
        torch.library.opcheck(torch.ops.sattn.device_plan.default, (docs.key, q, k, [doc]),
                              test_utils=("test_schema", "test_autograd_registration",
                                          "test_faketensor"))
        workspace = torch.ops.sattn.device_plan.default(docs.key, q, k, [doc])
        torch.library.opcheck(torch.ops.sattn.attention.default,
                              (docs.key, q, k, v, [doc], [workspace], "device"))
        return ("both ops: schema, fake, autograd registration; aot_dispatch for attention "
                "(with and without a plan): ok")
    res.run("torch.library.opcheck", opcheck)

    # -- bad input -------------------------------------------------------------
    q, k, v = inputs(st, 1, 128, 128, gen)
    bad = [
        ("error: wrong dtype", TypeError, "dtype",
         lambda: st(q.half(), k.half(), v.half())),
        ("error: wrong head_dim", ValueError, "head_dim",
         lambda: st(q[..., :64], k[..., :64], v[..., :64])),
        ("error: CPU tensors", ValueError, "cpu", lambda: st(q.cpu(), k.cpu(), v.cpu())),
        ("error: wrong heads", ValueError, "heads", lambda: st(q[:, :4], k, v)),
        ("error: Lq > Lk", ValueError, "Lq", lambda: st(q, k[:, :, :100], v[:, :, :100])),
        ("error: scale mismatch", ValueError, "fixed at compile time",
         lambda: st(q, k, v, scale=0.5)),
        ("error: not a tensor", TypeError, "torch.Tensor", lambda: st(q.tolist(), k, v)),
        ("error: wrong table shape", ValueError, "table",
         lambda: docs(*inputs(docs, 2, 64, 64, gen), tables={"doc": doc_table(2, 65, gen)})),
        ("error: missing table", ValueError, "needs table", lambda: docs(*inputs(docs, 1, 8, 8, gen))),
        ("error: CPU table", ValueError, "cpu",
         lambda: docs(*inputs(docs, 1, 8, 8, gen), tables=[torch.zeros(1, 8, dtype=torch.long)])),
    ]
    for name, exc, needle, fn in bad:
        res.run(name, lambda exc=exc, needle=needle, fn=fn: expect(exc, needle, fn))

    def compiled_error():
        torch._dynamo.reset()
        model = torch.compile(Block(st), fullgraph=True)
        return expect(TypeError, "dtype", lambda: model(q.half(), k.half(), v.half()))
    res.run("error under torch.compile: wrong dtype", compiled_error)
    return finish(res)


def finish(res):
    passed = sum(ok for _, ok, _ in res.rows)
    print()
    print("| check | result | detail |")
    print("|---|---|---|")
    for name, ok, detail in res.rows:
        print("| %s | %s | %s |" % (name, "PASS" if ok else "FAIL", detail.replace("|", "/")))
    print("\n%d passed, %d failed" % (passed, len(res.rows) - passed))
    return 0 if res.rows and passed == len(res.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
