from rackpilot_agent.cli import main

raise SystemExit(main())
