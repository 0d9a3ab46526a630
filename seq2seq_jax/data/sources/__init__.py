"""Parallel text sources, selected by name.

Every corpus the project trains or evaluates on reaches the input pipeline
through one function, :func:`load_parallel`, and one type,
:class:`ParallelSource`: a random-access sequence of ``(src, tgt)`` string
pairs (:mod:`.base`).

Accepted dataset names (``name`` argument of :func:`load_parallel`), one
dataset kind per module, tried in this order (:mod:`.registry`):

``synthetic/copy``, ``synthetic/reverse`` (:mod:`.synthetic_pairs`)
    Generated word sequences and their copy or reversal.

``text:<dir>`` or an existing directory path (:mod:`.text_files`)
    Plain aligned text files ``<dir>/<split>.<lang>``, optionally gzipped
    (``<dir>/<split>.<lang>.gz``), one sentence per line. Split names
    ``validation``, ``dev`` and ``valid`` are aliases of one another.

``<tfds_name>[/<config>][:<version>]`` (:mod:`.tfds_datasets`)
    Our own TFDS builders, such as ``software_l10n/<config>`` (package
    :mod:`seq2seq_jax.datasets.software_l10n`, configs such as ``en-de`` or
    ``en-de-small``), built on first use; or any other TFDS dataset whose
    features hold one text per language code, e.g. ``wmt14_translate/de-en``,
    which must already be prepared in ``data_dir`` as ``array_record`` files.

Anything else raises :class:`DatasetError` (a ``ValueError``) naming the dataset and
these forms; so do unknown configs, splits and languages, and empty splits.
Missing files raise :class:`FileNotFoundError` naming the path; a TFDS
dataset that is known but not prepared raises
:class:`DatasetNotPreparedError` (a ``FileNotFoundError``) that says how to
prepare it.
"""

from seq2seq_jax.data.sources import registry, synthetic_pairs, text_files, tfds_datasets
from seq2seq_jax.data.sources.base import (DatasetError, InMemoryParallelSource,
                                           ParallelSource, from_lists)
from seq2seq_jax.data.sources.registry import accepted_forms, load_parallel
from seq2seq_jax.data.sources.text_files import load_text_dir
from seq2seq_jax.data.sources.tfds_datasets import (OWN_TFDS_MODULES, DatasetNotPreparedError,
                                                    TfdsParallelSource, prepare_tfds)

# A name is matched against the kinds in this order: "synthetic/copy" is also a valid TFDS
# name, and a directory may be named like a TFDS dataset.
for _kind in (synthetic_pairs.KIND, text_files.KIND, tfds_datasets.KIND):
  registry.register(_kind)

__all__ = [
    "ParallelSource",
    "InMemoryParallelSource",
    "TfdsParallelSource",
    "DatasetNotPreparedError",
    "DatasetError",
    "load_parallel",
    "load_text_dir",
    "prepare_tfds",
    "from_lists",
    "OWN_TFDS_MODULES",
    "accepted_forms",
]

