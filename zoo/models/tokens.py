"""The special tokens of the zoo's WordPiece vocabularies, shared by the tokenizer
(``zoo.data.preprocess``) and the BERT model (which derives segment ids from ``[SEP]``), so neither
imports the other."""

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
