from ichviewer.cli import main

raise SystemExit(main())
