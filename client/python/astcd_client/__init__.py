"""astcd_client: the Python client of the astcd gRPC service (proto/astcd/v1/astcd.proto).

    from astcd_client import Client
    with Client("127.0.0.1:50051") as c:
        sessions, masks = c.init_states([{"start": "function"}] * 8, return_masks=True)
        ...

`Client.dataset` builds a training set (docs/dataset.md), `astcd_client.aio` is the asyncio
client, `Client.step_stream()` the Step stream, `astcd_client.torch` masks logits in place, and
`astcd_client.integrations` holds the Hugging Face and vLLM logits processors
(docs/integrations.md), and `astcd_client.display` shows a decode step by step (text, in-place
animation, GIF, JSON: docs/visualize.md); `python3 -m astcd_client.playground` serves the web
playground. Needs grpcio and protobuf (Debian's
python3-grpcio, python3-protobuf); numpy, torch and Pillow are optional and imported only when used.
"""
from . import display
from ._protocol import Session, SessionOrigin
from ._stubs import load_stubs
from .client import Client, StepStream
from .dataset import Dataset
from .errors import AstcdError, FieldViolation, VocabularyMismatchError, parse_status_details
from .masks import MASK_FORMATS, mask_rows_to_ints, mask_to_token_ids, masks_from_bytes

__version__ = "0.3.0"

__all__ = [
    "AstcdError",
    "Client",
    "Dataset",
    "FieldViolation",
    "MASK_FORMATS",
    "Session",
    "SessionOrigin",
    "StepStream",
    "VocabularyMismatchError",
    "display",
    "load_stubs",
    "mask_rows_to_ints",
    "mask_to_token_ids",
    "masks_from_bytes",
    "parse_status_details",
]
