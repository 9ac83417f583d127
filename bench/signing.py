"""Signed resource meta: what signing and verifying cost per CreateTask+GetTask pair (issue 9).

Same process, same run, interleaved rounds, medians:

- the envelope alone: ``encode_meta`` at create plus ``decode_meta`` at get through the call
  layer, signed and unsigned, in microseconds per pair;
- pairs per second through a real loopback ``ConnectorService`` (flyteidl v1 CreateTask then
  GetTask, one client, a no-op async connector), once with the service's signer and once with a
  pass-through signer that neither signs nor checks (a stand-in that exists only here: the
  service has no switch to turn signing off).

Target: signing costs under 3% of the pair rate.

Run: ``python bench/signing.py`` (options ``--rounds R`` default 7, ``--pairs N`` default 300).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from collections.abc import Sequence

from _common import machine_notes, table

import connector
from connector.registry._calls import ConnectorCalls
from connector.registry._signing import MetaKey, MetaSigner


@dataclasses.dataclass
class NoopMeta(connector.ResourceMeta):
    job_id: str
    created_at: float


class Noop(connector.AsyncConnector):
    """A connector that does nothing, so the figure is the service's own cost."""

    task_type_name = "noop"
    metadata_type = NoopMeta

    async def create(self) -> NoopMeta:
        return NoopMeta("job-0123456789abcdef", 1_700_000_000.0)

    async def get(self) -> connector.Resource:
        return connector.Resource(connector.Phase.SUCCEEDED)

    async def delete(self) -> None:
        return None


def registry_of(connector_class: type) -> connector.ConnectorRegistry:
    # Not the test kit's registry_of: it needs pytest, which the bench session does not install.
    registry = connector.ConnectorRegistry(settings=connector.RegistrySettings())
    registry.register(connector_class)
    return registry


class PassThrough(MetaSigner):
    """Signs nothing and checks nothing: the unsigned column."""

    def sign(self, category: connector.TaskCategory, payload: bytes) -> bytes:
        return payload

    def verify(self, category: connector.TaskCategory, data: bytes) -> bytes:
        return data


KEY = MetaKey("bench", b"k" * 32)


def envelope_us(calls: ConnectorCalls, meta: NoopMeta, pairs: int) -> float:
    """Microseconds per pair of ``encode_meta`` then ``decode_meta``."""
    start = time.perf_counter()
    for _ in range(pairs):
        calls.decode_meta(calls.encode_meta(meta))
    return (time.perf_counter() - start) / pairs * 1e6


async def pairs_per_second(signer: MetaSigner, pairs: int) -> float:
    """CreateTask+GetTask pairs per second through a loopback service using ``signer``."""
    import grpc
    from flyteidl.admin import agent_pb2
    from flyteidl.core import tasks_pb2
    from flyteidl.service import agent_pb2_grpc

    from connector.server import ConnectorService, ServiceOptions

    service = ConnectorService(registry_of(Noop), ServiceOptions(port=0, prometheus_port=None), signer=signer)
    await service.start()
    await service.ready.wait()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = agent_pb2_grpc.AsyncAgentServiceStub(channel)
            create = agent_pb2.CreateTaskRequest(template=tasks_pb2.TaskTemplate(type="noop"))
            category = agent_pb2.TaskCategory(name="noop")
            for _ in range(20):  # warm up
                await stub.GetTask(
                    agent_pb2.GetTaskRequest(
                        task_category=category, resource_meta=(await stub.CreateTask(create)).resource_meta
                    )
                )
            start = time.perf_counter()
            for _ in range(pairs):
                meta = (await stub.CreateTask(create)).resource_meta
                await stub.GetTask(agent_pb2.GetTaskRequest(task_category=category, resource_meta=meta))
            return pairs / (time.perf_counter() - start)
    finally:
        await service.stop(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; medians are printed")
    parser.add_argument("--pairs", type=int, default=300, help="pairs per service measurement")
    args = parser.parse_args(argv)

    loaded = registry_of(Noop).get("noop")
    meta = NoopMeta("job-0123456789abcdef", 1_700_000_000.0)
    signed_calls = ConnectorCalls(loaded, signer=MetaSigner([KEY]))
    plain_calls = ConnectorCalls(loaded)
    envelope: dict[str, list[float]] = {"signed": [], "unsigned": []}
    rates: dict[str, list[float]] = {"signed": [], "unsigned": []}
    for round_ in range(args.rounds):
        envelope["signed"].append(envelope_us(signed_calls, meta, 20_000))
        envelope["unsigned"].append(envelope_us(plain_calls, meta, 20_000))
        # Alternate which goes first, so a drift of the machine does not favour one.
        order = ["signed", "unsigned"] if round_ % 2 == 0 else ["unsigned", "signed"]
        for name in order:
            signer = MetaSigner([KEY]) if name == "signed" else PassThrough([KEY])
            rates[name].append(asyncio.run(pairs_per_second(signer, args.pairs)))
        print(f"[bench] round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    e_signed, e_plain = statistics.median(envelope["signed"]), statistics.median(envelope["unsigned"])
    r_signed, r_plain = statistics.median(rates["signed"]), statistics.median(rates["unsigned"])
    cost_us = e_signed - e_plain
    pair_us = 1e6 / r_signed
    print(f"Signed resource meta ({machine_notes()}; {args.rounds} rounds, medians)\n")
    print(
        table(
            ["figure", "unsigned", "signed", "difference"],
            [
                [
                    "encode+decode meta per pair",
                    f"{e_plain:.1f} us",
                    f"{e_signed:.1f} us",
                    f"+{cost_us:.1f} us",
                ],
                [
                    "pairs/s, loopback service",
                    f"{r_plain:.0f}",
                    f"{r_signed:.0f}",
                    f"{(r_signed / r_plain - 1) * 100:+.1f}%",
                ],
            ],
        )
    )
    share = cost_us / pair_us * 100
    verdict = "met   " if share < 3 else "MISSED"
    print(f"\n{verdict} signing under 3% of a pair: {cost_us:.1f} us of {pair_us:.0f} us = {share:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
