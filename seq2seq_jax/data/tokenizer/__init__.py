"""Tokenizers: SentencePiece (unigram/BPE) and a classic word-level vocabulary.

All tokenizers share one id convention (:mod:`.base`), so the model and the
input pipeline never need to know which kind is in use::

    pad_id = 0   <pad>  padding (masked out of the loss)
    bos_id = 1   <s>    first decoder input
    eos_id = 2   </s>   end of sentence (appended by the input pipeline)
    unk_id = 3   <unk>  out-of-vocabulary token / unknown character

``encode`` returns only the tokens of the text (no BOS/EOS: the pipeline adds
them where each tensor needs them). ``decode`` is its inverse for model
output: it stops at the first EOS, drops PAD/BOS, and returns detokenized
text (for BLEU and for humans).

Modules: :mod:`.sentencepiece_model` and :mod:`.word_vocab` hold the two
kinds; :mod:`.per_run` trains the tokenizers of a run once
(:func:`build_tokenizers`), stores them in ``<workdir>/tokenizer/`` and
reloads those files on resume, so a resumed run sees the exact same ids.
"""

from seq2seq_jax.data.tokenizer.base import (BOS_ID, EOS_ID, PAD_ID, SPECIAL_PIECES, UNK_ID,
                                             Tokenizer, TokenizerBase)
from seq2seq_jax.data.tokenizer.per_run import (build_tokenizers, default_tokenizer_config,
                                                load_tokenizer)
from seq2seq_jax.data.tokenizer.sentencepiece_model import (SentencePieceTokenizer,
                                                            load_sentencepiece,
                                                            train_sentencepiece)
from seq2seq_jax.data.tokenizer.word_vocab import WordVocab, word_detokenize, word_tokenize

__all__ = [
    "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID", "SPECIAL_PIECES",
    "Tokenizer", "TokenizerBase", "SentencePieceTokenizer", "WordVocab",
    "train_sentencepiece", "load_sentencepiece", "load_tokenizer",
    "build_tokenizers", "word_tokenize", "word_detokenize",
    "default_tokenizer_config",
]
