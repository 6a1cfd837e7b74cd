"""Build tests/data/ifeval_cases.jsonl: labelled cases for the IFEval rule verifiers.

Every label is written here by hand from IFEval's published semantics (the instruction definitions of
google-research/instruction_following_eval), never computed by ``verifiers.rules``. Families of cases
are generated where the label follows from the construction itself (a response built with exactly k
words is "less than N words" iff k < N). Run ``python tests/data/build_ifeval_cases.py`` to rewrite the
file; the test reads only the JSONL.

Each line: ``response``, ``instruction_id_list``, ``kwargs`` (one mapping or null per id, as in IFEval's
input data), ``strict`` (expected verdicts), optionally ``loose`` (expected loose verdicts) and ``note``.
"""

from __future__ import annotations

import json
from pathlib import Path

CASES: list[dict] = []


def case(iid: str, kwargs: dict | None, response: str, strict: bool, loose: bool | None = None, note: str = "") -> None:
    entry = {"response": response, "instruction_id_list": [iid], "kwargs": [kwargs], "strict": [strict]}
    if loose is not None:
        entry["loose"] = [loose]
    if note:
        entry["note"] = note
    CASES.append(entry)


def words(k: int) -> str:
    return " ".join(["alpha", "beta", "gamma", "delta", "omega"][i % 5] for i in range(k))


LT, AL = "less than", "at least"

# --- keywords:existence ---------------------------------------------------------------------------
K = "keywords:existence"
case(K, {"keywords": ["banana", "river"]}, "I ate a banana by the river.", True)
case(K, {"keywords": ["banana", "river"]}, "I ate a banana by the lake.", False, note="one keyword missing")
case(K, {"keywords": ["banana"]}, "BANANAS are yellow.", True, note="case-insensitive substring")
case(K, {"keywords": ["art"]}, "The party started.", True, note="substring inside another word counts")
case(K, {"keywords": ["art"]}, "The party began.", True, note="'party' contains 'art'")
case(K, {"keywords": ["moon", "sun", "star"]}, "Sun, moon and a star.", True)
case(K, {"keywords": ["moon", "sun", "star"]}, "Sun and moon.", False)
case(K, {"keywords": ["quantum"]}, "", False, note="empty response never follows")
case(K, {"keywords": ["quantum"]}, "Classical physics only.", False)
case(K, {"keywords": ["new york"]}, "I love New York in June.", True)
case(K, {"keywords": ["new york"]}, "I love New  York in June.", False, note="two spaces: no match")

# --- keywords:frequency ---------------------------------------------------------------------------
K = "keywords:frequency"
for n in range(6):
    text = " ".join(["the cat sat"] * n) or "nothing here"
    case(K, {"keyword": "cat", "frequency": 3, "relation": AL}, text, n >= 3, note=f"{n} occurrences")
    case(K, {"keyword": "cat", "frequency": 3, "relation": LT}, text, n < 3, note=f"{n} occurrences")
case(K, {"keyword": "cat", "frequency": 2, "relation": AL}, "A category of cats.", True, note="substrings count")
case(K, {"keyword": "Cat", "frequency": 2, "relation": AL}, "CAT and cat.", True, note="case-insensitive")
case(K, {"keyword": " dog ", "frequency": 1, "relation": AL}, "hotdog", True, note="keyword is stripped")

# --- keywords:forbidden_words ---------------------------------------------------------------------
K = "keywords:forbidden_words"
case(K, {"forbidden_words": ["bad", "evil"]}, "Everything is fine.", True)
case(K, {"forbidden_words": ["bad", "evil"]}, "That was bad.", False)
case(K, {"forbidden_words": ["bad", "evil"]}, "That was BAD.", False, note="case-insensitive")
case(K, {"forbidden_words": ["bad"]}, "The badge is shiny.", True, note="whole words only")
case(K, {"forbidden_words": ["bad"]}, "Not-bad at all.", False, note="hyphen is a word boundary")
case(K, {"forbidden_words": ["evil"]}, "Devilish grin.", True)
case(K, {"forbidden_words": ["red", "blue"]}, "Green and blue.", False)
case(K, {"forbidden_words": []}, "Anything goes.", True, note="no forbidden words")
case(K, {"forbidden_words": ["ice cream"]}, "I like ice cream.", False)
case(K, {"forbidden_words": ["ice cream"]}, "I like ice-cream.", True)

