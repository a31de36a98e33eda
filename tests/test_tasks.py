import pytest
import torch

from course_utils.tasks import (FILLER, Vocab, bag_of_words_ceiling, negation_sentiment,
                                order_task, pointer_chain_task)


def test_negation_task_is_seeded():
    a, b = negation_sentiment(50, 10, seed=1), negation_sentiment(50, 10, seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, negation_sentiment(50, 10, seed=2).train_x)


def test_negation_labels_follow_the_rule():
    task = negation_sentiment(400, 0, seed=0, min_len=5, max_len=9)
    v = task.vocab
    for row, label in zip(task.train_x.tolist(), task.train_y.tolist()):
        words = v.decode(row)
        i = next(j for j, w in enumerate(words) if w in ("good", "great", "fun", "superb", "brilliant",
                                                          "lovely", "bad", "dull", "awful", "boring", "poor", "bland"))
        positive = words[i] in ("good", "great", "fun", "superb", "brilliant", "lovely")
        negated = i > 0 and words[i - 1] == "not"
        assert label == int(positive != negated)
        assert words.count("not") <= 1
    lengths = (task.train_x != 0).sum(1)
    assert lengths.min() >= 5 and lengths.max() <= 9


def test_negation_task_defeats_bag_of_words():
    task = negation_sentiment(0, 4000, seed=0)
    ceiling = bag_of_words_ceiling(task.test_x, task.test_y, ignore=set(task.vocab.encode(FILLER)))
    assert 0.58 < ceiling < 0.70        # 1/4 + 3/4 * 1/2 = 0.625 in expectation


def test_order_task_labels_and_lengths():
    task = order_task(200, 100, seed=0, seq_len=8, test_len=16)
    a, b = task.vocab.stoi["A"], task.vocab.stoi["B"]
    assert task.train_x.shape == (200, 8) and task.test_x.shape == (100, 16)
    for x, y in ((task.train_x, task.train_y), (task.test_x, task.test_y)):
        assert torch.all((x == a).sum(1) == 1) and torch.all((x == b).sum(1) == 1)
        pa, pb = (x == a).float().argmax(1), (x == b).float().argmax(1)
        assert torch.equal((pa < pb).long(), y)
    assert bag_of_words_ceiling(task.train_x, task.train_y, ignore=set(range(3, len(task.vocab)))) < 0.6


def test_bag_of_words_ceiling_on_a_toy():
    tokens = torch.tensor([[1, 2], [2, 1], [1, 2], [3, 0]])
    labels = torch.tensor([0, 1, 0, 1])
    # bag {1, 2} has labels 0, 1, 0: majority right 2 of 3; bag {3} right 1 of 1
    assert bag_of_words_ceiling(tokens, labels) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="4 sequences but 3 labels"):
        bag_of_words_ceiling(tokens, labels[:3])


def test_vocab():
    v = Vocab(["<pad>", "a", "b"])
    assert v.encode("a b a") == [1, 2, 1] and v.decode([1, 0, 2]) == ["a", "b"]
    with pytest.raises(KeyError, match="'c'"):
        v.encode("a c")
    with pytest.raises(ValueError, match="first token"):
        Vocab(["a", "<pad>"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["<pad>", "a", "a"])


def test_task_argument_errors():
    with pytest.raises(ValueError, match="min_len"):
        negation_sentiment(1, 1, seed=0, min_len=3, max_len=3)
    with pytest.raises(ValueError, match="room"):
        order_task(1, 1, seed=0, seq_len=1)


def test_pointer_chain_task_answers_follow_the_chain():
    task = pointer_chain_task(200, 50, seed=0, hops=3, num_symbols=10, num_pairs=5)
    S = 10
    for x, y in zip(task.train_x, task.train_y):
        pairs = [(int(t) - 1) // S for t in x[:-1]], [(int(t) - 1) % S for t in x[:-1]]
        assign = dict(zip(*pairs))
        assert len(assign) == 5                           # every left side is distinct
        sym = int(x[-1]) - 1 - S * S
        for _ in range(3):
            sym = assign[sym]
        assert sym == int(y)
    with pytest.raises(ValueError, match="hops"):
        pointer_chain_task(5, 5, seed=0, hops=6, num_symbols=10, num_pairs=5)


def test_with_validation_moves_training_rows_and_keeps_the_test_set():
    task = pointer_chain_task(100, 20, seed=0, hops=2, num_symbols=10, num_pairs=4)
    split = task.with_validation(30)
    assert task.val_x is None and split.val_x.shape == (30, 5) and split.val_y.shape == (30,)
    assert torch.equal(split.val_x, task.train_x[:30]) and torch.equal(split.train_y, task.train_y[30:])
    assert split.train_x.shape[0] == 70                       # no row is in both splits
    assert torch.equal(split.test_x, task.test_x) and torch.equal(split.test_y, task.test_y)
    for bad in (0, 100, 2.5, True):
        with pytest.raises(ValueError, match="size"):
            task.with_validation(bad)
    with pytest.raises(ValueError, match="already"):
        split.with_validation(10)
