"""The 25 IFEval instruction types: their keyword arguments and what "followed" means.

Each instruction is a checking function over the response text plus a pydantic model of its kwargs,
named and shaped as in IFEval's input data (``{"num_words": 300, "relation": "less than"}``). The
semantics are IFEval's; where the reference implementation would pick a random value for a missing or
malformed kwarg (an unknown ``relation``, a negative count), these reject it with a
:class:`~verifiers.errors.VerifierError` naming the instruction, the kwarg and the fix.

``keywords:letter_frequency`` counts any single character: IFEval's own data asks for at least four
``#`` (hashtags) and at least six ``!``, for which the reference draws a random letter instead, so its
verdict on those two prompts changes from run to run; here the character asked for is counted.

Deliberate differences, all on inputs the IFEval data does not contain: keywords, section splitters
and postscript markers are matched literally (the reference compiles them as regular expressions);
sentences are split with shipped Punkt parameters (:mod:`verifiers.rules.text`); language detection is
seeded (:mod:`verifiers.rules.language`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from verifiers.errors import VerifierError
from verifiers.rules.language import detect_language
from verifiers.rules.text import count_sentences, count_words, word_tokens

__all__ = ["INSTRUCTIONS", "Instruction", "prepare_kwargs"]

Relation = Literal["less than", "at least"]
"""IFEval's two comparisons: ``less than`` is ``<``, ``at least`` is ``>=``."""


def _compare(value: int, relation: str, threshold: int) -> bool:
    return value < threshold if relation == "less than" else value >= threshold


class _Kwargs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NoKwargs(_Kwargs):
    pass


@dataclass(frozen=True)
class Instruction:
    """One instruction type: its id, kwargs model, checking function and a one-line description."""

    id: str
    kwargs: type[_Kwargs]
    check: Callable[[str, Any], bool]
    description: str


INSTRUCTIONS: dict[str, Instruction] = {}
"""Every supported instruction id (IFEval's 25) → :class:`Instruction`."""


def _instruction(instruction_id: str, kwargs: type[_Kwargs] = _NoKwargs, description: str = ""):
    def register(check: Callable[[str, Any], bool]) -> Callable[[str, Any], bool]:
        INSTRUCTIONS[instruction_id] = Instruction(instruction_id, kwargs, check, description)
        return check

    return register


