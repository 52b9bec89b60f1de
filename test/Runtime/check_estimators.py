"""sattn.estimate (libsattn_runtime's reference estimators) against a NumPy
implementation written here from the methods' recipes: dense probability
matrices, forced entries at +inf before one lexicographic sort, XAttention's
reshape of reversed query groups, SeerAttention's gate with its rotary
embedding as complex rotations, AnchorAttention's stripes from a dense
masked logit matrix, NSA's three branches as masked dense attentions. Batched GQA inputs, Lq < Lk, every scorer and
selection; then the errors a caller gets for bad arguments."""

import sys
import warnings

import numpy as np

import sattn


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def top(score, count, forced):
    """First `count` by (score desc, index asc), forced at +inf; as flags."""
    score = score.copy()
    score[list(forced)] = np.inf
    order = np.lexsort((np.arange(len(score)), -score))
    flags = np.zeros(len(score), dtype=bool)
    flags[order[:min(count, len(score))]] = True
    return flags


def ref_vertical_slash(q, k, scale, vertical, slash, last_q, fv, fs):
    lq, lk = len(q), len(k)
    m = min(last_q, lq)
    pos = np.arange(lq - m, lq) + lk - lq
    logits = scale * (q[lq - m:].astype(np.float64) @ k.astype(np.float64).T)
    logits[np.arange(lk)[None, :] > pos[:, None]] = -np.inf
    p = softmax(logits)
    columns = p.sum(axis=0)
    diagonals = np.zeros(lk)
    for r in range(m):
        j = np.arange(pos[r] + 1)
        np.add.at(diagonals, pos[r] - j, p[r, j])
    return (top(columns, vertical, range(min(fv, lk))),
            top(diagonals, slash, range(min(fs, lk))))


