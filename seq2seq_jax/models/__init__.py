"""Model families, each a frozen config plus pure functions of a parameter pytree.

* :mod:`.seq2seq` -- the recurrent encoder-decoder with attention (``ModelConfig``,
  ``Seq2Seq``: ``encode`` / ``init_carry`` / ``decode_step``, teacher forcing).
* :mod:`.seq2one` -- a recurrent stack read to each sequence's end with a linear head
  (regression or classification), e.g. the long-time-lag problems.
* :mod:`.config` -- what both share: building a frozen config from a dict, with unknown
  fields named.
"""
