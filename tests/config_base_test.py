"""seq2seq_jax.config_base: strict `get_config(arg)` parsing, and every config file loads."""
import glob
import importlib.util
import os

import pytest

from conftest import REPO
from seq2seq_jax import config_base

SIZES = ("tiny", "cpu", "full")


def _load(path):
  name = "cfg_" + os.path.relpath(path, REPO).replace(os.sep, "_").removesuffix(".py")
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))
EXPERIMENT_CONFIGS = sorted(glob.glob(os.path.join(REPO, "experiments", "*", "config.py")))


# --- parse_arg ---------------------------------------------------------------------------
def test_defaults_and_bare_bool():
  args = config_base.parse_arg(None, runlocal=False, full=False, size="cpu")
  assert args.to_dict() == {"runlocal": False, "full": False, "size": "cpu"}
  args = config_base.parse_arg("runlocal", runlocal=False, full=False)
  assert args.runlocal is True and args.full is False
  assert config_base.parse_arg("", runlocal=False).runlocal is False


@pytest.mark.parametrize("text", ["False", "false", "FALSE", "0", "no", "No"])
def test_false_values_stay_false(text):
  """`runlocal=False` used to turn runlocal on (bool("False") is True)."""
  assert config_base.parse_arg(f"runlocal={text}", runlocal=False).runlocal is False
  assert config_base.parse_arg(f"runlocal={text}", runlocal=True).runlocal is False


@pytest.mark.parametrize("text", ["True", "true", "1", "yes", "YES"])
def test_true_values(text):
  assert config_base.parse_arg(f"runlocal={text}", runlocal=False).runlocal is True


@pytest.mark.parametrize("text", ["", "2", "nope", "on", "None"])
def test_a_bad_bool_names_the_argument_and_the_value(text):
  with pytest.raises(ValueError, match=rf"'runlocal' is a bool.*got '{text}'"):
    config_base.parse_arg(f"runlocal={text}", runlocal=False)


def test_numbers_take_the_type_of_their_default():
  args = config_base.parse_arg("hidden=128,lr=3e-4,name=gru", hidden=64, lr=1e-3, name="lstm")
  assert args.hidden == 128 and isinstance(args.hidden, int)
  assert args.lr == pytest.approx(3e-4) and isinstance(args.lr, float)
  assert args.name == "gru"
  assert config_base.parse_arg("lr=2", lr=1e-3).lr == 2.0
  assert config_base.parse_arg("path=/a/b", path=None).path == "/a/b"


@pytest.mark.parametrize("arg, match", [
    ("hidden=1.5", r"'hidden' takes a int value \(default 64\), got '1.5'"),
    ("hidden=big", r"'hidden' takes a int value \(default 64\), got 'big'"),
    ("hidden=", r"'hidden' takes a int value"),
    ("lr=fast", r"'lr' takes a float value \(default 0.001\), got 'fast'"),
])
def test_a_bad_number_names_the_argument_and_the_value(arg, match):
  with pytest.raises(ValueError, match=match):
    config_base.parse_arg(arg, hidden=64, lr=1e-3)


@pytest.mark.parametrize("arg", ["hidden", "size", "lr"])
def test_a_bare_key_is_true_only_for_bool_arguments(arg):
  with pytest.raises(ValueError, match=rf"{arg!r} needs a value \({arg}=\.\.\.\)"):
    config_base.parse_arg(arg, hidden=64, size="cpu", lr=1e-3, runlocal=False)


def test_unknown_and_repeated_arguments():
  with pytest.raises(ValueError, match=r"unknown config argument 'runlcal'.*known: "
                                       r"\['full', 'runlocal'\]"):
    config_base.parse_arg("runlcal", runlocal=False, full=False)
  with pytest.raises(ValueError, match="'size' given twice"):
    config_base.parse_arg("size=cpu,size=full", size="cpu")


# --- the config files -------------------------------------------------------------------
def test_the_config_files_are_found():
  assert os.path.join(REPO, "configs", "default.py") in CONFIGS
  assert len(EXPERIMENT_CONFIGS) >= 6


def test_no_config_file_edits_sys_path():
  for path in CONFIGS + EXPERIMENT_CONFIGS:
    with open(path, encoding="utf-8") as f:
      assert "sys.path" not in f.read(), path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_every_config_loads_with_each_of_its_arguments(path):
  module = _load(path)
  for arg in (None, "", "runlocal", "runlocal=False", "full", "full,runlocal"):
    c = module.get_config(arg)
    assert c.task == "translation" and c.steps_per_call == 1 and c.model.fused_lstm is True
  # runlocal=False is the plain config; runlocal shrinks it.
  assert module.get_config("runlocal=False").to_dict() == module.get_config(None).to_dict()
  small, plain = module.get_config("runlocal"), module.get_config(None)
  assert small.num_train_steps < plain.num_train_steps
  assert small.model.hidden_dim < plain.model.hidden_dim
  assert module.get_config("full=False").to_dict() == plain.to_dict()
  assert module.get_config("full").dataset != plain.dataset


@pytest.mark.parametrize("path", EXPERIMENT_CONFIGS,
                         ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_every_experiment_config_loads_at_every_size_and_variant(path):
  module = _load(path)
  assert module.VARIANTS and len(set(module.VARIANTS)) == len(module.VARIANTS)
  for size in SIZES:
    for v in module.VARIANTS:
      c = module.get_config(f"size={size},variant={v}")
      assert c.task in ("translation", "long_lag", "language_model"), (size, v, c.task)
      assert c.steps_per_call >= 1
      if c.task == "translation":
        assert c.model.fused_lstm is True and c.steps_per_call == 1
      elif c.task == "language_model":  # every interval a whole number of compiled calls
        for k in ("log_every_steps", "eval_every_steps", "checkpoint_every_steps"):
          assert c[k] % c.steps_per_call == 0, (size, v, k)
      else:  # the long-lag loop's speed: one compiled call per log interval
        assert "synthetic" not in c and c.long_lag.problem in ("adding", "temporal_order")
        assert c.steps_per_call == c.log_every_steps
  # No argument: the cpu size of the folder's default variant.
  assert module.get_config(None).to_dict() in [
      module.get_config(f"size=cpu,variant={v}").to_dict() for v in module.VARIANTS]
  with pytest.raises(ValueError, match="unknown variant 'nope'"):
    module.get_config("size=cpu,variant=nope")
  with pytest.raises(ValueError, match="size must be one of"):
    module.get_config(f"size=huge,variant={module.VARIANTS[0]}")
  with pytest.raises(ValueError, match="unknown config argument"):
    module.get_config("sizes=cpu")


def test_the_long_lag_section():
  module = _load(os.path.join(REPO, "experiments", "hochreiter1997", "config.py"))
  c = module.get_config("size=cpu,variant=temporal_T100_rnn")
  assert c.long_lag.to_dict() == dict(
      problem="temporal_order", seq_len=100, test_size=2560, test_seed=1234,
      error_threshold=0.04, solved_error_rate=0.01, grad_norm_batch=256)
  assert c.steps_per_call == c.log_every_steps == 100
  tiny = module.get_config("size=tiny,variant=adding_T100_lstm")
  assert tiny.long_lag.problem == "adding" and tiny.long_lag.seq_len == 20
  assert tiny.steps_per_call == tiny.log_every_steps == 5
