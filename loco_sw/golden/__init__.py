"""Bit-exact integer reference model of the gateware in :mod:`hw` (PyTorch ``int64``)."""

from .learning import *  # noqa: F401
from .lif import *  # noqa: F401
from .network import *  # noqa: F401
from .noise import *  # noqa: F401
