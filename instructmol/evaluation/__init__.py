"""Evaluation harness: batched generation, metrics, reports with plots."""
