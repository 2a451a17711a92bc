"""Training configs, the trainer, MLflow tracking and the promotion gate."""
