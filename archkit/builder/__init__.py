"""Spec -> torch.nn.Module. Imports torch: import this package only where a model is needed."""

from .model import InceptionNet, InceptionOutput, build

__all__ = ["InceptionNet", "InceptionOutput", "build"]
