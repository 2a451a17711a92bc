"""MLflow pyfunc wrapper: serves the whole pipeline (encoder, heads, calibration) from the registry.

Logged as "models from code" (this file is the model's code), so loading it never unpickles
anything: the classifier itself is rebuilt from JSON and safetensors.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from models.classifier import MessageClassifier

ARTIFACT_KEY = "classifier"


class TidingsPyfunc(PythonModel):
    """Takes a DataFrame with a `text` column; returns one row per message with every head."""

    classifier: MessageClassifier

    def load_context(self, context: Any) -> None:
        """Load the classifier saved beside the model."""
        self.classifier = MessageClassifier.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input, params=None):
        # No annotations on purpose: MLflow would try to derive a schema from them.
        """Columns `<head>`, `<head>_probability`, `<head>_abstained`, `<head>_reason`, `needs_review`."""
        texts = list(model_input["text"]) if isinstance(model_input, pd.DataFrame) else list(model_input)
        rows = []
        for prediction in self.classifier.predict([str(t) for t in texts]):
            row: dict[str, Any] = {}
            for head, p in prediction.heads.items():
                row[head] = p.label
                row[f"{head}_probability"] = p.probability
                row[f"{head}_abstained"] = p.abstained
                row[f"{head}_reason"] = str(p.reason) if p.reason else None
            row["needs_review"] = prediction.needs_review
            rows.append(row)
        return pd.DataFrame(rows)


set_model(TidingsPyfunc())
