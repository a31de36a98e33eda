"""Run profiles: one place for every size a notebook uses.

``quick`` is for CPUs (CI, laptops): every notebook finishes in about a minute on 2 cores
(runtimes in the README's table).
``full`` is for a GPU (Colab): larger models, more steps, more points on every curve.
``quick`` is the default everywhere until the full profile has passed on a GPU
(:data:`FULL_PROFILE_PASSED_ON_GPU`); ``COURSE_PROFILE=quick|full`` chooses. ``COURSE_SEED`` sets
the seed (default 0) and ``COURSE_DEVICE`` forces a device (``cpu``, ``cuda``).

``COURSE_SMOKE=1`` (``python -m course_utils run --smoke``) runs the full profile's sizes with
every training loop and timing cut to a step or two and no claim judged: it proves that the
full profile builds every model and tensor at its real shape, and measures its peak memory,
without a GPU.

Threads are chosen here, not inherited: on a CPU the course runs torch with
:func:`course_threads` intra-op threads (1 unless ``COURSE_THREADS`` says otherwise). The
models are small, and with two threads every tiny op waits for the slower one: when another
program keeps one core busy, two threads made notebooks 15–50x slower, one thread did not.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .machinery import claims, machine
from .machinery.environment import default_device, smoke_run

PROFILES = ("quick", "full")

# Becomes True once every notebook has passed the full profile on a GPU; until then a CUDA
# device gets the quick profile by default too (the header of each notebook says how to ask for
# the full one).
FULL_PROFILE_PASSED_ON_GPU = False

# Sizes per notebook, per profile. A notebook reads its sizes from here and nowhere else.
_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "01": {
        "quick": dict(path_lengths=[4, 8, 16, 32, 64], d_model=64, num_heads=4, num_layers=2,
                      seq_len=10, train_size=4500, val_size=500, test_size=2000, batch_size=64,
                      max_steps=600, target_accuracy=0.97, bow_steps=400,
                      search_per_topic=30, embed_len=48, fact_tokens=22),
        "full": dict(path_lengths=[4, 8, 16, 32, 64, 128, 256], d_model=128, num_heads=4,
                     num_layers=2, seq_len=24, train_size=22000, val_size=2000, test_size=5000,
                     batch_size=128, max_steps=4000, target_accuracy=0.995, bow_steps=1500,
                     search_per_topic=200, embed_len=128, fact_tokens=40),
    },
    "02": {
        "quick": dict(d_ks=[2, 4, 8, 16, 32, 64, 128, 256, 512], num_keys=64, trials=256,
                      d_model=64, num_heads=4, num_layers=1, min_len=6, max_len=12,
                      train_size=4500, val_size=500, test_size=2000, batch_size=64,
                      max_steps=1500, target_accuracy=0.97, clip_norm=1.0),
        "full": dict(d_ks=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048], num_keys=128,
                     trials=1024, d_model=128, num_heads=8, num_layers=3, min_len=8, max_len=40,
                     train_size=22000, val_size=2000, test_size=5000, batch_size=128,
                     max_steps=5000, target_accuracy=0.995, clip_norm=1.0),
    },
    "03": {
        "quick": dict(d_model=64, num_heads=4, num_layers=1, seq_len=16, train_size=4500,
                      val_size=500, test_size=2000, batch_size=64, max_steps=800,
                      target_accuracy=0.97, no_position_steps=100, pe_positions=128, pe_d_model=64),
        "full": dict(d_model=128, num_heads=4, num_layers=2, seq_len=32, train_size=22000,
                     val_size=2000, test_size=5000, batch_size=128, max_steps=4000,
                     target_accuracy=0.995, no_position_steps=1000, pe_positions=512,
                     pe_d_model=128),
    },
    "04": {
        "quick": dict(d=64, table_ns=[128, 256, 512, 1024], path_n=64, conv_kernel=3, window=4,
                      ns=[256, 512, 1024, 2048, 4096], count_max=2048, fixed_n=512,
                      ds=[32, 64, 128, 256, 512], min_run_time=0.1, rounds=5, grad_d=32,
                      grad_lengths=[4, 8, 16, 32, 64], grad_draws=6),
        "full": dict(d=64, table_ns=[128, 256, 512, 1024, 2048], path_n=128, conv_kernel=3,
                     window=8, ns=[256, 512, 1024, 2048, 4096, 8192, 16384], count_max=16384,
                     fixed_n=1024,
                     ds=[32, 64, 128, 256, 512, 1024], min_run_time=0.3, rounds=5, grad_d=64,
                     grad_lengths=[4, 8, 16, 32, 64, 128], grad_draws=16),
    },
    "05": {
        "quick": dict(d=64, step_lengths=[8, 16, 32, 64], batch_sizes=[1, 16], lengths=[64, 256],
                      min_run_time=0.15, rounds=5, throughput_rounds=5,
                      thread_config=(16, 256), gen_new=32, prefill_len=64, llama_rounds=3, ddp_batch=64),
        "full": dict(d=128, step_lengths=[8, 16, 32, 64, 128], batch_sizes=[1, 16, 64],
                     lengths=[64, 256, 1024], min_run_time=0.3, rounds=5, throughput_rounds=5,
                     thread_config=(16, 256), gen_new=64, prefill_len=256, llama_rounds=5, ddp_batch=256),
    },
    "06": {
        "quick": dict(lm_sizes=[(16, 1), (32, 1), (64, 1), (96, 1)], lm_steps=60, lm_batch=64,
                      lm_len=64, lr=3e-3, warmup=6, lm_eval_every=4,
                      data_sizes=[500, 4000, 16000, 64000], data_steps=100, small_d=64, small_steps=50,
                      small_batch=32, small_len=32, data_eval_every=25, heads=[1, 2, 4, 8],
                      head_seeds=3, mlm_eval_windows=512, min_run_time=0.1,
                      vit_sizes=[30, 150, 600], vit_seeds=3, vit_test=597, vit_val=200,
                      vit_max_steps=400, vit_eval_every=20, vit_patience=3, vit_check=2, vit_d=32,
                      vit_layers=1, vit_patch=2, vision_batch=32, vision_lr=3e-3),
        "full": dict(lm_sizes=[(32, 1), (64, 2), (128, 4), (256, 4), (512, 8)], lm_steps=2000,
                     lm_batch=64, lm_len=256, lr=1e-3, warmup=100, lm_eval_every=50,
                     data_sizes=[1000, 4000, 16000, 64000, 256000, 1000000], data_steps=2000, small_d=128,
                     small_steps=2000, small_batch=64, small_len=64, data_eval_every=100,
                     heads=[1, 2, 4, 8, 16], head_seeds=3, mlm_eval_windows=2048, min_run_time=0.5,
                     vit_sizes=[30, 100, 300, 600], vit_seeds=5, vit_test=597, vit_val=200,
                     vit_max_steps=3000, vit_eval_every=50, vit_patience=5, vit_check=2,
                     vit_d=64, vit_layers=4, vit_patch=2, vision_batch=64, vision_lr=1e-3),
    },
    "07": {
        "quick": dict(seq_len=12, train_size=3300, val_size=300, test_size=300, d_model=64, num_heads=4,
                      num_layers=2, max_steps=600, target_accuracy=0.99, num_sentences=16,
                      permutations=10000, corr_examples=100,
                      ft_sizes=[20, 160], ft_test=100, ft_layers=1, ft_len=24, ft_batch=8,
                      ft_steps=20, ft_lr_pretrained=3e-4, ft_lr_scratch=1e-3,
                      explain_examples=20, explain_articles=10, lime_samples=64, shap_evals=64,
                      ig_steps=32, ig_steps_real=16, induction_batch=4, induction_len=32,
                      ablation_draws=20),
        "full": dict(seq_len=24, train_size=22000, val_size=2000, test_size=2000, d_model=128, num_heads=8,
                     num_layers=4, max_steps=4000, target_accuracy=0.995, num_sentences=200,
                     permutations=100000, corr_examples=2000,
                     ft_sizes=[20, 80, 320, 1280], ft_test=400, ft_layers=6, ft_len=128,
                     ft_batch=16, ft_steps=300, ft_lr_pretrained=5e-5, ft_lr_scratch=3e-4,
                     explain_examples=200, explain_articles=100, lime_samples=500, shap_evals=300,
                     ig_steps=64, ig_steps_real=32, induction_batch=8, induction_len=100,
                     ablation_draws=50),
    },
    "09": {
        "quick": dict(held_out_articles=26, vocab_sizes=[500, 1000, 2000, 5000, 10000, 20000],
                      bpe_sizes=[300, 1000, 4000], compare_size=4000,
                      tokenizer_chars=150_000, scratch_chars=40_000, scratch_vocab=300,
                      doc_words=24, subword_vocab=2000, subword_len=72, test_docs=445,
                      perturb_rate=1.0, clf_steps=150, clf_batch=24, d_model=48,
                      pt_d=64, pt_heads=4, pt_steps=90, pt_batch=32, pt_len=32, pt_lr=3e-3,
                      pt_warmup=6, pt_eval_windows=512),
        "full": dict(held_out_articles=26, vocab_sizes=[500, 1000, 2000, 5000, 10000, 20000, 50000],
                     bpe_sizes=[300, 500, 1000, 2000, 4000, 8000, 16000, 32000],
                     compare_size=8000, tokenizer_chars=3_000_000, scratch_chars=100_000,
                     scratch_vocab=500, doc_words=120, subword_vocab=4000, subword_len=320,
                     test_docs=445, perturb_rate=1.0, clf_steps=1000, clf_batch=32, d_model=128,
                     pt_d=128, pt_heads=4, pt_steps=2000, pt_batch=64, pt_len=64, pt_lr=1e-3,
                     pt_warmup=100, pt_eval_windows=2048),
    },
    "10": {
        "quick": dict(d=64, heads=1, ns=[256, 512, 1024, 2048, 4096, 8192], naive_max_n=4096,
                      fit_from=1024,
                      window=64, block=64, proj=256, min_run_time=0.05,
                      approx_len=512, approx_ks=[16, 32, 64, 128, 256, 512],
                      approx_windows=[4, 16, 64, 256, 511],
                      needle_len=192, needle_after=128, needle_copies=8, needle_train=3000,
                      needle_val=200,  # of needle_train, held out: early stopping reads it
                      needle_test=200, needle_steps=40, needle_eval_every=10, doc_len=384,
                      doc_steps=60, cut=128,
                      test_docs=200, d_model=32, num_heads=2, train_window=16, train_proj=64,
                      batch_size=16, doc_batch=8, layers=2),
        "full": dict(d=64, heads=1, ns=[256, 512, 1024, 2048, 4096, 8192, 16384, 32768], fit_from=1024,
                     naive_max_n=32768, window=64, block=64, proj=256, min_run_time=0.2,
                     approx_len=512, approx_ks=[8, 16, 32, 64, 128, 256, 512],
                     approx_windows=[2, 4, 8, 16, 32, 64, 128, 256, 511],
                     needle_len=1024, needle_after=128, needle_copies=8, needle_train=10000,
                     needle_val=1000, needle_test=2000, needle_steps=1000, needle_eval_every=25,
                     doc_len=512,
                     doc_steps=600, cut=128,
                     test_docs=400, d_model=64, num_heads=4, train_window=32, train_proj=128,
                     batch_size=32, doc_batch=32, layers=2),
    },
    "11": {
        "quick": dict(lengths=[8, 16, 32], num_values=10, recall_train=4000, recall_test=500,
                      recall_budget=3.0, recall_more_budget=0.0, recall_more_lengths=[],
                      d_model=64, num_heads=4, batch_size=32,
                      doc_words=128, test_docs=400, vocab_size=8000, clf_budget=2.0,
                      sentiment_train=4000, sentiment_test=2000,
                      max_number=9999, mt_train=3000, mt_test=500, mt_layers=1, mt_budget=5.0,
                      mt_target=0.95, state_lengths=[64, 256, 1024], eval_every=25,
                      val_size=500, val_docs=200, mt_val=300),
        "full": dict(lengths=[8, 12, 16, 32, 64, 128, 256, 512], num_values=10,
                     recall_train=20000, recall_test=2000, recall_budget=30.0,
                     recall_more_budget=150.0, recall_more_lengths=[16, 64], d_model=128,
                     num_heads=4, batch_size=64, doc_words=512, test_docs=400, vocab_size=20000,
                     clf_budget=60.0, sentiment_train=20000, sentiment_test=5000,
                     max_number=99999, mt_train=20000, mt_test=2000, mt_layers=2, mt_budget=120.0,
                     mt_target=0.99, state_lengths=[64, 256, 1024, 4096], eval_every=100,
                     val_size=1000, val_docs=200, mt_val=1000),
    },
    "08": {
        "quick": dict(num_symbols=10, num_pairs=4, d_model=64, num_heads=4, hops=[1, 2],
                      depths=[1, 2], train_size=10000, val_size=500, test_size=500, batch_size=256,
                      max_steps=300, lr=5e-3, warmup=30, target=0.97, solved=0.9, eval_every=25,
                      one_layer_below=0.8,
                      time_depths=[1, 2, 4, 8], time_batch=256, min_run_time=0.2, deep=5,
                      residual_steps=60, residual_batch=32, grad_depths=[4, 8, 16],
                      grad_batch=16, grad_draws=6, ln_depth=8, warmup_long=20, high_lr=3e-3,
                      ln_steps=60, ln_batch=64),
        "full": dict(num_symbols=16, num_pairs=8, d_model=128, num_heads=4, hops=[1, 2, 3, 4],
                     depths=[1, 2, 4, 6, 8], train_size=40000, val_size=4000, test_size=4000,
                     batch_size=128, max_steps=5000, lr=1e-3, warmup=200, target=0.99, solved=0.9,
                     one_layer_below=0.85,
                     eval_every=200, time_depths=[1, 2, 4, 8, 16], time_batch=512,
                     min_run_time=0.5, deep=12, residual_steps=2000, residual_batch=128,
                     grad_depths=[6, 12, 24, 48], grad_batch=128, grad_draws=8, ln_depth=12,
                     warmup_long=400,
                     high_lr=2e-3, ln_steps=2000, ln_batch=128),
    },
}


# Smoke-run overrides on top of the full sizes: how long loops run and how many test examples
# whole-test-set analyses walk through, never a model's or a batch's shape (tests/test_profile.py
# checks). The course's own loops are cut centrally: training.train takes SMOKE_STEPS steps,
# accuracy() and evaluate_lm() read SMOKE_EVAL_ROWS rows, timing.measure() makes one call.
_SMOKE: dict[str, dict[str, Any]] = {
    "01": dict(search_per_topic=40, fact_tokens=4),   # MiniLM run over every searched article; tokens generated
    "02": dict(test_size=500),           # attention read off every negated test sentence
    "04": dict(count_max=2048),          # FLOPs counted op by op through an n-step LSTM loop
    "05": dict(gen_new=4, prefill_len=8),   # SmolLM2: tokens generated one pass at a time; prompt timed
    "07": dict(test_size=100, corr_examples=100,    # occlusion: one forward pass per token
               explain_examples=10, explain_articles=2, lime_samples=20, shap_evals=20,  # model calls per text
               ig_steps=4, ig_steps_real=4,                                               # IG's path points
               ablation_draws=3),                                    # forward passes of SmolLM2, one per draw
    "08": dict(grad_draws=1),            # gradient norms averaged over random draws
}


@dataclass(frozen=True)
class Profile:
    """The run profile of one notebook: its name, device, seed and sizes.

    ``sizes`` is a namespace, so a notebook writes ``P.sizes.d_model``.
    """

    name: str
    device: torch.device
    seed: int
    sizes: SimpleNamespace = field(default_factory=SimpleNamespace)
    notebook: str | None = None

    @property
    def is_quick(self) -> bool:
        return self.name == "quick"

    @property
    def smoke(self) -> bool:
        """A smoke run: the full profile's sizes, loops cut to a step or two, nothing judged."""
        return smoke_run()

    def seed_everything(self, offset: int = 0) -> int:
        """Seed Python, NumPy and torch with ``seed + offset``; return that seed."""
        return seed_everything(self.seed + offset)

    def describe(self) -> str:
        """One line: profile, device, threads, seed, torch (the sizes are in ``P.sizes``)."""
        threads = torch.get_num_threads()
        return (f"profile {self.name}{' (smoke run)' if self.smoke else ''} · {self.device} · "
                f"{threads} thread{'s' if threads != 1 else ''} · seed {self.seed} · "
                f"torch {torch.__version__}")


