import pytest
import torch
from torch import nn

from course_utils.training import NonFiniteLossError, accuracy, batches, train


def _separable(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def test_train_learns_and_stops_at_target():
    torch.manual_seed(0)
    x, y = _separable()
    model = nn.Linear(4, 2)
    hist = train(model, batches(x, y, batch_size=32), steps=2000, lr=0.05,
                 eval_fn=lambda: accuracy(model, x, y), eval_every=20, target=0.95, progress=False)
    assert hist.stopped_at_target and hist.final_metric >= 0.95
    assert hist.num_steps < 2000
    assert hist.losses[-1] < hist.losses[0]


def test_same_seed_same_history():
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        x, y = _separable()
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        runs.append(train(model, batches(x, y, batch_size=16, generator=torch.Generator().manual_seed(3)),
                          steps=30, progress=False).losses)
    assert runs[0] == runs[1]


def test_clipping_records_norm_before_clipping_and_bounds_the_update():
    torch.manual_seed(0)
    x, y = _separable()
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.mul_(100)                       # huge logits -> huge gradients
    before = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    hist = train(model, [(x * 1000, y)], steps=1, optimizer=opt, clip_norm=0.5, progress=False)
    assert hist.grad_norms[0] > 0.5
    assert (model.weight.detach() - before).norm() <= 0.5 + 1e-5


def test_nan_loss_raises_naming_the_step():
    x, y = _separable(64)
    x[10:, 0] = float("nan")
    model = nn.Linear(4, 2)
    with pytest.raises(NonFiniteLossError, match=r"at step \d+"):
        train(model, batches(x, y, batch_size=64), steps=5, progress=False)


def test_infinite_gradient_raises():
    class SqrtAtZero(nn.Module):  # finite loss, infinite gradient: d sqrt(w)/dw at w = 0
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.sqrt(self.w) * torch.tensor([1.0, -1.0]) + x[:, :2]

    x, y = _separable(8)
    with pytest.raises(NonFiniteLossError, match="gradient norm"):
        train(SqrtAtZero(), [(x, y)], steps=1, progress=False)


def test_warmup_scales_learning_rate():
    x, y = _separable(32)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train(model, [(x, y)], steps=2, optimizer=opt, warmup_steps=10, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)


def test_argument_errors():
    model = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="steps"):
        train(model, [], steps=0)
    with pytest.raises(ValueError, match="eval_fn"):
        train(model, [], steps=1, target=0.9)
    with pytest.raises(ValueError, match="first dim"):
        next(batches(torch.zeros(3, 2), torch.zeros(4), batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(torch.zeros(3, 2), batch_size=0))


def test_batches_cover_the_data_each_epoch():
    x = torch.arange(10)
    it = batches(x, batch_size=5, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([next(it)[0], next(it)[0]])
    assert sorted(seen.tolist()) == list(range(10))


def test_accuracy_restores_training_mode():
    model = nn.Linear(4, 2)
    model.train()
    x, y = _separable(16)
    acc = accuracy(model, x, y, batch_size=5)
    assert 0 <= acc <= 1 and model.training


def test_eval_seconds_exclude_time_spent_evaluating():
    import time

    x, y = _separable()
    model = nn.Linear(4, 2)

    def slow_eval():
        time.sleep(0.05)
        return 0.0

    hist = train(model, batches(x, y, batch_size=32), steps=20, eval_fn=slow_eval, eval_every=5,
                 progress=False)
    assert hist.eval_steps == [5, 10, 15, 20]
    assert hist.eval_seconds == sorted(hist.eval_seconds)
    # four evaluations slept 0.2 s in all; none of it is counted as training time (counted, the
    # gap after the last evaluation's timestamp would be the last sleep alone, 0.05 s). No
    # bound on the training steps' own time: on a busy machine it can be anything.
    assert hist.seconds - hist.eval_seconds[-1] >= 0.19


def test_time_budget_counts_this_process_cpu_not_the_wall_clock(monkeypatch):
    """On a CPU the budget is process CPU time: time spent waiting (another program holding the
    core) does not use it up."""
    import time

    x, y = _separable()
    model = nn.Linear(4, 2)
    fake_cpu = iter(range(10**6))
    monkeypatch.setattr(time, "process_time", lambda: next(fake_cpu) * 0.01)  # 10 ms a step

    def slow_batches():
        for b in batches(x, y, batch_size=32):
            time.sleep(0.002)                    # wall time passes, CPU time does not
            yield b

    hist = train(model, slow_batches(), steps=10**6, lr=0.01, max_seconds=0.095, progress=False)
    assert hist.stopped_at_time and 9 <= hist.num_steps <= 11


def test_smoke_run_takes_one_step(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    x, y = _separable()
    model = nn.Linear(4, 2)
    calls = []
    hist = train(model, batches(x, y, batch_size=32), steps=500, lr=0.01,
                 eval_fn=lambda: calls.append(1) or 0.5, eval_every=100, progress=False)
    assert hist.num_steps == 1 and len(calls) == 1


def test_progress_bar_of_an_early_stop_is_complete_not_failed(monkeypatch):
    """A notebook bar (tqdm.notebook) that stops on its target must not turn red and stay: the
    JupyterLab review saw 'known-answer task: 8 % 49/600' in red after an early stop."""
    import torch
    from tqdm import notebook

    from course_utils import training

    bars = []

    class Recording(notebook.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["display"] = False
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(training, "tqdm", Recording)
    model = torch.nn.Linear(2, 2)
    data = [(torch.randn(4, 2), torch.randint(0, 2, (4,)))]
    hist = training.train(model, data, steps=50, eval_fn=lambda: 1.0, eval_every=5, target=0.5)
    assert hist.stopped_at_target and hist.num_steps == 5
    (bar,) = bars
    assert bar.n == bar.total == 5
    assert bar.container.children[1].bar_style != "danger"


def test_notebook_bar_leaves_a_line_of_text_not_a_widget(monkeypatch):
    """In a notebook kernel the bar is shown through a display handle and replaced by one line of
    text when training ends: a widget left in the saved output reads 'Error displaying widget:
    model not found' after a reload (JupyterLab review J2)."""
    import IPython.display
    import torch

    from course_utils import training

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(training, "_notebook_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    model = torch.nn.Linear(2, 2)
    data = [(torch.randn(4, 2), torch.randint(0, 2, (4,)))]
    hist = training.train(model, data, steps=50, eval_fn=lambda: 1.0, eval_every=5, target=0.5,
                          desc="toy")
    assert hist.stopped_at_target
    widget, text = shown
    assert type(widget).__name__.endswith("HBox")                 # the live bar (a widget)
    assert isinstance(text, IPython.display.Pretty)               # what stays in the output
    assert text.data.startswith("toy: 5 steps (stopped at the target), ")
