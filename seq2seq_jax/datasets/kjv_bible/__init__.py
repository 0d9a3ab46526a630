"""The King James Bible (public domain) for language modelling, from Debian's
``bible-kjv-text`` (the compressed text) and ``bible-kjv`` (the program that reads it).

* :mod:`.verses` -- running the packaged ``bible`` program over the whole text and parsing
  its output into verses; the split by chapter;
* :mod:`.builder` -- the TFDS builder ``kjv_bible``; importing it registers it.
"""