# --- keywords:letter_frequency --------------------------------------------------------------------
K = "keywords:letter_frequency"
for n in (0, 2, 4, 5, 6, 9):
    text = ("z" * n + " ok") if n else "ok"
    case(K, {"letter": "z", "let_frequency": 5, "let_relation": AL}, text, n >= 5, note=f"{n} z")
    case(K, {"letter": "z", "let_frequency": 5, "let_relation": LT}, text, n < 5, note=f"{n} z")
case(K, {"letter": "Z", "let_frequency": 2, "let_relation": AL}, "Zz", True, note="letter and text case-folded")
case(K, {"letter": "e", "let_frequency": 3, "let_relation": LT}, "Excellent", False, note="E,e,e = 3")

# --- language:response_language -------------------------------------------------------------------
K = "language:response_language"
FR = "Bonjour, je suis très heureux de vous rencontrer aujourd'hui. Nous allons parler de la cuisine française."
ES = "Hola, me llamo Juan y vivo en Madrid. Me gusta mucho leer libros y caminar por el parque."
DE = "Guten Tag, ich heiße Anna und wohne in Berlin. Ich lese gern Bücher und gehe oft spazieren."
IT = "Buongiorno, mi chiamo Marco e abito a Roma. Mi piace molto leggere e passeggiare nel parco."
PT = "Olá, meu nome é João e moro em Lisboa. Eu gosto muito de ler livros e caminhar no parque."
RU = "Здравствуйте, меня зовут Иван, и я живу в Москве. Я люблю читать книги и гулять в парке."
JA = "こんにちは、私の名前は田中です。東京に住んでいて、本を読むのが好きです。"
KO = "안녕하세요, 제 이름은 민수입니다. 저는 서울에 살고 책 읽는 것을 좋아합니다."
HI = "नमस्ते, मेरा नाम राहुल है और मैं दिल्ली में रहता हूँ। मुझे किताबें पढ़ना बहुत पसंद है।"
AR = "مرحبا، اسمي أحمد وأعيش في القاهرة. أحب قراءة الكتب والمشي في الحديقة كثيرا."
EN = "Hello, my name is John and I live in London. I really enjoy reading books and walking in the park."
for code, text in [("fr", FR), ("es", ES), ("de", DE), ("it", IT), ("pt", PT), ("ru", RU), ("ja", JA),
                   ("ko", KO), ("hi", HI), ("ar", AR), ("en", EN)]:
    case(K, {"language": code}, text, True, note=f"{code} text")
    case(K, {"language": "fi" if code != "fi" else "en"}, text, False, note=f"{code} text, other language asked")
case(K, {"language": "fr"}, "12345 67890", True, note="nothing to detect counts as followed (IFEval)")

# --- change_case ----------------------------------------------------------------------------------
K = "change_case:english_capital"
case(K, None, "THIS IS A FULLY CAPITALIZED ENGLISH RESPONSE ABOUT THE WEATHER TODAY.", True)
case(K, None, "THIS IS ALMOST fully capitalized english text about the weather.", False)
case(K, None, "Hello there, this is normal English.", False)
case(K, None, "BONJOUR, JE SUIS TRÈS HEUREUX DE VOUS RENCONTRER AUJOURD'HUI À PARIS.", False, note="French")
case(K, None, "I LIKE TO READ BOOKS ABOUT HISTORY AND SCIENCE IN THE EVENING.", True)
case(K, None, "123 456", False, note="no cased letters: isupper() is False")
K = "change_case:english_lowercase"
case(K, None, "this is a fully lowercase english response about the weather today.", True)
case(K, None, "this is a lowercase english response about the weather in London.", False)
case(K, None, "i love reading books and walking in the park every single day.", True)
case(K, None, "bonjour, je suis très heureux de vous rencontrer aujourd'hui à paris.", False, note="French")
case(K, None, "THE WHOLE THING IS SHOUTED IN CAPITALS.", False)
case(K, None, "*hello*\nthis is a lowercase english response about the weather.", True)
K = "change_case:capital_word_frequency"
for text, n in [("I AM VERY HAPPY today", 4), ("Nothing capital here", 0), ("DON'T STOP", 3),
                ("The U.S.A. is big", 1), ("AT&T and IBM", 3), ("well-known WELL-KNOWN", 1),
                ("A B C D E", 5), ("NASA, ESA and JAXA.", 3)]:
    case(K, {"capital_frequency": 3, "capital_relation": AL}, text, n >= 3, note=f"{n} capital words")
    case(K, {"capital_frequency": 3, "capital_relation": LT}, text, n < 3, note=f"{n} capital words")

