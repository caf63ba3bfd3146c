"""Rhythm-network architectures by name (no TensorFlow: the training CLI and tests read them).

:class:`ArchSpec` fixes the stem and residual stages that :func:`training.model.build_model`
builds; :data:`ARCHS` names the ones used:

- ``r3``: the 2026.11 ensemble member (stem 16×15 stride 2, five stages 16–48 channels),
  ≈ 72 k parameters, ≈ 11.4 M multiply-accumulates (MACs) per 20 s window;
- ``s1``: the single model of 2026.12 (stem 16×9 stride 4, stages 16–64 channels with
  kernels 7–3), ≈ 74 k parameters, ≈ 5.4 M MACs per window;
- ``s1w``: ``s1`` with its last two stages wider (64 and 96 channels instead of 48 and 64),
  ≈ 6.6 M MACs per window — the ``s6`` candidate, paid for by the batched invoke;
- ``s1dw``: a depthwise-separable variant of similar MACs, measured slower per MAC in int8
  LiteRT (``training/cost.py``), kept for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Stage", "STAGES", "ArchSpec", "ARCHS"]

Stage = tuple[int, int, int]

#: (channels, kernel, stride) of the residual stages of the r3 member
STAGES: tuple[Stage, ...] = ((16, 9, 2), (20, 9, 2), (28, 7, 2), (40, 7, 2), (48, 5, 2))


@dataclass(frozen=True)
class ArchSpec:
    """One rhythm-network architecture.

    Attributes
    ----------
    stem : (int, int, int)
        (channels, kernel, stride) of the first convolution.
    stages : tuple of (int, int, int)
        (channels, kernel, stride) of each residual stage.
    separable : bool
        Depthwise-separable convolutions inside the residual stages.
    """

    stem: Stage
    stages: tuple[Stage, ...]
    separable: bool = False

    def __post_init__(self) -> None:
        for ch, k, s in (self.stem, *self.stages):
            if min(ch, k, s) < 1:
                raise ValueError(f"channels, kernel and stride must be positive, got {(ch, k, s)}")

    def to_dict(self) -> dict[str, object]:
        """JSON form (run ``config.json``)."""
        return {"stem": list(self.stem), "stages": [list(s) for s in self.stages], "separable": self.separable}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "ArchSpec":
        """Inverse of :meth:`to_dict`."""
        stem = tuple(int(v) for v in d["stem"])  # type: ignore[attr-defined]
        stages = tuple(tuple(int(v) for v in st) for st in d["stages"])  # type: ignore[attr-defined]
        return cls(stem, stages, bool(d.get("separable", False)))  # type: ignore[arg-type]


ARCHS: dict[str, ArchSpec] = {
    "r3": ArchSpec((16, 15, 2), STAGES),
    "s1": ArchSpec((16, 9, 4), ((16, 7, 2), (24, 7, 2), (32, 5, 2), (48, 5, 2), (64, 3, 2))),
    "s1w": ArchSpec((16, 9, 4), ((16, 7, 2), (24, 7, 2), (32, 5, 2), (64, 5, 2), (96, 3, 2))),
    "s1dw": ArchSpec((24, 9, 4), ((32, 9, 2), (48, 9, 2), (64, 7, 2), (96, 5, 2), (128, 3, 2)), separable=True),
}
