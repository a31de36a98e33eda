import pytest
import torch

from course_utils import profile
from course_utils.profile import get_profile, notebook_sizes


def test_quick_by_default_until_full_has_passed_on_a_gpu(monkeypatch):
    p = get_profile("01")
    assert p.name == "quick" and p.seed == 0 and p.sizes.d_model > 0
    monkeypatch.setattr(profile, "_default_device", lambda: torch.device("cuda"))
    assert profile.profile_name() == "quick"          # a GPU gets quick too, for now
    monkeypatch.setattr(profile, "FULL_PROFILE_PASSED_ON_GPU", True)
    assert profile.profile_name() == "full"


def test_threads_are_chosen_and_printed(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")   # next to a GPU torch keeps its own count
    before = torch.get_num_threads()
    try:
        p = get_profile("01")
        assert torch.get_num_threads() == 1 and "1 thread ·" in p.describe()
        assert "\n" not in p.describe()                 # one line
        monkeypatch.setenv("COURSE_THREADS", "2")
        get_profile("01")
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("COURSE_THREADS", "0")
        with pytest.raises(ValueError, match="COURSE_THREADS"):
            get_profile("01")
    finally:
        torch.set_num_threads(before)


def test_smoke_run_uses_full_shapes(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    p = get_profile("03")
    full = notebook_sizes("03", "full")
    assert p.name == "full" and p.smoke and "smoke" in p.describe()
    assert p.sizes.d_model == full["d_model"] and p.sizes.seq_len == full["seq_len"]
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(ValueError, match="smoke"):
        get_profile("03")


def test_smoke_overrides_change_loop_lengths_only():
    """A smoke override may shorten a loop (steps, repeats, tokens generated, the largest n
    whose FLOPs are counted op by op), never a model's or a batch's shape."""
    shapes = ("d_model", "heads", "layers", "batch", "vocab", "seq_len", "doc_len", "patch")
    for nb, overrides in profile._SMOKE.items():
        full = notebook_sizes(nb, "full")
        for key, value in overrides.items():
            assert key in full, (nb, key)
            assert not any(word in key for word in shapes) and key not in ("d", "ns", "ds"), (nb, key)
            assert type(value) is type(full[key]), (nb, key)
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
