"""Extraction: find the final answer in a whole model response, and the answer in a gold reference.

A response is reasoning (possibly in ``<think>...</think>``) followed by a final answer. Only the text
after the last ``</think>`` is read; a ``<think>`` that is never closed means the model did not finish,
and nothing is extracted. In that text the answer is, in order of preference:

1. the last ``\\boxed{...}``/``\\fbox{...}`` (balanced braces; boxes written one after another in the
   final sentence, ``\\boxed{2}`` and ``\\boxed{3}``, are joined into one list answer) - unless an answer
   statement (2) with a formula or number follows it, which makes the boxes intermediate results;
2. an answer statement: ``Answer: X``, ``**Answer:** X``, ``Final Answer: X``, "the final answer is X",
   "the answer is X", or the same in French, German, Spanish, Portuguese, Italian, Russian, Chinese or
   Japanese ("la réponse est X", "Die Antwort ist X", "la respuesta es X", "答案是 X", "最终答案：X")
   (the last one wins; ``X`` is the formula right after it, or the rest of the sentence, or, when that is
   prose such as "The area of the square is 12", its last formula or number);
3. the whole response when it is nothing but a short answer (``\\frac{10}{9}``, ``x = 3``, ``Monday``,
   a matrix);
4. the last formula (``$...$``, ``\\(...\\)``, ``\\[...\\]``) or number of the final paragraph, whichever
   comes last; a formula that is a pure computation (``$2 + 3 = 5$``) gives its result. In Chinese,
   Japanese or Korean prose the runs of those scripts separate the math: the last run of math with a
   digit (``12 × 4 = 48`` in "一共有 12 × 4 = 48 个苹果") is the answer.

2-4 are skipped under a policy with ``require_boxed``. Inputs of any length are handled in linear time;
only the last :data:`MAX_TAIL_CHARS` characters are searched for fallbacks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from typing import Any

from verifiers.math.normalize import braces_balanced, clean, group_end

__all__ = ["MAX_TAIL_CHARS", "extract_final_answer", "extract_gold", "last_boxed"]

#: Fallback patterns (2-4) look at no more than this many final characters of the response.
MAX_TAIL_CHARS = 4000
#: A fallback answer longer than this is prose, not an answer.
MAX_FALLBACK_CHARS = 200

_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# what may separate boxes that together form one answer: "\\boxed{2}, \\boxed{3}", "$\\boxed{2}$ and $\\boxed{3}$"
_BOX_JOINER = re.compile(
    r"(?:\s|\$|,|;|&|\.|\\[()\[\],;:!]|\\q?quad(?![A-Za-z])|\\text\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b)*",
    re.IGNORECASE,
)
_MAX_JOINER_CHARS = 60
_MAX_JOINED_BOX_CHARS = 400
#: A gold whose text outside its boxes is at most this long, with at most MAX_GOLD_GAP_WORDS words between
#: two boxes, states a multi-part answer (``\\boxed{1} papers and \\boxed{2} bins``): all its boxes count.
#: Anything longer is a worked solution: its last box.
MAX_GOLD_CAPTION_CHARS = 60
MAX_GOLD_GAP_WORDS = 3
_STATEMENT = re.compile(
    r"(?:\bfinal\s+answer\s*(?:is|[:：])|\bthe\s+answer\s+is|\banswer\s*[:：]|\bsolution\s+is|\bresult\s+is"
    r"|\bréponse(?:\s+finale)?\s*(?:est\b|[:：])"  # French
    r"|\b(?:endgültige\s+)?antwort\s*(?:ist\b|lautet\b|[:：])|\bergebnis\s*(?:ist\b|lautet\b|[:：])"  # German
    r"|\brespuesta(?:\s+final)?\s*(?:es\b|[:：])"  # Spanish
    r"|\bresposta(?:\s+final)?\s*(?:é|[:：])|\brisposta(?:\s+finale)?\s*(?:è|[:：])"  # Portuguese, Italian
    r"|\bответ\s*[:：—]"  # Russian
    r"|(?:最终答案|最后答案|答案|结果)\s*(?:是|为|[:：])|答え\s*(?:は|[:：]))"  # Chinese, Japanese
    r"[\s*_:：]*",
    re.IGNORECASE,
)
# a sentence of Chinese or Japanese ends at these; a comma before more CJK text ends the answer too
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_SENTENCE_END = re.compile(rf"[。；！？（]|，(?=\s*[{_CJK}])")
# runs of CJK script and full-width punctuation: what separates the math in such prose
_CJK_RUN = re.compile(rf"[{_CJK}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff5b-\uff65]+")
# a letter of neither the Latin alphabet nor Greek: prose in another script ("réponse", "答案")
_FOREIGN_LETTER = re.compile(r"[^\W\d_A-Za-z\u0370-\u03ff]")
_FORMULA_BODY = r"\$\$(?P<a>(?:\\.|[^$\\])+)\$\$|\$(?P<b>(?:\\.|[^$\\])+)\$|\\\[(?P<c>.+?)\\\]|\\\((?P<d>.+?)\\\)"
_FORMULA = re.compile(_FORMULA_BODY, re.DOTALL)
_LEADING_FORMULA = re.compile(rf"\s*(?:{_FORMULA_BODY})", re.DOTALL)
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])-?(?:(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:/\d+)?(?![\d])(?:\\?%)?"
)
# under the decimal-comma convention "2,74" is one number and thousands are separated by spaces
_NUMBER_DECIMAL_COMMA = re.compile(
    r"(?<![A-Za-z0-9_.,])-?(?:(?:\d{1,3}(?: \d{3})+|\d+)(?:[.,]\d+)?|[.,]\d+)(?:/\d+)?(?![\d])(?:\\?%)?"
)
_WORD = re.compile(r"[A-Za-z]{2,}")
_CHOICE = re.compile(r"(?:^|[\s(*:])\(?([A-J])\)(?![A-Za-z])|\b(?:option|choice)\s+\(?([A-J])\b|\*\*\(?([A-J])\)?\*\*")


def _last(matches: Iterator[re.Match[str]]) -> re.Match[str] | None:
    """The last of ``matches`` (``None`` when there is none), without keeping the others."""
    kept = deque(matches, maxlen=1)
    return kept[0] if kept else None


def _answer_region(text: str) -> str | None:
    """The text after the last ``</think>``; ``None`` when a ``<think>`` is left open."""
    close = text.rfind("</think>")
    if close >= 0:
        return text[close + len("</think>") :]
    if "<think>" in text:
        return None
    return text


def _box_content(text: str, macro: re.Match[str]) -> tuple[str | None, int]:
    """Content of the box whose macro is ``macro``, and the index after it (``None`` if unclosed)."""
    i = macro.end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        end = group_end(text, i)
        if end is None:
            return None, len(text)
        return text[i + 1 : end - 1].strip(), end
    m = re.match(r"[^\s${}\\]+", text[i:]) if i > macro.end() else None  # "\boxed 5"
    return (m.group(0) if m else ""), i + (m.end() if m else 0)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``/``\\fbox{...}`` in ``text``, with boxes that directly precede
    it in a run (``\\boxed{2}, \\boxed{3}``) joined by ``", "``; ``None`` if absent, empty or unclosed.

    Linear in ``len(text)``: only the last box is matched against the rest of the text, earlier ones only
    within the gap before the box that follows them.
    """
    macros = list(_BOXED.finditer(text))
    if not macros:
        return None
    content, _ = _box_content(text, macros[-1])
    if content is None:
        return None  # a truncated last box: an earlier one is not the final answer
    contents = [content]
    following = macros[-1].start()
    for macro in reversed(macros[:-1]):
        window = text[macro.start() : following]
        if len(window) > _MAX_JOINED_BOX_CHARS:
            break
        local = _BOXED.match(window)
        previous, end = _box_content(window, local) if local else (None, 0)
        gap = window[end:]
        if previous is None or len(gap) > _MAX_JOINER_CHARS or _BOX_JOINER.fullmatch(gap) is None:
            break
        contents.append(previous)
        following = macro.start()
    contents = [c for c in reversed(contents) if c]
    return ", ".join(contents) if contents else None


