"""Exercise checks, one module per notebook (``nb01`` … ``nb11``); the pattern is in ``_common``.

``from course_utils.exercises import check_…`` finds every check here."""
from .nb01 import *  # noqa: F401,F403
from .nb02 import *  # noqa: F401,F403
from .nb03 import *  # noqa: F401,F403
from .nb04 import *  # noqa: F401,F403
from .nb05 import *  # noqa: F401,F403
from .nb06 import *  # noqa: F401,F403
from .nb07 import *  # noqa: F401,F403
from .nb08 import *  # noqa: F401,F403
from .nb09 import *  # noqa: F401,F403
from .nb10 import *  # noqa: F401,F403
from .nb11 import *  # noqa: F401,F403
from ._common import exercise_check  # noqa: F401
