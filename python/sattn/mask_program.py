"""Evaluates a compiled sattn mask program on arrays (NumPy or PyTorch).

`sattn-compile --emit=mask-program` (and every kernel manifest) carries the
mask as a "sattn.mask-program/1" JSON document: the same compiled form the C++
reference evaluator runs (lib/Analysis/CompiledMask.cpp). This module
interprets it vectorised over broadcastable (b, h, q, k) index arrays, so
that users and the GPU test runner can build dense reference masks on the
device without MLIR. Semantics follow docs/MASK_SEMANTICS.md exactly:
64-bit wrap-around arithmetic, division and remainder by zero give 0, table
reads out of range give 0.
"""

import json

_INT64_MIN = -(1 << 63)


class _Ops:
    """The few array operations the interpreter needs, for NumPy or torch."""

    def __init__(self, like):
        mod = type(like).__module__
        if mod.startswith("torch"):
            import torch
            self.xp, self.torch = torch, True
        else:
            import numpy
            self.xp, self.torch = numpy, False

    def i64(self, v, like):
        if self.torch:
            return self.xp.as_tensor(v, dtype=self.xp.int64, device=like.device)
        return self.xp.asarray(v, dtype=self.xp.int64)

    def where(self, c, a, b):
        return self.xp.where(c, a, b)

    def fmod(self, a, b):  # C remainder (sign of the dividend)
        return self.xp.fmod(a, b)

    def bool_to_i64(self, x):
        return x.to(self.xp.int64) if self.torch else x.astype(self.xp.int64)

    def to_bool(self, x):
        return x != 0


class MaskProgram:
    def __init__(self, doc):
        if isinstance(doc, (str, bytes)):
            doc = json.loads(doc)
        if doc.get("format") != "sattn.mask-program/1":
            raise ValueError("not a sattn.mask-program/1 document: format = %r" % doc.get("format"))
        self.doc = doc
        self.heads = doc["heads"]
        self.kv_heads = doc["kv_heads"]
        self.nodes = doc["nodes"]
        self.operands = doc["operands"]
        self.affine = doc["affine"]
        self.program = doc["program"]
        self.lookup_args = doc["lookup_args"]
        self.tables = doc["tables"]

    @classmethod
    def from_file(cls, path):
        with open(path) as f:
            return cls(f.read())

    def table_shape(self, name, batch, lk):
        """Shape the table `name` must have for `batch` and key length `lk`."""
        for t in self.tables:
            if t["name"] == name:
                return table_extents(t["dims"], self.heads, batch, lk)
        raise KeyError("the mask reads no table named %r" % name)

    def keep(self, b, h, q, k, lk, tables=None):
        """Boolean array: is (b, h, q, k) kept? Positions are absolute.

        b, h, q, k: broadcastable int64 arrays (NumPy or torch, one kind);
        tables: {name: int64 array of the declared shape}.
        """
        ops = _Ops(q)
        env = _Env(ops, self, ops.i64(b, q), ops.i64(h, q), ops.i64(q, q), ops.i64(k, q),
                   lk, tables or {})
        return env.eval(self.doc["root"])