def block_scores(q, k, scale, scorer, block, stride):
    lq, lk, d = len(q), len(k), q.shape[1]
    shift, n = lk - lq, -(-lk // block)
    score = np.zeros((n, n))
    if scorer == "mean_pool":
        qabs = np.full((n * block, d), np.nan)
        qabs[shift:lk] = q
        kabs = np.full((n * block, d), np.nan)
        kabs[:lk] = k
        with warnings.catch_warnings():  # blocks without queries: NaN, never read
            warnings.simplefilter("ignore", RuntimeWarning)
            pq = np.nanmean(qabs.reshape(n, block, d).astype(np.float64), axis=1)
        pk = np.nanmean(kabs.reshape(n, block, d).astype(np.float64), axis=1)
        return scale * pq @ pk.T
    groups = -(-lk // stride)
    qabs = np.zeros((groups * stride, d))
    qabs[shift:lk] = q
    kabs = np.zeros((groups * stride, d))
    kabs[:lk] = k
    qt = qabs.reshape(groups, stride, d)[:, ::-1, :].reshape(groups, stride * d)
    kt = kabs.reshape(groups, stride * d)
    logits = scale / stride * (qt @ kt.T)
    logits[np.arange(groups)[None, :] > np.arange(groups)[:, None]] = -np.inf
    probs = softmax(logits)
    has_query = [any(shift <= a < lk for a in range(g * stride, (g + 1) * stride))
                 for g in range(groups)]
    for g in range(groups):
        if has_query[g]:
            for r in range(g + 1):
                score[g * stride // block, r * stride // block] += probs[g, r]
    return score


def ref_blocks(q, k, scale, scorer, block, top_k, tau, stride):
    lq, lk = len(q), len(k)
    n = -(-lk // block)
    score = block_scores(q, k, scale, scorer, block, stride)
    kept = np.zeros((n, n), dtype=bool)
    for i in range((lk - lq) // block, n):
        row = score[i, :i + 1]
        forced = {0, i}
        if top_k:
            kept[i, :i + 1] = top(row, max(top_k, len(forced)), forced)
            continue
        mass = softmax(row) if scorer == "mean_pool" else row / row.sum()
        key = mass.copy()
        key[list(forced)] = np.inf
        total = 0.0
        for j in np.lexsort((np.arange(i + 1), -key)):
            if j not in forced and total >= tau:
                break
            kept[i, j] = True
            total += mass[j]
    return kept


def ref_gate(q, k, wq, wk, block, threshold, top_ratio, base):
    """SeerAttention's AttnGate: pooled blocks (queries: mean; keys: max, min,
    mean), linear maps, rotary embedding at block positions as complex
    rotations, block-causal softmax; block 0, the diagonal and the whole last
    row forced."""
    lq, lk = q.shape[0], k.shape[0]
    shift, n = lk - lq, -(-lk // block)
    hidden = wq.shape[1]
    half = hidden // 2
    freq = base ** (-2.0 * np.arange(half) / hidden)

    def rope(x, pos):
        z = (x[:half] + 1j * x[half:]) * np.exp(1j * pos * freq)
        return np.concatenate([z.real, z.imag])

    kg = []
    for j in range(n):
        rows = k[j * block:(j + 1) * block].astype(np.float64)
        pooled = np.concatenate([rows.max(0), rows.min(0), rows.mean(0)])
        kg.append(rope(pooled @ wk.astype(np.float64), j))
    kept = np.zeros((n, n), dtype=bool)
    for i in range(shift // block, n):
        rows = q[max(i * block, shift) - shift:min((i + 1) * block, lk) - shift]
        qg = rope(rows.astype(np.float64).mean(0) @ wq.astype(np.float64), i)
        p = softmax(np.array([qg @ kg[j] for j in range(i + 1)]) / np.sqrt(hidden))
        forced = [0, i]
        if i == n - 1:
            kept[i, :i + 1] = True
        elif threshold:
            kept[i, :i + 1] = p > threshold
            kept[i, forced] = True
        else:
            kept[i, :i + 1] = top(p, int(np.ceil(top_ratio * (i + 1))), forced)
    return kept


def ref_stripe(q, k, scale, group, block, step, theta):
    """AnchorAttention: anchors are row maxima of the logits over the first
    group and the query's own group (causal); a unit of step query blocks
    keeps key j between the two regions when some block's mean query scores
    it within theta of the block's mean anchor."""
    lq, lk = q.shape[0], k.shape[0]
    shift, unit = lk - lq, block * step
    pos = np.arange(lq)[:, None] + shift
    key = np.arange(lk)[None, :]
    logits = scale * (q.astype(np.float64) @ k.astype(np.float64).T)
    region = (key <= pos) & ((key < group) | (key >= pos // group * group))
    anchors = np.where(region, logits, -np.inf).max(axis=1)
    units = -(-lk // unit)
    kept = np.zeros((units, lk), dtype=bool)
    for u in range(units):
        local = u * unit // group * group
        for first in range(u * unit, (u + 1) * unit, block):
            rows = np.arange(max(first, shift), min(first + block, lk)) - shift
            if len(rows) == 0 or local <= group:
                continue
            mean_q = q[rows].astype(np.float64).mean(axis=0)
            score = scale * (k[group:local].astype(np.float64) @ mean_q)
            kept[u, group:local] |= score + theta >= anchors[rows].mean()
    return kept


def masked_attention(logits, mask, v):
    """Softmax attention over the kept entries; rows keeping none give 0."""
    x = np.where(mask, logits, -np.inf)
    top_ = np.where(mask.any(axis=1), x.max(axis=1), 0.0)
    e = np.where(mask, np.exp(x - top_[:, None]), 0.0)
    total = e.sum(axis=1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return p @ v, p


def ref_nsa(q, k, v, gates, scale, cb, cs, sb, count, window, local, ck=None, cv=None):
    """NSA for one KV group: q [heads, lq, d]; compressed keys are block
    means unless given; a selection block's importance sums the compressed
    probabilities of the blocks overlapping it over the group's heads."""
    heads, lq, _ = q.shape
    lk = k.shape[0]
    shift = lk - lq
    nc = (lk - cb) // cs + 1 if lk >= cb else 0
    if ck is None:
        ck = np.array([k[c * cs:c * cs + cb].astype(np.float64).mean(0) for c in range(nc)])
        cv = np.array([v[c * cs:c * cs + cb].astype(np.float64).mean(0) for c in range(nc)])
        ck, cv = ck.astype(np.float32), cv.astype(np.float32)
    ck = ck.reshape(nc, -1).astype(np.float64)
    cv = cv.reshape(nc, -1).astype(np.float64)
    k64, v64 = k.astype(np.float64), v.astype(np.float64)
    pos = np.arange(lq)[:, None] + shift
    ns = -(-lk // sb)
    cmask = np.arange(nc)[None, :] * cs + cb - 1 <= pos
    starts = np.arange(nc) * cs
    overlap = ((starts[:, None] < (np.arange(ns)[None, :] + 1) * sb) &
               (starts[:, None] + cb > np.arange(ns)[None, :] * sb)).astype(np.float64)
    out = np.zeros(q.shape)
    importance = np.zeros((lq, ns))
    for h in range(heads):
        o, p = masked_attention(scale * q[h].astype(np.float64) @ ck.T, cmask, cv)
        out[h] += gates[h, :, 0:1] * o
        importance += p @ overlap
    selected = np.full((lq, count), -1, dtype=np.int64)
    chosen = np.zeros((lq, ns), dtype=bool)
    for i in range(lq):
        own = (i + shift) // sb
        forced = sorted({0} | {own - t for t in range(local) if own - t >= 0})
        flags = top(importance[i, :own + 1], count, forced)
        chosen[i, :own + 1] = flags
        picked = np.nonzero(flags)[0]
        selected[i, :len(picked)] = picked
    key = np.arange(lk)[None, :]
    smask = chosen[:, key[0] // sb] & (key <= pos)
    wmask = (key <= pos) & (key > pos - window)
    for h in range(heads):
        logits = scale * q[h].astype(np.float64) @ k64.T
        out[h] += gates[h, :, 1:2] * masked_attention(logits, smask, v64)[0]
        out[h] += gates[h, :, 2:3] * masked_attention(logits, wmask, v64)[0]
    return out, selected


def structured(rng, shape, spikes):
    x = rng.standard_normal(shape).astype(np.float32)
    x[..., spikes, :] += 2.0
    return x


def main():
    rng = np.random.default_rng(5)
    b, heads, kv, lq, lk, d = 2, 4, 2, 45, 61, 16
    q = rng.standard_normal((b, heads, lq, d)).astype(np.float32)
    k = structured(rng, (b, kv, lk, d), [3, 17, 40])
    scale = 1 / np.sqrt(d)
    group = heads // kv
    cases = 0
    for params in [dict(vertical=8, slash=6, last_q=16, forced_vertical=2, forced_slash=3),
                   dict(vertical=100, slash=3, last_q=64, forced_vertical=0, forced_slash=0)]:
        vcol, diag = sattn.estimate.vertical_slash(q, k, **params)
        assert vcol.shape == (b, heads, lk) and vcol.dtype == bool, vcol.shape
        for bi in range(b):
            for h in range(heads):
                want = ref_vertical_slash(q[bi, h], k[bi, h // group], scale,
                                          params["vertical"], params["slash"], params["last_q"],
                                          params["forced_vertical"], params["forced_slash"])
                assert (vcol[bi, h] == want[0]).all(), (params, bi, h)
                assert (diag[bi, h] == want[1]).all(), (params, bi, h)
                cases += 1
    print("vertical_slash: %d slices match" % cases)

    cases = kept_total = 0
    for params in [dict(block=8, scorer="mean_pool", top_k=3),
                   dict(block=8, scorer="mean_pool", tau=0.6),
                   dict(block=8, scorer="antidiagonal", stride=4, tau=0.9),
                   dict(block=12, scorer="antidiagonal", stride=3, top_k=2)]:
        kept = sattn.estimate.blocks(q, k, **params)
        n = -(-lk // params["block"])
        assert kept.shape == (b, heads, n, n), kept.shape
        for bi in range(b):
            for h in range(heads):
                want = ref_blocks(q[bi, h], k[bi, h // group], scale, params["scorer"],
                                  params["block"], params.get("top_k"), params.get("tau"),
                                  params.get("stride"))
                assert (kept[bi, h] == want).all(), (params, bi, h, kept[bi, h], want)
                kept_total += int(want.sum())
                cases += 1
    print("blocks: %d slices match, %d blocks kept" % (cases, kept_total))

    cases = kept_total = 0
    hidden = 8
    wq = rng.standard_normal((heads, d, hidden)).astype(np.float32)
    wk = rng.standard_normal((heads, 3 * d, hidden)).astype(np.float32) / 2
    for params in [dict(block=8, threshold=0.15), dict(block=6, top_ratio=0.4),
                   dict(block=8, top_ratio=1.0, rope_base=500.0)]:
        kept = sattn.estimate.gate(q, k, wq, wk, **params)
        n = -(-lk // params["block"])
        assert kept.shape == (b, heads, n, n), kept.shape
        for bi in range(b):
            for h in range(heads):
                want = ref_gate(q[bi, h], k[bi, h // group], wq[h], wk[h], params["block"],
                                params.get("threshold"), params.get("top_ratio"),
                                params.get("rope_base", 10000.0))
                assert (kept[bi, h] == want).all(), (params, bi, h, kept[bi, h], want)
                kept_total += int(want.sum())
                cases += 1
    print("gate: %d slices match, %d blocks kept" % (cases, kept_total))

    cases = kept_total = candidates = 0
    for params in [dict(group=16, block=4, step=2, theta=1.0),
                   dict(group=8, block=8, step=1, theta=0.5),
                   dict(group=24, block=3, step=4, theta=2.0)]:
        kept = sattn.estimate.stripe(q, k, **params)
        unit = params["block"] * params["step"]
        assert kept.shape == (b, heads, -(-lk // unit), lk), kept.shape
        for bi in range(b):
            for h in range(heads):
                want = ref_stripe(q[bi, h], k[bi, h // group], scale, **params)
                assert (kept[bi, h] == want).all(), (params, bi, h, kept[bi, h], want)
                kept_total += int(want.sum())
                g = params["group"]
                candidates += sum(max(0, u * unit // g * g - g)
                                  for u in range((lk - lq) // unit, want.shape[0]))
                cases += 1
    assert 0 < kept_total < candidates, (kept_total, candidates)
    print("stripe: %d slices match, %d of %d candidate keys kept" % (cases, kept_total,
                                                                     candidates))

    cases = worst = 0
    v = rng.standard_normal((b, kv, lk, d)).astype(np.float32)
    gates = rng.uniform(0, 1, (b, heads, lq, 3)).astype(np.float32)
    for params in [dict(compress_block=8, compress_stride=4, select_block=8, select_count=3,
                        window=6, local_blocks=1),
                   dict(compress_block=4, compress_stride=4, select_block=8, select_count=4,
                        window=0, local_blocks=2),
                   dict(compress_block=6, compress_stride=3, select_block=6, select_count=2,
                        window=10, local_blocks=0, given=True)]:
        given = params.pop("given", False)
        nc = (lk - params["compress_block"]) // params["compress_stride"] + 1
        extra = {}
        if given:
            extra = dict(compressed_k=rng.standard_normal((b, kv, nc, d)).astype(np.float32),
                         compressed_v=rng.standard_normal((b, kv, nc, d)).astype(np.float32))
        out, sel = sattn.estimate.nsa(q, k, v, gates, **params, **extra)
        assert out.shape == q.shape and sel.shape == (b, kv, lq, params["select_count"])
        for bi in range(b):
            for g in range(kv):
                hs = slice(g * group, (g + 1) * group)
                want_out, want_sel = ref_nsa(
                    q[bi, hs], k[bi, g], v[bi, g], gates[bi, hs], scale,
                    params["compress_block"], params["compress_stride"], params["select_block"],
                    params["select_count"], params["window"], params["local_blocks"],
                    *((extra["compressed_k"][bi, g], extra["compressed_v"][bi, g])
                      if given else ()))
                assert (sel[bi, g] == want_sel).all(), (params, bi, g, sel[bi, g], want_sel)
                err = np.abs(out[bi, hs] - want_out).max() / np.abs(want_out).max()
                assert err < 1e-6, (params, bi, g, err)
                worst = max(worst, err)
                cases += 1
    print("nsa: %d groups match (selections exact, output within %s)"
          % (cases, "1e-6" if worst < 1e-6 else worst))

    # One slice without batch dimensions gives the same answer as its batch entry.
    one = sattn.estimate.blocks(q[1, 3], k[1, 1], block=8, scorer="antidiagonal", stride=4,
                                tau=0.9)
    assert (one == sattn.estimate.blocks(q, k, block=8, scorer="antidiagonal", stride=4,
                                         tau=0.9)[1, 3]).all()
    print("unbatched slice matches")

    bad = [
        ("both", lambda: sattn.estimate.blocks(q, k, block=8, top_k=2, tau=0.5)),
        ("stride", lambda: sattn.estimate.blocks(q, k, block=8, scorer="antidiagonal",
                                                 stride=3, tau=0.5)),
        ("scorer", lambda: sattn.estimate.blocks(q, k, block=8, scorer="max", top_k=1)),
        ("forced", lambda: sattn.estimate.vertical_slash(q, k, vertical=2, slash=2,
                                                         forced_vertical=3)),
        ("lengths", lambda: sattn.estimate.vertical_slash(k[0, 0], q[0, 0], vertical=2, slash=2)),
        ("heads", lambda: sattn.estimate.vertical_slash(q[:, :3], k, vertical=2, slash=2)),
        ("huge", lambda: sattn.estimate.blocks(np.ones((1, 4)), np.ones((20000, 4)), block=2,
                                               top_k=1)),
        ("gate both", lambda: sattn.estimate.gate(q, k, wq, wk, threshold=0.1, top_ratio=0.5)),
        ("gate hidden", lambda: sattn.estimate.gate(q, k, wq[..., :3], wk[..., :3],
                                                    threshold=0.1)),
        ("gate weights", lambda: sattn.estimate.gate(q, k, wq, wq, threshold=0.1)),
        ("stripe unit", lambda: sattn.estimate.stripe(q, k, group=16, block=4, step=3)),
        ("stripe theta", lambda: sattn.estimate.stripe(q, k, group=16, block=4, step=2,
                                                       theta=0.0)),
        ("nsa stride", lambda: sattn.estimate.nsa(q, k, v, gates, compress_block=4,
                                                  compress_stride=8)),
        ("nsa count", lambda: sattn.estimate.nsa(q, k, v, gates, select_count=2,
                                                 local_blocks=2)),
        ("nsa gates", lambda: sattn.estimate.nsa(q, k, v, gates[..., :2])),
        ("stripe huge", lambda: sattn.estimate.stripe(np.ones((1, 4)), np.ones((40000, 4)),
                                                      group=1, block=1, step=1)),
    ]
    for name, call in bad:
        try:
            call()
            print("%s -> no error" % name)
        except ValueError as e:
            print("%s -> ValueError %s %s" % (name, getattr(e, "status", "-"), e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
