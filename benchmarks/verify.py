"""How much one ``TokenIndex.verify`` costs with 10 and with 10,000 tokens in the index.

Run: ``.venv/bin/python benchmarks/verify.py``. The tokens are written straight into a temporary
index (the verifier reads hashes only, so no keyring is involved); prints ns per verify.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from vaults import tokens
from vaults.index import Index
from vaults.verifier import TokenIndex

ROUNDS = 200_000


def _index_with(count: int, store_dir: Path) -> list[str]:
    index = Index(store_dir)
    minted = []
    now = time.time()
    with index.write():
        for i in range(count):
            token = tokens.generate()
            parsed = tokens.parse(token)
            assert parsed is not None
            cid = index.insert_credential(f"t{i}", "token", (), None, now)
            index.insert_version(
                cid, 1, "current", parsed.kid, tokens.hash_secret(parsed.secret), now
            )
            minted.append(token)
    index.close()
    return minted


def _ns_per_verify(verifier: TokenIndex, candidates: list[str]) -> float:
    rounds = ROUNDS // len(candidates)
    start = time.perf_counter_ns()
    for _ in range(rounds):
        for token in candidates:
            verifier.verify(token)
    return (time.perf_counter_ns() - start) / (rounds * len(candidates))


def main() -> None:
    unknown = [tokens.generate() for _ in range(1000)]
    for count in (10, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            minted = _index_with(count, Path(tmp))
            with TokenIndex(Path(tmp) / "index.db") as verifier:
                assert all(verifier.verify(token) for token in minted)
                valid = _ns_per_verify(verifier, minted[:1000])
                missing = _ns_per_verify(verifier, unknown)
            print(
                f"{count:>6} tokens: {valid:,.0f} ns per verify of a valid token, "
                f"{missing:,.0f} ns for an unknown key id"
            )


if __name__ == "__main__":
    main()
