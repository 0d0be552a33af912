"""``python -m loco_sw train ...``: see ``loco_sw.cli``."""

from .cli import main

main()
