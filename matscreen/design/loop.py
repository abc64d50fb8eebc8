"""The closed design loop and :func:`run_design`, the entry point of ``matscreen design``.

:class:`DesignLoop` receives its parts as fields (atomate2-style injection):
the design ``space``, the ``generator`` (search strategy), the
``surrogates`` (``{kind: surrogate}``), the ``acquisition`` and the physics
``evaluator``. Each round it proposes on the surrogates, decodes the best
fresh candidates and scores the objectives judged by a model rather than by
physics (the shipped conductivity model) with that very model (the *model
check*, no physics spent), picks a diverse, novel batch, sends it through the
physics checks (on Dask when a client is given), records every proposal with
its predictions and verdict, and retrains the loop-trained surrogates
(stability: E above hull; bvse: the BVSE Li barrier) on all physics results
so far. The table is written atomically after every round.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.design.space import DesignPoint, DesignSpace

if TYPE_CHECKING:
    import pandas as pd

    from matscreen.candidates.records import CandidateRecord
    from matscreen.design.config import DesignConfig, ObjectiveSpec

LOG = logging.getLogger(__name__)

__all__ = ["LOOP_TRAINED", "DesignLoop", "build_surrogates", "judge", "run_design"]

#: Objectives whose surrogates learn only from the loop's own physics results.
LOOP_TRAINED: tuple[str, ...] = ("stability", "bvse")


def _verdict_columns() -> dict[str, str]:
    """Objective kind -> physics/model column used for its verdict."""
    return {
        "stability": "e_above_hull",
        "bvse": "bvse_barrier",
        "conductivity": "log10_sigma_model",
        "voltage": "voltage_model",
        "mn3": "mn3_fraction",
        "capacity": "capacity_mAh_g",
        "cost": "cost_usd_per_kg",
    }


def judge(
    table: pd.DataFrame, objectives: list[ObjectiveSpec], bvse_max: float | None
) -> list[str]:
    """``"pass"``/``"fail: reasons"``/``"failed"`` per row from the physics columns and bounds.

    A row whose hull is incomplete (``hull_complete`` False: competing phases
    of an element are missing, so ``e_above_hull`` is only a lower bound)
    fails: its stability is unconfirmed. So does a row more than 0.1 eV/atom
    below its references' hull (:func:`~matscreen.physics.checks.below_hull_note`:
    compounds of its chemistry are missing, or the MLIP overbinds it).
    """
    from matscreen.physics.checks import deep_below_hull_mask, incomplete_hull_mask

    cols = _verdict_columns()
    incomplete = incomplete_hull_mask(table.get("hull_complete", [None] * len(table)))
    deep = deep_below_hull_mask(table.get("e_above_hull", [None] * len(table)))
    out = []
    for i, (_, row) in enumerate(table.iterrows()):
        if row.get("status") != "ok":
            out.append("failed")
            continue
        reasons = []
        for obj in objectives:
            v = row.get(cols[obj.kind])
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                if obj.min is not None or obj.max is not None:
                    reasons.append(f"{obj.kind} unknown")
                continue
            if obj.min is not None and v < obj.min:
                reasons.append(f"{obj.kind} {v:.3g} < {obj.min:g}")
            if obj.max is not None and v > obj.max:
                reasons.append(f"{obj.kind} {v:.3g} > {obj.max:g}")
        if incomplete[i]:
            # competing phases are missing: e_above_hull is only a lower bound, so
            # stability cannot be confirmed
            gap = row.get("hull_missing")
            reasons.append(f"hull incomplete (competing phases of {gap} missing)")
        elif deep[i]:
            e = row["e_above_hull"]
            reasons.append(f"{-1000.0 * e:.0f} meV/atom below its references' hull (unconfirmed)")
        if bvse_max is not None:
            b = row.get("bvse_barrier")
            if b is None or not np.isfinite(b):
                reasons.append("bvse unknown")
            elif b > bvse_max:
                reasons.append(f"bvse {b:.3g} > {bvse_max:g}")
        if not row.get("novel", True):
            reasons.append("not novel")
        reasons = list(dict.fromkeys(reasons))  # a bvse objective bound and bvse_max may agree
        out.append("pass" if not reasons else "fail: " + "; ".join(reasons))
    return out


@dataclass
class DesignLoop:
    """Rounds of propose -> physics -> retrain (see module docstring).

    Attributes
    ----------
    config
        The validated workflow.
    space
        The design space.
    generator
        Search strategy with ``propose(scorer, rng)``.
    surrogates
        ``{kind: surrogate}`` for the surrogate objectives.
    acquisition
        Callable ``(predictions, objectives) -> tensor``.
    evaluator
        Physics checks with ``evaluate(records, client) -> DataFrame``, and
        optionally ``model_columns(records) -> DataFrame``: the verdict
        columns that come from models, not physics (used by the model check,
        see ``loop.model_check``).
    device
        Torch device for the search.
    """

    config: DesignConfig
    space: DesignSpace
    generator: Any
    surrogates: dict[str, Any]
    acquisition: Any
    evaluator: Any
    device: str = "cpu"
    history: list[dict[str, Any]] = field(default_factory=list)
    _records: dict[DesignPoint, CandidateRecord] = field(default_factory=dict, repr=False)
    _checked_scores: dict[DesignPoint, float] = field(default_factory=dict, repr=False)
    _model_rows: dict[DesignPoint, dict[str, Any]] = field(default_factory=dict, repr=False)

    def run(
        self,
        *,
        out: Path | None = None,
        budget: int | None = None,
        client: Any = None,
        previous: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Run all rounds; return (and write, with ``out``) one row per proposal.

        ``previous``: the proposals of an interrupted run of the same workflow
        (its ``proposals.parquet``). Its rounds are kept as they are, the
        loop-trained surrogates are refitted on them, and the run goes on with
        the next round from the random state saved with the last one
        (``rng_state``), so a resumed run proposes what the uninterrupted one
        would have.
        """
        import pandas as pd

        from matscreen.design.novelty import known_formulas
        from matscreen.design.objectives import ObjectivePredictor
        from matscreen.design.search import Scorer, select_diverse

        cfg = self.config
        self.space.feasible_points()  # raises InfeasibleSpaceError early
        rng = np.random.default_rng(cfg.seed)
        budget = budget if budget is not None else cfg.loop.budget
        kinds = [o.kind for o in cfg.objectives]
        known = set(known_formulas()) if cfg.loop.exclude_known else set()
        evaluated: set[DesignPoint] = set()
        evaluated_formulas: set[str] = set()
        rows: list[pd.DataFrame] = []
        n_done = 0
        first_round = 0
        if previous is not None and len(previous):
            previous = previous.reset_index(drop=True)
            rows.append(previous)
            evaluated.update(point_from_json(text) for text in previous["design_point"])
            evaluated_formulas.update(self.space.formula(p) for p in evaluated)  # the space's keys
            n_done = len(previous)
            first_round = int(previous["round"].max()) + 1
            if first_round >= cfg.loop.rounds:
                LOG.info("the earlier run already did %d rounds (loop.rounds=%d): nothing to add",
                         first_round, cfg.loop.rounds)  # fmt: skip
            rng.bit_generator.state = json.loads(previous["rng_state"].iloc[-1])
            for rnd, done in previous.groupby("round", sort=True):
                self.history.append(
                    {"round": int(rnd), "n": len(done), "seconds": float("nan"),
                     "n_pass": int((done["verdict"] == "pass").sum())}
                )  # fmt: skip
            self._retrain(previous)
            LOG.info("resuming after round %d (%d proposals kept)", first_round - 1, n_done)
        for rnd in range(first_round, cfg.loop.rounds):
            k = cfg.loop.batch_size if budget is None else min(cfg.loop.batch_size, budget - n_done)
            if k <= 0:
                break
            t0 = time.perf_counter()
            predictor = ObjectivePredictor(
                self.space.elements, self.surrogates, kinds, device=self.device
            )
            scorer = Scorer(self.space, predictor, self.acquisition, cfg.objectives, self.device)
            random_search = type(self.generator).__name__ == "RandomSearch"
            if rnd == 0 and cfg.loop.initial_design == "space_filling" and not random_search:
                batch = self._space_filling(scorer, k, known, rng)
            elif random_search:
                pool = self.generator.propose(scorer, rng)
                batch = [p for p in pool if p not in evaluated][:k]
            else:
                pool = self.generator.propose(scorer, rng)
                excluded = known | evaluated_formulas
                pool, scores, _ = self._model_checked(pool, scorer, excluded, evaluated)
                batch = select_diverse(
                    self.space, pool, scores, k, diversity=cfg.search.diversity,
                    length=cfg.search.diversity_length, exclude=excluded,
                    exclude_points=evaluated,
                )  # fmt: skip
            if len(batch) < k:  # top up from the rest of the feasible space
                rest = [p for p in self.space.feasible_points() if p not in evaluated
                        and p not in batch and self.space.formula(p) not in known]  # fmt: skip
                extra = scorer.score_points(rest)
                batch += [rest[i] for i in np.argsort(-extra, kind="stable")[: k - len(batch)]]
            if not batch:
                LOG.info("round %d: nothing left to propose", rnd)
                break
            table = self._evaluate_batch(rnd, batch, scorer, client)
            table["rng_state"] = json.dumps(rng.bit_generator.state)  # where a resume goes on
            rows.append(table)
            evaluated.update(batch)
            evaluated_formulas.update(self.space.formula(p) for p in batch)  # the space's keys
            n_done += len(batch)
            all_rows = pd.concat(rows, ignore_index=True)
            self._retrain(all_rows)
            self.history.append(
                {"round": rnd, "n": len(batch), "n_pass": int((table["verdict"] == "pass").sum()),
                 "seconds": time.perf_counter() - t0}
            )  # fmt: skip
            LOG.info("round %d: %d proposals, %d pass, %.1f s", rnd, len(batch),
                     self.history[-1]["n_pass"], self.history[-1]["seconds"])  # fmt: skip
            if out is not None:
                _write_table(Path(out), all_rows)
        if not rows:
            raise RuntimeError("the design loop produced no proposals")
        return pd.concat(rows, ignore_index=True)

    def _decode(self, point: DesignPoint) -> CandidateRecord:
        """Decode a point to an ordered candidate (cached: decoding is deterministic)."""
        if point not in self._records:
            cfg = self.config
            self._records[point] = self.space.decode(
                point, seed=cfg.seed, n_orderings=cfg.physics.n_orderings
            )
        return self._records[point]

    def _space_filling(
        self, scorer: Any, k: int, excluded: set[str], rng: np.random.Generator
    ) -> list[DesignPoint]:
        """First-round batch spread over the space (see ``loop.initial_design``).

        ``loop.model_check`` points (at least ``4 k``) drawn uniformly from the
        feasible grid are model-checked. Among those within the model's bounds
        the batch is a greedy max-min selection over atomic fractions (ties,
        e.g. among points beyond the kernel's reach, go to the earlier in the
        random draw); when too few are within, the rest come by acquisition.
        So the first physics results cover the space rather than the corner
        the model-judged objective favours.
        """
        from matscreen.design.search import select_diverse

        cfg = self.config
        feasible = [p for p in self.space.feasible_points()
                    if self.space.formula(p) not in excluded]  # fmt: skip
        n = min(len(feasible), max(cfg.loop.model_check, 4 * k))
        sample = [feasible[i] for i in rng.choice(len(feasible), n, replace=False)]  # random order
        cands, acq, violated = self._model_checked(sample, scorer, excluded, set(), ranked=False)
        # within the model's bounds: spread alone; model-failed points only when nothing else is
        # left, the nearest to passing (by acquisition) first
        scores = np.where(violated, acq - 1e6, 0.0)
        return select_diverse(
            self.space, cands, scores, k, diversity=1.0, length=cfg.search.diversity_length,
            exclude=excluded,
        )  # fmt: skip

    def _model_checked(
        self,
        pool: list[DesignPoint],
        scorer: Any,
        excluded: set[str],
        evaluated: set[DesignPoint],
        *,
        ranked: bool = True,
    ) -> tuple[list[DesignPoint], np.ndarray, np.ndarray]:
        """Candidates and their acquisition, with model-judged objectives scored by the model.

        The evaluator's :meth:`model_columns` (when it has one and
        ``loop.model_check > 0``) are the models that give part of the
        verdict (the shipped conductivity model). They cost no physics
        evaluation, so the ``model_check`` best fresh candidates (the
        generator's pool first, then the rest of the feasible space by
        acquisition) are decoded and those objectives take the model's value
        (std 0) instead of the loop surrogate's. A candidate that already
        fails one of their bounds (or has no model value) is ranked below
        every other, so it is chosen only when nothing else is left.
        With ``ranked=False`` every fresh point of ``pool`` is checked, in its
        order (no cut to the best ``model_check``, no top-up).

        Returns
        -------
        points, scores, violated
            The candidates (only the checked ones when checking is on), their
            acquisition (higher is better) and whether the model fails them.
        """
        import pandas as pd
        import torch

        self._checked_scores.clear()  # this round's values only
        scores = scorer.score_points(pool)
        n = self.config.loop.model_check
        check = getattr(self.evaluator, "model_columns", None)
        if n <= 0 or check is None:
            return pool, scores, np.zeros(len(pool), dtype=bool)

        def fresh(points: list[DesignPoint], values: np.ndarray) -> list[DesignPoint]:
            order = np.argsort(-values, kind="stable")
            return [points[i] for i in order if points[i] not in evaluated
                    and self.space.formula(points[i]) not in excluded]  # fmt: skip

        if ranked:
            cands = list(dict.fromkeys(fresh(pool, scores)))[:n]
            if len(cands) < n:  # a small pool: the rest by acquisition over the feasible space
                taken = set(cands) | set(pool)
                rest = [p for p in self.space.feasible_points() if p not in taken]
                cands += fresh(rest, scorer.score_points(rest))[: n - len(cands)]
        else:
            cands = list(dict.fromkeys(fresh(pool, np.zeros(len(pool)))))
        if not cands:
            return pool, scores, np.zeros(len(pool), dtype=bool)
        todo = [p for p in cands if p not in self._model_rows]
        if todo:
            table = check([self._decode(p) for p in todo])
            self._model_rows.update(
                {p: row for p, row in zip(todo, table.to_dict("records"), strict=True)}
            )
        model = pd.DataFrame([self._model_rows[p] for p in cands])
        preds = scorer.predictions(cands)
        violated = np.zeros(len(cands), dtype=bool)
        columns = _verdict_columns()
        ranges: list[str] = []
        for obj in self.config.objectives:
            col = columns[obj.kind]
            if col not in model.columns or obj.kind not in preds:
                continue
            value = model[col].to_numpy(dtype=float)
            ok = np.isfinite(value)
            if ok.any():
                ranges.append(f"{obj.kind} {np.min(value[ok]):.3g}..{np.max(value[ok]):.3g}")
            mean, std = preds[obj.kind]
            preds[obj.kind] = (np.where(ok, value, mean), np.where(ok, 0.0, std))
            if obj.min is not None or obj.max is not None:
                violated |= ~ok
            with np.errstate(invalid="ignore"):
                if obj.min is not None:
                    violated |= value < obj.min
                if obj.max is not None:
                    violated |= value > obj.max
        tp = {k: (torch.tensor(m), torch.tensor(s)) for k, (m, s) in preds.items()}
        with torch.no_grad():
            acq = self.acquisition(tp, self.config.objectives).numpy().astype(float)
        LOG.info("model check: %d of %d candidates within the model's bounds",
                 int((~violated).sum()), len(cands))  # fmt: skip
        if violated.all():
            LOG.warning(
                "model check: none of %d candidates meets the workflow's bounds by the model "
                "(model values %s); the batch takes the nearest. The targets may be out of "
                "the models' reach in this space.", len(cands), ", ".join(ranges) or "none",
            )  # fmt: skip
        self._checked_scores.update({p: float(a) for p, a in zip(cands, acq, strict=True)})
        # below every candidate within the bounds, in their own order
        offset = float(acq.max() - acq.min()) + 1.0 if len(acq) else 0.0
        return cands, np.where(violated, acq - offset, acq), violated

    def _evaluate_batch(
        self, rnd: int, batch: list[DesignPoint], scorer: Any, client: Any
    ) -> pd.DataFrame:
        import pandas as pd

        from matscreen.candidates.oxidation import is_charge_balanced
        from matscreen.design.novelty import is_novel
        from matscreen.screening.properties import cost_usd_per_kg

        cfg = self.config
        records = [self._decode(p) for p in batch]
        preds = scorer.predictions(batch)
        acq = scorer.score_points(batch)  # on the surrogates; the model-checked value if any
        acq = np.array([self._checked_scores.get(p, a) for p, a in zip(batch, acq, strict=True)])
        phys = self.evaluator.evaluate(records, client)
        table = pd.DataFrame(
            {
                "round": rnd,
                "id": [r.id for r in records],
                "formula": [r.formula for r in records],
                "prototype": [r.prototype for r in records],
                "substitution": [json.dumps(r.substitution, sort_keys=True) for r in records],
                "n_atoms": [r.n_atoms for r in records],
                "design_point": [point_to_json(p) for p in batch],
                "acquisition": acq,
            }
        )
        for kind, (m, s) in preds.items():
            table[f"pred_{kind}"] = m
            table[f"pred_{kind}_std"] = s
            noise = getattr(self.surrogates.get(kind), "noise_std", None)
            if kind in LOOP_TRAINED and noise is not None:  # the scatter of one measured value
                table[f"pred_{kind}_obs_std"] = np.sqrt(np.asarray(s) ** 2 + noise**2)
        table["novel"] = [is_novel(r.formula) for r in records]
        table["charge_balanced"] = [
            r.structure is not None and is_charge_balanced(r.structure.composition) for r in records
        ]
        table["ordered"] = [r.structure is not None and r.structure.is_ordered for r in records]
        table["cost_usd_per_kg"] = [cost_usd_per_kg(r.formula) for r in records]
        for col in phys.columns:
            table[col] = phys[col].to_numpy()
        table["verdict"] = judge(
            table, cfg.objectives, cfg.physics.bvse_max if cfg.physics.bvse else None
        )
        table["structure"] = [
            None if r.structure is None else json.dumps(r.structure.as_dict()) for r in records
        ]
        return table

    def _retrain(self, table: pd.DataFrame) -> None:
        """Refit the loop-trained surrogates (stability, bvse) on every physics result so far.

        The stability surrogate leaves out rows whose hull is incomplete (their
        ``e_above_hull`` is a lower bound, not a measurement) and rows more than
        0.1 eV/atom below their references' hull (a value too low by missing
        competitors, :func:`~matscreen.physics.checks.deep_below_hull_mask`).

        A refit that fails (e.g. a Gaussian process no start could fit) is logged
        and the surrogate keeps its previous fit; the run and its results go on.
        """
        from matscreen.physics.checks import deep_below_hull_mask, incomplete_hull_mask

        index = {block.name: i for i, block in enumerate(self.space.blocks)}
        for kind in LOOP_TRAINED:
            surrogate = self.surrogates.get(kind)
            column = _verdict_columns()[kind]
            if surrogate is None or column not in table:
                continue
            ok = table["status"] == "ok"
            if kind == "stability" and "hull_complete" in table:  # lower bounds are no data
                ok &= ~incomplete_hull_mask(table["hull_complete"])
            if kind == "stability":  # nor are values too low by missing competitors
                ok &= ~deep_below_hull_mask(table[column])
            protos = [index.get(p, -1) for p in table.loc[ok, "prototype"]]
            try:
                surrogate.fit_formulas(
                    list(table.loc[ok, "formula"]), table.loc[ok, column].to_numpy(), protos
                )
            except Exception as exc:  # noqa: BLE001 - one failed refit must not end the run
                LOG.warning("%s surrogate not refitted (%s: %s); it keeps its previous fit",
                            kind, type(exc).__name__, exc)  # fmt: skip


