"""Caption metrics: BLEU-4 (sacrebleu), ROUGE-L (rouge-score), CIDEr-D (pycocoevalcap).

All three compare a generated caption with the reference caption(s) of the same figure. CIDEr's
reference tokenizer (PTB, through Java) is replaced by the same lower-cased word/number split for
references and hypotheses, which is what the PTB tokenizer yields once it has dropped punctuation.
"""

from __future__ import annotations

import re

from pycocoevalcap.cider.cider import Cider
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")


def cider_tokens(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def caption_metrics(references: dict[str, list[str]], hypotheses: dict[str, str]) -> dict:
    """Corpus BLEU-4, mean ROUGE-L F1 and CIDEr-D, each ×100, over the ids of REFERENCES.

    A missing or empty hypothesis scores as the empty string (zero), never silently skipped.
    """
    ids = sorted(references)
    if not ids:
        return {"bleu4": None, "rougeL": None, "cider": None, "count": 0, "missing": 0}
    hyps = [hypotheses.get(i, "") for i in ids]
    depth = max(len(references[i]) for i in ids)
    # sacrebleu takes one stream per reference position; figures with fewer references repeat their last.
    streams = [[references[i][min(k, len(references[i]) - 1)] for i in ids] for k in range(depth)]
    bleu = BLEU(max_ngram_order=4).corpus_score(hyps, streams).score
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = sum(max(scorer.score(ref, hyp)["rougeL"].fmeasure for ref in references[i])
                for i, hyp in zip(ids, hyps)) / len(ids)
    gts = {i: [cider_tokens(r) for r in references[i]] for i in ids}
    res = {i: [cider_tokens(h)] for i, h in zip(ids, hyps)}
    cider, _ = Cider().compute_score(gts, res)
    return {
        "bleu4": round(bleu, 2),
        "rougeL": round(100 * rouge, 2),
        "cider": round(100 * float(cider), 2),
        "count": len(ids),
        "missing": sum(1 for i in ids if not hypotheses.get(i, "").strip()),
    }
