#!/usr/bin/env python3
"""ref_rng.py - independent Python implementation of the suite's generator
(splitmix64 seeding of xoshiro256**, see core/rng.c); prints the golden values
hard-coded in tests/test_core.c. Run: python3 tests/ref_rng.py"""
M = (1 << 64) - 1

def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)

def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M

def init(seed, stream):
    x, z = splitmix64(seed)
    x = z ^ ((stream * 0xD1342543DE82EF95 + 0x2545F4914F6CDD1D) & M)
    s = []
    for _ in range(4):
        x, z = splitmix64(x)
        s.append(z)
    return s

def nxt(s):
    result = (rotl((s[1] * 5) & M, 7) * 9) & M
    t = (s[1] << 17) & M
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result

for seed, stream in [(0, 0), (42, 7)]:
    s = init(seed, stream)
    print(seed, stream, ", ".join("0x%016xULL" % nxt(s) for _ in range(4)))
