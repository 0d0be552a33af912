"""``python -m loco ...`` is ``loco ...``."""

from .cli import main

main()