def _all_boxes(text: str) -> tuple[list[str], list[str], int] | None:
    """Contents of the outermost boxes of ``text``, the texts between two of them, and the number of
    characters outside all boxes; ``None`` if a box is not closed. Linear: a box inside another is
    skipped with it."""
    contents: list[str] = []
    gaps: list[str] = []
    covered = end = 0
    for macro in _BOXED.finditer(text):
        if macro.start() < end:
            continue
        if contents:
            gaps.append(text[end : macro.start()])
        content, end = _box_content(text, macro)
        if content is None:
            return None
        contents.append(content)
        covered += end - macro.start()
    return contents, gaps, len(text) - covered


def _gold_boxed(text: str) -> str | None:
    """The boxed answer of a gold: all its boxes when little else is written (a multi-part answer, see
    :data:`MAX_GOLD_CAPTION_CHARS`), else the last one (with the boxes right before it, as in a response)."""
    boxes = _all_boxes(text)
    if boxes is not None and len(boxes[0]) > 1:
        contents, gaps, outside = boxes
        words = (len(_WORD.findall(re.sub(r"\\[A-Za-z]+", " ", gap))) for gap in gaps)
        if outside <= MAX_GOLD_CAPTION_CHARS and max(words) <= MAX_GOLD_GAP_WORDS:
            return ", ".join(c for c in contents if c) or None
    return last_boxed(text)


