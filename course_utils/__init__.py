"""course_utils: the shared, tested package of *Attention, Measured*.

One small module per topic: ``profile`` (run profiles), ``attention``, ``positional``,
``efficient`` (long-sequence attention), ``models``, ``training``, ``tasks``, ``data``,
``tokenization``, ``pretrained``, ``interpret``, ``fairness``, ``parallel``, ``timing``,
``graph``, ``plots``, ``viewer``, ``claims``, ``exercises``, and the course tooling (``links``,
``notebooks``, ``runner``, ``report``).
"""
from .claims import claim, claims_table, observe
from .profile import get_profile, seed_everything

__version__ = "0.1.0"
__all__ = ["get_profile", "seed_everything", "claim", "observe", "claims_table"]
