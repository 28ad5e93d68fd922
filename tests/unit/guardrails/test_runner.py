"""One event's hooks on one exchange: checks together or in sequence, transforms chained, the
verdict rules (deny, fail, skip), and the timing fields the metrics and ``hook_results`` read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.config.hooks import CheckCall, Hook, parse_hooks
from gateway.guardrails.check import BEFORE_REQUEST, CheckResult, CheckSpec, HookContext
from gateway.guardrails.runner import run_event
from tests.unit.guardrails.checks.context import answer, request


def hooks(*raw: dict[str, Any], event: str = "before_request_hooks") -> tuple[Hook, ...]:
    parsed = parse_hooks({event: list(raw)}, "config")
    return (parsed.before if event == "before_request_hooks" else parsed.after) or ()


def check(check_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": check_id, "parameters": parameters}


PREFIX = check("default.addPrefix", prefix="SAFE ")
STARTS_SAFE = check("default.regexMatch", rule="^SAFE ")


async def test_a_sequential_hook_shows_each_check_the_transforms_before_it() -> None:
    context = request("hello")
    outcome = await run_event(hooks({"sequential": True, "checks": [PREFIX, STARTS_SAFE]}), context)
    assert [c["verdict"] for c in outcome.results[0]["checks"]] == [True, True]
    assert context.request_json["messages"][-1]["content"] == "SAFE hello"
    assert outcome.transformed


async def test_checks_of_one_hook_together_read_the_same_body_and_transforms_apply_after() -> None:
    context = request("hello")
    outcome = await run_event(hooks({"checks": [PREFIX, STARTS_SAFE]}), context)
    assert [c["verdict"] for c in outcome.results[0]["checks"]] == [True, False]
    assert context.request_json["messages"][-1]["content"] == "SAFE hello"
    assert outcome.results[0]["transformed"] is True


async def test_later_hooks_see_earlier_hooks_transforms() -> None:
    context = request("hello")
    outcome = await run_event(hooks({"checks": [PREFIX]}, {"checks": [STARTS_SAFE]}), context)
    assert [r["verdict"] for r in outcome.results] == [True, True]


async def test_a_failing_denying_hook_denies_and_a_failing_other_hook_only_fails() -> None:
    failing = [check("default.regexMatch", rule=r"\d")]
    denied = await run_event(hooks({"deny": True, "checks": failing}), request("no digits"))
    assert (denied.denied, denied.failed, denied.results[0]["deny"]) == (True, True, True)
    failed = await run_event(hooks({"checks": failing}), request("no digits"))
    assert (failed.denied, failed.failed, failed.results[0]["deny"]) == (False, True, False)
    passed = await run_event(hooks({"deny": True, "checks": failing}), request("4 digits"))
    assert (passed.denied, passed.failed, passed.results[0]["deny"]) == (False, False, False)


async def test_hooks_on_unguarded_request_types_and_embeddings_after_the_model_are_skipped() -> None:
    failing = hooks({"deny": True, "checks": [check("default.regexMatch", rule=r"\d")]})
    images = request("no digits")
    images.request_type = "images"
    outcome = await run_event(failing, images)
    assert outcome.results[0]["skipped"] is True
    assert (outcome.denied, outcome.failed, outcome.timings) == (False, False, [])
    embed_after = answer("no digits")
    embed_after.request_type = "embed"
    after = hooks(
        {"deny": True, "checks": [check("default.wordCount", minWords=9)]}, event="after_request_hooks"
    )
    assert (await run_event(after, embed_after)).results[0]["skipped"] is True


async def test_timings_name_check_event_and_verdict_and_results_carry_times() -> None:
    raw = {
        "checks": [check("default.regexMatch", rule="x"), check("default.log", logURL="http://127.0.0.1:9/x")]
    }
    outcome = await run_event(hooks(raw), request("no match"))
    # The log check passes, but with no session to call out with it could not post: an error.
    assert [(t.check, t.event, t.verdict) for t in outcome.timings] == [
        ("default.regexMatch", BEFORE_REQUEST, "fail"),
        ("default.log", BEFORE_REQUEST, "error"),
    ]
    assert all(t.seconds >= 0 for t in outcome.timings)
    [result] = outcome.results
    assert result["execution_time"] >= 0
    assert result["created_at"].endswith("Z")
    assert all(c["execution_time"] >= 0 and c["created_at"].endswith("Z") for c in result["checks"])
    assert outcome.seconds >= 0


class _InFlight:
    """A check that calls out: it yields to the loop, and counts how many of its runs overlap."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    def spec(self) -> CheckSpec:
        def prepare(parameters: Mapping[str, Any]) -> None:
            return None

        async def run(context: HookContext, prepared: None) -> CheckResult:
            self.running += 1
            self.most = max(self.most, self.running)
            for _ in range(3):  # long enough for every concurrent run to have started
                await asyncio.sleep(0)
            self.running -= 1
            return CheckResult(verdict=True)

        return CheckSpec(id="test.in_flight", prepare=prepare, run_async=run)


async def test_checks_that_call_out_run_concurrently_unless_the_hook_is_sequential() -> None:
    for sequential, overlapping in ((False, 3), (True, 1)):
        in_flight = _InFlight()
        calls = (CheckCall(in_flight.spec(), None),) * 3
        hook = Hook(id="h", event=BEFORE_REQUEST, type="guardrail", checks=calls, sequential=sequential)
        outcome = await run_event([hook], request("hello"))
        assert in_flight.most == overlapping
        assert outcome.results[0]["verdict"] is True


async def test_feedback_lists_successful_failed_and_errored_checks() -> None:
    raw = {
        "on_fail": {"feedback": {"value": -1, "weight": 1, "metadata": {"team": "a"}}},
        "checks": [
            check("default.regexMatch", rule="h"),
            check("default.regexMatch", rule=r"\d"),
            check("default.webhook", webhookURL="http://127.0.0.1:9/x"),
        ],
    }
    outcome = await run_event(hooks(raw), request("hello"))
    metadata = outcome.results[0]["feedback"]["metadata"]
    assert (metadata["team"], metadata["successfulChecks"]) == ("a", "default.regexMatch")
    assert (metadata["failedChecks"], metadata["erroredChecks"]) == ("default.regexMatch", "default.webhook")
