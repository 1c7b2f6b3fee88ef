"""`python -m c2am ...`: the `c2am` command (c2am.command)."""

from c2am.command import main

raise SystemExit(main())
