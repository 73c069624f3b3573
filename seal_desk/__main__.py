from seal_desk.cli import main

raise SystemExit(main())