# --- length_constraints ---------------------------------------------------------------------------
K = "length_constraints:number_words"
for k in (1, 9, 10, 11, 50):
    case(K, {"num_words": 10, "relation": LT}, words(k), k < 10, note=f"{k} words")
    case(K, {"num_words": 10, "relation": AL}, words(k), k >= 10, note=f"{k} words")
case(K, {"num_words": 3, "relation": AL}, "don't stop", True, note="don, t, stop: 3 words")
case(K, {"num_words": 3, "relation": LT}, "e-mail", True, note="2 words")
case(K, {"num_words": 2, "relation": AL}, "3.14", True, note="3 and 14")
case(K, {"num_words": 1, "relation": AL}, "... !!!", False, note="no words")

K = "length_constraints:number_sentences"
for text, n in [("One. Two. Three.", 3), ("Hello world! How are you? I am fine.", 3),
                ("Mr. Smith went to Washington. He was happy.", 2),
                ("This is one sentence\nand this line continues it", 1),
                ("The price is 3.50 dollars. That is cheap.", 2),
                ("Visit example.com today. It is great.", 2),
                ('She said "stop." Then she left.', 2),
                ("Wait... what happened? Nothing.", 2),
                ("Really?! Yes.", 2),
                ("1. First\n2. Second", 3),
                ("Dr. Jones arrived. Mrs. Brown left.", 2),
                ("No ending punctuation here", 1)]:
    case(K, {"num_sentences": 3, "relation": LT}, text, n < 3, note=f"{n} sentences")
    case(K, {"num_sentences": 3, "relation": AL}, text, n >= 3, note=f"{n} sentences")

K = "length_constraints:number_paragraphs"
case(K, {"num_paragraphs": 3}, "First.\n***\nSecond.\n***\nThird.", True)
case(K, {"num_paragraphs": 3}, "First.\n***\nSecond.", False)
case(K, {"num_paragraphs": 2}, "***\nFirst.\n***\nSecond.\n***", True, note="leading and trailing dividers ignored")
case(K, {"num_paragraphs": 2}, "First.\n***\n***\nSecond.", False, note="empty paragraph in the middle")
case(K, {"num_paragraphs": 1}, "Just one paragraph.\n\nStill one.", True, note="blank lines do not split")
case(K, {"num_paragraphs": 3}, "A *** B *** C", True)
case(K, {"num_paragraphs": 2}, "A *** B *** C", False)
case(K, {"num_paragraphs": 4}, "A\n***\nB\n***\nC\n***\nD", True)

K = "length_constraints:nth_paragraph_first_word"
P = "Apples are red.\n\nBananas are yellow.\n\nCherries are dark."
case(K, {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "bananas"}, P, True)
case(K, {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "Bananas"}, P, True, note="first_word is case-folded")
case(K, {"num_paragraphs": 3, "nth_paragraph": 1, "first_word": "bananas"}, P, False, note="wrong paragraph")
case(K, {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "bananas"}, P, False, note="wrong paragraph count")
case(K, {"num_paragraphs": 3, "nth_paragraph": 3, "first_word": "cherries"}, P, True)
case(K, {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "bananas"}, 'Intro.\n\n"Bananas, yes."', True,
     note="leading quote and trailing comma dropped")
case(K, {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "bananas"}, "Intro.\n\nBananasplit is good.", False)
case(K, {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "so"}, "Intro.\n\nSo. Yes.", True)
case(K, {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "apples"}, "Apples\nBananas", True,
     note="single newline does not split")

# --- detectable_content ---------------------------------------------------------------------------
K = "detectable_content:number_placeholders"
case(K, {"num_placeholders": 2}, "Dear [name], see you at [address].", True)
case(K, {"num_placeholders": 2}, "Dear [name], see you soon.", False)
case(K, {"num_placeholders": 1}, "Nothing to fill.", False)
case(K, {"num_placeholders": 3}, "[a] [b] [c] [d]", True)
case(K, {"num_placeholders": 1}, "An empty [] still counts.", True)
case(K, {"num_placeholders": 2}, "[a [b] c]", False, note="non-greedy: '[a [b]' is one match")

