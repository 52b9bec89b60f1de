#!/usr/bin/env python3
"""Host-side consistency model of the shared-memory layouts (no GPU needed):
  1. TMA boxes (64 bf16 columns x 128 rows, CU_TENSOR_MAP_SWIZZLE_128B) vs the wgmma
     descriptors gen_attn.py builds for Q (A, K-major), K (B, K-major) and V (B, N-major),
     read through CUTLASS's canonical SW128 layouts (mma_sm90_desc.hpp comments).
  2. stmatrix writes of P (smem-P kernels) vs the P A-descriptor.
It checks the address arithmetic, not the hardware: the canonical forms are the model.
"""
def swz(addr):  # Swizzle<3,4,3> on byte addresses: bits[4:6] ^= bits[7:9]
    return addr ^ (((addr >> 7) & 7) << 4)
E = 2  # bytes per bf16
# TMA box (64 cols x 128 rows) at base: element (r, c) lands at swz(base + r*128 + c*2)
def tma_tile(base, rows):  # 128 cols in two boxes at base, base+rows*128
    m = {}
    for r in range(rows):
        for c in range(128):
            m[(r, c)] = swz(base + (c // 64) * rows * 128 + r * 128 + (c % 64) * E)
    return m
# K-major SW128 canonical read: ((8,m),(T,2)):((8T,SBO),(1,T)) in elements, T=8; element (mn, k)
def kmajor(start, SBO, mn, k):   # k in 0..15 for one k16 instruction
    off = (mn % 8) * 64 * E + (mn // 8) * SBO + k * E
    return swz(start + off)
# MN-major SW128: ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)); element (mn, k)
def mnmajor(start, LBO, SBO, mn, k):
    off = (mn % 64) * E + (mn // 64) * LBO + (k % 8) * 64 * E + (k // 8) * SBO
    return swz(start + off)
ok = True
Q = tma_tile(0, 128); K = tma_tile(32768, 128); V = tma_tile(98304, 128)
for cw in range(2):
  for kk in range(8):
    sa = cw * 8192 + (kk // 4) * 16384 + (kk % 4) * 32
    for m in range(64):
      for k in range(16):
        ok &= kmajor(sa, 1024, m, k) == Q[(cw * 64 + m, kk * 16 + k)]
for kk in range(8):
  sb = 32768 + (kk // 4) * 16384 + (kk % 4) * 32
  for n in range(128):
    for k in range(16):
      ok &= kmajor(sb, 1024, n, k) == K[(n, kk * 16 + k)]
  sv = 98304 + kk * 2048
  for n in range(128):       # n = d
    for k in range(16):      # k = key
      ok &= mnmajor(sv, 16384, 1024, n, k) == V[(kk * 16 + k, n)]
print("Q/K/V descriptors vs TMA layout:", ok)
# P: stmatrix x4, lane l -> row 16w + 8*(mi%2) + l%8, chunk (2*(kk%4) + mi/2) ^ (l%8), half kk/4
ok2 = True
for w in range(4):
  written = {}
  for kk in range(8):
    for l in range(32):
      mi, rr = l // 8, l % 8
      row = 16 * w + 8 * (mi % 2) + rr
      addr = (kk // 4) * 8192 + row * 128 + (((2 * (kk % 4) + mi // 2) ^ rr) * 16)
      col0 = 16 * kk + 8 * (mi // 2)
      for c in range(8):
        written[(row, col0 + c)] = addr + c * 2
  for kk in range(8):
    sa = (kk // 4) * 8192 + (kk % 4) * 32
    for m in range(16 * w, 16 * w + 16):
      for k in range(16):
        ok2 &= kmajor(sa, 1024, m, k) == written[(m, kk * 16 + k)]
print("P stmatrix writes vs P descriptor:", ok2)
raise SystemExit(0 if ok and ok2 else 1)
