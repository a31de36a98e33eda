import pytest
import torch

from course_utils import profile
from course_utils.profile import get_profile, notebook_sizes


def test_quick_on_cpu_by_default():
    p = get_profile("01")
    assert p.name == ("full" if torch.cuda.is_available() else "quick")
    assert p.seed == 0 and p.sizes.d_model > 0


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_SEED", "7")
    p = get_profile("02")
    assert p.name == "full" and p.seed == 7
    assert p.sizes.max_steps == notebook_sizes("02", "full")["max_steps"]


def test_seed_is_applied():
    get_profile("01")
    a = torch.rand(3)
    get_profile("01")
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("var,value,match", [("COURSE_PROFILE", "fast", "quick"),
                                             ("COURSE_SEED", "x", "integer"),
                                             ("COURSE_DEVICE", "cuda:0", "CUDA")])
def test_bad_env_values_fail_clearly(monkeypatch, var, value, match):
    if var == "COURSE_DEVICE" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.setenv(var, value)
    with pytest.raises((ValueError, RuntimeError), match=match):
        get_profile("01")


def test_unknown_notebook():
    with pytest.raises(KeyError, match="99"):
        get_profile("99")


def test_both_profiles_define_the_same_sizes():
    for nb, by_profile in profile._SIZES.items():
        assert set(by_profile) == {"quick", "full"}, nb
        assert set(by_profile["quick"]) == set(by_profile["full"]), nb
