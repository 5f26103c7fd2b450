"""From the raw geometric agreement score to a calibrated Consensus Score.

The raw score (``score.compute``) ranks panels well but its value is not a
probability. ``score_calibration.json`` holds, per agreement backend, a monotonic
map fitted on the agreement benchmark's dev split (scripts/fit_calibration.py,
seeded) so that a calibrated score of s means that about s % of dev answer sets
scored s were mutually consistent. It says nothing about whether they are right.

The cross-encoder's map is fitted on the dev questions it was not trained on.
A backend without a fitted map (judge and hybrid: fitting them means running the
judge model over all of dev) keeps its raw score, and ``is_calibrated`` says so.
The map is strictly increasing, so it never changes the order of two panels.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CALIBRATION_FILE = Path(__file__).with_name("score_calibration.json")
# Raw scores are clipped this far from 0 and 100 before their log-odds are taken.
RAW_FLOOR = 0.05
DECIMALS = 4


def raw_logit(raw: float) -> float:
    """Log-odds of a raw 0-100 score read as a probability (kept finite at 0 and 100)."""
    p = min(max(raw, RAW_FLOOR), 100.0 - RAW_FLOOR) / 100.0
    return math.log(p / (1.0 - p))


class PlattMap(BaseModel):
    """calibrated = 100 * sigmoid(slope * logit(raw / 100) + intercept), slope > 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["platt"] = "platt"
    slope: float = Field(gt=0)
    intercept: float

    def __call__(self, raw: float) -> float:
        z = self.slope * raw_logit(raw) + self.intercept
        return 100.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class IsotonicMap(BaseModel):
    """Linear interpolation through strictly increasing knots (raw, calibrated), both 0-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["isotonic"] = "isotonic"
    raw: list[float] = Field(min_length=2)
    calibrated: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _strictly_increasing(self) -> IsotonicMap:
        if len(self.raw) != len(self.calibrated):
            raise ValueError("raw and calibrated knots differ in number")
        for xs in (self.raw, self.calibrated):
            if any(b <= a for a, b in pairwise(xs)) or xs[0] < 0 or xs[-1] > 100:
                raise ValueError("knots must rise strictly within 0-100")
        if self.raw[0] != 0 or self.raw[-1] != 100:
            raise ValueError("raw knots must span 0 to 100")
        return self

    def __call__(self, raw: float) -> float:
        x = min(max(raw, 0.0), 100.0)
        for i in range(1, len(self.raw)):
            if x <= self.raw[i]:
                x0, x1 = self.raw[i - 1], self.raw[i]
                y0, y1 = self.calibrated[i - 1], self.calibrated[i]
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return self.calibrated[-1]


ScoreMap = Annotated[PlattMap | IsotonicMap, Field(discriminator="kind")]


class SizeMaps(BaseModel):
    """One map for two answers, one for three or more: a set's raw score is a geometric mean
    over several pairs, so the same raw number means something else there."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pairs: ScoreMap
    sets: ScoreMap

    def for_size(self, n_answers: int) -> ScoreMap:
        return self.pairs if n_answers <= 2 else self.sets


class ScoreCalibration(BaseModel):
    """The shipped maps by backend name, and how they were fitted (for the record)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    maps: dict[str, SizeMaps]
    # How each backend's map was fitted, by backend name.
    fitted: dict[str, dict[str, str | int | float]] = Field(default_factory=dict)

    def apply(self, backend: str, raw: float, n_answers: int) -> float:
        """The calibrated 0-100 score; raw when no map is fitted. Four decimals (shown as whole
        numbers): fewer would tie raw scores 0.1 apart where the map is flat, and ties move AUROC."""
        maps = self.maps.get(backend)
        if maps is None:
            return raw
        return round(min(max(maps.for_size(n_answers)(raw), 0.0), 100.0), DECIMALS)

    def is_calibrated(self, backend: str) -> bool:
        return backend in self.maps


@lru_cache(maxsize=4)
def load_calibration(path: Path = CALIBRATION_FILE) -> ScoreCalibration:
    return ScoreCalibration.model_validate_json(path.read_text(encoding="utf-8"))
