"""The labeler runtime: numpy + onnxruntime only.

The compiler imports it (as `alchemist_runtime`) for its own checks and copies it into every
emitted package (as `<package>._runtime`): one implementation, two users.
"""

from .labeler import Labeler

__all__ = ["Labeler"]
