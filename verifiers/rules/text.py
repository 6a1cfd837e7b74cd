"""Text units the rules count: sentences, words and word tokens, as IFEval counts them.

* sentences: NLTK's Punkt algorithm with the shipped English parameters of :mod:`verifiers.rules.english`
  (no data download). Like the trained model, it does not split at line breaks alone, treats ``1.``
  before a capitalised word as a sentence of its own, keeps ``Mr. Smith`` together and splits after
  ``?``/``!`` and after a period that follows an ordinary word;
* words (``length_constraints:number_words``): runs of ``\\w`` characters;
* word tokens (``change_case:capital_word_frequency``): sentences, then NLTK's Treebank-style word
  tokenizer (``DON'T`` is ``DO`` + ``N'T``; ``AT&T`` is three tokens), as ``nltk.word_tokenize``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["count_sentences", "count_words", "split_sentences", "word_tokens"]

_WORD = re.compile(r"\w+")


@functools.cache
def _sentence_splitter():
    from nltk.tokenize.punkt import (
        _ORTHO_BEG_UC,
        _ORTHO_MID_LC,
        PunktParameters,
        PunktSentenceTokenizer,
    )

    from verifiers.rules.english import ABBREVIATIONS, COMMON_WORDS, SENTENCE_STARTERS

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    params.sent_starters = set(SENTENCE_STARTERS)
    for word in COMMON_WORDS:  # seen capitalised at a sentence start and in lower case inside one
        params.ortho_context[word] = _ORTHO_BEG_UC | _ORTHO_MID_LC
    return PunktSentenceTokenizer(params)


@functools.cache
def _word_tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (Punkt with the shipped English parameters)."""
    return list(_sentence_splitter().tokenize(text))


def count_sentences(text: str) -> int:
    """Number of sentences, as ``length_constraints:number_sentences`` counts them."""
    return len(split_sentences(text))


def count_words(text: str) -> int:
    """Number of words: runs of letters, digits and underscores."""
    return len(_WORD.findall(text))


def word_tokens(text: str) -> list[str]:
    """Word tokens as ``nltk.word_tokenize`` gives them (sentences first, then Treebank rules)."""
    tokenizer = _word_tokenizer()
    return [token for sentence in split_sentences(text) for token in tokenizer.tokenize(sentence)]
