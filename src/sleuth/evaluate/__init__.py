"""Evaluation harnesses: BEIR-format retrieval (ranx metrics)."""

from sleuth.evaluate.beir import evaluate_beir

__all__ = ["evaluate_beir"]
