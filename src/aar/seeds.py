"""Where each kind of seed comes from, defined once so the ranges never overlap.

- Researchers' experiments: seeds they choose in ``[0, EXPERIMENT_SEED_LIMIT)``.
- Campaign verification labels: ``VERIFY_SEED_BASE`` upwards (the spec's "verify seeds"; the server maps them
  to opaque seeds above ``EXPERIMENT_SEED_LIMIT`` that no researcher can name, see ``aar.server.verify``).
- The transfer gauntlet: fresh seeds from ``TRANSFER_SEED_BASE`` upwards.
- Each researcher's own random stream: ``campaign seed * AGENT_SEED_STRIDE + its index``.
"""

from __future__ import annotations

EXPERIMENT_SEED_LIMIT = 10_000
VERIFY_SEED_BASE = 1000
MAX_VERIFY_SEEDS = 50
TRANSFER_SEED_BASE = VERIFY_SEED_BASE + 1000
AGENT_SEED_STRIDE = 1000


def verification_seeds(count: int) -> list[int]:
    return list(range(VERIFY_SEED_BASE, VERIFY_SEED_BASE + count))


def transfer_seeds(count: int) -> list[int]:
    return list(range(TRANSFER_SEED_BASE, TRANSFER_SEED_BASE + count))


def agent_seed(campaign_seed: int, index: int) -> int:
    return campaign_seed * AGENT_SEED_STRIDE + index