K = "detectable_content:postscript"
case(K, {"postscript_marker": "P.S."}, "Main text.\nP.S. Remember the milk.", True)
case(K, {"postscript_marker": "P.S."}, "Main text.\nPS remember the milk.", False)
case(K, {"postscript_marker": "P.S."}, "Main text.\np.s. lower case is fine.", True)
case(K, {"postscript_marker": "P.P.S"}, "Main.\nP.P.S. Another note.", True)
case(K, {"postscript_marker": "P.P.S"}, "Main.\nP.S. Only one.", False)
case(K, {"postscript_marker": "Note:"}, "Main.\nNote: extra.", True, note="custom marker")
case(K, {"postscript_marker": "Note:"}, "Main.\nNo notes.", False)

# --- detectable_format ----------------------------------------------------------------------------
K = "detectable_format:number_bullet_lists"
case(K, {"num_bullets": 3}, "* one\n* two\n* three", True)
case(K, {"num_bullets": 3}, "* one\n* two", False)
case(K, {"num_bullets": 2}, "- one\n- two", True, note="dash bullets")
case(K, {"num_bullets": 2}, "* one\n- two", True, note="mixed bullets")
case(K, {"num_bullets": 1}, "**bold** line\n* one", True, note="'**' does not start a bullet")
case(K, {"num_bullets": 2}, "Intro\n  * indented one\n  * indented two", True)
case(K, {"num_bullets": 0}, "No bullets at all.", True)
case(K, {"num_bullets": 2}, "1. one\n2. two", False, note="numbered lists are not bullets")

K = "detectable_format:constrained_response"
case(K, None, "My answer is yes.", True)
case(K, None, "After thinking: My answer is maybe.", True)
case(K, None, "My answer is yes", False, note="period required")
case(K, None, "my answer is no.", False, note="case-sensitive")
case(K, None, "Yes.", False)

K = "detectable_format:number_highlighted_sections"
case(K, {"num_highlights": 2}, "This is *important* and *urgent*.", True)
case(K, {"num_highlights": 2}, "This is *important* only.", False)
case(K, {"num_highlights": 1}, "This is **bold**.", True)
case(K, {"num_highlights": 1}, "Empty * * does not count.", False)
case(K, {"num_highlights": 1}, "Across *two\nlines* does not count.", False)
case(K, {"num_highlights": 3}, "*a* *b* *c*", True)

K = "detectable_format:multiple_sections"
S = "Section 1\nIntro text.\nSection 2\nMore text.\nSection 3\nEnd."
case(K, {"section_spliter": "Section", "num_sections": 3}, S, True)
case(K, {"section_spliter": "Section", "num_sections": 4}, S, False)
case(K, {"section_spliter": "SECTION", "num_sections": 1}, S, False, note="case-sensitive")
case(K, {"section_spliter": "SECTION", "num_sections": 2}, "SECTION 1 a SECTION 2 b", True)
case(K, {"section_spliter": "Day", "num_sections": 2}, "Day 1: rest. Day 2: walk.", True)
case(K, {"section_spliter": "Section", "num_sections": 1}, "Section one without a number.", False)

K = "detectable_format:json_format"
case(K, None, '{"a": 1, "b": [1, 2]}', True)
case(K, None, '```json\n{"a": 1}\n```', True)
case(K, None, '```\n[1, 2, 3]\n```', True)
case(K, None, 'Here is JSON: {"a": 1}', False)
case(K, None, "{'a': 1}", False, note="single quotes are not JSON")
case(K, None, "42", True, note="a bare number is JSON")

K = "detectable_format:title"
case(K, None, "<<My Poem>>\nRoses are red.", True)
case(K, None, "My Poem\nRoses are red.", False)
case(K, None, "<<   >> empty title", False)
case(K, None, "<<split\ntitle>>", False, note="titles stay on one line")
case(K, None, "Some text then <<A Title>> later.", True)

# --- combination ----------------------------------------------------------------------------------
K = "combination:two_responses"
case(K, None, "First answer.\n******\nSecond answer.", True)
case(K, None, "Same.\n******\nSame.", False, note="must differ")
case(K, None, "Only one answer.", False)
case(K, None, "A\n******\nB\n******\nC", False, note="three responses")
case(K, None, "******\nA\n******\nB", True, note="a leading separator is ignored")
case(K, None, "A\n******\n******\nB", False, note="empty middle response")

