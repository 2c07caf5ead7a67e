"""How much one ``TokenIndex.verify`` costs with 10 and with 10,000 tokens in the index.

Run: ``.venv/bin/python benchmarks/verify.py [--rounds N] [--counts 10,10000]``. The tokens are
written straight into a temporary index (the verifier reads hashes only, so no keyring is
involved); prints ns per verify of a valid token and of an unknown key id, per index size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vaults import tokens
from vaults.index import Index
from vaults.verifier import TokenIndex

ROUNDS = 200_000
COUNTS = (10, 10_000)


def _index_with(count: int, store_dir: Path) -> list[str]:
    index = Index(store_dir)
    minted = []
    now = time.time()
    with index.write():
        for i in range(count):
            token = tokens.generate()
            parsed = tokens.parse(token)
            assert parsed is not None
            cid = index.credentials.insert(f"t{i}", "token", (), None, now)
            index.versions.insert(
                cid, 1, "current", parsed.kid, tokens.hash_secret(parsed.secret), now
            )
            minted.append(token)
    index.close()
    return minted


def _ns_per_verify(verifier: TokenIndex, candidates: list[str], total: int) -> float:
    """Best of three runs of ``total`` verifications (the least disturbed by other work)."""
    rounds = max(1, total // len(candidates))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(rounds):
            for token in candidates:
                verifier.verify(token)
        best = min(best, (time.perf_counter_ns() - start) / (rounds * len(candidates)))
    return best


@dataclass(frozen=True)
class VerifyCost:
    tokens: int
    valid_ns: float
    unknown_ns: float


def measure(counts: Sequence[int] = COUNTS, rounds: int = ROUNDS) -> list[VerifyCost]:
    """ns per ``verify`` of a valid token and of an unknown key id, per index size."""
    unknown = [tokens.generate() for _ in range(1000)]
    found = []
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            minted = _index_with(count, Path(tmp))
            with TokenIndex(Path(tmp) / "index.db") as verifier:
                assert all(verifier.verify(token) for token in minted)
                valid = _ns_per_verify(verifier, minted[:1000], rounds)
                missing = _ns_per_verify(verifier, unknown, rounds)
        found.append(VerifyCost(count, valid, missing))
    return found


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive numbers, e.g. 10,10000")
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="verify calls per figure")
    parser.add_argument("--counts", type=_counts, default=COUNTS, help="index sizes, e.g. 10,10000")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    for cost in measure(args.counts, args.rounds):
        print(
            f"{cost.tokens:>6} tokens: {cost.valid_ns:,.0f} ns per verify of a valid token, "
            f"{cost.unknown_ns:,.0f} ns for an unknown key id"
        )


if __name__ == "__main__":
    main()
