"""Exercise checks of notebooks 04 and 08: a right answer passes, a wrong one gets a hint that does
not give the answer away, and an unanswered stub is reported as not attempted (never raises)."""
import math

from course_utils.exercises import (check_attention_flops, check_cross_attention_flops,
                                    check_dilated_conv_layers,
                                    check_pre_ln_block, check_stack_parameters)

from conftest import dilated_layers


def _stub(*args):
    raise NotImplementedError("your code here")


def test_dilated_conv_layers_check(capsys):
    assert check_dilated_conv_layers(dilated_layers)
    assert not check_dilated_conv_layers(lambda n, k: math.ceil((n - 1) / (k // 2)))
    out = capsys.readouterr().out
    assert "✘" in out and "log" not in out.split("✘")[-1]       # the hint names no formula
    assert not check_dilated_conv_layers(None)
    assert not check_dilated_conv_layers(_stub)
    assert "not attempted" in capsys.readouterr().out


def test_attention_flops_check_hint_gives_no_count(capsys):
    assert check_attention_flops(lambda n, d: 4 * n * n * d)
    assert not check_attention_flops(lambda n, d: 3 * n * n * d)
    out = capsys.readouterr().out
    assert str(4 * 64 * 64 * 16) not in out                      # the true count is not printed


def test_stack_parameters_check(capsys):
    def right(num_layers, d, V):
        block = 4 * (d * d + d) + (8 * d * d + 5 * d) + 4 * d
        return V * d + num_layers * block + 2 * d + (d * V + V)
    assert check_stack_parameters(right)
    assert not check_stack_parameters(lambda L, d, V: right(L, d, V) - 1)
    out = capsys.readouterr().out
    assert "12d" not in out.split("✘")[-1]                       # no formula in the hint
    assert not check_stack_parameters(_stub)


def test_pre_ln_block_check_accepts_an_answer_and_names_post_ln(capsys):
    def pre_ln(block, x):
        h = block.norm1(x)
        x = x + block.attn(h, h, h)
        return x + block.ff(block.norm2(x))

    def post_ln(block, x):
        x = block.norm1(x + block.attn(x, x, x))
        return block.norm2(x + block.ff(x))
    assert check_pre_ln_block(pre_ln)
    assert not check_pre_ln_block(post_ln)
    assert "post-LN" in capsys.readouterr().out
    assert not check_pre_ln_block(_stub)
    assert "not attempted" in capsys.readouterr().out


def test_cross_attention_flops_check(capsys):
    def right(n, m, d):
        return 2 * n * d * d + 4 * m * d * d + 2 * n * d * d + 4 * n * m * d
    assert check_cross_attention_flops(right)
    assert not check_cross_attention_flops(lambda n, m, d: 8 * n * d * d + 4 * n * n * d)
    assert "n rows" in capsys.readouterr().out                   # the self-attention count: a hint
    assert not check_cross_attention_flops(_stub)
    assert "not attempted" in capsys.readouterr().out
