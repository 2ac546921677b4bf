"""``python -m bulkupdate`` runs the command line."""

from bulkupdate.cli import main

raise SystemExit(main())
