"""The `tidings` command line (and, later, the HTTP API and web pages)."""