def _final_paragraph(tail: str) -> str:
    parts = [p for p in re.split(r"\n\s*\n", tail) if p.strip()]
    return parts[-1] if parts else ""


def _is_prose(text: str) -> bool:
    """Three or more words outside formulas and commands, or any word in another script: a sentence, not
    an answer."""
    bare = re.sub(r"\\[A-Za-z]+", " ", _FORMULA.sub(" ", text))
    return len(_WORD.findall(bare)) >= 3 or _FOREIGN_LETTER.search(bare) is not None


def _is_bare_answer(text: str) -> bool:
    """Whether a whole response is just an answer: short, one line, and no word of three or more letters
    outside ``\\text{}`` and commands (``\\frac{10}{9}``, ``x = 3``, ``2 or 3``), or one word (``Monday``)."""
    s = text.strip()
    if not s or len(s) > 150 or "\n" in s or "$" in s:
        return False
    if re.fullmatch(r"[^\W\d_][^\W\d_\-]{0,30}", s):  # one word: "Monday", "no", "Liège"
        return True
    bare = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\(?:text|begin|end)\{[^{}]*\}", " ", s))
    if _FOREIGN_LETTER.search(bare):
        return False
    return not any(len(w) >= 3 and w.casefold() not in ("and", "sqrt", "frac") for w in _WORD.findall(bare))


def _formula_text(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g is not None).strip()


def _is_computation(formula: str) -> bool:
    """``2 + 3 = 5``: equal sides without letters, whose last side is the result."""
    if "=" not in formula or re.search(r"\\(?:begin|le|ge|ne)|[<>]", formula):
        return False
    return re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", formula)) is None


def _computation_result(formula: str) -> str:
    """The result of a computation (``2 + 3 = 5`` gives ``5``); anything else unchanged."""
    return formula.rsplit("=", 1)[1].strip() if _is_computation(formula) else formula


def _without_parentheses(text: str) -> str:
    """``(\\frac{2}{5})`` as ``\\frac{2}{5}``; a tuple such as ``(1, 2)`` keeps its parentheses."""
    if len(text) > 2 and text[0] == "(" and text[-1] == ")" and "," not in text and braces_balanced(text):
        inner = text[1:-1]
        if inner.count("(") == inner.count(")"):
            return inner.strip()
    return text


def _last_cjk_item(text: str, number: re.Pattern[str]) -> str | None:
    """The answer in Chinese, Japanese or Korean prose: the last run of math between the runs of those
    scripts that holds a digit (its result if it is a computation)."""
    chunk = next((c for c in reversed(_CJK_RUN.split(text)) if re.search(r"\d", c)), None)
    if chunk is None:
        return None
    if _FORMULA.search(chunk) or len(_WORD.findall(chunk)) >= 3:  # a formula or English words: as usual
        return _last_item(chunk, number)
    answer = _without_parentheses(_computation_result(chunk.strip().strip("*_").lstrip("=").strip()))
    return answer if answer and len(answer) <= MAX_FALLBACK_CHARS else None


def _last_item(text: str, number: re.Pattern[str] = _NUMBER) -> str | None:
    """The last formula or number of ``text``, whichever ends later (in CJK prose, see :func:`_last_cjk_item`)."""
    if _CJK_RUN.search(text):
        return _last_cjk_item(text, number)
    formula, last_number = _last(_FORMULA.finditer(text)), _last(number.finditer(text))
    if last_number is not None and (formula is None or last_number.start() >= formula.end()):
        return last_number.group(0)
    if formula is None:
        return None
    answer = _computation_result(_formula_text(formula))
    return answer if answer and len(answer) <= MAX_FALLBACK_CHARS else None


