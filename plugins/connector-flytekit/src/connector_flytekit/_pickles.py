"""Refusing inputs flytekit would unpickle: pickle-typed variables of a template's interface, pickle literals.

flytekit's connectors convert inputs with its TypeEngine, and some guess the Python types from the
caller's own interface (flytekit's ``SensorEngine.create``: ``TypeEngine.guess_python_type``). A
variable typed as a blob of format ``PythonPickle`` becomes ``FlytePickle``, whose transformer
``cloudpickle.load``s the file at the URI the caller's literal names: the caller's code, run here.
So before any flytekit conversion the template's interface and the inputs are walked (collections,
maps, unions, offloaded literals) on the raw protobufs, and any such type or literal is refused,
unless the operator opts in with ``CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS=1``.
"""

from __future__ import annotations

from typing import Any

from ._exceptions import FlytekitRequestError
from ._settings import PICKLED_INPUTS_VARIABLE

#: Blob formats flytekit's transformers read by unpickling the blob, and how.
PICKLE_FORMATS = {
    "PythonPickle": "flytekit's FlytePickleTransformer loads with cloudpickle.load",
    "SklearnEstimator": "flytekit's sklearn transformer loads with joblib.load",
    "PyTorchTensor": "flytekit's PyTorch transformer loads with torch.load",
    "PyTorchModule": "flytekit's PyTorch transformer loads with torch.load",
    "PyTorchCheckpoint": "flytekit's PyTorch checkpoint transformer loads with torch.load",
}


def refuse_pickled_inputs(template: Any, inputs: Any, category: str) -> None:
    """Raise ``FlytekitRequestError`` (INVALID_ARGUMENT) for the first pickle-typed input.

    ``template`` is a ``flyteidl.core.TaskTemplate`` and ``inputs`` a ``flyteidl.core.LiteralMap``
    (either may be None); nothing of flytekit is imported or run.
    """
    # By sorted keys, not items(): a protobuf map's items() is collections.abc's Python ItemsView.
    if template is not None and template.HasField("interface"):
        variables = template.interface.inputs.variables
        for name in sorted(variables):
            found = _pickle_type(variables[name].type, name)
            if found is not None:
                where, form = found
                _refuse(
                    where,
                    category,
                    f"declared in the task template's interface as a blob of format {form!r}",
                    form,
                )
    if inputs is not None:
        literals = inputs.literals
        for name in sorted(literals):
            pickle = _pickle_literal(literals[name], name)
            if pickle is not None:
                _refuse(pickle[0], category, pickle[1], pickle[2])


def _refuse(where: str, category: str, what: str, form: str) -> None:
    raise FlytekitRequestError(
        f"input {where!r} of task type {category} is {what}, which {PICKLE_FORMATS[form]} from the path "
        f"the request names: that runs whatever code the file holds in this service. Send the input as "
        f"another type, or set {PICKLED_INPUTS_VARIABLE}=1 if every caller may run code here",
        field="inputs",
    )


def _pickle_type(root: Any, name: str) -> tuple[str, str] | None:
    """The path and format of the first pickle blob type in a ``LiteralType``, walked without recursion."""
    stack = [(root, name)]
    while stack:
        literal_type, path = stack.pop()
        kind = literal_type.WhichOneof("type")
        if kind == "blob" and literal_type.blob.format in PICKLE_FORMATS:
            return path, literal_type.blob.format
        if kind == "collection_type":
            stack.append((literal_type.collection_type, f"{path}[*]"))
        elif kind == "map_value_type":
            stack.append((literal_type.map_value_type, f"{path}[*]"))
        elif kind == "union_type":
            for index, variant in reversed(list(enumerate(literal_type.union_type.variants))):
                stack.append((variant, f"{path}<variant {index}>"))
    return None


def _pickle_literal(root: Any, name: str) -> tuple[str, str, str] | None:
    """The path, description and format of the first pickle in a ``Literal``, walked without recursion."""
    stack = [(root, name)]
    while stack:
        literal, path = stack.pop()
        kind = literal.WhichOneof("value")
        if kind == "collection":
            items = list(enumerate(literal.collection.literals))
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(items))
        elif kind == "map":
            entries = sorted(literal.map.literals.items(), reverse=True)
            stack.extend((item, f"{path}[{key!r}]") for key, item in entries)
        elif kind == "offloaded_metadata":
            found = _pickle_type(literal.offloaded_metadata.inferred_type, path)
            if found is not None:
                return found[0], f"an offloaded literal typed as a blob of format {found[1]!r}", found[1]
        elif kind == "scalar":
            scalar = literal.scalar
            which = scalar.WhichOneof("value")
            if which == "blob" and scalar.blob.metadata.type.format in PICKLE_FORMATS:
                form = scalar.blob.metadata.type.format
                return path, f"a blob of format {form!r}", form
            if which == "union":
                found = _pickle_type(scalar.union.type, path)
                if found is not None:
                    return found[0], f"a union value typed as a blob of format {found[1]!r}", found[1]
                stack.append((scalar.union.value, path))
    return None
