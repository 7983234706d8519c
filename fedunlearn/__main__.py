from fedunlearn.cli import entry

raise SystemExit(entry())
