"""moto_server with two gaps closed so the rotation workflow runs exactly as deployed.

1. Lambda function errors. moto's Docker-less Lambda (`lambda-simple`) returns queued results and
   always succeeds, but the workflow's Retry/Catch paths need real *function errors*: HTTP 200 with
   `X-Amz-Function-Error` and an `{"errorType", "errorMessage"}` payload, which is what the Rust
   runtime sends for an `Err`. A queued result shaped `{"iamjwt_test_function_error": {...}}` is
   answered that way; every other queued result behaves exactly as in moto.

2. AWS SDK integration casing. Step Functions takes AWS SDK integration parameters in PascalCase and
   returns PascalCase results even where the service API is camelCase (AWS documents
   `aws-sdk:sfn:...` with `StateMachineArn`). moto 5.2.5 passes the parameters to boto3 unconverted,
   so `aws-sdk:sfn:listExecutions` fails with `States.Runtime: 'StateMachineArn'`. The conversion
   below uses moto's own helpers (`_to_boto_request` / `_from_boto_response`) with the operation's
   botocore shapes, as AWS does.

Usage (same arguments as moto_server): python moto_server_with_lambda_errors.py -H 127.0.0.1 -p PORT
"""
import json
import sys

import botocore.session
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.server import main
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

FUNCTION_ERROR_KEY = "iamjwt_test_function_error"

_invoke = LambdaSimpleBackend.invoke


def _invoke_with_function_errors(self, function_name, qualifier, body, headers, response_headers):
    queue = self.lambda_simple_results_queue
    if queue:
        try:
            queued = json.loads(queue[0])
        except (TypeError, ValueError):
            queued = None
        if isinstance(queued, dict) and set(queued) == {FUNCTION_ERROR_KEY}:
            queue.pop(0)
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(queued[FUNCTION_ERROR_KEY]).encode()
    return _invoke(self, function_name, qualifier, body, headers, response_headers)


_botocore = botocore.session.get_session()


def _operation_model(task):
    service_model = _botocore.get_service_model(task._get_boto_service_name())
    action = task.resource.api_action
    return service_model.operation_model(action[0].upper() + action[1:])


def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
    shape = _operation_model(self).input_shape
    if shape is not None:
        self._to_boto_request(parameters, shape)


def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
    shape = _operation_model(self).output_shape
    if shape is not None:
        self._from_boto_response(response, shape)


LambdaSimpleBackend.invoke = _invoke_with_function_errors
StateTaskServiceAwsSdk._normalise_parameters = _normalise_parameters
StateTaskServiceAwsSdk._normalise_response = _normalise_response

if __name__ == "__main__":
    main(sys.argv[1:])
