"""Math accuracy: extract the final answer of a completion and decide whether it equals the gold answer.

The pipeline, one module per stage:

1. :mod:`~verifiers.math.extraction` - the final answer of a whole response (last ``\\boxed{}`` after
   ``</think>``, answer statements, the last formula or number) and of a gold reference;
2. :mod:`~verifiers.math.normalize` - one canonical spelling (``\\dfrac``, ``\\left``, spacing, units,
   degrees, ``\\leq``, Unicode symbols);
3. :mod:`~verifiers.math.structure` - what kind of answer it is (number, list, set, tuple, interval,
   equation, inequality, matrix, word, choice letter);
4. :mod:`~verifiers.math.equivalence` - the comparison: exact for plain numbers (in-process), with sympy
   via :mod:`~verifiers.math.latex` for everything else (in killable workers);
5. :mod:`~verifiers.math.batch` - `verify`, `verify_batch`: batches, the worker pool and hard timeouts;
   :mod:`~verifiers.math.reward` - the ``math_accuracy`` reward recipes name.

Conventions where answer keys disagree are set by :class:`MathPolicy`.
"""

from verifiers.math.batch import math_pool, verify, verify_batch
from verifiers.math.equivalence import answers_equal, compare
from verifiers.math.extraction import extract_final_answer, extract_gold
from verifiers.math.normalize import normalize_answer
from verifiers.math.policy import ListOrder, MathPolicy, PercentPolicy
from verifiers.math.reward import SCORES, build_math_accuracy, math_accuracy_reward
from verifiers.math.verdict import REASONS, MathVerdict, Reason

__all__ = [
    "REASONS",
    "SCORES",
    "ListOrder",
    "MathPolicy",
    "MathVerdict",
    "PercentPolicy",
    "Reason",
    "answers_equal",
    "build_math_accuracy",
    "compare",
    "extract_final_answer",
    "extract_gold",
    "math_accuracy_reward",
    "math_pool",
    "normalize_answer",
    "verify",
    "verify_batch",
]
