"""`import open_clip` beside torch 2.13.0 (CPU) and PyPI's torchvision 0.28.

open_clip imports torchvision (its image transforms, and `torchvision.ops.misc` for a layer
class). The only torchvision release that accepts torch 2.13.0 is a CUDA build: its compiled
operators (`_C.so`) link against libtorch_cuda and do not load beside the CPU torch, and its
`_meta_registrations` then fails at import, registering fake kernels for `torchvision::nms` and
`torchvision::qnms`, operators that were never declared ("operator torchvision::nms does not
exist").

The fix here declares those two operator schemas (the signatures of torchvision's `nms` and
`qnms`, which its fake kernels expect) before torchvision is imported, so that its import completes. No kernel is registered:
calling `torchvision.ops.nms` still fails loudly, and neither open_clip's CLIP models nor its
transforms call any torchvision operator (detection ops only). Nothing else changes, and a
torchvision whose operators do load (they are then already declared) is left alone.

Why not the other ways: making torchvision unimportable (`sys.modules["torchvision"] = None`)
breaks open_clip, whose transforms need it; a torch 2.14.1 + torchvision 0.29.1 pair is a 5.5 GB
CUDA build. Only the image featurizer imports this module, and only when a compile needs CLIP:
text, tabular and time-series compiles and every emitted labeler never import torchvision.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # kept alive: a torch.library.Library drops its definitions when collected


def declare_torchvision_operators() -> None:
    """Declare torchvision's nms/qnms schemas (once) so that `import torchvision` completes.

    Also what the tests need before sentence-transformers (the MiniLM reference), whose
    transformers import pulls torchvision in once it is installed (the image extra)."""
    global _library
    import torch

    if _library is None and not hasattr(torch.ops.torchvision, "nms"):
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _library.define(schema)


def import_open_clip() -> ModuleType:
    """The open_clip module, importable beside a torchvision whose operators cannot load."""
    declare_torchvision_operators()
    try:
        return importlib.import_module("open_clip")
    except ImportError as err:
        raise ImportError(
            f"image tasks need open_clip ({err}): pip install 'alchemist-compiler[image]'"
        ) from None
