"""How a generated ScienceQA answer becomes a choice: the official rule and the named alternatives.

Read from the evaluators themselves (no code copied):

- ScienceQA `models/run_gpt3.py` (lupantech/ScienceQA): `re.findall(r'The answer is ([A-Z]).', text)`
  must return exactly one letter, else the answer is "FAILED"; the letter must be one of the first
  len(choices) options A-E, else it fails too. The `.` is an unescaped regex dot: any one character
  must follow the letter, so "The answer is B" at the very end of a text fails and
  "The answer is A lot" reads as A. A failure is scored with `random.choice` over the options from
  the run's global RNG (seeded once per run, so a resumed run draws differently).
- LLaVA `llava/eval/eval_science_qa.py`: the first version copies that rule (failures random,
  missing predictions skipped); the LLaVA-1.5 version first accepts a text that is exactly a letter
  A-E or starts with `X. `, then the same pattern exactly once, and scores every failure, a missing
  prediction included, as wrong (`get_pred_idx` returns -1).
- LLaVA `llava/eval/model_vqa_science.py --answer-prompter`, how LLaVA and SciTune read the LEPA
  format (`…###\\nANSWER: X.`): the answer generated after `###\\nANSWER:` is appended to the reasoning
  as `\\n The answer is {answer}`, and the pattern above must then occur exactly once in the whole text.

How failures are scored is the scorer's `policy` (scienceqa.py), not the rule's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

# The evaluators' `options` argument: the letters a ScienceQA problem's (at most five) choices get.
OPTIONS = ("A", "B", "C", "D", "E")
LETTERS = "".join(OPTIONS)
Rule = Literal["official", "llava", "llava-lepa", "scitune"]
RULE_NAMES: tuple[str, ...] = get_args(Rule)
RULES: dict[str, str] = {
    "official": "ScienceQA's evaluator: 'The answer is X' followed by any character, exactly once",
    "llava": "LLaVA-1.5's eval_science_qa.py: a bare letter, or 'X. …' at the start, else the official rule",
    "llava-lepa": "LLaVA's answer prompter on LEPA output: the text after the last 'ANSWER:' read as "
                  "'The answer is …', then the official rule on the whole text",
    "scitune": "lenient, not for published numbers: 'ANSWER: X' at the end, 'The answer is X' (repeats must "
               "agree), a bare letter, or the exact text of one option",
}
Failure = Literal["no answer", "several answers", "not an option"]

_OFFICIAL = re.compile(r"The answer is ([A-Z]).")  # '.' is any character, as in the official code
# scitune: the LEPA line at the very end; 'The answer is X' with the letter ending a word or sentence,
# so that "The answer is A lot" is not read as A; a bare letter; then option text (in read_answer).
_LEPA_END = re.compile(r"ANSWER:\s*\(?([A-E])\)?\.?\s*$")
_SENTENCE = re.compile(r"[Tt]he answer is:?\s*\(?([A-E])\)?(?=[.,;:!]|[ \t]*$)", re.MULTILINE)
_BARE = re.compile(r"^\(?([A-E])\)?[.)]?$")


@dataclass(frozen=True)
class Reading:
    """The choice a text names (index into the problem's choices), or why it names none."""

    index: int | None
    failure: Failure | None = None


def _letter(letter: str, n_choices: int) -> Reading:
    # The evaluators' get_pred_idx: a letter past the problem's last option is a failure.
    if letter in LETTERS[:n_choices]:
        return Reading(LETTERS.index(letter))
    return Reading(None, "not an option")


def _official(text: str, n_choices: int) -> Reading:
    found = _OFFICIAL.findall(text)
    if len(found) != 1:
        return Reading(None, "no answer" if not found else "several answers")
    return _letter(found[0], n_choices)


def _llava(text: str, n_choices: int) -> Reading:
    if text in OPTIONS:
        return _letter(text, n_choices)
    if len(text) >= 3 and text[0] in OPTIONS and text[1:3] == ". ":
        return _letter(text[0], n_choices)
    return _official(text, n_choices)


def _llava_lepa(text: str, n_choices: int) -> Reading:
    reasoning, marker, answer = text.rpartition("ANSWER:")
    if marker:  # what model_vqa_science.py writes after its second, answer-only pass
        text = f"{reasoning}\n The answer is {answer.strip()}"
    return _official(text, n_choices)


def _scitune(text: str, choices: list[str]) -> Reading:
    text = text.strip()
    match = _LEPA_END.search(text) or _BARE.match(text)
    if match:
        return _letter(match.group(1), len(choices))
    letters = set(_SENTENCE.findall(text))
    if len(letters) > 1:
        return Reading(None, "several answers")
    if letters:
        return _letter(letters.pop(), len(choices))
    normalized = text.rstrip(".").strip().lower()
    same = [i for i, choice in enumerate(choices) if normalized == choice.strip().lower()]
    return Reading(same[0]) if len(same) == 1 else Reading(None, "no answer")


def check_rule(rule: str) -> Rule:
    if rule not in RULES:
        raise ValueError(f"unknown answer rule '{rule}': expected one of {', '.join(RULE_NAMES)}")
    return rule  # type: ignore[return-value]


def read_answer(text: str, choices: list[str], rule: Rule = "official") -> Reading:
    """The choice TEXT names under RULE. The official rules read the text exactly as generated."""
    rule = check_rule(rule)
    if rule == "scitune":
        return _scitune(text, choices)
    reader = {"official": _official, "llava": _llava, "llava-lepa": _llava_lepa}[rule]
    return reader(text, len(choices))


def rule_for_format(prompt_format: str) -> Rule:
    """The strict rule that reads a prompt format's answers as the published evaluations did:
    LEPA answers end in `ANSWER: X.` (LLaVA's answer prompter), every other output format in
    `The answer is X.` (ScienceQA's evaluator)."""
    return "llava-lepa" if prompt_format.endswith("-LEPA") else "official"
