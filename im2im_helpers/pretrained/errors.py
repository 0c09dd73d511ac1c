"""What can go wrong when a pretrained checkpoint is read and mapped onto our networks."""

from __future__ import annotations


class PretrainedError(ValueError):
    """A pretrained checkpoint or its configuration cannot be used; the message names the file,
    what was expected and what to do."""


class CheckpointError(PretrainedError):
    """The checkpoint file cannot be read (missing, cut short, not a checkpoint, unsafe to
    unpickle) or its weights do not fit the network its configuration describes."""


class ConfigError(PretrainedError):
    """An MMV_Im2Im configuration is missing or does not have MMV_Im2Im's layout."""


class UnmappableError(PretrainedError):
    """The checkpoint's network (or framework) has no exact counterpart among
    :func:`im2im_helpers.models.build`'s networks and :mod:`im2im_helpers.tasks`."""


class UnsupportedPreprocessingError(PretrainedError):
    """The configuration normalises inputs with a step this package does not reproduce."""
