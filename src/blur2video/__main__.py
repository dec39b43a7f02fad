"""``python -m blur2video`` is the same as the ``blur2video`` command."""

from .cli import main

raise SystemExit(main())
