"""English parameters for the Punkt sentence splitter, shipped with the package.

IFEval counts sentences with NLTK's Punkt tokenizer and its trained English model, which cannot be
downloaded here (and whose old pickle form current NLTK refuses). Punkt's *algorithm* is in the
``nltk`` package; only its learned parameters are missing. These lists stand in for them:

* :data:`ABBREVIATIONS`: tokens whose final period does not end a sentence (lowercase, without the
  final period, inner periods kept: ``u.s`` for ``U.S.``);
* :data:`SENTENCE_STARTERS`: capitalised words that start a new sentence after an abbreviation or an
  ellipsis;
* :data:`COMMON_WORDS`: words known to occur in lower case; Punkt's orthographic heuristic uses them to
  decide that a capitalised common word after an abbreviation, initial or ellipsis begins a sentence,
  while a capitalised unknown word (a name) does not.

A period after any other word always ends a sentence, as with the trained model.
"""

from __future__ import annotations

ABBREVIATIONS: frozenset[str] = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "mt", "ft", "capt", "col", "gen", "gov", "lt", "sgt", "rev", "hon", "pres", "sen", "rep", "fr", "inc", "ltd", "co", "corp", "bros", "assn", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues", "wed", "thu", "thurs", "fri", "sat", "sun", "no", "nos", "vol", "vols", "pp", "fig", "figs", "ch", "sec", "eq", "approx", "est", "ca", "cf", "vs", "etc", "al", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k", "u.n", "u.s.a", "d.c", "n.y", "l.a", "b.c", "a.d", "ph.d", "m.d", "b.a", "m.a"]
)

SENTENCE_STARTERS: frozenset[str] = frozenset(
    ["the", "a", "an", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we", "i", "you", "there", "here", "but", "and", "or", "so", "yet", "however", "in", "on", "at", "for", "if", "when", "while", "after", "before", "as", "since", "although", "though", "because", "then", "thus", "therefore", "also", "still", "my", "our", "your", "his", "her", "their", "what", "why", "how", "where", "who", "which"]
)

COMMON_WORDS: frozenset[str] = SENTENCE_STARTERS | frozenset(
    ["about", "above", "across", "again", "against", "all", "almost", "along", "already", "always", "am", "among", "another", "any", "are", "around", "away", "back", "be", "became", "become", "been", "being", "below", "best", "better", "between", "both", "by", "came", "can", "could", "day", "did", "do", "does", "done", "down", "each", "early", "either", "else", "even", "ever", "every", "few", "first", "from", "get", "give", "go", "going", "good", "got", "great", "had", "has", "have", "high", "how", "into", "is", "just", "know", "last", "least", "less", "let", "like", "little", "long", "made", "make", "many", "may", "me", "more", "most", "much", "must", "never", "new", "next", "no", "none", "nor", "not", "now", "of", "off", "old", "once", "one", "only", "other", "out", "over", "own", "part", "people", "per", "place", "put", "rather", "really", "right", "said", "same", "say", "see", "seem", "several", "should", "show", "small", "some", "something", "soon", "such", "take", "than", "them", "through", "time", "to", "today", "too", "two", "under", "until", "up", "upon", "us", "use", "very", "was", "way", "well", "were", "whole", "will", "with", "within", "without", "would", "year", "yes", "let's", "it's", "i'm", "i'll", "i'd", "i've", "we're", "we'll", "you're", "you'll", "don't", "that's", "there's", "here's", "what's", "please", "thank", "thanks", "note", "remember", "enjoy", "hope", "stay", "try", "consider", "imagine", "finally", "second", "third", "overall", "tomorrow", "yesterday", "meanwhile", "additionally", "furthermore", "moreover", "instead", "otherwise", "unfortunately", "fortunately", "indeed", "perhaps", "maybe", "sometimes", "often", "oh", "hello", "dear", "sincerely", "regards"]
)