def point_to_json(point: DesignPoint) -> str:
    """Return a design point as JSON text ``[proto, [[counts], ...]]`` (a table cell)."""
    return json.dumps([point.proto, [list(c) for c in point.counts]])


def point_from_json(text: str) -> DesignPoint:
    """Read a design point written by :func:`point_to_json`."""
    proto, counts = json.loads(text)
    return DesignPoint(int(proto), tuple(tuple(int(n) for n in c) for c in counts))


def _write_table(out: Path, table: pd.DataFrame) -> None:
    from matscreen.core.io import atomic_write_parquet

    atomic_write_parquet(out / "proposals.parquet", table)


def build_surrogates(config: DesignConfig, device: str = "cpu") -> dict[str, Any]:
    """Train (or reuse, per process) the torch surrogates the workflow's objectives need."""
    from matscreen.design.surrogates import (
        GPRegressor,
        LoopSurrogate,
        StabilitySurrogate,
        TorchEnsembleRegressor,
    )

    s = config.surrogates
    kinds = {o.kind for o in config.objectives}
    out: dict[str, Any] = {}
    for kind in ("conductivity", "voltage"):
        if kind in kinds:
            out[kind] = _cached_surrogate(
                kind, s.n_members, s.hidden, s.epochs, config.seed, device
            )
    n_protos = len(config.space.prototypes)

    def loop_model() -> Any:
        if s.loop_model == "gp":
            return GPRegressor(device=device)
        return TorchEnsembleRegressor(
            n_members=s.n_members, hidden=s.hidden, epochs=s.epochs, seed=config.seed,
            device=device, clamp_inputs=True,
        )  # fmt: skip

    if "stability" in kinds:
        out["stability"] = StabilitySurrogate(
            loop_model(), prior_mean=s.stability_prior_mean, prior_std=s.stability_prior_std,
            min_points=s.min_stability_points, n_prototypes=n_protos,
            features=s.stability_features,
        )  # fmt: skip
    if "bvse" in kinds:
        out["bvse"] = LoopSurrogate(
            loop_model(), "bvse", prior_mean=s.bvse_prior_mean, prior_std=s.bvse_prior_std,
            min_points=s.min_stability_points, clip=(0.0, 2.0), n_prototypes=n_protos,
            features=s.bvse_features,
        )  # fmt: skip
    return out


