"""The figure engine's layout rules, word splitting and scoring, on small exact inputs."""

import numpy as np
import pytest

from scitune.sources.ocr import layout
from scitune.sources.ocr.detect import join_vertical
from scitune.sources.ocr.recognise import _longest_blank
from scitune.sources.ocr.score import differences, score_words
from scitune.sources.ocr.words import Word, lines


def piece(text, box, source="detector", probe=None, confidence=0.99, line=0):
    return layout.Piece(text, confidence, box, line, 0, source, probe)


def y_ticks(texts, x1=50.0, top=10.0, step=30.0):
    """A column of right-aligned tick labels, top to bottom."""
    return [piece(t, (x1 - 8 * len(t), top + i * step, x1, top + i * step + 10), line=i) for i, t in enumerate(texts)]


def test_score_counts_words_as_bags_after_normalisation():
    score = score_words("0.2 μ=0.002 max. max. −5", "max. µ=0.002 0.2 junk -5")
    assert (score.matched, score.printed, score.read) == (4, 5, 5)
    assert score.recall == pytest.approx(0.8) and score.junk == pytest.approx(0.2)
    assert differences("a b b", "b c") == (["a", "b"], ["c"])
    assert score_words("− 0.5", "-0.5", signs=False).recall == 1.0


def test_lines_keep_reading_order_and_drop_words_below_the_confidence():
    words = [Word("b", (0, 0, 1, 1), 40.0, 1), Word("a", (0, 0, 1, 1), 90.0, 0), Word("c", (0, 0, 1, 1), 95.0, 1)]
    assert lines(words) == ["a", "b c"]
    assert lines(words, 50.0) == ["a", "c"]


def test_a_decimal_point_is_put_back_where_the_axis_scale_says():
    ticks = y_ticks(["12", "1.0", "0.8", "0.6", "04", "0.2", "0"])  # 1.2 and 0.4 lost their points
    assert layout.repair_axis_points(ticks, tolerance=4.0) == 2
    assert [t.text for t in ticks] == ["1.2", "1.0", "0.8", "0.6", "0.4", "0.2", "0"]


def test_a_log_axis_is_left_alone():
    ticks = y_ticks(["10000", "1000", "100", "10", "1"])
    assert layout.repair_axis_points(ticks, tolerance=4.0) == 0
    assert [t.text for t in ticks] == ["10000", "1000", "100", "10", "1"]


def test_a_letter_among_tick_labels_is_read_again_as_a_number():
    asked = []

    class Probe:
        def reread(self, allowed):
            asked.append(allowed)
            return "0", 0.9

    ticks = y_ticks(["0.4", "0.2"]) + [piece("o", (42, 70, 50, 80), probe=Probe())]
    assert layout.read_ticks_as_numbers(ticks, tolerance=4.0) == 1
    assert ticks[-1].text == "0" and set(asked[0]) >= set("0123456789.")
    lone = [piece("o", (300, 300, 308, 310), probe=Probe())]
    assert layout.read_ticks_as_numbers(lone, tolerance=4.0) == 0 and lone[0].text == "o"


@pytest.mark.parametrize("read, kept", [("—P(Ben.", "P(Ben."), ("-max.", "max."), ("20-", "20"), ("K-", "K"),
                                        ("-0.5", "-0.5"), ("Mini-slot", "Mini-slot"), ("x-1", "x-1"),
                                        ("4000·", "4000"), ("-0.5+", "-0.5"), ("30,", "30,"), ("C++", "C++")])
def test_legend_samples_and_tick_marks_are_not_text(read, kept):
    pieces = [piece(read, (0, 0, 10, 10))]
    layout.strip_marks(pieces)
    assert pieces[0].text == kept


@pytest.mark.parametrize("read, parts", [
    ("100200300400", ["100", "200", "300", "400"]),
    ("1.0-0.50.00.51.0", ["-1.0", "-0.5", "0.0", "0.5", "1.0"]),  # the first minus sign was lost
    ("0.10.20.3", ["0.1", "0.2", "0.3"]),
    ("123456", ["123456"]),  # 12, 34, 56 do not step by a round step
    ("12345", ["12345"]), ("181778", ["181778"]), ("20172017.5", ["20172017.5"]), ("Tick", ["Tick"]),
])
def test_tick_labels_read_as_one_word_are_cut_apart(read, parts):
    pieces = layout.split_number_runs([piece(read, (0.0, 0.0, 10.0 * len(read), 10.0))])
    assert [p.text for p in pieces] == parts
    assert pieces[0].box[0] == 0.0 and pieces[-1].box[2] == 10.0 * len(read)


