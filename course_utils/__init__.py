"""course_utils: the shared, tested package of *Attention, Measured*.

The top level is the teaching library, one small module per topic: ``profile`` (run profiles),
``attention``, ``positional``, ``efficient`` (long-sequence attention), ``models``, ``training``,
``tasks``, ``data``, ``tokenization``, ``pretrained``, ``interpret``, ``fairness``, ``parallel``,
``timing``, ``graph``, ``plots``, ``viewer``, and ``exercises`` (one module per notebook). The
course's machinery (claims, runner, report, notebook catalog, student edition, command line)
lives in ``course_utils.machinery``; ``claim``, ``observe`` and ``claims_table`` are re-exported
here.
"""
from .machinery.claims import claim, claims_table, observe
from .profile import get_profile, seed_everything

__version__ = "0.1.0"
__all__ = ["get_profile", "seed_everything", "claim", "observe", "claims_table"]