def prepare_kwargs(instruction_id: str, kwargs: dict[str, Any] | None) -> _Kwargs:
    """Validate the kwargs of one instruction; ``None`` values (absent in IFEval's data) are dropped.

    Raises:
        VerifierError: unknown instruction id, or a missing, unknown or invalid kwarg; the message names
            the instruction and the kwarg and lists the accepted ones.
    """
    instruction = INSTRUCTIONS.get(instruction_id)
    if instruction is None:
        raise VerifierError(f"unknown instruction id {instruction_id!r}; known ids: {', '.join(sorted(INSTRUCTIONS))}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise VerifierError(f"{instruction_id}: kwargs must be a mapping (or null), got {type(kwargs).__name__}")
    given = {k: v for k, v in (kwargs or {}).items() if v is not None}
    fields = instruction.kwargs.model_fields
    accepted = ", ".join(f"{name} ({_describe(field)})" for name, field in fields.items()) or "none"
    try:
        return instruction.kwargs.model_validate(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "(kwargs)"
        if err["type"] == "extra_forbidden":
            problem = "is not a kwarg of this instruction"
        elif err["type"] == "missing":
            problem = "is required"
        else:
            problem = f"is invalid ({err['msg'].removeprefix('Value error, ')}; got {err.get('input')!r})"
        raise VerifierError(f"{instruction_id}: kwarg {name!r} {problem}; accepted kwargs: {accepted}") from None


def _describe(field) -> str:
    return field.description or str(field.annotation)


# --- keywords -------------------------------------------------------------------------------------


class _Keywords(_Kwargs):
    keywords: list[str] = Field(min_length=1, description="words that must all appear (case-insensitive)")


@_instruction("keywords:existence", _Keywords, "every keyword appears, as a substring, ignoring case")
def _keywords_existence(response: str, kw: _Keywords) -> bool:
    return all(re.search(re.escape(k), response, flags=re.IGNORECASE) for k in kw.keywords)


class _KeywordFrequency(_Kwargs):
    keyword: str = Field(min_length=1, description="the keyword, counted as a case-insensitive substring")
    frequency: int = Field(ge=0, description="threshold count")
    relation: Relation = Field(description="'less than' or 'at least'")


@_instruction("keywords:frequency", _KeywordFrequency, "keyword occurrences compared with a threshold")
def _keywords_frequency(response: str, kw: _KeywordFrequency) -> bool:
    found = len(re.findall(re.escape(kw.keyword.strip()), response, flags=re.IGNORECASE))
    return _compare(found, kw.relation, kw.frequency)


class _ForbiddenWords(_Kwargs):
    forbidden_words: list[str] = Field(description="whole words that must not appear (case-insensitive)")


@_instruction("keywords:forbidden_words", _ForbiddenWords, "no forbidden word appears as a whole word")
def _forbidden_words(response: str, kw: _ForbiddenWords) -> bool:
    return not any(
        re.search(r"\b" + re.escape(word) + r"\b", response, flags=re.IGNORECASE) for word in set(kw.forbidden_words)
    )


class _LetterFrequency(_Kwargs):
    letter: str = Field(description="one character: a letter (case-insensitive) or a symbol such as '#' or '!'")
    let_frequency: int = Field(ge=0, description="threshold count")
    let_relation: Relation = Field(description="'less than' or 'at least'")

    @field_validator("letter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        letter = value.strip().lower()
        if len(letter) != 1:
            raise ValueError("must be a single character such as 'e' or '#'")
        return letter


@_instruction("keywords:letter_frequency", _LetterFrequency, "occurrences of a letter compared with a threshold")
def _letter_frequency(response: str, kw: _LetterFrequency) -> bool:
    return _compare(Counter(response.lower())[kw.letter], kw.let_relation, kw.let_frequency)


# --- language and case ----------------------------------------------------------------------------

LANGUAGES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi", "fr": "French",
    "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian", "bn": "Bengali", "uk": "Ukrainian",
    "th": "Thai", "ur": "Urdu", "ta": "Tamil", "te": "Telugu", "bg": "Bulgarian", "ko": "Korean",
    "pl": "Polish", "he": "Hebrew", "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili",
    "kn": "Kannada", "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
}
"""IFEval's response languages (ISO 639-1 code → name)."""


class _Language(_Kwargs):
    language: str = Field(description="ISO 639-1 code, e.g. 'fr'")

    @field_validator("language")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"use one of IFEval's language codes: {', '.join(LANGUAGES)}")
        return value


def _is_language(text: str, code: str) -> bool:
    detected = detect_language(text)
    return detected is None or detected == code  # nothing to judge counts as followed (IFEval)


@_instruction("language:response_language", _Language, "the whole response is in the given language")
def _response_language(response: str, kw: _Language) -> bool:
    return _is_language(response, kw.language)


@_instruction("change_case:english_capital", description="English and entirely upper case")
def _english_capital(response: str, kw: _NoKwargs) -> bool:
    return response.isupper() and _is_language(response, "en")


@_instruction("change_case:english_lowercase", description="English and entirely lower case")
def _english_lowercase(response: str, kw: _NoKwargs) -> bool:
    return response.islower() and _is_language(response, "en")


class _CapitalFrequency(_Kwargs):
    capital_frequency: int = Field(ge=0, description="threshold count of all-capital words")
    capital_relation: Relation = Field(description="'less than' or 'at least'")


@_instruction("change_case:capital_word_frequency", _CapitalFrequency, "all-capital words compared with a threshold")
def _capital_word_frequency(response: str, kw: _CapitalFrequency) -> bool:
    capitals = sum(token.isupper() for token in word_tokens(response))
    return _compare(capitals, kw.capital_relation, kw.capital_frequency)


# --- length ---------------------------------------------------------------------------------------


class _Sentences(_Kwargs):
    num_sentences: int = Field(ge=0, description="threshold count of sentences")
    relation: Relation = Field(description="'less than' or 'at least'")


@_instruction("length_constraints:number_sentences", _Sentences, "sentence count compared with a threshold")
def _number_sentences(response: str, kw: _Sentences) -> bool:
    return _compare(count_sentences(response), kw.relation, kw.num_sentences)


class _Words(_Kwargs):
    num_words: int = Field(ge=0, description="threshold count of words")
    relation: Relation = Field(description="'less than' or 'at least'")


@_instruction("length_constraints:number_words", _Words, "word count compared with a threshold")
def _number_words(response: str, kw: _Words) -> bool:
    return _compare(count_words(response), kw.relation, kw.num_words)


class _Paragraphs(_Kwargs):
    num_paragraphs: int = Field(ge=0, description="exact number of paragraphs separated by ***")


@_instruction("length_constraints:number_paragraphs", _Paragraphs, "exactly N paragraphs separated by ***")
def _number_paragraphs(response: str, kw: _Paragraphs) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", response)
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index in (0, len(parts) - 1):
                count -= 1  # a divider at the very start or end does not open a paragraph
            else:
                return False  # two dividers in a row: an empty paragraph
    return count == kw.num_paragraphs


class _NthParagraph(_Kwargs):
    num_paragraphs: int = Field(ge=1, description="exact number of paragraphs separated by blank lines")
    nth_paragraph: int = Field(ge=1, description="which paragraph (1-based) must start with first_word")
    first_word: str = Field(min_length=1, description="the required first word (case-insensitive)")

    @model_validator(mode="after")
    def _within(self) -> _NthParagraph:
        if self.nth_paragraph > self.num_paragraphs:
            raise ValueError("nth_paragraph must not exceed num_paragraphs")
        return self


@_instruction(
    "length_constraints:nth_paragraph_first_word", _NthParagraph,
    "exactly N paragraphs separated by blank lines, paragraph n starting with a given word",
)
def _nth_paragraph_first_word(response: str, kw: _NthParagraph) -> bool:
    parts = response.split("\n\n")
    count = sum(1 for part in parts if part.strip())
    # As in IFEval, n indexes the raw split (empty parts included) once n is within the non-empty count.
    if kw.nth_paragraph > count:
        return False
    paragraph = parts[kw.nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for char in word:
        if char in ".,?!'\"":
            break
        first += char.lower()
    return count == kw.num_paragraphs and first == kw.first_word.lower()


# --- detectable content and format ----------------------------------------------------------------


class _Placeholders(_Kwargs):
    num_placeholders: int = Field(ge=0, description="minimum number of [placeholders]")


@_instruction("detectable_content:number_placeholders", _Placeholders, "at least N [bracketed] placeholders")
def _number_placeholders(response: str, kw: _Placeholders) -> bool:
    return len(re.findall(r"\[.*?\]", response)) >= kw.num_placeholders


class _Postscript(_Kwargs):
    postscript_marker: str = Field(min_length=1, description="marker such as 'P.S.' or 'P.P.S'")


@_instruction("detectable_content:postscript", _Postscript, "a postscript starting with the marker")
def _postscript(response: str, kw: _Postscript) -> bool:
    marker = kw.postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


class _Bullets(_Kwargs):
    num_bullets: int = Field(ge=0, description="exact number of markdown bullet points (* or -)")


@_instruction("detectable_format:number_bullet_lists", _Bullets, "exactly N markdown bullet points")
def _number_bullet_lists(response: str, kw: _Bullets) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == kw.num_bullets


_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@_instruction("detectable_format:constrained_response", description="contains one of 'My answer is yes./no./maybe.'")
def _constrained_response(response: str, kw: _NoKwargs) -> bool:
    text = response.strip()
    return any(option in text for option in _CONSTRAINED_OPTIONS)


class _Highlights(_Kwargs):
    num_highlights: int = Field(ge=0, description="minimum number of *highlighted* sections")


@_instruction("detectable_format:number_highlighted_sections", _Highlights, "at least N *highlighted* sections")
def _number_highlighted_sections(response: str, kw: _Highlights) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(single) + len(double) >= kw.num_highlights


class _Sections(_Kwargs):
    section_spliter: str = Field(min_length=1, description="section keyword, e.g. 'Section' (IFEval's spelling)")
    num_sections: int = Field(ge=0, description="minimum number of sections")


@_instruction("detectable_format:multiple_sections", _Sections, "at least N sections marked '<splitter> <number>'")
def _multiple_sections(response: str, kw: _Sections) -> bool:
    pattern = r"\s?" + re.escape(kw.section_spliter.strip()) + r"\s?\d+\s?"
    return len(re.split(pattern, response)) - 1 >= kw.num_sections


@_instruction("detectable_format:json_format", description="the whole response is JSON (markdown fences allowed)")
def _json_format(response: str, kw: _NoKwargs) -> bool:
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@_instruction("detectable_format:title", description="a non-empty title in double angular brackets: <<title>>")
def _title(response: str, kw: _NoKwargs) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


# --- combinations, start/end, punctuation ---------------------------------------------------------


@_instruction("combination:two_responses", description="two different responses separated by ******")
def _two_responses(response: str, kw: _NoKwargs) -> bool:
    parts = response.split("******")
    kept = []
    for index, part in enumerate(parts):
        if part.strip():
            kept.append(part)
        elif index not in (0, len(parts) - 1):
            return False
    return len(kept) == 2 and kept[0].strip() != kept[1].strip()


class _RepeatPrompt(_Kwargs):
    prompt_to_repeat: str = Field(min_length=1, description="the request to repeat word for word first")


@_instruction("combination:repeat_prompt", _RepeatPrompt, "starts by repeating the request (case-insensitive)")
def _repeat_prompt(response: str, kw: _RepeatPrompt) -> bool:
    return response.strip().lower().startswith(kw.prompt_to_repeat.strip().lower())


class _EndPhrase(_Kwargs):
    end_phrase: str = Field(min_length=1, description="the exact closing phrase (case-insensitive)")


@_instruction("startend:end_checker", _EndPhrase, "ends with the phrase (outer double quotes ignored)")
def _end_checker(response: str, kw: _EndPhrase) -> bool:
    return response.strip().strip('"').lower().endswith(kw.end_phrase.strip().lower())


@_instruction("startend:quotation", description="the whole response is wrapped in double quotation marks")
def _quotation(response: str, kw: _NoKwargs) -> bool:
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


@_instruction("punctuation:no_comma", description="no comma anywhere")
def _no_comma(response: str, kw: _NoKwargs) -> bool:
    return "," not in response
