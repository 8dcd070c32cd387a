"""graygate's split buckets in Python, for the chaos benchmark's offline
decisions: `bucket = floor(xxh3_64_with_seed(key, xxh3_64(salt)) * 10000 / 2^64)`
(crates/policy/src/hash.rs). XXH3-64 is implemented here for inputs up to
128 bytes only (user ids and salts are short), following xxhash-rust 0.8.
`check()` tests it against the golden vector pinned in hash.rs; the chaos
script also checks it against `graygate explain` for a few hundred users."""

M64 = (1 << 64) - 1

_SECRET = bytes([
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
])

P64_1 = 0x9E3779B185EBCA87
P64_2 = 0xC2B2AE3D27D4EB4F
P64_3 = 0x165667B19E3779F9


def _r64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


def _r32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def _xxh64_avalanche(h):
    h ^= h >> 33
    h = (h * P64_2) & M64
    h ^= h >> 29
    h = (h * P64_3) & M64
    return h ^ (h >> 32)


def _avalanche(h):
    h ^= h >> 37
    h = (h * 0x165667919E3779F9) & M64
    return h ^ (h >> 32)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _strong_avalanche(h, n):
    h ^= _rotl(h, 49) ^ _rotl(h, 24)
    h = (h * 0x9FB21C651E98DF25) & M64
    h ^= ((h >> 35) + n) & M64
    h = (h * 0x9FB21C651E98DF25) & M64
    return h ^ (h >> 28)


def _fold(a, b):
    p = a * b
    return (p & M64) ^ (p >> 64)


def _mix16(data, i, s, seed):
    lo = _r64(data, i) ^ ((_r64(_SECRET, s) + seed) & M64)
    hi = _r64(data, i + 8) ^ ((_r64(_SECRET, s + 8) - seed) & M64)
    return _fold(lo, hi)


def xxh3_64(data: bytes, seed: int = 0) -> int:
    n, s = len(data), _SECRET
    if n == 0:
        return _xxh64_avalanche(seed ^ (_r64(s, 56) ^ _r64(s, 64)))
    if n <= 3:
        combo = (data[0] << 16) | (data[n >> 1] << 24) | data[n - 1] | (n << 8)
        flip = ((_r32(s, 0) ^ _r32(s, 4)) + seed) & M64
        return _xxh64_avalanche(combo ^ flip)
    if n <= 8:
        seed ^= int.from_bytes((seed & 0xFFFFFFFF).to_bytes(4, "little"), "big") << 32
        in1, in2 = _r32(data, 0), _r32(data, n - 4)
        flip = ((_r64(s, 8) ^ _r64(s, 16)) - seed) & M64
        return _strong_avalanche(((in2 + (in1 << 32)) & M64) ^ flip, n)
    if n <= 16:
        flip1 = ((_r64(s, 24) ^ _r64(s, 32)) + seed) & M64
        flip2 = ((_r64(s, 40) ^ _r64(s, 48)) - seed) & M64
        lo = _r64(data, 0) ^ flip1
        hi = _r64(data, n - 8) ^ flip2
        swapped = int.from_bytes(lo.to_bytes(8, "little"), "big")
        return _avalanche((n + swapped + hi + _fold(lo, hi)) & M64)
    if n <= 128:
        acc = (n * P64_1) & M64
        if n > 32:
            if n > 64:
                if n > 96:
                    acc += _mix16(data, 48, 96, seed) + _mix16(data, n - 64, 112, seed)
                acc += _mix16(data, 32, 64, seed) + _mix16(data, n - 48, 80, seed)
            acc += _mix16(data, 16, 32, seed) + _mix16(data, n - 32, 48, seed)
        acc += _mix16(data, 0, 0, seed) + _mix16(data, n - 16, 16, seed)
        return _avalanche(acc & M64)
    raise ValueError("xxh3_64 here handles at most 128 bytes")


class Salt:
    def __init__(self, salt: str):
        self.seed = xxh3_64(salt.encode())

    def bucket(self, key: str) -> int:
        return (xxh3_64(key.encode(), self.seed) * 10000) >> 64


def check():
    """The golden vector of crates/policy/src/hash.rs."""
    salt = Salt("checkout/canary")
    got = [salt.bucket(k) for k in ["1", "42", "1001", "user-7", "alice@example.com", ""]]
    want = [7300, 2121, 207, 5647, 2693, 4441]
    if got != want:
        raise AssertionError(f"bucket.py disagrees with hash.rs' golden vector: {got} != {want}")


if __name__ == "__main__":
    check()
    print("ok")
