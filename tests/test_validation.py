"""Sizes are checked by name (course_utils.validation): a bad one is refused with the function,
the argument, its value and the rule, before torch fails inside with a message about something
else; valid calls (NumPy integers, 0-dim integer tensors, None for an optional size) run as
before. One or more cases per module that declares its sizes."""
import inspect

import numpy as np
import pytest
import torch

from course_utils import (attention, efficient, interpret, models, parallel, positional,
                          pretraining, seq2seq, tasks, timing, tokenization, training, vision)
from course_utils.validation import check_size, sizes

Q = torch.randn(1, 10, 4)

BAD = [
    # (call, error type, words the message must hold)
    (lambda: efficient.sliding_window_attention(Q, Q, Q, 2.5), TypeError,
     ["sliding_window_attention", "window must be an integer", "2.5"]),
    (lambda: efficient.sliding_window_attention(Q, Q, Q, -1), ValueError,
     ["window must be at least 0", "window=-1"]),
    (lambda: efficient.sliding_window_attention(Q, Q, Q, 2, chunk=0), ValueError, ["chunk"]),
    (lambda: efficient.block_sparse_attention(Q, Q, Q, 0), ValueError, ["block must be at least 1"]),
    (lambda: efficient.LinformerSelfAttention(16, 2, 32, proj=8.0), TypeError, ["proj", "8.0"]),
    (lambda: attention.MultiHeadAttention(64.0, 4), TypeError, ["MultiHeadAttention", "d_model"]),
    (lambda: attention.causal_mask(0), ValueError, ["T must be at least 1"]),
    (lambda: models.TransformerBlock(16, 0), ValueError, ["TransformerBlock", "num_heads=0"]),
    (lambda: models.TransformerClassifier(10, 2, d_model=16, max_len=7.5), TypeError, ["max_len"]),
    (lambda: positional.RotaryEmbedding(8.0), TypeError, ["head_dim"]),
    (lambda: positional.sinusoidal_encoding(0, 8), ValueError, ["num_positions=0"]),
    (lambda: next(training.batches(torch.zeros(4), batch_size=0)), ValueError, ["batch_size"]),
    (lambda: training.train(None, [], steps=1.5), TypeError, ["steps must be an integer"]),
    (lambda: seq2seq.greedy_decode(None, torch.zeros(1, 3, dtype=torch.long), 2.5), TypeError,
     ["greedy_decode", "max_len"]),
    (lambda: tasks.needle_task(8, 8, seed=0, seq_len=0), ValueError, ["needle_task", "seq_len"]),
    (lambda: vision.PatchEmbedding(8, 2.0, 1, 16), TypeError, ["PatchEmbedding", "patch"]),
    (lambda: interpret.repeated_random_tokens(2, -3, low=3, high=9, bos_id=0, seed=0), ValueError,
     ["length"]),
    (lambda: tokenization.encode_batch([[1, 2]], max_len=0), ValueError, ["max_len"]),
    (lambda: timing.attention_flops(64.5, 16), TypeError, ["attention_flops", "n must be"]),
    (lambda: parallel.make_batch(0, size=0), ValueError, ["size"]),
    (lambda: pretraining.random_windows(torch.arange(100), 4, 7.5), TypeError,
     ["length must be an integer"]),
]


@pytest.mark.parametrize("call, error, words", BAD)
def test_a_bad_size_is_named_with_its_value_and_rule(call, error, words):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert all(word in message for word in words), message


def test_valid_sizes_run_as_before():
    n = np.int64(10)
    out = efficient.sliding_window_attention(Q, Q, Q, np.int64(2))          # a NumPy integer
    assert torch.allclose(out, efficient.sliding_window_attention(Q, Q, Q, 2))
    assert attention.causal_mask(torch.tensor(3)).shape == (3, 3)          # a 0-dim tensor
    assert models.TransformerBlock(16, 4, d_ff=None).ff is not None        # None: the default
    assert timing.attention_flops(int(n), 4) == 4 * 10 * 10 * 4
    assert efficient.sliding_window_attention(Q, Q, Q, 0).shape == Q.shape  # window 0: itself


def test_the_decorator_keeps_name_signature_and_docs():
    fn = efficient.sliding_window_attention
    assert fn.__name__ == "sliding_window_attention" and "Longformer" in fn.__doc__
    assert "window" in inspect.signature(fn).parameters
    with pytest.raises(TypeError, match="has no argument"):
        sizes("nope")(lambda x: x)


def test_check_size_itself():
    assert check_size("k", np.int32(3)) == 3
    with pytest.raises(TypeError, match="bool"):
        check_size("k", True)
    with pytest.raises(ValueError, match=r"at least 2, got k=1"):
        check_size("k", 1, minimum=2)