def seed_everything(seed: int) -> int:
    """Seed ``random``, NumPy and torch (CPU and CUDA) with ``seed``; return it."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def _default_device() -> torch.device:
    return default_device()


def course_threads(device: torch.device | None = None) -> int:
    """The intra-op threads torch uses for this course: ``COURSE_THREADS`` if set, else 1 on a
    CPU (small ops cannot stall on a busy core) and torch's own choice next to a GPU. A smoke
    run, whose ops are full-size and which times nothing, uses up to 4 cores."""
    raw = os.environ.get("COURSE_THREADS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"COURSE_THREADS={raw!r} is not an integer") from None
        if n < 1:
            raise ValueError(f"COURSE_THREADS must be >= 1, got {n}")
        return n
    if smoke_run():   # full-size ops and nothing timed: every core helps (1.4x faster on 06)
        return min(4, os.cpu_count() or 1)
    device = device or _default_device()
    return 1 if device.type == "cpu" else torch.get_num_threads()


def profile_name() -> str:
    """``COURSE_PROFILE`` if set (``full`` in a smoke run), else ``quick``; ``full`` on CUDA
    once :data:`FULL_PROFILE_PASSED_ON_GPU`."""
    name = os.environ.get("COURSE_PROFILE", "").strip().lower()
    if smoke_run():
        if name and name != "full":
            raise ValueError(f"a smoke run uses the full profile's sizes; COURSE_PROFILE={name!r}")
        return "full"
    if not name:
        return "full" if FULL_PROFILE_PASSED_ON_GPU and _default_device().type == "cuda" else "quick"
    if name not in PROFILES:
        raise ValueError(f"COURSE_PROFILE={name!r} is not one of {PROFILES}")
    return name


def seed_from_env() -> int:
    raw = os.environ.get("COURSE_SEED", "0")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"COURSE_SEED={raw!r} is not an integer") from None


def get_profile(notebook: str | None = None, *, seed_now: bool = True) -> Profile:
    """Return the run profile, with the sizes of ``notebook`` (``"01"`` … ``"11"``).

    Seeds every generator with the profile's seed unless ``seed_now`` is False, and tells the
    course runner (when one is listening) which profile, device and seed this run used.
    """
    name = profile_name()
    sizes: dict[str, Any] = {}
    if notebook is not None:
        if notebook not in _SIZES:
            raise KeyError(f"no sizes for notebook {notebook!r}; known: {sorted(_SIZES)}")
        sizes = notebook_sizes(notebook, name, smoke=smoke_run())
    device = _default_device()
    torch.set_num_threads(course_threads(device))
    prof = Profile(name=name, device=device, seed=seed_from_env(),
                   sizes=SimpleNamespace(**sizes), notebook=notebook)
    if seed_now:
        prof.seed_everything()
    machine.install_cell_hook()

    claims.record_run_info(profile=prof.name, device=str(prof.device), seed=prof.seed,
                           torch=torch.__version__, threads=torch.get_num_threads(),
                           notebook=notebook)
    return prof


def notebook_sizes(notebook: str, profile: str, *, smoke: bool = False) -> dict[str, Any]:
    """The sizes of one notebook in one profile (for tests and the README). With ``smoke``, the
    full sizes with the notebook's smoke overrides (loop lengths only, never a shape)."""
    sizes = dict(_SIZES[notebook][profile])
    if smoke:
        sizes.update(_SMOKE.get(notebook, {}))
    return sizes
