"""Built-in claims. Importing this package registers them (in this order)."""

from . import foundation as foundation  # noqa: F401
from . import spectra as spectra  # noqa: F401
from . import lyapunov as lyapunov  # noqa: F401
from . import hessian as hessian  # noqa: F401
from . import architecture as architecture  # noqa: F401
from . import mechanisms as mechanisms  # noqa: F401
