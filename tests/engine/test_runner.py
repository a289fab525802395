"""The state-checking runner, step by step and through whole flows on every executor."""

from __future__ import annotations

import logging
import multiprocessing
import threading

import pytest

from headwater import Flow, Resume, context, signals, task, triggers
from headwater.engine.runner import TaskRunner, Upstream
from headwater.model import states as S
from tests.flows import engine as E
from tests.flows.basic import add, fail, one

# -- steps alone ----------------------------------------------------------------------------


def test_check_initial_state_keeps_a_finished_state() -> None:
    done = S.Success(result=7)
    assert TaskRunner(one).run(initial_state=done) is done


def test_check_upstream_finished_leaves_the_task_pending() -> None:
    state = TaskRunner(add).run([Upstream("x", S.Paused()), Upstream("y", S.Success(result=1))])
    assert type(state) is S.Pending and "Paused" in (state.message or "")


def test_a_cancelled_upstream_cancels() -> None:
    state = TaskRunner(add).run([Upstream("x", S.Cancelled()), Upstream("y", S.Success(result=1))])
    assert state.is_cancelled()


def test_get_inputs_takes_values_elements_and_constants() -> None:
    runner = TaskRunner(add, constants={"y": 10})
    assert runner.get_inputs([Upstream("x", S.Success(result=[5, 6]), index=1)]) == {
        "x": 6,
        "y": 10,
    }
    flat = Upstream("x", (S.Success(result=[1, 2]), S.Success(result=[3])), flattened=True)
    assert flat.value() == [1, 2, 3]
    assert Upstream("x", S.Success(result=[[1, 2], [3]]), index=(1, 0)).value() == 3


def test_run_with_one_runner_call_gives_success_with_value() -> None:
    state = TaskRunner(add).run(
        [Upstream("x", S.Success(result=2)), Upstream("y", S.Success(result=3))]
    )
    assert state.is_successful() and state.result == 5 and state.run_count == 1


# -- signals ----------------------------------------------------------------------------------

SIGNAL_STATES = {
    "SUCCESS": S.Success,
    "FAIL": S.Failed,
    "SKIP": S.Skipped,
    "PAUSE": S.Paused,
    "TRIGGERFAIL": S.TriggerFailed,
    "VALIDATIONFAIL": S.ValidationFailed,
}


@pytest.mark.parametrize("kind", sorted(SIGNAL_STATES))
def test_each_signal_becomes_its_state(kind: str, executor: object) -> None:
    with Flow("signals") as f:
        t = E.signal(kind)
    state = f.run(executor=executor).result[t]
    assert type(state) is SIGNAL_STATES[kind] and state.message == f"raised {kind}"


def test_signals_are_base_exceptions_that_user_code_cannot_swallow(executor: object) -> None:
    assert not issubclass(signals.FAIL, Exception)
    with Flow("swallow") as f:
        t = E.swallow_signals()
    assert f.run(executor=executor).result[t].is_failed()


def test_skip_keeps_its_result_never_the_signal(executor: object) -> None:
    with Flow("skip") as f:
        t = E.skip_with_result()
    state = f.run(executor=executor).result[t]
    assert state.is_skipped() and state.result == 42 and state.reason == "task"


def test_endrun_ends_with_the_given_state() -> None:
    @task
    def end() -> None:
        raise signals.ENDRUN(S.Cancelled("stopped by hand"))

    assert TaskRunner(end).run() == S.Cancelled("stopped by hand")


def test_signals_pickle() -> None:
    import pickle

    sig = pickle.loads(pickle.dumps(signals.SKIP("why", result=3, reason="condition")))
    assert sig.to_state().reason == "condition" and sig.to_state().result == 3
    end = pickle.loads(pickle.dumps(signals.ENDRUN(S.Failed("x"))))
    assert end.to_state() == S.Failed("x")


# -- retries ----------------------------------------------------------------------------------


def test_retries_until_success_and_counts_runs(executor: object) -> None:
    with Flow("retry") as f:
        t = E.fails_twice(task_args={"state_handlers": [E.trace]})
    state = f.run(executor=executor).result[t]
    assert state.is_successful() and state.result == 3 and state.run_count == 3
    assert state.message == "path:Pending>Running>Retrying>Running>Retrying>Running>Success"


