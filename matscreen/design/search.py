"""Search the design space on the surrogates: gradient, evolutionary and random generators.

Every generator has ``propose(scorer, rng) -> list[DesignPoint]`` (feasible,
distinct points, best first) and is injected into the loop as a field, so a
new strategy is a new class with that method. :class:`Scorer` evaluates the
acquisition of many candidates at once on the device (relaxed weights for the
gradient search, discrete points for the others), and
:func:`select_diverse` picks a batch for the physics checks: greedy on the
acquisition with a similarity penalty (no collapse onto one composition),
skipping known and already evaluated formulas (novelty).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.design.space import DesignPoint, DesignSpace

if TYPE_CHECKING:
    import torch

    from matscreen.design.config import ObjectiveSpec
    from matscreen.design.objectives import ObjectivePredictor, UCBAcquisition

LOG = logging.getLogger(__name__)

__all__ = [
    "EvolutionarySearch",
    "GradientSearch",
    "RandomSearch",
    "Scorer",
    "select_diverse",
]


@dataclass
class Scorer:
    """Acquisition of relaxed or discrete design points, batched on ``device``."""

    space: DesignSpace
    predictor: ObjectivePredictor
    acquisition: UCBAcquisition
    objectives: list[ObjectiveSpec]
    device: str = "cpu"

    def score_weights(self, proto: int, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable acquisition and charge-balance penalty of relaxed site weights."""
        amounts, penalty = self.space.amounts_torch(proto, weights)
        return self.acquisition(self.predictor(amounts, proto), self.objectives), penalty

    def predictions(self, points: list[DesignPoint]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-objective (mean, std) of discrete points (numpy)."""
        import torch

        out: dict[str, list[np.ndarray]] = {}
        order: list[int] = []
        for proto in sorted({p.proto for p in points}):
            idx = [i for i, p in enumerate(points) if p.proto == proto]
            w = np.stack([self.space.point_weights(points[i]) for i in idx])
            with torch.no_grad():
                amounts, _ = self.space.amounts_torch(
                    proto, torch.tensor(w, dtype=torch.float32, device=self.device)
                )
                preds = self.predictor(amounts, proto)
            for kind, (m, s) in preds.items():
                out.setdefault(f"{kind}_mean", []).append(m.cpu().numpy())
                out.setdefault(f"{kind}_std", []).append(s.cpu().numpy())
            order += idx
        inv = np.argsort(np.asarray(order, dtype=int))
        res = {}
        for kind in self.predictor.kinds:
            m = np.concatenate(out[f"{kind}_mean"])[inv] if points else np.zeros(0)
            s = np.concatenate(out[f"{kind}_std"])[inv] if points else np.zeros(0)
            res[kind] = (m, s)
        return res

    def score_points(self, points: list[DesignPoint]) -> np.ndarray:
        """Acquisition of discrete points (numpy, higher is better)."""
        import torch

        if not points:
            return np.zeros(0)
        preds = self.predictions(points)
        tp = {k: (torch.tensor(m), torch.tensor(s)) for k, (m, s) in preds.items()}
        with torch.no_grad():
            return self.acquisition(tp, self.objectives).numpy().astype(float)


def _unique_feasible(space: DesignSpace, points: list[DesignPoint]) -> list[DesignPoint]:
    feasible = set(space.feasible_points())
    return list(dict.fromkeys(p for p in points if p in feasible))


@dataclass
class GradientSearch:
    """Adam on per-site softmax logits of a population, then rounding to the grid.

    The loss of each member is ``-acquisition + charge_weight * penalty +
    diversity * mean RBF similarity`` to the other members of its prototype
    (repulsion, so the population does not collapse onto one composition).
    """

    population: int = 256
    steps: int = 150
    learning_rate: float = 0.1
    diversity: float = 0.5
    diversity_length: float = 0.15
    charge_weight: float = 10.0
    device: str = "cpu"

    def propose(self, scorer: Scorer, rng: np.random.Generator) -> list[DesignPoint]:
        """Optimize a population per prototype; return decoded feasible points, best first."""
        import torch

        space = scorer.space
        n_proto = len(space.blocks)
        per = max(2, self.population // n_proto)
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        found: list[DesignPoint] = []
        for proto, block in enumerate(space.blocks):
            logits = torch.randn(per, block.n_columns, generator=gen).to(self.device) * 1.5
            logits.requires_grad_(True)
            opt = torch.optim.Adam([logits], lr=self.learning_rate)
            for _ in range(self.steps):
                w = space.site_weights(proto, logits)
                acq, penalty = scorer.score_weights(proto, w)
                loss = (-acq + self.charge_weight * penalty).mean()
                if self.diversity > 0 and per > 1:
                    d2 = torch.cdist(w, w) ** 2
                    sim = torch.exp(-d2 / (2 * self.diversity_length**2 * len(block.sites)))
                    loss = loss + self.diversity * (sim.sum() - per) / (per * (per - 1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                w = space.site_weights(proto, logits).cpu().numpy()
            found += space.round_weights(proto, w)
        points = _unique_feasible(space, found)
        if not points:  # every rounded point infeasible: fall back on feasible neighbours
            LOG.info("gradient search: no feasible rounded point; sampling instead")
            points = space.sample(self.population, rng)
        scores = scorer.score_points(points)
        return [points[i] for i in np.argsort(-scores, kind="stable")]


def _mutate(space: DesignSpace, point: DesignPoint, rng: np.random.Generator) -> DesignPoint:
    block = space.blocks[point.proto]
    counts = [list(c) for c in point.counts]
    s = int(rng.integers(len(block.sites)))
    site = block.sites[s]
    c = counts[s]
    donors = [i for i, v in enumerate(c) if v > 0]
    if len(c) < 2:
        return point
    i = int(rng.choice(donors))
    j = int(rng.choice([k for k in range(len(c)) if k != i]))
    c[i] -= 1
    c[j] += 1
    if sum(v > 0 for v in c) > site.max_species:
        return point
    return DesignPoint(point.proto, tuple(tuple(x) for x in counts))


@dataclass
class EvolutionarySearch:
    """Mutation and selection on the discrete grid, with fitness sharing (niching)."""

    population: int = 256
    generations: int = 30
    diversity: float = 0.5
    diversity_length: float = 0.15

    def propose(self, scorer: Scorer, rng: np.random.Generator) -> list[DesignPoint]:
        """Evolve a population of feasible points; return it, best first."""
        space = scorer.space
        feasible = set(space.feasible_points())
        pop = space.sample(self.population, rng)
        for _ in range(self.generations):
            children = [_mutate(space, p, rng) for p in pop for _ in range(2)]
            pool = list(dict.fromkeys(pop + [c for c in children if c in feasible]))
            scores = scorer.score_points(pool)
            keep = select_diverse(
                space, pool, scores, self.population, diversity=self.diversity,
                length=self.diversity_length,
            )  # fmt: skip
            pop = keep
        scores = scorer.score_points(pop)
        return [pop[i] for i in np.argsort(-scores, kind="stable")]


@dataclass
class RandomSearch:
    """Uniform sampling of the feasible grid (the baseline)."""

    population: int = 256

    def propose(self, scorer: Scorer, rng: np.random.Generator) -> list[DesignPoint]:
        """Return uniformly drawn feasible points, in draw order (no scoring)."""
        return scorer.space.sample(self.population, rng)


def select_diverse(
    space: DesignSpace,
    points: list[DesignPoint],
    scores: np.ndarray,
    k: int,
    *,
    diversity: float = 0.5,
    length: float = 0.15,
    exclude: set[str] | None = None,
    exclude_points: set[DesignPoint] | None = None,
) -> list[DesignPoint]:
    """Greedy batch: best adjusted score, penalized by similarity to those already picked.

    Parameters
    ----------
    points, scores
        Candidates and their acquisition.
    k
        Batch size.
    diversity, length
        Penalty ``diversity * max_j exp(-|x - x_j|^2 / (2 length^2))`` over
        atomic fractions ``x`` of already selected points.
    exclude
        Reduced formulas never to select (known materials, already evaluated).
    exclude_points
        Points never to select.
    """
    if not points or k <= 0:
        return []
    exclude = exclude or set()
    exclude_points = exclude_points or set()
    formulas = [space.formula(p) for p in points]
    ok = [i for i, p in enumerate(points) if formulas[i] not in exclude and p not in exclude_points]
    if not ok:
        return []
    x = space.amounts_matrix([points[i] for i in ok])
    adj = np.asarray(scores, dtype=float)[ok].copy()
    chosen: list[int] = []
    seen_formulas: set[tuple[int, str]] = set()
    max_sim = np.zeros(len(ok))
    while len(chosen) < k:
        val = adj - diversity * max_sim
        val[chosen] = -np.inf
        for j in range(len(ok)):  # one proposal per (prototype, formula)
            if (points[ok[j]].proto, formulas[ok[j]]) in seen_formulas:
                val[j] = -np.inf
        j = int(np.argmax(val))
        if not np.isfinite(val[j]):
            break
        chosen.append(j)
        seen_formulas.add((points[ok[j]].proto, formulas[ok[j]]))
        d2 = ((x - x[j]) ** 2).sum(axis=1)
        max_sim = np.maximum(max_sim, np.exp(-d2 / (2 * length**2)))
    return [points[ok[j]] for j in chosen]


def make_generator(settings: Any, device: str = "cpu") -> Any:
    """Build the generator named by ``SearchSettings.method``."""
    if settings.method == "gradient":
        return GradientSearch(
            population=settings.population, steps=settings.steps,
            learning_rate=settings.learning_rate, diversity=settings.diversity,
            diversity_length=settings.diversity_length, device=device,
        )  # fmt: skip
    if settings.method == "evolutionary":
        return EvolutionarySearch(
            population=settings.population, generations=settings.steps,
            diversity=settings.diversity, diversity_length=settings.diversity_length,
        )  # fmt: skip
    return RandomSearch(population=settings.population)