def test_glyph_candidates_survive_only_as_aligned_numbers_or_confident_words():
    ticks = y_ticks(["0.4", "0.2"])
    candidates = [piece("0", (42, 70, 50, 80), source="glyphs"),  # under the column: kept
                  piece("1", (300, 300, 308, 310), source="glyphs"),  # a curve piece read as "1"
                  piece("Topic", (300, 200, 340, 210), source="glyphs"),
                  piece("T", (400, 200, 404, 210), source="glyphs"),
                  piece("~", (0, 300, 9, 310))]
    kept = layout.tidy(ticks + candidates, tolerance=4.0)
    assert [p.text for p in kept] == ["0.4", "0.2", "0", "Topic"]


def test_split_rotated_label_is_joined_but_the_next_label_up_the_axis_is_not():
    label = [(0, 300, 16, 320), (0, 200, 16, 301)]  # "M" + "aximum", touching
    other = [(0, 100, 16, 190)]  # another label 10 px further up
    assert sorted(join_vertical(label + other)) == [(0, 100, 16, 190), (0, 200, 16, 320)]


def test_longest_blank_run_between_two_characters():
    columns = np.zeros(32, dtype=bool)
    columns[:6] = columns[15:18] = columns[20:] = True  # ink; blank runs 6..14 and 18..19
    assert _longest_blank(columns, 0, 2) == 9  # between step centres 4 and 20
    assert _longest_blank(columns, 1, 2) == 3  # between 12 and 20: 12..14, then 18..19
    assert _longest_blank(columns, 2, 3) == 0  # 20..27 is all ink
    assert _longest_blank(columns, 0, 0) == 0


def test_ctc_likelihood_matches_torch():
    import torch

    from scitune.sources.ocr.lexicon import ctc_log_likelihood

    rng = np.random.default_rng(0)
    for labels in ([3, 1, 2], [2, 2], [1], [4, 4, 4, 1]):
        logits = rng.normal(size=(9, 5))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        reference = -torch.nn.functional.ctc_loss(
            torch.tensor(np.log(probabilities))[:, None, :], torch.tensor([labels]), torch.tensor([9]),
            torch.tensor([len(labels)]), reduction="sum").item()
        assert ctc_log_likelihood(probabilities, labels) == pytest.approx(reference, abs=1e-6)
    assert ctc_log_likelihood(np.full((2, 5), 0.2), [1, 2, 3]) == float("-inf"), "three labels do not fit two steps"


def test_lexicon_finds_near_misses_within_a_distance_that_grows_with_length():
    from scitune.sources.ocr.lexicon import Lexicon

    lexicon = Lexicon.from_text("Population size and number of generations. The AODV protocol (Journal).")
    assert lexicon.candidates("g:eneraitions") == ["generations"]
    assert lexicon.candidates("AoDV") == ["AODV"], "case is ignored when looking up"
    assert lexicon.candidates("Joumal") == ["Journal"], "rn read as m: two edits in six letters"
    assert lexicon.candidates("sine") == ["size"] and lexicon.candidates("note") == []
    assert lexicon.candidates("size") == []


def test_unsure_words_take_the_lexicon_word_only_when_the_image_supports_it():
    from scitune.sources.ocr.lexicon import Lexicon, correct_near_misses

    class Probe:
        def __init__(self, scores):
            self.scores = scores

        def log_likelihood(self, text):
            return self.scores.get(text, float("-inf"))

    lexicon = Lexicon(["generations", "Topic"])
    near = piece("generaitions", (0, 0, 9, 9), probe=Probe({"generaitions": -4.4, "generations": -5.0}), confidence=0.46)
    far = piece("Topic1", (0, 0, 9, 9), probe=Probe({"Topic1": -0.2, "Topic": -8.9}), confidence=0.85)
    sure = piece("generaitions", (0, 0, 9, 9), probe=Probe({"generaitions": -0.1, "generations": -0.2}), confidence=0.97)
    assert correct_near_misses([near, far, sure], [lexicon]) == 1
    assert (near.text, far.text, sure.text) == ("generations", "Topic1", "generaitions")
    assert 0.46 < near.confidence <= 0.9


def test_glued_lexicon_words_are_split_after_a_legend_marker():
    from scitune.sources.ocr.lexicon import Lexicon, split_glued

    lexicon = Lexicon(["AODV", "under", "attack"])
    glued = piece("D-AODVunder", (0, 0, 110, 10), confidence=0.36)
    sure = piece("throughput", (0, 20, 100, 30), confidence=0.99)
    split = split_glued([glued, sure], lexicon)
    assert [p.text for p in split] == ["AODV", "under", "throughput"]
    assert split[0].box == (20.0, 0, 60.0, 10) and split[1].box == (60.0, 0, 110.0, 10)