def table_extents(dims, heads, batch, lk):
    """The extents of a table with these declared dims (docs/MANIFEST.md)."""
    shape = []
    for d in dims:
        d = str(d).replace(" ", "")
        if d == "b":
            shape.append(batch)
        elif d == "h":
            shape.append(heads)
        elif d[:2] == "h/":
            n = int(d[2:])
            shape.append((heads + n - 1) // n)
        elif d in ("q", "k"):
            shape.append(lk)
        elif d[:2] in ("q/", "k/"):
            n = int(d[2:])
            shape.append((lk + n - 1) // n)
        else:
            shape.append(int(d))
    return tuple(shape)


class _Env:
    def __init__(self, ops, prog, b, h, q, k, lk, tables):
        self.ops, self.p, self.b, self.h, self.q, self.k = ops, prog, b, h, q, k
        self.lk, self.tables = lk, tables

    # Integer helpers with the C++ evaluator's semantics.
    def div_s(self, a, b):
        o = self.ops
        safe = o.where(b == 0, o.i64(1, a), b)
        r = o.fmod(a, safe)
        quotient = (a - r) // safe  # exact division
        quotient = o.where(b == -1, -a, quotient)
        return o.where(b == 0, o.i64(0, a), quotient)

    def rem_s(self, a, b):
        o = self.ops
        bad = (b == 0) | (b == -1)
        r = o.fmod(a, o.where(bad, o.i64(1, a), b))
        return o.where(bad, o.i64(0, a), r)

    def floordiv_s(self, a, b):
        quotient, r = self.div_s(a, b), self.rem_s(a, b)
        return quotient - self.ops.bool_to_i64((r != 0) & ((a < 0) != (b < 0)))

    def ceildiv_s(self, a, b):
        quotient, r = self.div_s(a, b), self.rem_s(a, b)
        return quotient + self.ops.bool_to_i64((r != 0) & ((a < 0) == (b < 0)))

    def floormod_s(self, a, b):
        r = self.rem_s(a, b)
        return r + self.ops.where((r != 0) & ((r < 0) != (b < 0)), b, self.ops.i64(0, a))

    def read_table(self, slot, idx):
        o = self.ops
        ref = self.p.tables[slot]
        data = self.tables.get(ref["name"])
        zero = o.i64(0, self.q)
        if data is None or len(data.shape) != len(idx):
            return zero + 0 * idx[0]
        inside = None
        flat = zero
        for i, extent in zip(idx, data.shape):
            ok = (i >= 0) & (i < extent)
            inside = ok if inside is None else inside & ok
            flat = flat * extent + o.where(ok, i, zero)
        flat_data = data.reshape(-1)
        value = flat_data[flat] if o.torch else flat_data[flat]
        value = o.where(inside, value, zero)
        return o.bool_to_i64(value != 0) if ref["bool"] else value

    def affine_eval(self, node):
        stack = []
        for op, c in self.p.affine[node["first"]: node["first"] + node["count"]]:
            if op == "const":
                stack.append(self.ops.i64(c, self.h) + 0 * self.h)
            elif op == "dim":
                stack.append(self.h)
            else:
                r, l = stack.pop(), stack.pop()
                stack.append({"add": lambda: l + r, "mul": lambda: l * r,
                              "mod": lambda: self.floormod_s(l, r),
                              "floordiv": lambda: self.floordiv_s(l, r),
                              "ceildiv": lambda: self.ceildiv_s(l, r)}[op]())
        return stack[-1]

    def run_predicate(self, node):
        o = self.ops
        regs = [None] * node["param"][0]
        regs[0], regs[1], regs[2], regs[3] = self.b, self.h, self.q, self.k
        for ins in self.p.program[node["first"]: node["first"] + node["count"]]:
            op, w, ow = ins["op"], ins["width"], ins["operand_width"]
            a = regs[ins["a"]] if regs[ins["a"]] is not None else None
            bb = regs[ins["b"]] if regs[ins["b"]] is not None else None
            sa = _sext(a, ow) if a is not None else None
            sb = _sext(bb, ow) if bb is not None else None
            if op == "const":
                r = o.i64(ins["imm"], self.q)
            elif op == "add":
                r = a + bb
            elif op == "sub":
                r = a - bb
            elif op == "mul":
                r = a * bb
            elif op == "divs":
                r = self.div_s(sa, sb)
            elif op == "floordivs":
                r = self.floordiv_s(sa, sb)
            elif op == "ceildivs":
                r = self.ceildiv_s(sa, sb)
            elif op == "rems":
                r = self.rem_s(sa, sb)
            elif op in ("divu", "remu", "minu", "maxu", "ult", "ule", "ugt", "uge"):
                r = _unsigned(o, op, a, bb)
            elif op == "mins":
                r = o.where(sa <= sb, a, bb)
            elif op == "maxs":
                r = o.where(sa >= sb, a, bb)
            elif op in ("eq", "ne", "slt", "sle", "sgt", "sge"):
                x, y = (a, bb) if op in ("eq", "ne") else (sa, sb)
                r = o.bool_to_i64({"eq": x == y, "ne": x != y, "slt": x < y, "sle": x <= y,
                                   "sgt": x > y, "sge": x >= y}[op])
            elif op == "and":
                r = a & bb
            elif op == "or":
                r = a | bb
            elif op == "xor":
                r = a ^ bb
            elif op == "select":
                r = o.where((a & 1) != 0, bb, regs[ins["c"]])
            elif op == "sext":
                r = sa
            elif op == "trunc":
                r = a
            elif op == "absi":
                r = o.where(sa < 0, -a, a)
            elif op == "lookup":
                start, count = ins["a"], ins["b"]
                idx = [regs[rg] for rg in self.p.lookup_args[start:start + count]]
                r = self.read_table(ins["imm"], idx)
            else:
                raise ValueError("unknown predicate opcode %r" % op)
            regs[ins["dst"]] = _trunc(r, w)
        return (regs[node["param"][1]] & 1) != 0

    def eval(self, index):
        o = self.ops
        n = self.p.nodes[index]
        kind, p = n["kind"], n["param"]
        q, k, h = self.q, self.k, self.h
        if kind == "full":
            return (q == q) & (k == k)
        if kind == "empty":
            return (q != q) & (k != k)
        if kind == "causal":
            return k <= q
        if kind == "window":
            return (q - p[0] < k) & (k <= q)
        if kind == "symmetric_window":
            d = q - k
            return o.where(d < 0, -d, d) <= p[0]
        if kind == "sink":
            return (k < p[0]) & (q == q)
        if kind == "tail_queries":
            return (q >= self.lk - p[0]) & (k == k)
        if kind == "strided":
            s = o.i64(p[0], q)
            return self.floormod_s(k, s) == self.floormod_s(self.affine_eval(n), s)
        if kind == "strided_blocks":
            hh = self.div_s(h, o.i64(p[5], h))
            bs = o.i64(p[0], q)
            qb, kb = self.div_s(q, bs), self.div_s(k, bs)
            column = kb + hh * p[6] + p[3]
            sparse = (qb >= kb) & ((qb - kb < p[1]) | (self.floormod_s(column, o.i64(p[2], q)) == 0))
            return (k <= q) & ((hh >= p[4]) | sparse)
        if kind == "dilated":
            d = q - k
            return (k <= q) & (d < p[1]) & (self.rem_s(d, o.i64(p[0], q)) == 0)
        if kind == "power":
            bs = o.i64(p[0], q)
            qb, kb = self.div_s(q, bs), self.div_s(k, bs)
            d = qb - kb
            pow2 = (d > 0) & ((d & (d - 1)) == 0)
            return (k <= q) & (kb <= qb) & ((d == 0) | pow2 | (d < p[1]) | (kb < p[2]))
        if kind == "prefix":
            return (k < p[0]) | (k <= q)
        if kind == "document":
            if p[1] == 1:
                return self.read_table(p[0], [q]) == self.read_table(p[0], [k])
            return self.read_table(p[0], [self.b, q]) == self.read_table(p[0], [self.b, k])
        if kind == "block_table":
            bs = o.i64(p[1], q)
            return self.read_table(p[0], [h, self.div_s(q, bs), self.div_s(k, bs)]) != 0
        children = self.p.operands[n["first"]: n["first"] + n["count"]]
        if kind == "union":
            out = self.eval(children[0])
            for c in children[1:]:
                out = out | self.eval(c)
            return out
        if kind == "intersect":
            out = self.eval(children[0])
            for c in children[1:]:
                out = out & self.eval(c)
            return out
        if kind == "complement":
            return ~self.eval(n["first"])
        if kind == "per_head":
            out = (q != q) & (k == k) & (h == h)
            for head, c in enumerate(children):
                out = out | ((h == head) & self.eval(c))
            return out
        if kind == "predicate":
            return self.run_predicate(n)
        raise ValueError("unknown mask node kind %r" % kind)


def _trunc(v, width):
    if width >= 64:
        return v
    return v & ((1 << width) - 1)


def _sext(v, width):
    if width >= 64:
        return v
    sign = 1 << (width - 1)
    return (_trunc(v, width) ^ sign) - sign


def _unsigned(o, op, a, b):
    # 64-bit unsigned views: flip the sign bit to compare; divide through
    # Python integers where the framework lacks unsigned 64-bit division.
    flip_a, flip_b = a ^ _INT64_MIN, b ^ _INT64_MIN
    if op in ("ult", "ule", "ugt", "uge"):
        return o.bool_to_i64({"ult": flip_a < flip_b, "ule": flip_a <= flip_b,
                              "ugt": flip_a > flip_b, "uge": flip_a >= flip_b}[op])
    if op == "minu":
        return o.where(flip_a <= flip_b, a, b)
    if op == "maxu":
        return o.where(flip_a >= flip_b, a, b)
    if bool(((a < 0) | (b < 0)).any()):
        import numpy
        an = numpy.asarray(a.cpu() if o.torch else a).astype(numpy.uint64)
        bn = numpy.asarray(b.cpu() if o.torch else b).astype(numpy.uint64)
        an, bn = numpy.broadcast_arrays(an, bn)
        safe = numpy.where(bn == 0, 1, bn)
        res = an // safe if op == "divu" else an % safe
        res = numpy.where(bn == 0, 0, res).astype(numpy.int64)
        return o.i64(res, a)
    safe = o.where(b == 0, o.i64(1, a), b)
    res = a // safe if op == "divu" else a % safe
    return o.where(b == 0, o.i64(0, a), res)
