import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from course_utils import exercises as ex
from course_utils.attention import scaled_dot_product_attention
from course_utils.graph import autograd_path_length
from course_utils.plots import attention_grid, heatmap, set_style, training_curves
from course_utils.positional import RotaryEmbedding, sinusoidal_encoding
from course_utils.training import History


def test_path_length_of_a_chain():
    x = torch.randn(3, requires_grad=True)
    y = x
    for _ in range(5):
        y = torch.tanh(y)
    assert autograd_path_length(y, x) == 5
    assert autograd_path_length(x, x) == 0


def test_path_length_takes_the_longest_branch():
    x = torch.randn(3, requires_grad=True)
    short, long = x * 2, torch.exp(torch.sin(torch.cos(x)))
    assert autograd_path_length(short + long, x) == 4


def test_path_length_errors():
    x, z = torch.randn(2, requires_grad=True), torch.randn(2, requires_grad=True)
    with pytest.raises(ValueError, match="does not depend"):
        autograd_path_length((z * 2).sum(), x)
    with pytest.raises(ValueError, match="leaf"):
        autograd_path_length(x * 2, x * 3)
    with torch.no_grad():
        y = x * 2
    with pytest.raises(ValueError, match="no autograd history"):
        autograd_path_length(y, x)


def test_plots_draw():
    set_style()
    ax = heatmap(torch.rand(3, 4), xlabels=list("abcd"), ylabels=list("xyz"), title="t")
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match="2-D"):
        heatmap(torch.rand(2, 2, 2))
    fig = attention_grid([torch.rand(2, 3, 3), torch.rand(2, 3, 3)], ["a", "b", "c"])
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match=r"\(H, T, S\)"):
        attention_grid([torch.rand(3, 3)])
    h = History(steps=[0, 1, 2], losses=[1.0, 0.5, 0.2], eval_steps=[3], eval_metrics=[0.9])
    assert len(training_curves({"run": h}).axes) == 2
    plt.close("all")


def _wrong(*args, **kwargs):
    return torch.zeros(1)


def test_exercise_checks_accept_right_and_reject_wrong_answers(capsys):
    assert ex.check_mha_parameters(4 * (128 * 128 + 128))
    assert not ex.check_mha_parameters(4 * 128 * 128)
    assert not ex.check_mha_parameters(None)
    assert ex.check_block_parameters(lambda d, f: 4 * (d * d + d) + 2 * d * f + f + d + 4 * d)
    assert not ex.check_block_parameters(lambda d, f: 0)
    assert ex.check_attention(scaled_dot_product_attention)
    assert not ex.check_attention(lambda q, k, v, mask=None: (v[..., :q.shape[-2], :] * 0, torch.zeros(*q.shape[:-1], k.shape[-2])))
    band = lambda T, w: (torch.arange(T)[:, None] - torch.arange(T)[None]).abs() <= w
    assert ex.check_local_mask(band)
    assert not ex.check_local_mask(lambda T, w: torch.ones(T, T, dtype=torch.bool))
    assert ex.check_sinusoidal(sinusoidal_encoding)
    assert not ex.check_sinusoidal(lambda P, d: torch.zeros(P, d))
    assert ex.check_rotation(lambda x, o: RotaryEmbedding(x.shape[-1]).rotate(x, o))
    assert not ex.check_rotation(lambda x, o: x)
    out = capsys.readouterr().out
    assert "✔" in out and "✘" in out and "not attempted" in out


def test_set_style_matches_seaborn_theme_without_importing_it():
    """set_style reproduces sns.set_theme(whitegrid, notebook, colorblind) and leaves seaborn
    (and its scipy import) out of a notebook that draws no heatmap."""
    import subprocess
    import sys

    code = ("import sys, course_utils.plots as p; p.set_style(); "
            "print('seaborn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    import matplotlib.pyplot as plt
    import seaborn as sns

    from course_utils.plots import SEABORN_THEME, set_style

    from matplotlib.colors import to_hex

    def current():
        values = {k: plt.rcParams[k] for k in SEABORN_THEME if k != "axes.prop_cycle"}
        values["colors"] = [to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
        return values

    with plt.rc_context():
        sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
        theirs = current()
    with plt.rc_context():
        set_style()
        ours = current()
    assert ours == theirs
