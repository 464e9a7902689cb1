"""One module per benchmark scenario; each returns a plain dict of figures for the report."""
