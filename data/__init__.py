"""Messages, the labelling taxonomy, the seed corpus, loaders and public-corpus adapters."""