K = "combination:repeat_prompt"
case(K, {"prompt_to_repeat": "Write a poem about cats."}, "Write a poem about cats. Cats are soft.", True)
case(K, {"prompt_to_repeat": "Write a poem about cats."}, "write a poem about cats. Meow.", True, note="case-insensitive")
case(K, {"prompt_to_repeat": "Write a poem about cats."}, "Sure! Write a poem about cats. Meow.", False)
case(K, {"prompt_to_repeat": "Write a poem about cats."}, "Write a poem about dogs. Woof.", False)
case(K, {"prompt_to_repeat": "Write a poem about cats."}, "\n  Write a poem about cats.\nMeow.", True)

# --- startend -------------------------------------------------------------------------------------
K = "startend:end_checker"
case(K, {"end_phrase": "Any other questions?"}, "Here is the answer. Any other questions?", True)
case(K, {"end_phrase": "Any other questions?"}, "Here is the answer. Any other questions? Bye.", False)
case(K, {"end_phrase": "Any other questions?"}, '"Here it is. Any other questions?"', True, note="outer quotes ignored")
case(K, {"end_phrase": "Any other questions?"}, "Here. any other QUESTIONS?   \n", True, note="case and trailing space")
case(K, {"end_phrase": "Peace."}, "Goodbye.", False)

K = "startend:quotation"
case(K, None, '"The whole answer is quoted."', True)
case(K, None, 'The answer is "partly" quoted.', False)
case(K, None, '  "Padded but quoted."  \n', True)
case(K, None, '"', False, note="a lone quote is too short")
case(K, None, "'Single quotes'", False)

# --- punctuation ----------------------------------------------------------------------------------
K = "punctuation:no_comma"
case(K, None, "No commas in this sentence.", True)
case(K, None, "Well, there is one.", False)
case(K, None, "Numbers like 1,000 count too.", False)
case(K, None, "Semicolons; colons: dashes - fine.", True)

# --- loose mode -----------------------------------------------------------------------------------
case("startend:quotation", None, 'Sure, here it is:\n"Quoted answer."', False, loose=True,
     note="loose drops the first line")
case("startend:end_checker", {"end_phrase": "The end."}, "Story...\nThe end.\nHope you liked it!", False, loose=True,
     note="loose drops the last line")
case("detectable_format:json_format", None, 'Here you go:\n{"a": 1}\nEnjoy!', False, loose=True,
     note="loose drops both lines")
case("change_case:english_lowercase", None, "**note**: this is a lowercase english answer about the weather.",
     True, loose=True)
case("punctuation:no_comma", None, "Hello, world.\nGoodbye", False, loose=False,
     note="every loose version still has the comma except one without the first line")
CASES[-1]["loose"] = [True]  # dropping the first line removes the comma
case("keywords:existence", {"keywords": ["zebra"]}, "No animals here.\nNone at all.", False, loose=False)
case("startend:quotation", None, '**"Bold quoted answer."**', False, loose=True, note="loose removes asterisks")

# --- thinking is stripped -------------------------------------------------------------------------
case("punctuation:no_comma", None, "Hmm, let me think, carefully.</think>No commas here.", True,
     note="commas only in the reasoning")
case("punctuation:no_comma", None, "<think>Plan it</think>Well, a comma.", False)
case("startend:quotation", None, 'reasoning</think>\n"Quoted."', True)
case("keywords:existence", {"keywords": ["zebra"]}, "<think>a zebra appears only while thinking", False,
     note="unclosed reasoning: no answer at all")

# --- several instructions per row -----------------------------------------------------------------
CASES.append({
    "response": "<<Cats>>\n*soft* and *warm* cats. Any other questions?",
    "instruction_id_list": ["detectable_format:title", "detectable_format:number_highlighted_sections",
                            "startend:end_checker", "punctuation:no_comma"],
    "kwargs": [{}, {"num_highlights": 2}, {"end_phrase": "Any other questions?"}, None],
    "strict": [True, True, True, True],
})
CASES.append({
    "response": "<<Cats>>\nsoft, warm cats.",
    "instruction_id_list": ["detectable_format:title", "detectable_format:number_highlighted_sections",
                            "punctuation:no_comma"],
    "kwargs": [{"num_highlights": None}, {"num_highlights": 1, "end_phrase": None}, {}],
    "strict": [True, False, False],
    "note": "None values stand for absent kwargs (IFEval's HF dataset shape)",
})

