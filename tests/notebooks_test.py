"""The Colab notebooks (colab/*.ipynb): stored clean, and they run top to bottom.

Each notebook is executed with nbclient on a Jupyter kernel of *this* interpreter
(a kernelspec written to a temporary JUPYTER_PATH, so no system kernel is picked up),
in a temporary working directory, with ``SEQ2SEQ_NOTEBOOK_SIZE=ci`` (each notebook's
size switch: about a minute on 2 CPU cores). Any cell error fails the test, and so
does a notebook running past NOTEBOOK_TIMEOUT_S. Set SEQ2SEQ_NOTEBOOK_OUT=<dir> to
keep the executed notebooks (with outputs) for a look.
"""
import asyncio
import glob
import json
import os
import sys
import time

import ipykernel  # noqa: F401  (the kernel the notebooks run on; from the `test` extra)
import nbclient
import nbformat
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB = os.path.join(REPO, "colab")
NOTEBOOKS = sorted(glob.glob(os.path.join(COLAB, "*.ipynb")))
EXPECTED = ("01_quickstart.ipynb", "02_inside_the_lstm.ipynb", "03_reproduce_a_paper.ipynb",
            "04_beam_search_explorer.ipynb", "05_language_model.ipynb")
BADGE = "https://colab.research.google.com/github/seq2seq-jax/seq2seq_jax/blob/main/colab/{}"
INSTALL = "pip install git+https://github.com/seq2seq-jax/seq2seq_jax"
NOTEBOOK_TIMEOUT_S = 420  # per notebook; at ci size each takes about a minute on 2 cores
KERNEL_NAME = "seq2seq-notebook-test"


def _ids(paths):
  return [os.path.basename(p) for p in paths]


def _read(path):
  return nbformat.read(path, as_version=4)


def test_all_notebooks_present():
  assert tuple(_ids(NOTEBOOKS)) == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_clean(path):
  """Outputs stripped (readable diffs), a Colab badge and the install cell first."""
  nb = _read(path)
  nbformat.validate(nb)
  for i, cell in enumerate(nb.cells):
    if cell.cell_type == "code":
      assert cell.outputs == [], f"{os.path.basename(path)}: code cell {i} has stored outputs"
      assert cell.execution_count is None, (
          f"{os.path.basename(path)}: code cell {i} has an execution count")
  first = nb.cells[0]
  assert first.cell_type == "markdown"
  assert BADGE.format(os.path.basename(path)) in first.source, "missing Open in Colab badge"
  install = next(c for c in nb.cells if c.cell_type == "code")
  assert INSTALL in install.source and "import seq2seq_jax" in install.source, (
      "the first code cell must install the project when `import seq2seq_jax` fails")
  assert "SEQ2SEQ_NOTEBOOK_SIZE" in "".join(c.source for c in nb.cells), "no size switch"
  assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
  """A kernelspec running ipykernel on this interpreter, with the notebooks' test env."""
  root = tmp_path_factory.mktemp("jupyter")
  spec_dir = root / "kernels" / KERNEL_NAME
  spec_dir.mkdir(parents=True)
  pythonpath = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
  spec = {
      "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (tests)",
      "language": "python",
      "env": {"SEQ2SEQ_NOTEBOOK_SIZE": "ci", "PYTHONPATH": pythonpath,
              "PYDEVD_DISABLE_FILE_VALIDATION": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
  }
  (spec_dir / "kernel.json").write_text(json.dumps(spec))
  return {"JUPYTER_PATH": str(root), "JUPYTER_DATA_DIR": str(root / "data"),
          "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "IPYTHONDIR": str(root / "ipython")}


def _errors(nb):
  out = []
  for i, cell in enumerate(nb.cells):
    for o in cell.get("outputs", []):
      if o.get("output_type") == "error":
        out.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
  return out


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, kernel_env, tmp_path, monkeypatch):
  for k, v in kernel_env.items():
    monkeypatch.setenv(k, v)
  nb = _read(path)
  client = nbclient.NotebookClient(
      nb, kernel_name=KERNEL_NAME, timeout=NOTEBOOK_TIMEOUT_S, allow_errors=False,
      record_timing=True, resources={"metadata": {"path": str(tmp_path)}})
  t0 = time.time()
  failure = None
  try:
    asyncio.run(asyncio.wait_for(client.async_execute(), NOTEBOOK_TIMEOUT_S))
  except asyncio.TimeoutError:
    failure = f"did not finish within {NOTEBOOK_TIMEOUT_S} s"
  except nbclient.exceptions.CellExecutionError as e:
    failure = str(e)[-4000:]
  finally:
    keep = os.environ.get("SEQ2SEQ_NOTEBOOK_OUT")
    if keep:
      os.makedirs(keep, exist_ok=True)
      nbformat.write(nb, os.path.join(keep, os.path.basename(path)))
  print(f"{os.path.basename(path)}: {time.time() - t0:.1f} s")
  assert failure is None, f"{os.path.basename(path)}: {failure}"
  assert not _errors(nb), _errors(nb)
