"""A stage's samples per epoch: weights per curated set, drawn from the seed alone."""

from scitune.train.data import epoch_order, mixture_epochs


def test_weights_choose_how_much_of_each_set_an_epoch_sees():
    epochs = mixture_epochs([10, 20], [1.0, 0.3], epochs=3, seed=0)
    assert len(epochs) == 3
    for chosen in epochs:
        assert sorted(i for i in chosen if i < 10) == list(range(10)), "weight 1.0: all of the first set"
        second = [i for i in chosen if i >= 10]
        assert len(second) == 6 and len(set(second)) == 6, "weight 0.3 of 20: six distinct samples"
    assert len({tuple(e) for e in epochs}) > 1, "a fresh subset each epoch"
    assert mixture_epochs([10, 20], [1.0, 0.3], 3, seed=0) == epochs, "the same seed, the same draw"
    assert mixture_epochs([10, 20], [1.0, 0.3], 3, seed=1) != epochs


def test_weights_above_one_repeat_a_set():
    (chosen,) = mixture_epochs([4, 3], [2.5, 1.0], epochs=1, seed=0)
    first = [i for i in chosen if i < 4]
    assert len(first) == 10 and all(first.count(i) in (2, 3) for i in range(4)), "two copies and a half"
    assert sorted(i for i in chosen if i >= 4) == [4, 5, 6]


def test_one_set_at_weight_one_is_the_plain_epoch_order():
    lengths = [5, 9, 2, 7, 3, 8, 1, 4]
    plain = epoch_order(lengths, 2.5, batch=2, seed=3, group_by_length=True)
    mixed = epoch_order(lengths, 2.5, batch=2, seed=3, group_by_length=True,
                        chosen=mixture_epochs([8], [1.0], 2.5, seed=3))
    assert mixed == plain and len(plain) == 8 + 8 + 4
