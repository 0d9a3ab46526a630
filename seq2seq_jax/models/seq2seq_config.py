"""The encoder-decoder's configuration: ``ModelConfig``, everything that determines the
parameters and the math of a :class:`~seq2seq_jax.models.seq2seq.Seq2Seq`."""
from __future__ import annotations

import dataclasses

from seq2seq_jax.models.config import from_dict
from seq2seq_jax.nn import attention as attn_lib
from seq2seq_jax.nn import cells as cells_lib

BIDIRECTIONAL = ("none", "first", "all")
BRIDGES = ("linear", "copy", "zeros")
DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything that determines the parameters and the math of a model.

  Attributes:
    src_vocab_size, tgt_vocab_size: V of each side.
    cell: one of ``cells.CELL_TYPES``; encoder and decoder use the same cell.
    embed_dim: E. hidden_dim: H (a bidirectional layer has H/2 per direction).
    encoder_layers, decoder_layers: L of each stack.
    bidirectional: which encoder layers read both ways: "none", "first" (GNMT)
      or "all".
    attention: "none" or one of ``attention.ATTENTION_TYPES``.
    attention_dim: A for concat/bahdanau/local_p MLPs (default H).
    local_window: Luong's D for local_m / local_p.
    input_feeding: Luong input feeding (requires Luong-style attention).
    bridge: decoder initial state from the encoder's final state:
      "linear" (tanh(W s + b) per layer and state part), "copy" or "zeros".
      Decoder layer l reads encoder layer l when the stacks have equal depth,
      else the top encoder layer.
    residual_start: first layer (0-based, >= 1) with a residual connection,
      None for none (GNMT uses 2).
    dropout: rate on embeddings, between layers and before the output layer.
    tie_embeddings: output projection = target embedding^T (needs E == H).
    share_embeddings: one embedding table for both sides (joint vocabulary).
    max_source_len: longest source the location attention can address.
    compute_dtype: "float32" or "bfloat16" (parameters stay float32).
    forget_bias: initial LSTM forget-gate bias.
    remat_chunk: 0, or rematerialise every scan (encoder and decoder) in chunks of
      this many steps (``recurrent.remat_scan``): the same values and gradients,
      memory O(T/chunk + chunk) instead of O(T) per layer, for one more forward pass.
      ~sqrt(T) is the memory optimum; for very long sequences.
    fused_lstm: a float32 LSTM layer scans through ``nn.fused_lstm.lstm_scan`` (a
      hand-written backward pass); False differentiates the plain scan. Same values to
      float32 rounding; a field (not a global) so that compiled functions see it.
  """
  src_vocab_size: int
  tgt_vocab_size: int
  cell: str = "lstm"
  embed_dim: int = 256
  hidden_dim: int = 512
  encoder_layers: int = 2
  decoder_layers: int = 2
  bidirectional: str = "none"
  attention: str = "general"
  attention_dim: int | None = None
  local_window: int = 10
  input_feeding: bool = True
  bridge: str = "linear"
  residual_start: int | None = None
  dropout: float = 0.0
  tie_embeddings: bool = False
  share_embeddings: bool = False
  max_source_len: int = 128
  compute_dtype: str = "float32"
  forget_bias: float = 1.0
  remat_chunk: int = 0
  fused_lstm: bool = True

  def __post_init__(self):
    def bad(msg):
      raise ValueError(f"ModelConfig: {msg}")
    cells_lib.num_gates(self.cell)  # raises on an unknown cell
    for name in ("src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden_dim",
                 "encoder_layers", "decoder_layers", "max_source_len"):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        bad(f"{name} must be a positive integer, got {getattr(self, name)!r}")
    if self.bidirectional not in BIDIRECTIONAL:
      bad(f"bidirectional must be one of {BIDIRECTIONAL}, got {self.bidirectional!r}")
    if self.bidirectional != "none" and self.hidden_dim % 2:
      bad(f"a bidirectional encoder splits hidden_dim in two halves; {self.hidden_dim} is odd")
    if self.attention != "none" and self.attention not in attn_lib.ATTENTION_TYPES:
      bad(f"attention must be 'none' or one of {attn_lib.ATTENTION_TYPES}, "
          f"got {self.attention!r}")
    if self.input_feeding and self.attention in ("none", "bahdanau"):
      bad(f"input_feeding is Luong's and needs Luong-style attention; "
          f"set input_feeding=False with attention={self.attention!r}")
    if self.attention in ("local_m", "local_p") and self.local_window < 1:
      bad(f"local_window must be >= 1, got {self.local_window}")
    if self.bridge not in BRIDGES:
      bad(f"bridge must be one of {BRIDGES}, got {self.bridge!r}")
    if self.residual_start is not None and self.residual_start < 1:
      bad("residual_start must be >= 1 (layer 0's input is the embedding) or None")
    if not 0.0 <= self.dropout < 1.0:
      bad(f"dropout must be in [0, 1), got {self.dropout}")
    if self.tie_embeddings and self.embed_dim != self.hidden_dim:
      bad(f"tie_embeddings needs embed_dim == hidden_dim, got "
          f"{self.embed_dim} and {self.hidden_dim}")
    if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
      bad("share_embeddings needs one joint vocabulary (src_vocab_size == tgt_vocab_size)")
    if not isinstance(self.remat_chunk, int) or self.remat_chunk < 0:
      bad(f"remat_chunk must be 0 (off) or a positive number of steps, "
          f"got {self.remat_chunk!r}")
    if self.compute_dtype not in DTYPES:
      bad(f"compute_dtype must be one of {DTYPES}, got {self.compute_dtype!r}")

  @classmethod
  def from_dict(cls, d) -> "ModelConfig":
    """From a dict / ConfigDict; unknown keys are an error naming them."""
    return from_dict(cls, d)

  @property
  def longest_source(self) -> int | None:
    """Most source tokens (EOS included) the model can read; None: any number.
    Only location attention has a limit: its scores are one weight row per position."""
    return self.max_source_len if self.attention == "location" else None

  def encoder_bidirectional(self) -> tuple[bool, ...]:
    return tuple(self.bidirectional == "all" or (self.bidirectional == "first" and l == 0)
                 for l in range(self.encoder_layers))

  @property
  def has_attention(self) -> bool:
    return self.attention != "none"

  @property
  def feedback(self) -> bool:
    """Does the decoder RNN read something computed by attention?"""
    return self.input_feeding or self.attention == "bahdanau"

