"""Code every Parley app may use: it imports no Parley app (import-linter checks it)."""
