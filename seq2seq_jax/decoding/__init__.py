"""Decoding: greedy, sampling, beam search and ensembles over one model contract.

* :mod:`.protocol` -- the contract (``DecodeModel``: ``encode`` / ``init_carry`` /
  ``decode_step``; what decoders read from encoded sources and carries).
* :mod:`.lengths` -- output length limits and cutting at EOS.
* :mod:`.sampling` -- greedy decoding and ancestral sampling.
* :mod:`.beam_search` -- n-best beam search with GNMT length / coverage penalties.
* :mod:`.ensemble` -- M models decoded as one; parameter stacking and averaging.

The functions of ``lengths`` and ``sampling`` are re-exported here
(``decoding.greedy``, ``decoding.strip``, ...).
"""
from seq2seq_jax.decoding.lengths import max_output_lengths, static_output_len, strip
from seq2seq_jax.decoding.protocol import DecodeModel, DecoderState, SourceEncoding
from seq2seq_jax.decoding.sampling import filter_logits, greedy, sample

__all__ = ["DecodeModel", "DecoderState", "SourceEncoding", "filter_logits", "greedy",
           "max_output_lengths", "sample", "static_output_len", "strip"]