def test_a_box_holding_two_stacked_lines_is_cut_at_the_blank_rows_between_them():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from scitune.sources.ocr.detect import split_stacked

    fig = Figure(figsize=(1.2, 0.6), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.62, "5", ha="center", fontsize=9)
    fig.text(0.5, 0.12, "Months", ha="center", fontsize=9)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    whole = (0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0]))
    parts = split_stacked(rgb, [whole], text_height=8.0)
    assert len(parts) == 2
    upper, lower = sorted(parts, key=lambda b: b[1])
    assert upper[3] <= lower[1] + 3 and upper[2] - upper[0] < lower[2] - lower[0], "the lone '5' over the wider word"
    assert split_stacked(rgb, [whole], text_height=30.0) == [whole], "one line at that text height"


def test_a_row_of_tick_labels_the_detector_missed_is_kept_but_a_dashed_grid_is_not():
    """A multi-panel figure's shared x-axis: "-1", "0", "-1", "0" found only as glyphs, no detector
    number in their row; the dashes of a dashed grid line up the same way but all read "1"."""
    axis = [piece(t, (100 + 150 * i, 500, 120 + 150 * i, 520), source="glyphs") for i, t in enumerate(["-1", "0", "-1", "0"])]
    dashes = [piece("1", (100 + 150 * i, 300, 104 + 150 * i, 320), source="glyphs") for i in range(4)]
    pair = [piece(t, (100 + 150 * i, 700, 120 + 150 * i, 720), source="glyphs") for i, t in enumerate(["2", "3"])]
    kept = layout.tidy(axis + dashes + pair, tolerance=12.0)
    assert [p.text for p in kept] == ["-1", "0", "-1", "0"]


def test_symbols_the_recogniser_has_no_class_for_are_put_back():
    pieces = [piece("△mag", (0, 0, 40, 10)), piece("△", (50, 0, 60, 10)), piece("入=0", (0, 20, 30, 30)),
              piece("∆T", (0, 40, 30, 50))]
    layout.greek_lookalikes(pieces)
    assert [p.text for p in pieces] == ["Δmag", "△", "λ=0", "ΔT"], "PP-OCRv6 writes U+2206 for the Greek Δ"
    chinese = [piece("入口", (0, 0, 20, 10)), piece("出入", (0, 20, 20, 30))]
    layout.greek_lookalikes(chinese)
    assert [p.text for p in chinese] == ["入口", "出入"], "CJK text stays CJK"


def test_a_minus_sign_left_of_a_box_is_taken_into_it():
    from scitune.sources.ocr.figure import _with_minus_sign
    from scitune.sources.ocr.glyphs import with_minus_sign

    bar = (80.0, 109.0, 96.0, 111.0)  # a minus sign 16 px wide at the digits' middle height
    assert with_minus_sign((100.0, 100.0, 110.0, 120.0), [bar], 20.0)[0] < 80.0
    assert with_minus_sign((100.0, 100.0, 110.0, 120.0), [(80.0, 119.0, 96.0, 121.0)], 20.0)[0] == 100.0, "an underline is not a sign"
    assert with_minus_sign((100.0, 100.0, 110.0, 120.0), [(40.0, 109.0, 96.0, 111.0)], 20.0)[0] == 100.0, "a long rule is not a sign"
    # The detector's box starts a few pixels left of the first digit, over part of the bar.
    assert _with_minus_sign((90.0, 95.0, 140.0, 125.0), [bar], 20.0)[0] < 80.0
    assert _with_minus_sign((90.0, 95.0, 140.0, 125.0), [(30.0, 109.0, 46.0, 111.0)], 20.0)[0] == 90.0, "too far left"


def test_a_minus_sign_lost_at_the_start_of_an_axis_is_put_back_from_its_scale():
    row = [piece(t, (40 + 40 * i, 300, 60 + 40 * i, 312)) for i, t in enumerate(["1.0", "-0.5", "0.0", "0.5", "1.0"])]
    assert layout.repair_axis_points(row, tolerance=4.0) == 1
    assert [p.text for p in row] == ["-1.0", "-0.5", "0.0", "0.5", "1.0"]


def test_a_sign_between_two_words_of_its_line_is_kept_a_lone_one_is_not():
    """"ΔT = 1 μK − arcmin" (a CMB figure): the hand truth has "=" and "−" as words; a legend's
    dash before its label, a sign alone on its line and a glyph candidate's dash are not words."""
    annotation = [piece(t, (10 * i, 0, 10 * i + 8, 10), line=0) for i, t in enumerate(["ΔT", "=", "1", "μK", "−", "arcmin"])]
    legend = [piece("-", (0, 20, 8, 30), line=1), piece("data", (10, 20, 40, 30), line=1)]
    alone = [piece("=", (0, 40, 8, 50), line=2)]
    glyph = [piece("x", (0, 60, 8, 70), source="glyphs", line=3, confidence=0.99),
             piece("-", (10, 60, 18, 70), source="glyphs", line=3), piece("y", (20, 60, 28, 70), source="glyphs", line=3)]
    kept = layout.tidy(annotation + legend + alone + glyph, tolerance=6.0)
    assert [p.text for p in kept if p.line == 0] == ["ΔT", "=", "1", "μK", "−", "arcmin"]
    assert [p.text for p in kept if p.line in (1, 2)] == ["data"]
    assert "-" not in [p.text for p in kept if p.line == 3]