# --- constructed families: the label follows from how the response is built -----------------------
for k in (24, 25, 26):
    for rel in (LT, AL):
        case("length_constraints:number_words", {"num_words": 25, "relation": rel}, words(k),
             k < 25 if rel == LT else k >= 25, note=f"{k} words")
for k in range(1, 7):
    text = " ".join(["The river runs north."] * k)
    for rel in (LT, AL):
        case("length_constraints:number_sentences", {"num_sentences": 4, "relation": rel}, text,
             k < 4 if rel == LT else k >= 4, note=f"{k} sentences")
for k in range(6):
    text = "Fill in: " + " ".join(f"[field{i}]" for i in range(k))
    case("detectable_content:number_placeholders", {"num_placeholders": 2}, text, k >= 2, note=f"{k} placeholders")
for k in range(6):
    text = "Items:\n" + "\n".join(f"* item {i}" for i in range(k))
    case("detectable_format:number_bullet_lists", {"num_bullets": 3}, text, k == 3, note=f"{k} bullets")
for k in range(5):
    text = "Notes: " + " ".join(f"*point {i}*" for i in range(k)) + " done"
    case("detectable_format:number_highlighted_sections", {"num_highlights": 2}, text, k >= 2,
         note=f"{k} highlights")
for k in range(1, 6):
    text = "\n".join(f"SECTION {i}\nBody {i}." for i in range(1, k + 1))
    case("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 3}, text, k >= 3,
         note=f"{k} sections")
for k in range(1, 6):
    text = "\n***\n".join(f"Paragraph {i}." for i in range(k))
    case("length_constraints:number_paragraphs", {"num_paragraphs": 3}, text, k == 3, note=f"{k} paragraphs")
for k in range(6):
    text = " ".join(["WORD"] * k + ["quiet", "words", "here"])
    for rel in (LT, AL):
        case("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": rel}, text,
             k < 2 if rel == LT else k >= 2, note=f"{k} capital words")
for k in range(1, 5):
    text = "\n\n".join(("Start" if i == 1 else "Other") + f" paragraph {i}." for i in range(k))
    case("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2,
         "first_word": "start"}, text, k == 3, note=f"{k} paragraphs, the second starts with 'Start'")

# --- more single cases ----------------------------------------------------------------------------
case("punctuation:no_comma", None, "A list: one; two; three.", True)
case("punctuation:no_comma", None, "Trailing comma,", False)
case("punctuation:no_comma", None, "Full-width comma\uff0c is not ASCII.", True, note="only ',' counts")
case("startend:quotation", None, '"Multi\nline\nquote"', True)
case("startend:quotation", None, '"Unclosed quote', False)
case("detectable_format:title", None, "<<a>>", True)
case("detectable_format:title", None, "< <not a title> >", False)
case("detectable_format:json_format", None, '{"a": 1,}', False, note="trailing comma")
case("detectable_format:json_format", None, '```JSON\n{"nested": {"x": [true, null]}}\n```', True)
case("combination:two_responses", None, "Yes.******No.", True)
case("combination:two_responses", None, "Yes.***No.", False, note="three asterisks do not separate")
case("combination:repeat_prompt", {"prompt_to_repeat": "List three fruits."}, "List three fruits. Apple, pear, fig.",
     True)
case("combination:repeat_prompt", {"prompt_to_repeat": "List three fruits."}, "Apple, pear, fig.", False)
case("keywords:existence", {"keywords": ["alpha", "omega"]}, "From Alpha to Omega.", True)
case("keywords:forbidden_words", {"forbidden_words": ["run"]}, "Running is fun.", True, note="'Running' is another word")
case("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     "Done. Is there anything else I can help with?", True)
case("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     "Is there anything else I can help with? Done.", False)
case("detectable_content:postscript", {"postscript_marker": "P.S."}, "Text.\n\nP. S. spaced marker.", True,
     note="'p. s.' matches the P.S. pattern")
case("detectable_format:constrained_response", None, "I think... My answer is no. Definitely.", True)


def main() -> None:
    out = Path(__file__).with_name("ifeval_cases.jsonl")
    out.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES))
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main()