_SURROGATE_CACHE: dict[tuple[Any, ...], Any] = {}


def _cached_surrogate(kind: str, n: int, hidden: int, epochs: int, seed: int, device: str) -> Any:
    """Train the ``conductivity`` or ``voltage`` torch ensemble once per process and settings."""
    from matscreen.design import surrogates

    trainer = {
        "conductivity": surrogates.train_conductivity_surrogate,
        "voltage": surrogates.train_voltage_surrogate,
    }[kind]
    key = (kind, n, hidden, epochs, seed, device)
    if key not in _SURROGATE_CACHE:
        _SURROGATE_CACHE[key] = trainer(
            n_members=n, hidden=hidden, epochs=epochs, seed=seed, device=device
        )
    return _SURROGATE_CACHE[key]


def build_loop(
    config: DesignConfig, *, device: str = "cpu", evaluator: Any = None, generator: Any = None
) -> DesignLoop:
    """Assemble the default loop of a workflow (any part can be replaced)."""
    from matscreen.design.objectives import UCBAcquisition
    from matscreen.design.physics_checks import MLIPPhysicsEvaluator
    from matscreen.design.search import make_generator

    space = DesignSpace.from_spec(config.space, config.family)
    return DesignLoop(
        config=config,
        space=space,
        generator=generator or make_generator(config.search, device),
        surrogates=build_surrogates(config, device),
        acquisition=UCBAcquisition(config.search.kappa, config.search.constraint_penalty),
        evaluator=evaluator or MLIPPhysicsEvaluator(config.physics.model_dump(), config.family),
        device=device,
    )


