"""MMMU: the official answer parsing and scoring, per subject and discipline.

Prompt, MMMU `eval/configs/llava1.5.yaml` with `construct_prompt` (the format of the open-model
results on the leaderboard; read, not copied): multiple choice = the question, a line `(A) option`
per option, a blank line, "Answer with the option's letter from the given choices directly."; open =
the question, then "Answer the question using a single word or phrase.". No task instruction.

Parsing and scoring, MMMU `eval/eval_utils.py` (commit 44b45b5; read, not copied):
- multiple choice (`parse_multi_choice_response`): strip , . ! ? ; : ' from both ends (in that
  order), pad with spaces; candidates are the letters written "(X)"; if none, letters standing alone
  " X "; if none and the answer has more than 5 words, the options whose text it contains
  (case-insensitive). Several candidates: the one that occurs last. None: a random option — here
  drawn from a generator seeded by (seed, item id), so a score can be replayed (the official code
  draws from one global stream seeded 42, whose draws depend on the order items are scored).
  Right iff the letter equals the answer (`eval_multi_choice`).
- open (`parse_open_response`): the response is lower-cased and cut at newlines (the official
  sentence split looks for ". " before an upper-case letter, after lower-casing, so it never cuts);
  from each part the shortest tail after an indicator ("could be ", "so ", "is ", "thus ",
  "therefore ", "final ", "answer ", "result ", and "=" in the last part); those tails and every
  number in them (with thousands commas, scientific, plain) are normalised — a number becomes a float
  rounded to 2 places, a text is lower-cased (a 1-character text becomes " x" and "x ") — and the
  answer is right when a float candidate equals a normalised gold answer or a gold text occurs in a
  text candidate (`eval_open`).
"""

from __future__ import annotations

import random
import re
from typing import Literal

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.sources.benchmarks.common import BenchmarkSet
from scitune.sources.benchmarks.mmmu import MMMUItem

MULTI_CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."
OPEN_SUFFIX = "Answer the question using a single word or phrase."
Policy = Literal["random", "wrong"]


def prompt(item: MMMUItem) -> str:
    if item.question_type == "multiple-choice":
        options = "".join(f"({chr(ord('A') + n)}) {option}\n" for n, option in enumerate(item.options))
        return f"{item.question}\n{options}\n{MULTI_CHOICE_SUFFIX}"
    return f"{item.question}\n{OPEN_SUFFIX}"


def parse_multi_choice(response: str, options: list[str]) -> str | None:
    """The letter the response names, or None where the official code would pick at random."""
    letters = [chr(ord("A") + n) for n in range(len(options))]
    for char in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(char)
    response = f" {response} "
    candidates = [x for x in letters if f"({x})" in response]
    bracketed, by_letter = bool(candidates), True
    if not candidates:
        candidates = [x for x in letters if f" {x} " in response]
    if not candidates and len(response.split()) > 5:
        candidates = [x for x, option in zip(letters, options, strict=True) if option.lower() in response.lower()]
        by_letter = False
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if by_letter:
        positions = [response.rfind(f"({x})" if bracketed else f" {x} ") for x in candidates]
    else:
        positions = [response.lower().rfind(options[letters.index(x)].lower()) for x in candidates]
    return candidates[positions.index(max(positions))]  # numpy argmax: the first of equal maxima


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize_str(text: str) -> list[str | float]:
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def extract_numbers(text: str) -> list[str]:
    with_commas = re.findall(r"-?\b\d{1,3}(?:,\d{3})+\b", text)
    scientific = re.findall(r"-?\d+(?:\.\d+)?[eE][+-]?\d+", text)
    simple = re.findall(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])", text)
    return with_commas + scientific + simple


def _key_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    parts = re.split(r"\.\s(?=[A-Z])|\n", response)
    indicators = ["could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "]
    found = []
    for n, part in enumerate(parts):
        if n == len(parts) - 1:
            indicators.append("=")
        shortest = None
        for indicator in indicators:
            if indicator in part:
                tail = part.split(indicator)[-1].strip()
                # as officially: an empty tail found first is replaced by the next one, whatever its length
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in (":", ",", ".", "!", "?", ";", "'"):
            found.append(shortest)
    return found or [response]


