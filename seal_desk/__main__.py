from seal_desk.launcher import main

raise SystemExit(main())