def _warn_uncovered_elements(elements: list[str], config: DesignConfig) -> None:
    """Warn when elements of the space are in no hull reference compound.

    Proposals with them get incomplete hulls (``e_above_hull`` a lower bound)
    and fail their verdict, so the budget spent on them is lost; the warning
    says so before the first round.
    """
    from matscreen.physics.checks import missing_reference_elements
    from matscreen.physics.hull import cached_reference_entries

    physics = config.physics
    try:
        refs = cached_reference_entries(
            physics.calculator, tuple(sorted(elements)), physics.substitute_references
        )
    except Exception as exc:  # noqa: BLE001 - a warning must not stop the run
        LOG.warning("could not check the hull references of the space: %s", exc)
        return
    missing = missing_reference_elements(set(elements), refs)
    if missing:
        LOG.warning(
            "design space: %s in no reference compound of the %s hull; proposals with them get "
            "an incomplete hull (e_above_hull only a lower bound) and fail. Remove them from the "
            "space or add references (matscreen/physics/references.py).",
            ",".join(missing), physics.calculator,
        )  # fmt: skip


def _warn_capacity_estimate(elements: list[str], config: DesignConfig) -> None:
    """Warn when the search's capacity may differ from the verdict's for this space."""
    from matscreen.design.objectives import DISCRETE_STATE_ELEMENTS

    odd = sorted(set(elements) & DISCRETE_STATE_ELEMENTS)
    if odd and any(o.kind == "capacity" for o in config.objectives):
        LOG.warning(
            "design space: the search's capacity holds %s at the nominal oxidation state; the "
            "verdict's charge balance may choose another (S6+ in a sulfate, Sn2+, ...), so "
            "pred_capacity and capacity_mAh_g can differ for proposals with them",
            ",".join(odd),
        )


