"""Encoders, the multi-head message classifier, calibration and the MLflow pyfunc wrapper."""
