"""Corpora this project builds itself, each a TFDS builder in its own subpackage."""
