from support_core.cli import main

raise SystemExit(main())
