"""seq2seq_jax: recurrent sequence-to-sequence learning in JAX/Flax."""

__version__ = "0.1.0"
