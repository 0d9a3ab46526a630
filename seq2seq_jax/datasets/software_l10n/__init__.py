"""The software_l10n corpus: English–target sentence pairs from the localization files of
Debian packages, built by a TFDS builder.

Modules, in the order a build uses them:

* :mod:`.packages` -- the Debian packages each config is built from;
* :mod:`.debs` -- downloading them with ``apt-get download`` and unpacking only the files
  the extractors read;
* :mod:`.extract` -- finding catalogs and two-language documents in the unpacked trees and
  turning each into cleaned candidate pairs, using
  :mod:`.catalogs` (gettext ``.mo`` and Qt ``.qm``, the bulk of the corpus),
  :mod:`.documents` (LibreOffice help, GNOME Mallard, KDE handbooks, HTML manuals),
  :mod:`.alignment` (Gale–Church block and sentence alignment of those documents) and
  :mod:`.cleaning` (normalisation and the quality filters of :func:`.cleaning.reject_reason`);
* :mod:`.splits` -- de-duplication on the case/punctuation-folded English and the split by a
  salted hash of it, so that held-out strings never become training strings when packages
  are added or updated;
* :mod:`.builder` -- the TFDS builder ``software_l10n``; importing it registers the builder.

Everything but :mod:`.debs` and :mod:`.builder` is a pure function of bytes, strings or an
already unpacked directory tree. This ``__init__`` imports nothing, so extraction worker
processes do not pay for importing TFDS.
"""
