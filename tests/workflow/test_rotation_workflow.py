"""The rotation workflow (infra/rotation.asl.json) runs for real in moto's Step Functions execute mode.

The ASL is deployed exactly as CDK does it: the file's text with ${RotateFunctionArn} and
${AlarmTopicArn} substituted. The rotate Lambda is moto's Docker-less Lambda answering from a queue
of results (and, through moto_server_with_lambda_errors.py, Lambda function errors with the Rust
handler's `errorType`s). The alarm topic is subscribed by an SQS queue, so the SNS publish on the
failure path is observed as a delivered message.

moto runs as a separate moto_server on a free loopback port; if it cannot start, the tests fail.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

HERE = Path(__file__).resolve().parent
ASL_FILE = HERE.parent.parent / "infra" / "rotation.asl.json"
MOTO = HERE / "moto_server_with_lambda_errors.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROTATE_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:iamjwt-rotate"
CLOSED_SETS_FILE = HERE.parent.parent / "infra" / "closed-sets.json"
CLOSED_SETS = json.loads(CLOSED_SETS_FILE.read_text())
# The rotation steps, in order, and the rotate Lambda's error types: the committed mirror of the Rust core's tables.
STEPS = CLOSED_SETS["rotation_steps"]
[RETRYABLE] = CLOSED_SETS["rotate_error_types"]["retryable"]
NON_RETRYABLE = CLOSED_SETS["rotate_error_types"]["not_retryable"]
EXECUTION_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        kw = dict(
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.sfn = boto3.client("stepfunctions", **kw)
        self.sns = boto3.client("sns", **kw)
        self.sqs = boto3.client("sqs", **kw)

    def post(self, path: str, body: dict) -> None:
        req = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status in (200, 201), f"{path}: HTTP {resp.status}"

    def configure(self) -> None:
        self.post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})

    def queue_lambda_results(self, *results: str) -> None:
        self.post("/moto-api/static/lambda-simple/response", {"results": list(results), "region": REGION})


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    env = dict(os.environ, MOTO_PORT=str(port))
    # Never let a stray credential or endpoint setting send anything off this machine.
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        env.pop(var, None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {endpoint} within 30 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
        moto = Moto(endpoint)
        moto.configure()
        yield moto
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Deployment:
    """One state machine from the ASL file, with its alarm topic and an SQS queue listening to it."""

    def __init__(self, moto: Moto, name: str):
        self.moto = moto
        # A clean slate: no state machines, topics or queued Lambda results from other tests.
        moto.post("/moto-api/reset", {})
        moto.configure()
        self.topic_arn = moto.sns.create_topic(Name=f"{name}-alarms")["TopicArn"]
        self.queue_url = moto.sqs.create_queue(QueueName=f"{name}-alarms")["QueueUrl"]
        queue_arn = moto.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        moto.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        definition = (
            ASL_FILE.read_text()
            .replace("${RotateFunctionArn}", ROTATE_FUNCTION_ARN)
            .replace("${AlarmTopicArn}", self.topic_arn)
        )
        self.state_machine_arn = moto.sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-sfn",
        )["stateMachineArn"]

    def start(self, emergency: bool = False) -> str:
        # Always named: moto 5.2.5 names unnamed executions "None", so two of them would share an ARN
        # (AWS generates a unique name; EventBridge and the first-rotation resource pass one).
        return self.moto.sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"run-{uuid.uuid4()}",
            input=json.dumps({"emergency": emergency}),
        )["executionArn"]

    def wait(self, execution_arn: str) -> dict:
        deadline = time.monotonic() + EXECUTION_TIMEOUT_S
        while True:
            execution = self.moto.sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            assert time.monotonic() < deadline, f"execution still RUNNING after {EXECUTION_TIMEOUT_S} s"
            time.sleep(0.1)

    def history(self, execution_arn: str) -> list:
        return self.moto.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def alarm_messages(self) -> list:
        got = self.moto.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def step_result(step: str) -> str:
    """What the rotate Lambda returns for a successful step."""
    return json.dumps({"step": step, "actions": [f"{step}-done"], "current_kids": {"RS256": "kid-rs", "ES256": "kid-es"}})


def function_error(error_type: str, message: str = "refused") -> str:
    """What the rotate Lambda returns for a failed step (a Lambda function error)."""
    return json.dumps({"iamjwt_test_function_error": {"errorType": error_type, "errorMessage": message}})


def lambda_payloads(history: list) -> list:
    return [
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
        for e in history
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
    ]


def entered_states(history: list) -> list:
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def test_the_workflow_file_invokes_exactly_the_closed_set_steps_in_order():
    """Following the ASL from StartAt to its Succeed state (taking each Choice's Default), the Lambda
    invocations are the steps of infra/closed-sets.json in that order, and no other state invokes one."""
    asl = json.loads(ASL_FILE.read_text())
    states = asl["States"]
    path, name = [], asl["StartAt"]
    while states[name]["Type"] != "Succeed":
        assert name not in path, f"the happy path loops at {name}"
        path.append(name)
        state = states[name]
        assert state["Type"] in ("Task", "Choice", "Pass"), f"{name} ({state['Type']}) ends the happy path before Succeed"
        name = state["Default"] if state["Type"] == "Choice" else state["Next"]
    invokes = [n for n, st in states.items() if st.get("Resource") == "arn:aws:states:::lambda:invoke"]
    assert [states[n]["Parameters"]["Payload"]["step"] for n in path if n in invokes] == STEPS
    assert set(invokes) <= set(path), f"Lambda invocations off the happy path: {sorted(set(invokes) - set(path))}"


@pytest.mark.parametrize("emergency", [False, True])
def test_happy_path_runs_the_four_steps_in_order_and_succeeds(moto_server, emergency):
    d = Deployment(moto_server, f"happy-{str(emergency).lower()}")
    moto_server.queue_lambda_results(*[step_result(s) for s in STEPS])

    execution_arn = d.start(emergency=emergency)
    execution = d.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED", execution
    history = d.history(execution_arn)
    assert lambda_payloads(history) == [{"step": s, "emergency": emergency} for s in STEPS]
    assert entered_states(history) == ["CheckSingleExecution", "SingleExecution?", "Retire", "Promote", "Create", "Publish", "Rotated"]
    output = json.loads(execution["output"])
    assert output["lock"] == {"running": 1}
    assert output["results"] == {s: {"actions": [f"{s}-done"]} for s in STEPS}
    assert d.alarm_messages() == []


@pytest.mark.parametrize("error_type", NON_RETRYABLE)
def test_a_non_retryable_error_is_published_to_the_alarm_topic_and_fails(moto_server, error_type):
    d = Deployment(moto_server, f"fail-{error_type.lower()}")
    moto_server.queue_lambda_results(step_result("retire"), function_error(error_type, "pending key is too young"))

    execution_arn = d.start()
    execution = d.wait(execution_arn)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "RotationFailed"
    history = d.history(execution_arn)
    # Promote failed once, was not retried, and nothing after it ran.
    assert lambda_payloads(history) == [{"step": "retire", "emergency": False}, {"step": "promote", "emergency": False}]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == [error_type]
    assert entered_states(history)[-3:] == ["Promote", "NotifyFailure", "RotationFailed"]
    published = [e for e in history if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resourceType"] == "sns"]
    assert len(published) == 1

    [message] = d.alarm_messages()
    assert message["TopicArn"] == d.topic_arn
    assert message["Subject"] == "iamjwt key rotation failed"
    assert message["Message"].startswith(f"iamjwt rotation failed: {error_type}: ")
    assert "pending key is too young" in message["Message"]


def test_a_retryable_error_is_retried_with_backoff_then_the_rotation_completes(moto_server):
    d = Deployment(moto_server, "retry")
    moto_server.queue_lambda_results(
        step_result("retire"),
        function_error(RETRYABLE, "KMS throttled"),
        step_result("promote"),
        step_result("create"),
        step_result("publish"),
    )

    started = time.monotonic()
    execution_arn = d.start()
    execution = d.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED", execution
    history = d.history(execution_arn)
    assert [p["step"] for p in lambda_payloads(history)] == ["retire", "promote", "promote", "create", "publish"]
    assert [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"] == [RETRYABLE]
    # The retry waited its IntervalSeconds (2 s) instead of hammering a throttled KMS.
    assert time.monotonic() - started >= 2
    assert d.alarm_messages() == []


def test_a_second_rotation_refuses_to_start_while_one_is_running(moto_server):
    d = Deployment(moto_server, "lock")
    # The first execution hits two retryable errors in Retire, so it stays RUNNING for 2 s + 4 s.
    moto_server.queue_lambda_results(
        function_error(RETRYABLE),
        function_error(RETRYABLE),
        *[step_result(s) for s in STEPS],
    )
    first = d.start()
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while not any(e["type"] == "TaskFailed" for e in d.history(first)):
        assert time.monotonic() < deadline, "first execution never reached its first retry"
        time.sleep(0.1)

    second = d.start()
    second_result = d.wait(second)
    first_result = d.wait(first)

    assert second_result["status"] == "FAILED"
    assert second_result["error"] == "RotationInProgress"
    assert lambda_payloads(d.history(second)) == []  # it changed nothing
    assert first_result["status"] == "SUCCEEDED", first_result
