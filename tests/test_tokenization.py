import random

import pytest
import torch

from course_utils import exercises as ex
from course_utils.pretrained import load_minilm_tokenizer
from course_utils.tokenization import (SUBWORD_KINDS, WordVocab, encode_batch, perturb_words,
                                       train_subword_tokenizer, words)

TEXT = ("the quick brown fox jumps over the lazy dog . the dog sleeps while the fox runs . "
        "transformers attend to every token , recurrent networks read one token at a time . ") * 20


def test_words_and_vocab():
    assert words("It's 2026: Naïve-ish CAFE!") == ["it's", "2026", "na", "ve", "ish", "cafe"]
    v = WordVocab.build([TEXT], max_size=6)
    assert v.itos[:3] == ["<pad>", "<unk>", "the"] and len(v) == 6
    assert v.encode("the zebra") == [2, 1]
    assert v.oov_rate(["the the zebra"]) == pytest.approx(1 / 3)
    assert WordVocab.build([TEXT]).oov_rate([TEXT]) == 0
    with pytest.raises(ValueError, match="no words"):
        v.oov_rate([""])


@pytest.mark.parametrize("kind", SUBWORD_KINDS)
def test_subword_tokenizers_train_and_cover_the_text(kind):
    tok = train_subword_tokenizer(kind, [TEXT], 120)
    enc = tok.encode("the fox attends to tokens")
    assert enc.ids and "<unk>" not in enc.tokens
    if kind == "char":
        assert all(len(t) == 1 for t in enc.tokens)
    if kind == "byte-bpe":
        assert tok.decode(tok.encode("naïve 🤗 émoji").ids) == "naïve 🤗 émoji"


def test_subword_tokenizer_errors_and_fewer_tokens_with_bigger_vocab():
    with pytest.raises(ValueError, match="kind"):
        train_subword_tokenizer("sentencepiece", [TEXT], 100)
    small = len(train_subword_tokenizer("bpe", [TEXT], 40).encode(TEXT).ids)
    large = len(train_subword_tokenizer("bpe", [TEXT], 200).encode(TEXT).ids)
    assert large < small


def test_perturbed_words_are_unseen_and_seeded():
    known = set(words(TEXT))
    a = perturb_words(TEXT[:200], known, rate=1.0, rng=random.Random(0))
    b = perturb_words(TEXT[:200], known, rate=1.0, rng=random.Random(0))
    assert a == b
    changed = [w for w, o in zip(a.split(), words(TEXT[:200])) if w != o]
    assert changed and all(w not in known for w in changed)
    assert perturb_words("the fox", known, rate=0.0, rng=random.Random(0)) == "the fox"


def test_encode_batch_pads_and_cuts():
    x = encode_batch([[5, 6, 7], [], [1, 2, 3, 4, 5]], max_len=4)
    assert x.tolist() == [[5, 6, 7, 0], [0, 0, 0, 0], [1, 2, 3, 4]] and x.dtype == torch.long


def test_minilm_wordpiece_has_unknowns():
    tok = load_minilm_tokenizer()
    assert tok.tokenize("🤗 attention") == ["[UNK]", "attention"]
    assert tok.tokenize("naïve") == ["naive"]


def test_exercise_checks_09():
    assert ex.check_oov_rate(lambda a, b: sum(w not in set(a) for w in b) / len(b))
    assert not ex.check_oov_rate(lambda a, b: len({w for w in b if w not in set(a)}) / len(set(b)))

    def first_merge(counts):
        from collections import Counter

        pairs = Counter()
        for w, n in counts.items():
            for p in zip(w, w[1:]):
                pairs[p] += n
        top = max(pairs.values())
        return min(p for p, c in pairs.items() if c == top)

    assert ex.check_bpe_merge(first_merge)
    assert not ex.check_bpe_merge(lambda counts: ("a", "a"))


def test_unknown_pieces_come_only_from_characters_the_training_text_lacks():
    """09 reads the <unk> share as alphabet coverage: char, BPE and Unigram lose exactly the words
    holding an unseen character (only that character), WordPiece the whole word; byte-level BPE
    has no unknown token at all (so counting its <unk> could never fail)."""
    probe = "the foxes ζeta run , lazy dogζ sleep"     # ζ never occurs in TEXT
    lost = {}
    for kind in ("char", "bpe", "wordpiece", "unigram"):
        tok = train_subword_tokenizer(kind, [TEXT], 120)
        enc = tok.encode(probe)
        unk = tok.token_to_id("<unk>")
        lost[kind] = {w for w, i in zip(enc.word_ids, enc.ids) if i == unk}
        pieces = [t for w, t in zip(enc.word_ids, enc.tokens) if w == 2]   # the word "ζeta"
        assert (pieces == ["<unk>"]) == (kind == "wordpiece"), (kind, pieces)
    assert lost["char"] == lost["bpe"] == lost["unigram"] == lost["wordpiece"] == {2, 6}
    byte_bpe = train_subword_tokenizer("byte-bpe", [TEXT], 300)
    assert byte_bpe.token_to_id("<unk>") is None
    assert byte_bpe.decode(byte_bpe.encode(probe).ids) == probe
