'use strict';
/**
 * CloudFormation custom resource "first rotation".
 *
 * On Create it starts the rotation state machine once and waits for the execution to end, so the
 * stack reaches CREATE_COMPLETE only after the first keys exist and the JWKS is published: GET /token
 * works from the first request (the API stage depends on this resource). On an Update that changes
 * the algorithm set (ResourceProperties.Algorithms, IAMJWT_ALGORITHMS) it runs the rotation the same
 * way, so a new algorithm's keys are bootstrapped (and a removed one's start their retirement) by the
 * deploy itself, not by the next scheduled run. The same on an Update that changes the regions of an
 * issuer in several (ResourceProperties.Regions, IAMJWT_REGIONS): the rotation replicates the keys into
 * a region just added. Other Updates and Delete change nothing: later rotations come from the schedule,
 * and keys are never destroyed with the stack.
 *
 * It answers CloudFormation itself (PUT to the pre-signed ResponseURL) on every path, including
 * errors, so a failure shows up as a clear stack event instead of an hour-long hang.
 */
const https = require('node:https');

const POLL_MS = 5000;
/** Stop waiting this long before the Lambda timeout so there is time left to answer CloudFormation. */
const ANSWER_MARGIN_MS = 30000;
const ROTATION_INPUT = JSON.stringify({ emergency: false });

/**
 * Build the handler around its effects (Step Functions calls, the CloudFormation answer, sleeping),
 * so tests drive it without AWS.
 */
function makeHandler({ startExecution, describeExecution, answer, sleep }) {
  return async function handler(event, context) {
    const stateMachineArn = event.ResourceProperties && event.ResourceProperties.StateMachineArn;
    let physicalId = event.PhysicalResourceId || `first-rotation-${event.LogicalResourceId}`;
    let status = 'SUCCESS';
    let reason = 'nothing to do';
    try {
      const why = event.RequestType === 'Create' ? 'first-rotation'
        : changed(event, 'Algorithms') ? 'algorithms-changed'
          : changed(event, 'Regions') ? 'regions-changed' : undefined;
      if (why !== undefined) {
        if (!stateMachineArn) throw new Error('ResourceProperties.StateMachineArn is missing');
        // The name makes a retried Create (or Update) idempotent: Step Functions returns the same
        // execution for the same name and input instead of starting a second rotation.
        const name = `${why}-${event.RequestId}`.slice(0, 80);
        let executionArn;
        try {
          ({ executionArn } = await startExecution({ stateMachineArn, name, input: ROTATION_INPUT }));
        } catch (e) {
          // A retried delivery of this event after the execution already ended: follow that execution.
          if (!e || e.name !== 'ExecutionAlreadyExists') throw e;
          executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
        }
        // An Update keeps its physical id: a new one would make CloudFormation delete the "old" resource.
        if (event.RequestType === 'Create') physicalId = executionArn;
        for (;;) {
          const execution = await describeExecution({ executionArn });
          if (execution.status === 'SUCCEEDED') {
            reason = `rotation succeeded: ${executionArn}`;
            break;
          }
          if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
            throw new Error(`first rotation ${execution.status}: ${execution.error || ''} ${execution.cause || ''} (${executionArn})`);
          }
          if (context.getRemainingTimeInMillis() < ANSWER_MARGIN_MS + POLL_MS) {
            throw new Error(`first rotation still running when this resource had to answer; see ${executionArn}`);
          }
          await sleep(POLL_MS);
        }
      }
    } catch (e) {
      status = 'FAILED';
      reason = String((e && e.message) || e);
      console.error(JSON.stringify({ msg: 'first rotation failed', reason }));
    }
    await answer(event, { status, reason, physicalId });
    return { status, reason, physicalId };
  };
}

/**
 * An Update whose set under `key` (comma-separated: Algorithms, or Regions, absent for an issuer in one
 * region) differs from the deployed one (order does not matter).
 */
function changed(event, key) {
  if (event.RequestType !== 'Update') return false;
  const set = (props) => ((props && props[key]) || '').split(',').filter(Boolean).sort().join(',');
  return set(event.ResourceProperties) !== set(event.OldResourceProperties);
}

function answerCloudFormation(event, { status, reason, physicalId }, request = https.request) {
  const body = JSON.stringify({
    Status: status,
    Reason: reason.slice(0, 1000),
    PhysicalResourceId: physicalId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: false,
    Data: {},
  });
  const url = new URL(event.ResponseURL);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: url.hostname,
        path: url.pathname + url.search,
        method: 'PUT',
        // The pre-signed URL is signed with an empty content type.
        headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300
          ? resolve()
          : reject(new Error(`CloudFormation answer got HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let defaultHandler;
exports.handler = (event, context) => {
  if (!defaultHandler) {
    // The Node.js Lambda runtime ships the AWS SDK v3; nothing is bundled.
    // eslint-disable-next-line global-require, import/no-unresolved
    const { SFNClient, StartExecutionCommand, DescribeExecutionCommand } = require('@aws-sdk/client-sfn');
    const sfn = new SFNClient({});
    defaultHandler = makeHandler({
      startExecution: (input) => sfn.send(new StartExecutionCommand(input)),
      describeExecution: (input) => sfn.send(new DescribeExecutionCommand(input)),
      answer: answerCloudFormation,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    });
  }
  return defaultHandler(event, context);
};
exports.makeHandler = makeHandler;
exports.answerCloudFormation = answerCloudFormation;
