"""sattn.estimate (libsattn_runtime's reference estimators) against a NumPy
implementation written here from the methods' recipes: dense probability
matrices, forced entries at +inf before one lexicographic sort, XAttention's
reshape of reversed query groups, SeerAttention's gate with its rotary
embedding as complex rotations. Batched GQA inputs, Lq < Lk, every scorer
and selection; then the errors a caller gets for bad arguments."""

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