def test_a_one_letter_relation_split_at_its_sign_is_one_word_again():
    """Legends set in TeX math ("$\\gamma=0$", "$p(f(X)|Z=-\\sigma)$") have thick spaces around the
    sign, where the recogniser splits; the hand truth writes such an expression as one word. A
    longer left side (ΔT = 1) keeps its spaces, and so do pieces a legend column apart."""
    gamma = [piece("γ=", (0, 0, 18, 10), line=0, confidence=0.99), piece("0", (22, 0, 28, 10), line=0, confidence=0.97)]
    lam = [piece(t, (10 * i, 20, 10 * i + 8, 30), line=1) for i, t in enumerate(["λ", "=", "500"])]
    signed = [piece(t, (30 * i, 40, 30 * i + 26, 50), line=2)
              for i, t in enumerate(["p(f(X)|Z", "=", "−", "σ)"])]
    prose = [piece(t, (10 * i, 60, 10 * i + 8, 70), line=3) for i, t in enumerate(["ΔT", "=", "1", "μK"])]
    apart = [piece("x=", (0, 80, 16, 90), line=4), piece("1", (200, 80, 206, 90), line=4)]
    joined = layout.join_split_words(gamma + lam + signed + prose + apart, text_height=10.0)
    assert [p.text for p in joined] == ["γ=0", "λ=500", "p(f(X)|Z=−σ)", "ΔT", "=", "1", "μK", "x=", "1"]
    assert joined[0].confidence == 0.97 and joined[0].box == (0, 0, 28, 10)


def test_a_decimal_number_split_at_its_point_is_one_word_again():
    parts = [piece("0.", (0, 0, 10, 10)), piece("5", (14, 0, 20, 10)), piece("μK", (30, 0, 44, 10))]
    tail = [piece("61", (0, 20, 12, 30), line=1), piece(".0", (14, 20, 22, 30), line=1)]
    ticks = [piece("0", (0, 40, 6, 50), line=2), piece("5", (40, 40, 46, 50), line=2)]
    assert [p.text for p in layout.join_split_words(parts + tail + ticks, text_height=10.0)] == [
        "0.5", "μK", "61.0", "0", "5"]


def test_a_line_of_copies_of_one_letter_is_a_marker_sample_not_text():
    """A scatter legend's "× ×" sample is read "X", "X"; the letter alone or among words stays."""
    sample = [piece("X", (0, 0, 8, 10), line=0), piece("X", (12, 0, 20, 10), line=0)]
    label = [piece("Train", (30, 0, 60, 10), line=1), piece("loss", (64, 0, 90, 10), line=1)]
    axis = [piece("X", (0, 20, 8, 30), line=2)]
    words = [piece("a", (0, 40, 8, 50), line=3), piece("a", (12, 40, 20, 50), line=3), piece("b", (24, 40, 30, 50), line=3)]
    assert [p.text for p in layout.strip_marker_samples(sample + label + axis + words)] == [
        "Train", "loss", "X", "a", "a", "b"]


def test_tick_labels_of_panels_side_by_side_are_each_on_their_own_scale():
    """Three panels share a baseline: "0 5 10" three times is no one linear scale, but each panel's
    run is; an unsure "0" on it takes its axis's confidence, and a lost decimal point is put back."""
    row = []
    for panel in range(3):
        left = 40 + 280 * panel
        texts = ["0", "5", "10"] if panel < 2 else ["0.0", "05", "1.0", "1.5"]
        for i, t in enumerate(texts):
            row.append(piece(t, (left + 76 * i, 250, left + 76 * i + 8 * len(t), 262),
                             confidence=0.48 if (panel, i) == (1, 0) else 0.98))
    assert layout.repair_axis_points(row, tolerance=4.0) == 1
    assert [p.text for p in row] == ["0", "5", "10", "0", "5", "10", "0.0", "0.5", "1.0", "1.5"]
    assert row[3].confidence == 0.98


def test_a_word_the_detector_returned_twice_is_read_once():
    twice = [piece("Null", (700, 5, 735, 26), line=2, confidence=0.97),
             piece("Null", (700, 5, 734, 27), line=3, confidence=0.96)]
    ticks = [piece("10", (200, 250, 212, 266), line=4), piece("10", (477, 251, 491, 267), line=5)]
    kept = layout.drop_duplicates(twice + ticks)
    assert [(p.text, p.line) for p in kept] == [("Null", 2), ("10", 4), ("10", 5)]
