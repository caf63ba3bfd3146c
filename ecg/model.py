"""The shipped rhythm model: its sidecar, its input preparation and its LiteRT runtime.

The model sees two inputs:

1. ``signal``: the ECG band-passed (``band_hz`` of the sidecar, zero-phase), resampled to
   the sidecar's ``input_fs_hz``, divided by its standard deviation and clipped, cut into
   windows of ``window_samples`` every ``stride_samples``. Shorter recordings are
   zero-padded. The window probabilities are averaged (shared weights over time).
2. ``rr``: the RR irregularity features of :mod:`ecg.rr_features`, standardised with the
   training statistics stored in the sidecar.

The sidecar ``rhythm.json`` beside the ``.tflite`` file is read when the model loads and
checked: its ``classes`` against the class table (:func:`ecg.classes.check_model_metadata`),
its input rate, band and window against the model's input, and its ``decision`` section
(:class:`DecisionParams`, the parameters of :func:`ecg.screening.decide`). The module-level
constants (:data:`MODEL_FS_HZ`, :data:`BAND_HZ`, ...) are what training writes into a new
sidecar; at run time the loaded sidecar's values are used.

The preparation lives in :mod:`ecg.model_input` (so that training (``training/``) and
screening use the very same code) and the ``decision`` section's parameters in
:mod:`ecg.decision_params`; both are re-exported here, the one import for callers.
TensorFlow is never imported here: the runtime is ``ai-edge-litert`` (fallback
``tflite_runtime``). The interpreter is loaded once per process and cached.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecg.classes import ClassTableError, check_model_metadata
from ecg.decision_params import CLASSES, DECISION_RULES, DecisionParams, decide
from ecg.errors import EcgError
from ecg.litert import interpreter_class, quant_of, without_runtime_banner
from ecg.model_input import (BAND_HZ, CLIP_SD, MIN_FS_HZ, MODEL_FS_HZ, STRIDE_SAMPLES, WINDOW_SAMPLES,
                             prepare_signal, signal_windows)
from ecg.rr_features import FEATURE_NAMES as RR_NAMES
from ecg.stage_two import StageTwo, quality_numbers

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.quality import Quality

__all__ = [
    "CLASSES",
    "MODEL_FS_HZ",
    "WINDOW_SAMPLES",
    "STRIDE_SAMPLES",
    "MIN_FS_HZ",
    "BAND_HZ",
    "CLIP_SD",
    "DEFAULT_MODEL_PATH",
    "MAX_BATCH_WINDOWS",
    "DecisionParams",
    "DECISION_RULES",
    "ModelError",
    "RhythmModel",
    "prepare_signal",
    "signal_windows",
    "load_model",
    "decide",
]

#: most windows in one invoke of a graph with a dynamic batch (bounds the interpreter's arena)
MAX_BATCH_WINDOWS = 64

_MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = _MODELS_DIR / "rhythm.tflite"


class ModelError(EcgError):
    """The model file or its sidecar is missing or unusable.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    path : str
        The file involved.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` class (:func:`ecg.litert.interpreter_class`), a ModelError without one."""
    try:
        return interpreter_class()
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError(str(exc), path="<runtime>") from exc




class RhythmModel:
    """A loaded TFLite rhythm model with its JSON sidecar (one interpreter, thread-safe).

    Parameters
    ----------
    tflite_path : Path
        The ``.tflite`` file. Its sidecar is the same path with suffix ``.json``.
    """

    def __init__(self, tflite_path: Path) -> None:
        path = Path(tflite_path)
        meta_path = path.with_suffix(".json")
        if not path.is_file():
            raise ModelError("model file not found", path=str(path))
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model sidecar ({exc})", path=str(meta_path)) from exc
        self.path = path
        self._read_meta(meta_path)
        self._lock = threading.Lock()
        with without_runtime_banner():
            self._interp = _interpreter_class()(model_path=str(path), num_threads=1)
            self._interp.allocate_tensors()
        inputs = self._interp.get_input_details()  # names are stripped: tell them by rank
        try:
            self._sig_in = next(d for d in inputs if len(d["shape"]) == 3)
            self._rr_in = next(d for d in inputs if len(d["shape"]) == 2)
        except StopIteration:
            raise ModelError("expected a (1, n, 1) signal input and a (1, k) RR input", path=str(path)) from None
        self._out = self._interp.get_output_details()[0]
        if int(self._sig_in["shape"][1]) != self.window_samples:
            raise ModelError(f"sidecar window_samples {self.window_samples} differs from the model's input "
                             f"{int(self._sig_in['shape'][1])}", path=str(meta_path))
        self._q_sig = quant_of(self._sig_in)
        self._q_rr = quant_of(self._rr_in)
        self._q_out = quant_of(self._out)
        signature = self._sig_in.get("shape_signature", self._sig_in["shape"])
        self._dynamic_batch = int(signature[0]) == -1 and int(self._rr_in.get("shape_signature", [0])[0]) == -1
        self._batch = int(self._sig_in["shape"][0])
        self._macs = self._count_macs()

    @property
    def dynamic_batch(self) -> bool:
        """Whether the graph takes any number of windows per invoke (else one window per invoke)."""
        return self._dynamic_batch

    def _read_meta(self, meta_path: Path) -> None:
        """Check and take the sidecar's values (ModelError naming the sidecar when one is wrong)."""
        meta = self.meta
        try:
            check_model_metadata(meta)
            self.version: str = str(meta["version"])
            self.rr_mean = np.asarray(meta["rr_mean"], dtype=np.float64)
            self.rr_std = np.asarray(meta["rr_std"], dtype=np.float64)
            self.input_fs_hz = float(meta["input_fs_hz"])
            low, high = (float(v) for v in meta["band_hz"])
            self.window_samples = int(meta["window_samples"])
            self.stride_samples = int(meta["stride_samples"])
            self.decision = DecisionParams.from_dict(meta["decision"])
            self.stage_two: StageTwo | None = StageTwo.from_dict(meta["stage_two"]) if "stage_two" in meta else None
            if self.stage_two is not None and len(self.rr_mean) != len(RR_NAMES):
                raise ValueError(f"rr_mean has {len(self.rr_mean)} values, the stage reads {len(RR_NAMES)} RR features")
        except ClassTableError as exc:
            raise ModelError(str(exc), path=str(meta_path)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"bad or missing sidecar value ({type(exc).__name__}: {exc})", path=str(meta_path)) from None
        if not (0.0 < low < high < self.input_fs_hz / 2 and 0 < self.stride_samples <= self.window_samples):
            raise ModelError(f"inconsistent band {low}-{high} Hz / rate {self.input_fs_hz} Hz / window", path=str(meta_path))
        self.band_hz = (low, high)
        self.class_weights = np.asarray(self.decision.class_weights, dtype=np.float64)
        self.af_threshold: float | None = self.decision.af_call_min

    def windows(self, sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
        """The model's input windows of one recording: band, rate and window from the sidecar.

        Parameters
        ----------
        sig_mv : np.ndarray
            One lead in millivolts at the recording's rate.
        fs_hz : float
            The recording's rate.
        """
        x = prepare_signal(sig_mv, fs_hz, fs_out_hz=self.input_fs_hz, band_hz=self.band_hz)
        return signal_windows(x, self.window_samples, self.stride_samples)

    def standardise_rr(self, features: np.ndarray) -> np.ndarray:
        """Standardise raw RR features with the training statistics (clipped to ±5)."""
        z = np.asarray(features, dtype=np.float64) - self.rr_mean
        z /= self.rr_std
        np.maximum(z, -5.0, out=z)
        return np.minimum(z, 5.0, out=z).astype(np.float32)

    def predict_windows(self, windows: np.ndarray, rr_features: np.ndarray) -> np.ndarray:
        """Class probabilities (order :data:`CLASSES`) averaged over the windows of one recording
        (:meth:`predict_windows_many` of one recording).

        Parameters
        ----------
        windows : np.ndarray
            ``(n_windows, WINDOW_SAMPLES)`` from :func:`signal_windows`.
        rr_features : np.ndarray
            Raw features from :func:`ecg.rr_features.rr_features`.
        """
        return self.predict_windows_many([windows], [rr_features])[0]

    def predict_windows_many(self, windows: Sequence[np.ndarray], rr_features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class probabilities of several recordings, each averaged over its own windows.

        All windows of all recordings go through the graph together (in invokes of at most
        :data:`MAX_BATCH_WINDOWS` windows when the graph's batch is dynamic, one window per
        invoke when it is fixed at 1); a window's probabilities do not depend on the others
        in its batch (int8 kernels, row by row), so a recording gets the same answer alone or
        in a batch.

        Parameters
        ----------
        windows : sequence of np.ndarray
            Per recording, ``(n_windows, WINDOW_SAMPLES)`` from :func:`signal_windows`.
        rr_features : sequence of np.ndarray
            Per recording, raw features from :func:`ecg.rr_features.rr_features`.

        Returns
        -------
        list of np.ndarray
            Per recording, probabilities in the order :data:`CLASSES` (all zero without windows).

        Examples
        --------
        >>> model = load_model()  # doctest: +SKIP
        >>> p1, p2 = model.predict_windows_many([w1, w2], [rr1, rr2])  # doctest: +SKIP
        """
        if len(windows) != len(rr_features):
            raise ValueError(f"{len(windows)} recordings' windows but {len(rr_features)} RR feature rows")
        counts = [len(w) for w in windows]
        q_wins = [self._q_sig.quantise(np.asarray(w, dtype=np.float32).reshape(len(w), -1, 1)) for w in windows if len(w)]
        q_rr = [np.repeat(self._q_rr.quantise(self.standardise_rr(f).reshape(1, -1)), n, axis=0)
                for f, n in zip(rr_features, counts) if n]
        rows = self._q_out.dequantise(self._invoke(_joined(q_wins), _joined(q_rr))) if q_wins else None
        out, start = [], 0
        for n in counts:
            # the rows summed window by window, in order (a reduction over the outer axis adds row after row)
            probs = (np.add.reduce(rows[start : start + n], axis=0) if n and rows is not None
                     else np.zeros(len(CLASSES), dtype=np.float64))
            start += n
            probs /= max(n, 1)
            np.maximum(probs, 0.0, out=probs)
            probs /= max(float(probs.sum()), 1e-9)
            out.append(probs)
        return out

    def _invoke(self, q_wins: np.ndarray, q_rr: np.ndarray) -> np.ndarray:
        """The graph's int8 outputs ``(n, n_classes)`` of ``n`` quantised windows and RR rows."""
        step = MAX_BATCH_WINDOWS if self._dynamic_batch else 1
        outs = []
        with self._lock:
            for start in range(0, len(q_wins), step):
                wins, rr = q_wins[start : start + step], q_rr[start : start + step]
                if self._dynamic_batch and len(wins) != self._batch:
                    self._interp.resize_tensor_input(self._sig_in["index"], [len(wins), *self._sig_in["shape"][1:]])
                    self._interp.resize_tensor_input(self._rr_in["index"], [len(wins), *self._rr_in["shape"][1:]])
                    self._interp.allocate_tensors()
                    self._batch = len(wins)
                self._interp.set_tensor(self._rr_in["index"], rr)
                self._interp.set_tensor(self._sig_in["index"], wins)
                self._interp.invoke()
                outs.append(self._interp.get_tensor(self._out["index"]).copy())
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def predict(self, sig_mv: np.ndarray, fs_hz: float, rr_features: np.ndarray,
                quality: Quality | None = None, atrial: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities of one recording (:meth:`predict_many` of one recording).

        Parameters
        ----------
        sig_mv, fs_hz : the recording (millivolts at its rate).
        rr_features : np.ndarray
            Raw features from :func:`ecg.rr_features.rr_features` of the context's R peaks.
        quality : Quality, optional
            The context's quality (:attr:`ecg.context.LeadContext.quality`); required when
            the sidecar has a second stage.
        atrial : np.ndarray, optional
            The context's :func:`ecg.atrial.context_features`; required when the second
            stage reads them (:attr:`needs_atrial`).
        """
        return self.predict_many([sig_mv], [fs_hz], [rr_features], [quality],
                                 None if atrial is None else [atrial])[0]

    @property
    def needs_atrial(self) -> bool:
        """Whether the second stage reads atrial-activity features (:mod:`ecg.atrial`)."""
        return self.stage_two is not None and self.stage_two.atrial

    def predict_many(self, sigs_mv: Sequence[np.ndarray], fs_hz: Sequence[float], rr_features: Sequence[np.ndarray],
                     qualities: Sequence[Quality | None] | None = None,
                     atrial: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Class probabilities of several recordings: the CNN's over all their windows in one
        batch (:meth:`predict_windows_many`), then per recording, when the sidecar has a
        ``stage_two`` section, the second stage's (:meth:`refine`). A recording gets the same
        probabilities alone or in a batch.

        Parameters
        ----------
        sigs_mv, fs_hz : per recording, millivolts and its rate.
        rr_features : per recording, raw features from :func:`ecg.rr_features.rr_features`.
        qualities : per recording, the context's quality (required with a second stage).
        atrial : per recording, the context's atrial features (required when the second
            stage reads them).
        """
        if not len(sigs_mv) == len(fs_hz) == len(rr_features):
            raise ValueError(f"{len(sigs_mv)} signals, {len(fs_hz)} rates and {len(rr_features)} RR feature rows")
        quals = list(qualities) if qualities is not None else [None] * len(sigs_mv)
        atr = list(atrial) if atrial is not None else [None] * len(sigs_mv)
        probs = self.predict_windows_many([self.windows(x, fs) for x, fs in zip(sigs_mv, fs_hz)], rr_features)
        if self.stage_two is None:
            return probs
        return [self.refine(p, f, q, a) for p, f, q, a in zip(probs, rr_features, quals, atr, strict=True)]

    def refine(self, probs: np.ndarray, rr_features: np.ndarray, quality: Quality | None,
               atrial: np.ndarray | None = None) -> np.ndarray:
        """The second stage (:mod:`ecg.stage_two`) on the CNN's probabilities of one recording
        (returns ``probs`` unchanged when the sidecar has none)."""
        if self.stage_two is None:
            return probs
        if quality is None:
            raise ValueError(f"{self.version} has a second stage: predict() needs the context's quality")
        if self.stage_two.atrial and atrial is None:
            raise ValueError(f"{self.version}'s second stage reads atrial features: predict() needs them")
        rr_z = self.standardise_rr(rr_features).reshape(1, -1)
        a = None if atrial is None or not self.stage_two.atrial else np.asarray(atrial).reshape(1, -1)
        return self.stage_two.probabilities(probs.reshape(1, -1), rr_z, quality_numbers(quality).reshape(1, -1), a)[0]

    def macs_per_window(self) -> int:
        """Multiply-accumulates of one window, counted from the graph's operators at load time.

        Convolutions count output elements × kernel taps × input channels (depthwise:
        × taps), fully connected layers weights; pooling, adds and activations are left out.
        This is the model's cost bound that does not depend on machine load.
        """
        return self._macs

    def _count_macs(self) -> int:
        """:meth:`macs_per_window` from the tensor shapes of a batch of one window."""
        shapes = {d["index"]: tuple(int(v) for v in d["shape"]) for d in self._interp.get_tensor_details()}
        total = 0
        for op in self._interp._get_ops_details():  # noqa: SLF001 - the only listing of a graph's operators
            name, ins, outs = op["op_name"], op["inputs"], op["outputs"]
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = shapes[int(ins[1])]
                taps = w[1] * w[2] * (w[3] if name == "CONV_2D" else 1)
                total += int(np.prod(shapes[int(outs[0])])) * taps
            elif name == "FULLY_CONNECTED":
                w = shapes[int(ins[1])]
                total += w[0] * w[1]
        return total

    def decide(self, probs: np.ndarray) -> int:
        """Index of the decided class (see :func:`decide`), with the sidecar's tuned parameters.

        The r3 AF-first class choice, kept for training's tuner; screening answers come from
        :func:`ecg.screening.decide` (rule ``af-band-v1``, :func:`ecg.screening.apply_rule`).
        """
        return int(decide(np.asarray(probs)[None, :], self.class_weights, self.af_threshold)[0])


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(parts)``, without the copy when there is one part (one recording)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


_LOAD_LOCK = threading.Lock()
_CACHE: dict[str, RhythmModel] = {}


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> str:
    """The absolute path of ``path`` (resolved once: every screening asks for the model)."""
    return str(Path(path).resolve())


def load_model(path: str | Path | None = None) -> RhythmModel:
    """Load (once per process) and return the rhythm model.

    Parameters
    ----------
    path : str or Path, optional
        A ``.tflite`` file with its ``.json`` sidecar; the shipped model by default.

    Raises
    ------
    ModelError
        The file or sidecar is missing or unreadable, or no TFLite runtime is installed.
    """
    key = _resolved(str(path or DEFAULT_MODEL_PATH))
    with _LOAD_LOCK:
        if key not in _CACHE:
            _CACHE[key] = RhythmModel(Path(key))
        return _CACHE[key]
