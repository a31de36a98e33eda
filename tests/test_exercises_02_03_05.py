"""Exercise checks of notebooks 02, 03 and 05: a right answer passes, an unanswered one is "not
attempted", a wrong one gets a hint that does not print the answer."""
from course_utils.exercises._common import RIGHT as RIGHT_ANSWER_SHOWN, WRONG
import math

import torch

from course_utils.attention import scaled_dot_product_attention
from course_utils.exercises import (check_attention, check_kv_cache_reads, check_local_mask,
                                    check_ring_allreduce_bytes, check_rotation, check_sinusoidal)
from course_utils.positional import RotaryEmbedding, sinusoidal_encoding


def _stub(*args, **kwargs):
    raise NotImplementedError("your code here")


RIGHT = {
    check_attention: lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask),
    check_local_mask: lambda T, w: (torch.arange(T)[:, None] - torch.arange(T)[None]).abs() <= w,
    check_sinusoidal: lambda P, d: sinusoidal_encoding(P, d),
    check_rotation: lambda x, offset: RotaryEmbedding(x.shape[-1]).rotate(x, offset),
    check_kv_cache_reads: lambda t, use_cache: 1 if use_cache else t,
    check_ring_allreduce_bytes: lambda n, m: 2 * (n - 1) / n * m,
}


def test_right_answers_pass_and_unanswered_ones_are_not_attempted(capsys):
    for check, answer in RIGHT.items():
        assert check(answer) is RIGHT_ANSWER_SHOWN
        assert check(None) is None          # not attempted: nothing shows under the stub
        assert check(_stub) is None
        out = capsys.readouterr().out
        assert out.count("not attempted") == 2 and "✘" not in out


def test_wrong_answers_get_a_hint_without_the_answer(capsys):
    def unscaled(q, k, v, mask=None):
        w = (q @ k.transpose(-2, -1)).softmax(-1)
        return w @ v, w

    wrong = {
        check_attention: unscaled,
        check_local_mask: lambda T, w: (torch.arange(T)[:, None] - torch.arange(T)[None]).abs() < w,
        check_sinusoidal: lambda P, d: torch.zeros(P, d),
        check_rotation: lambda x, offset: x,
        check_kv_cache_reads: lambda t, use_cache: t,
        check_ring_allreduce_bytes: lambda n, m: (n - 1) / n * m,
    }
    for check, answer in wrong.items():
        assert check(answer) is WRONG
        out = capsys.readouterr().out
        assert out.startswith("✘")
        for giveaway in ("√d_k", "sqrt", "-inf", "10000^", "2(N", "2 * (n", "expected 1"):
            assert giveaway not in out, (check.__name__, out)


def test_a_learner_error_is_reported_not_raised(capsys):
    assert check_ring_allreduce_bytes(lambda n, m: math.log(-1)) is WRONG
    assert "ValueError" in capsys.readouterr().out


def test_a_verdict_shows_nothing_as_a_cell_value_but_asserts_like_a_bool():
    """Under an answered stub a bare 'True' repeated the ✔ line (and 'False' the ✘ one)."""
    from course_utils.exercises._common import RIGHT, WRONG

    assert RIGHT and not WRONG and RIGHT == True and WRONG == False  # noqa: E712
    assert RIGHT._ipython_display_() is None and WRONG._ipython_display_() is None
