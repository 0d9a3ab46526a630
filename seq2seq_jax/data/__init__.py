"""Datasets, tokenizers and the input pipeline."""
