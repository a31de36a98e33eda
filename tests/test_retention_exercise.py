"""The check of notebook 11's Exercise 2 (RetNet-style retention as a recurrence)."""
import torch

from course_utils import exercises as ex


from recurrences import retention_recurrent as _retention


def test_retention_check_accepts_the_recurrence():
    assert ex.check_retention_recurrence(_retention)


def test_retention_check_rejects_wrong_answers_with_a_hint_not_the_formula(capsys):
    assert not ex.check_retention_recurrence(None)
    assert not ex.check_retention_recurrence(lambda q, k, v, g: _retention(q, k, v, 1.0))  # no decay
    out = capsys.readouterr().out
    assert "✘" in out and "fade" in out and "gamma * S" not in out and "γ S" not in out

    def decays_after_adding(q, k, v, gamma):                    # y_t reads a state already decayed
        S, out = torch.zeros(q.shape[1], v.shape[1], dtype=q.dtype), []
        for t in range(q.shape[0]):
            S = gamma * (S + torch.outer(k[t], v[t]))
            out.append(q[t] @ S)
        return torch.stack(out)
    assert not ex.check_retention_recurrence(decays_after_adding)
    assert not ex.check_retention_recurrence(lambda q, k, v, g: v)          # not attention at all
