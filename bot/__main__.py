"""``python -m bot`` is the same as the ``fkbot`` console script."""

from bot.cli import main

raise SystemExit(main())
