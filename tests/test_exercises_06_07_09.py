"""Exercise checks of notebooks 06, 07 and 09: right answers pass, wrong ones get a hint, never the answer."""
import math

import torch

from course_utils import exercises as ex


def _patchify(images, p):
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def test_patchify_check_runs_inside_the_exercises_package(capsys):
    assert ex.check_patchify(_patchify)                     # its import of ..vision works
    assert not ex.check_patchify(lambda images, p: _patchify(images.transpose(-1, -2), p))
    assert "another order" in capsys.readouterr().out


def test_compute_optimal_hint_names_the_broken_rule_not_the_answer(capsys):
    assert not ex.check_compute_optimal(lambda C: (math.sqrt(C / 6), math.sqrt(C / 6)))
    out = capsys.readouterr().out
    assert "D/N" in out and "expected" not in out and "120" not in out
    assert not ex.check_compute_optimal(lambda C: (C, C))
    assert "the pair must spend C" in capsys.readouterr().out


def test_weat_and_rollout_checks_import_their_reference():
    from course_utils.interpret import attention_rollout

    assert ex.check_rollout(attention_rollout)
    assert ex.check_weat_effect(lambda x, y: ((x.mean() - y.mean()) / torch.cat([x, y]).std()).item())


def test_tokenization_checks():
    assert ex.check_oov_rate(lambda tr, te: sum(w not in set(tr) for w in te) / len(te))
    assert not ex.check_bpe_merge(lambda counts: ("z", "z"))
