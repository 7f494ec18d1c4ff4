#!/usr/bin/env python3
"""The Python way a user would hash a checkpoint: parse each safetensors header with json, read each tensor,
hashlib.sha256 its bytes (OpenSSL underneath), and python-xxhash each row. Same digests as `fromscratch hash`
(SHA-256 per tensor, XXH3-64 per row, XXH3-128 of the sorted row digests), so the timing is like for like.
Usage: python_hash_baseline.py SHARD.safetensors...   prints one line per tensor: sha256 row_multiset name
"""
import hashlib
import json
import struct
import sys

import numpy as np
import xxhash


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            base = 8 + n
            for name, t in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                                  key=lambda kv: kv[1]["data_offsets"][0]):
                b, e = t["data_offsets"]
                f.seek(base + b)
                data = f.read(e - b)
                sha = hashlib.sha256(data).hexdigest()
                rows = t["shape"][0] if t["shape"] else 1
                size = len(data) // rows if rows else 0
                mv = memoryview(data)
                digests = np.array([xxhash.xxh3_64_intdigest(mv[i * size:(i + 1) * size]) for i in range(rows)],
                                   dtype=np.uint64)
                digests.sort()
                print(sha, xxhash.xxh3_128_hexdigest(digests.astype("<u8").tobytes()), name)


if __name__ == "__main__":
    main()
