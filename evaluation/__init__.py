"""Metrics, benchmark runners, reports and plots."""