def test_retry_on_limits_which_exceptions_retry(executor: object) -> None:
    with Flow("retry_on") as f:
        t = E.type_error_once()
    state = f.run(executor=executor).result[t]
    assert state.is_failed() and state.run_count == 1 and isinstance(state.exception, TypeError)


def test_retry_signal_counts_against_max_retries(executor: object) -> None:
    with Flow("retry_signal") as f:
        t = E.always_retry()
    state = f.run(executor=executor).result[t]
    assert state.is_failed() and state.run_count == 3
    assert "has no retries left (max_retries=2)" in (state.message or "")


def test_a_trigger_that_is_not_met_is_never_retried(executor: object) -> None:
    with Flow("no_retry_trigger") as f:
        t = add(fail(), 1, task_args={"max_retries": 3, "state_handlers": [E.trace]})
    state = f.run(executor=executor).result[t]
    assert state.is_trigger_failed() and state.message == "path:Pending>TriggerFailed"


def test_retrying_state_carries_start_time_and_exception() -> None:
    seen: list[S.State] = []

    def record(task: object, old: S.State, new: S.State) -> None:
        seen.append(new)

    TaskRunner(E.fails_twice.copy(state_handlers=[record])).run()
    retrying = [s for s in seen if s.is_retrying()]
    assert len(retrying) == 2
    assert all(
        isinstance(s.exception, ConnectionError) and s.start_time >= s.timestamp for s in retrying
    )  # type: ignore[attr-defined]


# -- loops, pause and resume --------------------------------------------------------------------


def test_loop_reruns_with_count_and_result(executor: object) -> None:
    with Flow("loop") as f:
        t = E.loop_to_five()
    state = f.run(executor=executor).result[t]
    assert state.is_successful() and state.result == 1 + 2 + 3 + 4 + 5 and state.run_count == 1


def test_pause_signal_pauses_and_resume_continues(executor: object) -> None:
    with Flow("pause") as f:
        p = E.pause_unless_resumed()
        after = add(1, 2, upstream_tasks=[p])
    first = f.run(executor=executor)
    assert first.is_paused() and first.result[p].is_paused() and first.result[after].is_pending()
    assert "resume them with flow.run(task_states={task: Resume()})" in (first.message or "")
    second = f.run(executor=executor, task_states={p: Resume()})
    assert (
        second.is_successful()
        and second.result[p].result == "resumed"
        and second.result[after].result == 3
    )


def test_manual_only_pauses_without_prompting_and_resumes(executor: object) -> None:
    with Flow("manual") as f:
        x = one()
        a = E.approve(x)
    first = f.run(executor=executor)
    assert first.result[x].is_successful() and first.result[a].is_paused()
    resumed = f.run(executor=executor, task_states={**first.result, a: Resume()})
    assert resumed.is_successful() and resumed.result[a].result == 101


# -- timeouts -------------------------------------------------------------------------------------


def test_timeout_ends_timed_out_without_waiting_for_the_call(executor: object) -> None:
    with Flow("timeout") as f:
        t = E.slow(30)
        after = add(t, 1)
    state = f.run(executor=executor)
    assert state.result[t].is_timed_out() and state.is_failed()
    assert "timed out after 0.3 seconds" in (state.result[t].message or "")
    assert state.result[after].is_trigger_failed()


def test_timeout_is_retried_like_any_failure(executor: object) -> None:
    with Flow("timeout_retry") as f:
        t = E.slow_then_fast()
    state = f.run(executor=executor).result[t]
    assert state.is_successful() and state.result == "second try" and state.run_count == 2


def test_timeout_does_not_affect_a_fast_call() -> None:
    state = TaskRunner(E.slow).run([Upstream("seconds", S.Success(result=0.01))])
    assert state.result == "finished"


def _timeout_state_name() -> str:
    with Flow("timeout_in_process") as f:
        t = E.slow(30)
    return type(f.run().result[t]).__name__