def parse_open(response: str) -> list[str | float]:
    """Every normalised candidate answer of an open response."""
    keys = _key_responses(response)
    candidates = list(keys)
    for key in keys:
        candidates += extract_numbers(key)
    normalized = []
    for candidate in candidates:
        normalized += normalize_str(candidate)
    return list(dict.fromkeys(normalized))  # unique, in a stable order (the official set() is unordered)


def eval_open(gold: str | list[str], candidates: list[str | float]) -> bool:
    answers = []
    for answer in gold if isinstance(gold, list) else [gold]:
        answers += normalize_str(answer)
    for candidate in candidates:
        if isinstance(candidate, str):
            if any(isinstance(a, str) and a in candidate for a in answers):
                return True
        elif candidate in answers:
            return True
    return False


def instruction(item: MMMUItem) -> Instruction:
    return Instruction(
        id=item.id, image=item.image,
        conversations=[suite.human_turn(prompt(item), item.image),
                       {"from": "gpt", "value": item.answer if isinstance(item.answer, str) else item.answer[0]}],
        source={"dataset": "mmmu", "record": item.id, "subject": item.subject,
                "fields": ["question", "options", "image_1", "answer"]})


def score(items: list[MMMUItem], texts: dict[str, str], failed: set[str] = frozenset(),
          extracted: dict[str, str] | None = None, policy: Policy = "random", seed: int = 42) -> dict:
    """Accuracy overall and by subject, discipline, question type and difficulty.

    POLICY for a multiple-choice answer that names no option: `random` (official; a seeded draw per
    item) or `wrong`. A missing prediction is parsed as an empty answer, as officially.
    """
    if extracted is not None:
        raise ValueError("MMMU parses answers with its own rules; it has no extractor model")
    by_id = {i.id: i for i in items}
    ids = list(by_id)
    outcomes, parsed, guesses = {}, {}, 0
    for item in items:
        text = texts.get(item.id, "")
        if item.question_type == "multiple-choice":
            letter = parse_multi_choice(text, item.options)
            if letter is None:
                guesses += 1
                if policy == "random":
                    letters = [chr(ord("A") + n) for n in range(len(item.options))]
                    letter = random.Random(f"{seed}:{item.id}").choice(letters)
            gold = item.answer if isinstance(item.answer, list) else [item.answer]
            outcomes[item.id] = int(letter is not None and letter in gold)
            parsed[item.id] = letter
        else:
            candidates = parse_open(text)
            outcomes[item.id] = int(eval_open(item.answer, candidates))
            parsed[item.id] = candidates
    breakdowns = {
        "subject": suite.breakdown(ids, outcomes, lambda i: [by_id[i].subject]),
        "discipline": suite.breakdown(ids, outcomes, lambda i: [by_id[i].discipline]),
        "question type": suite.breakdown(ids, outcomes, lambda i: [by_id[i].question_type]),
        "difficulty": suite.breakdown(ids, outcomes, lambda i: [by_id[i].topic_difficulty or "unknown"]),
    }
    several = sum(1 for i in items if i.images_referenced > 1)
    return suite.result("mmmu", "accuracy", "MMMU rules (parse_multi_choice_response / parse_open_response)", ids,
                        outcomes, breakdowns, texts, set(failed), random_guesses=guesses, policy=policy, seed=seed,
                        items_with_several_images=several, parsed=parsed)


def benchmark(data: BenchmarkSet[MMMUItem], split: str = "validation", policy: Policy = "random",
              seed: int = 42) -> suite.Benchmark:
    items = list(data.items.values())
    several = sum(1 for i in items if i.images_referenced > 1)
    notes = []
    if several:
        notes.append(f"{several} questions refer to more than one image; the model sees image_1 only, as in "
                     "MMMU's LLaVA-1.5 evaluation")
    return suite.Benchmark(
        name="mmmu", title=f"MMMU {split}", instructions=[instruction(i) for i in items], image_root=data.image_root,
        expected={i.id: str(i.answer) for i in items}, primary="subject", notes=notes, rejected=data.rejected,
        score=lambda texts, failed, extracted: score(items, texts, failed, extracted, policy, seed))
