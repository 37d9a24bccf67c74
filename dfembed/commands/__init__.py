"""Click commands, one module per stage; each is a thin adapter over the package API."""
