"""Pinned availability zones: the network does not move when the region's AZ list changes.

The stack files list their AZs (``networkAvailabilityZones``); the program checks them
against ``aws:index/getAvailabilityZones`` but never takes its shape from that answer. These
tests change what the mocks answer (notes_platform/graph/mocks.py, wrapped, not changed) and
compare every resource with the plan of the unchanged answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from notes_platform.graph import mocks
from notes_platform.graph.plan import Plan, run_plan
from stacks.config import StackConfigError
from tests.type_tokens import SUBNET

ZONES_INVOKE = "aws:index/getAvailabilityZones:getAvailabilityZones"


def _answer_zones(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, Any], list[str]], list[str]]
) -> None:
    """Make the mocks answer ``change(invoke args, names)`` instead of the region's six AZs."""
    original = mocks.AwsMocks._invokes

    def invokes(self: mocks.AwsMocks) -> dict[str, Any]:
        table: dict[str, Any] = original(self)
        answer = table[ZONES_INVOKE]

        def zones(args: dict[str, Any]) -> dict[str, Any]:
            full = answer(args)
            names = change(args, list(full["names"]))
            ids = [full["zoneIds"][full["names"].index(n)] for n in names]
            return {"names": names, "zoneIds": ids}

        return {**table, ZONES_INVOKE: zones}

    monkeypatch.setattr(mocks.AwsMocks, "_invokes", invokes)


def _shape(plan: Plan) -> dict[str, Any]:
    """Every resource by URN with its inputs: what a `pulumi up` diff is computed from."""
    return {r.urn: r.inputs for r in plan.resources}


@pytest.fixture(scope="module")
def baseline() -> dict[str, Plan]:
    """Both stacks planned with the mocks' usual answer, in this process's environment (the
    session's ``plans`` pin an image tag through the environment; these need not know how)."""
    return {stack: run_plan(stack) for stack in ("staging", "prod")}


@pytest.mark.parametrize("stack", ["staging", "prod"])
@pytest.mark.parametrize(
    "answer",
    [
        # The first AZ is impaired: the "available" list shrinks and every later AZ moves up.
        pytest.param(
            lambda args, names: names[1:] if args.get("state") == "available" else names, id="shrunk"
        ),
        # The region answers in another order.
        pytest.param(lambda _args, names: names[::-1], id="reordered"),
    ],
)
def test_a_changed_zone_list_changes_no_subnet(
    baseline: dict[str, Plan],
    monkeypatch: pytest.MonkeyPatch,
    stack: str,
    answer: Callable[[dict[str, Any], list[str]], list[str]],
) -> None:
    # GIVEN the stack planned with the region's usual answer
    before = _shape(baseline[stack])
    zones = baseline[stack].config.network.availability_zones
    assert len(baseline[stack].of_type(SUBNET)) == 3 * len(zones), "three tiers of subnets per pinned AZ"
    # WHEN the region's AZ list changes (an AZ leaves "available", or the order differs)
    _answer_zones(monkeypatch, answer)
    after = _shape(run_plan(stack))
    # THEN no resource of the stack is added, removed or changed: subnets, NAT gateways, route
    # tables and everything placed in them keep their URNs and inputs (CIDR, AZ)
    assert set(after) == set(before), sorted(set(after) ^ set(before))
    changed = sorted(urn for urn in before if before[urn] != after[urn])
    assert not changed, changed


def test_a_pinned_zone_the_region_does_not_have_stops_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a region (account) whose AZs do not include staging's eu-west-1b
    _answer_zones(monkeypatch, lambda _args, names: [n for n in names if n != "eu-west-1b"])
    # WHEN staging is planned
    with pytest.raises(StackConfigError) as caught:
        run_plan("staging")
    # THEN the program stops naming the file, the key and the zone
    message = str(caught.value)
    assert message.startswith(
        "Pulumi.staging.yaml: notes-platform:networkAvailabilityZones: eu-west-1b not among eu-west-1's"
    ), message