def run_design(
    workflow: str | Path | DesignConfig,
    *,
    out: Path,
    device: str = "cpu",
    budget: int | None = None,
    client: Any = None,
    resume: bool = False,
) -> pd.DataFrame:
    """Run an inverse-design workflow and write ``out/proposals.parquet`` and ``out/report.html``.

    Parameters
    ----------
    workflow
        A design workflow YAML (path or name in ``workflows/``) or a
        :class:`~matscreen.design.config.DesignConfig`.
    out
        Output folder (created).
    device
        ``"cpu"`` or ``"cuda"`` for the surrogates and the search.
    budget
        Cap on physics evaluations (overrides ``loop.budget``).
    client
        A ``dask.distributed.Client`` for the physics checks; without one a
        local cluster with ``physics.workers`` workers is started and closed.
    resume
        Continue the interrupted run in ``out``: the rounds in its
        ``proposals.parquet`` (written after every round) are kept and the
        loop goes on with the next one. The workflow must be the one that
        run used (``out/design.json`` holds its hash); ``loop.rounds``,
        ``loop.budget`` and ``budget`` may grow, to extend a finished run, and
        ``physics.workers``, ``name`` and ``description`` may change.
        Without an earlier run in ``out`` it starts afresh.

    Returns
    -------
    pandas.DataFrame
        One row per proposal: round, id, formula, prototype, substitution,
        predictions (``pred_<kind>``, ``pred_<kind>_std``; for the loop-trained
        stability and bvse also ``pred_<kind>_obs_std``, the std of a measured
        value: the model's std with the fitted noise added), physics results
        (``e_above_hull``, ``bvse_barrier``, ``log10_sigma_model``, ...),
        ``novel``, ``charge_balanced``, ``verdict`` and the structure (JSON);
        for ``--resume``, ``design_point`` (the point, JSON) and ``rng_state``
        (the search's random state after the round).

    Raises
    ------
    ValueError
        Invalid workflow or device (message names the file and field).
    matscreen.design.space.InfeasibleSpaceError
        If the design space has no feasible point.
    MatscreenInputError
        If ``out`` already holds a design run (``proposals.parquet``) and
        ``resume`` is not set, or holds one of another workflow.
    OutputLockedError
        If another run is writing to ``out``.
    """
    from matscreen.design.config import DesignConfig, load_design_config
    from matscreen.design.report import write_report

    config = workflow if isinstance(workflow, DesignConfig) else load_design_config(workflow)
    from matscreen.core.devices import resolve_device
    from matscreen.core.errors import MatscreenInputError
    from matscreen.core.locks import RunLock

    device = resolve_device(device)
    out = Path(out)

    key = _resume_key(config)

    def earlier_run() -> pd.DataFrame | None:
        """Return the proposals of an earlier run in ``out`` that may go on, else refuse."""
        import pandas as pd

        if not (out / "proposals.parquet").exists():
            return None
        if not resume:
            raise MatscreenInputError(
                f"{out} already holds a design run (proposals.parquet); pass --resume to "
                "continue it, or choose another output folder"
            )
        state = out / "design.json"
        if not state.is_file():
            raise MatscreenInputError(
                f"{out} holds a design run without {state.name} (from before --resume existed); "
                "it cannot be resumed"
            )
        try:
            saved = json.loads(state.read_text())["workflow_hash"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MatscreenInputError(
                f"{state} is unreadable ({exc}); it cannot be resumed"
            ) from None
        if saved != key:
            raise MatscreenInputError(
                f"{out} holds a design run of another workflow; --resume continues only the "
                "same workflow (loop.rounds, loop.budget, physics.workers, name and description "
                "may change)"
            )
        table = pd.read_parquet(out / "proposals.parquet")
        if not {"design_point", "rng_state"} <= set(table.columns):
            raise MatscreenInputError(
                f"{out}/proposals.parquet lacks the design_point / rng_state columns a resume needs"
            )
        return table

    earlier_run()  # refuse before the surrogates are trained
    loop = build_loop(config, device=device)
    loop.space.feasible_points()  # an infeasible space fails here, before any cluster starts
    _warn_uncovered_elements(loop.space.elements, config)
    _warn_capacity_estimate(loop.space.elements, config)
    with RunLock(out):  # a second design run into the same folder is refused
        previous = earlier_run()  # one may have finished meanwhile
        import time

        from matscreen import __version__
        from matscreen.core.io import atomic_write_json
        from matscreen.core.provenance import host_record, package_versions, timestamp

        record = {
            "workflow_hash": key, "matscreen": __version__,
            "workflow": config.model_dump(mode="json"), "device": str(loop.device),
            "budget": budget, "versions": package_versions(), **host_record(),
            "started_at": timestamp(),
        }  # fmt: skip
        atomic_write_json(out / "design.json", record)
        t0 = time.perf_counter()
        if client is None:
            from matscreen.core.clusters import open_client

            with open_client("local", workers=config.physics.workers) as local:
                table = loop.run(out=out, budget=budget, client=local, previous=previous)
        else:
            table = loop.run(out=out, budget=budget, client=client, previous=previous)
        write_report(out, table, config, loop.history)
        record.update(
            finished_at=timestamp(), elapsed_s=round(time.perf_counter() - t0, 3),
            n_proposals=len(table),
        )  # fmt: skip
        atomic_write_json(out / "design.json", record)
    return table


def _resume_key(config: DesignConfig) -> str:
    """Hash of what a resumed run must share with the first: all but when to stop."""
    from matscreen.core.hashing import config_hash

    data = config.model_dump(mode="json")
    for name in ("rounds", "budget"):
        data["loop"].pop(name, None)
    data["physics"].pop("workers", None)  # e.g. fewer after running out of memory
    for name in ("name", "description"):
        data.pop(name, None)
    return config_hash(data)
