"""Deterministic language identification for the language and case rules.

IFEval uses ``langdetect``, whose detector samples n-grams at random and is unseeded upstream, so the
same text can get different verdicts from run to run. Here a private detector factory with a fixed seed
is used: the same text always gets the same language, and langdetect's global state is left alone.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["SEED", "detect_language"]

SEED = 0
_lock = threading.Lock()


@functools.cache
def _factory():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(SEED)
    return factory


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text`` (``zh-cn``/``zh-tw`` for Chinese), or ``None`` when the text has no
    letters to judge (IFEval then counts the instruction as followed)."""
    from langdetect.lang_detect_exception import LangDetectException

    with _lock:  # profile loading is not thread-safe; detection itself is cheap
        factory = _factory()
    detector = factory.create()
    detector.append(text)
    try:
        return detector.detect()
    except LangDetectException:
        return None
