"""Which experiments a finding compares: noise contrasts, a noisy level paired with noise 0 seed by seed.

Experiments belong to one contrast when their settings and length are equal except for the label noise and
the seeds (CONTRAST_FREE); one training run shown under two names counts once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .replicates import SEED_KEY

NOISE_KEY = "data.label_noise"
#: settings that may differ inside a noise contrast: the noise itself and the seeds
CONTRAST_FREE = (NOISE_KEY, "data.noise_seed", "train.train.seed")


@dataclass(frozen=True)
class NoiseContrast:
    """A noisy level against noise 0, as (noisy report, clean report) pairs of equal seed."""

    noise: float
    pairs: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]

    @property
    def noisy(self) -> list[Mapping[str, Any]]:
        return [n for n, _ in self.pairs]

    @property
    def names(self) -> str:
        return "; ".join(f"{n['name']} vs {c['name']}" for n, c in self.pairs)


def noise_contrasts(
    reports: Sequence[Mapping[str, Any]], flat_settings: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> list[NoiseContrast]:
    """Noise contrasts among the reports, in the order of their first member."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for r in reports:
        run = (r.get("ids") or {}).get("train", r["name"])
        if run in seen:  # one run shown under two names (two configs) is one seed, not two
            continue
        seen.add(run)
        fixed = {k: v for k, v in flat_settings(r).items() if k not in CONTRAST_FREE}
        groups[json.dumps([fixed, r.get("epochs")], sort_keys=True, default=str)].append(r)
    out = []
    for members in groups.values():
        settings = [flat_settings(r) for r in members]
        clean = {s.get(SEED_KEY): r for r, s in zip(members, settings) if not s.get(NOISE_KEY)}
        for level in sorted({s.get(NOISE_KEY) for s in settings if s.get(NOISE_KEY)}):
            pairs = tuple(
                (r, clean[s.get(SEED_KEY)])
                for r, s in zip(members, settings)
                if s.get(NOISE_KEY) == level and s.get(SEED_KEY) in clean
            )
            if pairs:
                out.append(NoiseContrast(float(level), pairs))
    return out
