"""Production and shadow variants of the local endpoint, as SageMaker serves them.

  - Production variants share the traffic by their weights (InitialVariantWeight); a request with
    the TargetVariant header goes to the variant it names, and the answer names the variant that
    served it in x-Amzn-Invoked-Production-Variant.
  - A shadow variant gets a copy of a share of the requests (SamplingPercentage). Its answer is
    captured under its own variant folder with the same inference id, and never returned: it runs
    on its own threads after the production answer is on its way, so it can neither delay nor
    change nor fail the answer. A shadow that falls behind drops requests (counted) rather than
    queueing without bound.
"""
from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

logger = logging.getLogger(__name__)

SHADOW_THREADS = 2
# Shadow requests waiting or running at most; beyond that they are dropped, never queued.
MAX_SHADOW_IN_FLIGHT = 64


@dataclass
class ProductionVariant:
    name: str
    model: object            # local.endpoint.InferenceModel, or anything with transform()
    weight: float = 1.0


@dataclass
class ShadowVariant:
    name: str
    model: object
    sampling_percentage: float = 100.0


class UnknownVariant(ValueError):
    """A TargetVariant that names no production variant of the endpoint."""


class VariantRouter:
    """Picks the production variant for a request: the target, or one drawn by weight."""

    def __init__(self, variants: Sequence[ProductionVariant], rng: Optional[random.Random] = None):
        if not variants:
            raise ValueError("an endpoint needs at least one production variant")
        if any(variant.weight < 0 for variant in variants) or sum(v.weight for v in variants) <= 0:
            raise ValueError("variant weights must be non-negative and not all zero")
        self.variants = list(variants)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def choose(self, target: Optional[str] = None) -> ProductionVariant:
        if target:
            for variant in self.variants:
                if variant.name == target:
                    return variant
            raise UnknownVariant(f"The variant {target!r} is not a production variant of this endpoint: "
                                 f"{', '.join(v.name for v in self.variants)}.")
        with self._lock:
            pick = self._rng.uniform(0, sum(v.weight for v in self.variants))
        for variant in self.variants:
            pick -= variant.weight
            if pick <= 0 and variant.weight > 0:
                return variant
        return next(variant for variant in reversed(self.variants) if variant.weight > 0)


class ShadowCaller:
    """Runs a shadow variant's copy of requests on its own threads; reports answers, swallows failures."""

    def __init__(self, shadow: ShadowVariant, on_answer: Callable[[object, bytes, str], None],
                 rng: Optional[random.Random] = None, max_in_flight: int = MAX_SHADOW_IN_FLIGHT):
        self.shadow = shadow
        self._on_answer = on_answer
        self._rng = rng or random.Random()
        self._max_in_flight = max_in_flight
        self._pool = ThreadPoolExecutor(SHADOW_THREADS, thread_name_prefix=f"shadow-{shadow.name}")
        self._idle = threading.Condition()
        self._in_flight = 0
        self.failed = self.dropped = self.answered = 0

    def submit(self, context, body: bytes, content_type: str, accept: str) -> bool:
        """Queue the copy; False when it was not sampled or the shadow is too far behind."""
        with self._idle:
            if self._rng.uniform(0, 100) >= self.shadow.sampling_percentage:
                return False
            if self._in_flight >= self._max_in_flight:
                self.dropped += 1
                return False
            self._in_flight += 1
        self._pool.submit(self._call, context, body, content_type, accept)
        return True

    def _call(self, context, body: bytes, content_type: str, accept: str) -> None:
        try:
            payload, response_content_type = self.shadow.model.transform(body, content_type, accept)
            self._on_answer(context, payload, response_content_type)
            outcome = "answered"
        except Exception:  # noqa: BLE001 - a shadow's failure is logged and counted, never the caller's
            outcome = "failed"
            logger.warning("Shadow variant %s failed on a %s request", self.shadow.name, content_type, exc_info=True)
        with self._idle:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self._in_flight -= 1
            self._idle.notify_all()

    def wait(self, timeout: float = 30.0) -> bool:
        """Until every queued copy is done (tests, and shutting down cleanly); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
