"""``python -m attribution``: the same as the ``attribution`` command."""

from .cli import main

raise SystemExit(main())