def test_timeout_behaves_the_same_in_a_thread_and_in_a_process() -> None:
    box: dict[str, str] = {}
    thread = threading.Thread(target=lambda: box.setdefault("name", _timeout_state_name()))
    thread.start()
    thread.join(60)
    assert box["name"] == "TimedOut"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_timeout_state_name) == "TimedOut"


# -- state handlers -------------------------------------------------------------------------------


def test_state_handlers_see_every_transition(executor: object) -> None:
    with Flow("handlers") as f:
        t = one(task_args={"state_handlers": [E.trace]})
    assert f.run(executor=executor).result[t].message == "path:Pending>Running>Success"


def test_a_failing_state_handler_fails_the_task_not_the_run(executor: object) -> None:
    def broken(task: object, old: S.State, new: S.State) -> None:
        if new.is_running():
            raise RuntimeError("handler bug")

    with Flow("bad_handler") as f:
        t = one(task_args={"state_handlers": [broken]})
        other = add(1, 2)
    state = f.run(executor=executor)
    assert state.result[t].is_failed() and state.result[other].result == 3
    assert "State handler 'broken' of task 'one' raised RuntimeError: handler bug" in (
        state.result[t].message or ""
    )


def test_on_failure_and_on_success_callbacks() -> None:
    calls: list[str] = []
    ok = one.copy(on_success=lambda t, s: calls.append(f"ok {s.result}"))
    bad = fail.copy(on_failure=lambda t, s: calls.append(f"failed {type(s.exception).__name__}"))
    TaskRunner(ok).run()
    TaskRunner(bad).run(initial_state=None)
    assert calls == ["ok 1", "failed ValueError"]


# -- context, names and logs ----------------------------------------------------------------------


def test_context_inside_a_task(executor: object) -> None:
    from headwater import Parameter

    with Flow("ctx") as f:
        Parameter("n", default=2)
        t = E.read_context()
    got = f.run(executor=executor, parameters={"n": 5}).result[t].result
    assert got == {
        "flow_name": "ctx",
        "task_name": "read_context",
        "task_run_count": 1,
        "map_index": None,
        "parameters": {"n": 5},
        "task_loop_count": 1,
        "has_ids": True,
    }


def test_context_is_read_only_and_empty_outside_a_run() -> None:
    assert len(context) == 0 and context.get("task_name") is None
    with pytest.raises(KeyError, match="'flow_name' is not in the run context"):
        context["flow_name"]
    with pytest.raises(TypeError):
        context["x"] = 1  # type: ignore[index]


def test_task_run_name_template() -> None:
    named = add.copy(task_run_name="add-{x}-{y}", state_handlers=[])
    TaskRunner(named).run([Upstream("x", S.Success(result=1)), Upstream("y", S.Success(result=2))])
    bad = add.copy(task_run_name="add-{nope}")
    state = TaskRunner(bad).run(
        [Upstream("x", S.Success(result=1)), Upstream("y", S.Success(result=2))]
    )
    assert state.is_failed() and "task_run_name 'add-{nope}' of task 'add' uses 'nope'" in (
        state.message or ""
    )


def test_log_stdout_and_logger_carry_flow_and_task_names(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="headwater")
    with Flow("logs") as f:
        E.chatty()
    assert f.run().is_successful()
    records = [r for r in caplog.records if r.name.startswith("headwater.task")]
    messages = {r.getMessage(): r for r in records}
    assert {"hello from a task", "careful"} <= set(messages)
    assert all(r.flow_name == "logs" and r.task_name == "chatty" for r in records)  # type: ignore[attr-defined]


def test_print_outside_log_stdout_tasks_still_reaches_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Flow("logs") as f:
        E.chatty()
    f.run()
    print("plain print")
    assert "plain print" in capsys.readouterr().out


def test_manual_only_is_a_trigger() -> None:
    assert E.approve.trigger is triggers.manual_only


def test_final_states_say_where_and_when_the_run_happened(executor: object) -> None:
    with Flow("run_info") as f:
        ok = one()
        skipped = add(E.skip_with_result(), 1)
    state = f.run(executor=executor)
    info = state.result[ok].run_info
    assert info is not None and info.start is not None and info.end >= info.start
    assert info.host and info.worker and info.thread and info.duration >= 0
    assert state.result[skipped].run_info is not None and state.result[skipped].run_info.start is None
