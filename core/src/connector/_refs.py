"""References to data that lives elsewhere: the native form of Flyte blobs and structured datasets."""

from __future__ import annotations

import dataclasses

_DIMENSIONALITIES = ("single", "multipart")


@dataclasses.dataclass(frozen=True)
class BlobRef:
    """A file (``dimensionality="single"``) or a directory of files (``"multipart"``) at ``uri``.

    ``format`` is free text agreed between tasks (``"csv"``, ``"PythonPickle"``), empty when unknown.
    Connectors receive blob inputs as ``BlobRef`` and may return one (or a plain URI string) for a blob
    output; the data itself is never read or copied.
    """

    uri: str
    format: str = ""
    dimensionality: str = "single"

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str):
            raise TypeError(f"BlobRef.uri must be a str, not {type(self.uri).__name__}")
        if self.dimensionality not in _DIMENSIONALITIES:
            raise ValueError(
                f"BlobRef.dimensionality must be 'single' or 'multipart', not {self.dimensionality!r}"
            )


@dataclasses.dataclass(frozen=True)
class StructuredDatasetRef:
    """A table (a dataframe written as ``format``, e.g. ``"parquet"``) stored at ``uri``.

    Connectors receive structured-dataset inputs as ``StructuredDatasetRef`` and may return one (or a
    plain URI string) for a structured-dataset output; the data itself is never read or copied.
    """

    uri: str
    format: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str):
            raise TypeError(f"StructuredDatasetRef.uri must be a str, not {type(self.uri).__name__}")
