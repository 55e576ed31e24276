"""Model families. Each module registers its variants on import: a new family is one new file
plus one import line here."""

from zoo.models import audio, bert, cnn, ds_cnn, mlp, resnet, rnn, transformer, vit  # noqa: F401