def _statement_answer(tail: str, number: re.Pattern[str] = _NUMBER) -> str | None:
    """``X`` from the last "answer is X" / ``Answer: X`` statement in ``tail``."""
    last = _last(_STATEMENT.finditer(tail))
    if last is None:
        return None
    rest = tail[last.end() :]
    formula = _LEADING_FORMULA.match(rest)
    if formula:
        answer = _formula_text(formula)
    else:
        line = rest.lstrip().split("\n", 1)[0] if rest.strip() else ""
        if not line.strip() and "\n" in rest:  # "**Final Answer**\n\n42": the answer is on the next line
            line = next((x for x in rest.split("\n") if x.strip()), "")
        answer = re.split(r"(?<![0-9])\.(?:\s|$)|\.\s*$", line, maxsplit=1)[0]
        answer = _CJK_SENTENCE_END.split(answer, maxsplit=1)[0]
        answer = re.split(r"\s+(?:I hope|because|since|as)\b", answer, maxsplit=1)[0]
        if _is_prose(answer):  # "The volume of the box is 120": its last formula or number
            answer = _last_item(answer, number) or answer
    answer = answer.strip().strip("*_").strip().rstrip(".").strip()
    inner = _without_parentheses(answer)
    if inner != answer and _is_computation(inner):  # "la réponse est (35 + 70 = 105)"
        answer = _computation_result(inner)
    if not answer or len(answer) > MAX_FALLBACK_CHARS:
        return None
    return answer


def _last_choice(paragraph: str) -> str | None:
    last = _last(_CHOICE.finditer(paragraph))
    return next((g for g in last.groups() if g), None) if last else None


def extract_final_answer(
    text: Any, *, require_boxed: bool = False, choice: bool = False, decimal_comma: bool = False
) -> str | None:
    """The final answer of a response, or ``None`` when it gives none (see the module docstring).

    Args:
        text: the response text (anything else gives ``None``).
        require_boxed: only a ``\\boxed{}``/``\\fbox{}`` answer counts.
        choice: the gold answer is a multiple-choice letter, so a lone ``(C)`` in the final paragraph is
            also an answer (after answer statements, before formulas and numbers).
        decimal_comma: a number in prose may have a decimal comma (``2,74``), so it is read whole.
    """
    number = _NUMBER_DECIMAL_COMMA if decimal_comma else _NUMBER
    if not isinstance(text, str):
        return None
    region = _answer_region(text)
    if region is None:
        return None
    last_box = _last(_BOXED.finditer(region))
    if last_box is not None:
        boxed = last_boxed(region)
        if boxed is None or require_boxed:
            return boxed
        after = region[last_box.end() :]
        if len(after) <= MAX_TAIL_CHARS:
            stated = _statement_answer(after, number)
            if stated is not None and re.search(r"[0-9\\$]", stated):
                return stated  # "... \boxed{255} ... Final Answer: the final answer is $10,455$."
        return boxed
    if require_boxed:
        return None
    tail = region[-MAX_TAIL_CHARS:]
    answer = _statement_answer(tail, number)
    if answer is not None:
        return answer
    paragraph = _final_paragraph(tail)
    if choice:
        letter = _last_choice(paragraph)
        if letter is not None:
            return letter
    if _is_bare_answer(region):
        return region.strip().rstrip(".").strip()
    return _last_item(paragraph, number)


def extract_gold(gold: Any) -> str | None:
    """The answer text of a gold reference, or ``None`` if there is nothing usable.

    Accepts numbers, a bare answer (LaTeX with or without ``$``, or plain text), a worked solution
    containing ``\\boxed{...}`` (the last box is used), boxes with little text around them (a multi-part
    answer, ``\\boxed{1} papers and \\boxed{2} bins``: all boxes are used), a GSM8K-style ``... #### 42``,
    or a worked solution without either (read like a response). Empty text and unbalanced braces give
    ``None``.
    """
    if gold is None or isinstance(gold, bool):
        return None
    if isinstance(gold, (list, tuple)) and len(gold) == 1:  # datasets that store answers as one-item lists
        gold = gold[0]
    text = str(gold).strip()
    if _BOXED.search(text):
        boxed = _gold_boxed(text)
        if boxed is None:
            return None
        text = boxed
    elif "####" in text:
        text = text.rsplit("####", 1)[1]
    elif len(text) > 80 and _is_prose(text[-MAX_TAIL_CHARS:]):  # a worked solution without a box
        text = extract_final_answer(text) or text
    text = text.strip()
    if not clean(text) or not braces_balanced(text):
        return None
    return text
