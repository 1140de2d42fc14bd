import * as http from 'node:http';
import { EventEmitter } from 'node:events';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { makeHandler, answerCloudFormation } = require('../assets/bootstrap/index.js');

const SM = 'arn:aws:states:eu-west-1:111122223333:stateMachine:iamjwt-rotation';
const event = (RequestType: string, extra: Record<string, unknown> = {}) => ({
  RequestType,
  RequestId: 'req-1',
  LogicalResourceId: 'FirstRotation',
  StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/IamJwt/1',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/answer?sig=1',
  ResourceProperties: { StateMachineArn: SM },
  ...extra,
});
const context = (remainingMs = 600_000) => ({ getRemainingTimeInMillis: () => remainingMs });

function harness(statuses: Record<string, unknown>[], startError?: Error) {
  const calls = { start: [] as unknown[], describe: 0, answers: [] as unknown[], sleeps: 0 };
  const handler = makeHandler({
    startExecution: async (input: unknown) => {
      calls.start.push(input);
      if (startError) throw startError;
      return { executionArn: `${SM.replace(':stateMachine:', ':execution:')}:first-rotation-req-1` };
    },
    describeExecution: async () => statuses[Math.min(calls.describe++, statuses.length - 1)],
    answer: async (_e: unknown, a: unknown) => { calls.answers.push(a); },
    sleep: async () => { calls.sleeps++; },
  });
  return { handler, calls };
}

describe('first-rotation custom resource', () => {
  beforeEach(() => jest.spyOn(console, 'error').mockImplementation(() => undefined));
  afterEach(() => jest.restoreAllMocks());

  test('Create starts one named rotation, waits for SUCCEEDED and answers SUCCESS', async () => {
    const { handler, calls } = harness([{ status: 'RUNNING' }, { status: 'RUNNING' }, { status: 'SUCCEEDED' }]);
    await handler(event('Create'), context());
    expect(calls.start).toEqual([{ stateMachineArn: SM, name: 'first-rotation-req-1', input: '{"emergency":false}' }]);
    expect(calls.sleeps).toBe(2);
    expect(calls.answers).toEqual([expect.objectContaining({ status: 'SUCCESS', physicalId: expect.stringContaining(':execution:') })]);
  });

  test('a failed rotation fails the resource (and so the stack) with the error and cause', async () => {
    const { handler, calls } = harness([{ status: 'FAILED', error: 'RotationFailed', cause: 'KeyStoreError: denied' }]);
    await handler(event('Create'), context());
    expect(calls.answers).toEqual([expect.objectContaining({ status: 'FAILED', reason: expect.stringMatching(/FAILED: RotationFailed KeyStoreError: denied/) })]);
  });

  test('a redelivered Create follows the execution it already started', async () => {
    const exists = Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' });
    const { handler, calls } = harness([{ status: 'SUCCEEDED' }], exists);
    await handler(event('Create'), context());
    expect(calls.answers).toEqual([expect.objectContaining({
      status: 'SUCCESS', physicalId: `${SM.replace(':stateMachine:', ':execution:')}:first-rotation-req-1`,
    })]);
  });

  test('answers FAILED before the Lambda timeout instead of leaving CloudFormation waiting', async () => {
    const { handler, calls } = harness([{ status: 'RUNNING' }]);
    await handler(event('Create'), context(20_000));
    expect(calls.answers).toEqual([expect.objectContaining({ status: 'FAILED', reason: expect.stringMatching(/still running/) })]);
  });

  test('an Update that changes the algorithm set runs the rotation and keeps the physical id', async () => {
    const { handler, calls } = harness([{ status: 'RUNNING' }, { status: 'SUCCEEDED' }]);
    await handler(event('Update', {
      PhysicalResourceId: 'arn:aws:states:x:execution:y',
      ResourceProperties: { StateMachineArn: SM, Algorithms: 'RS256,ES256' },
      OldResourceProperties: { StateMachineArn: SM, Algorithms: 'RS256' },
    }), context());
    expect(calls.start).toEqual([{ stateMachineArn: SM, name: 'algorithms-changed-req-1', input: '{"emergency":false}' }]);
    expect(calls.answers).toEqual([expect.objectContaining({ status: 'SUCCESS', physicalId: 'arn:aws:states:x:execution:y' })]);
  });

  test.each([
    ['algorithm set', { Algorithms: 'ES256,RS256' }, { Algorithms: 'RS256,ES256' }],
    ['regions', { Algorithms: 'RS256', Regions: 'us-east-1,eu-west-1' }, { Algorithms: 'RS256', Regions: 'eu-west-1,us-east-1' }],
  ])('an Update that keeps the %s (in any order) runs nothing', async (_, now, before) => {
    const { handler, calls } = harness([]);
    await handler(event('Update', {
      PhysicalResourceId: 'p',
      ResourceProperties: { StateMachineArn: SM, ...now },
      OldResourceProperties: { StateMachineArn: SM, ...before },
    }), context());
    expect(calls.start).toEqual([]);
  });

  test('an Update that changes the regions (one added, or the first set) runs the rotation: it replicates the keys', async () => {
    for (const [before, after] of [['us-east-1,eu-west-1', 'us-east-1,eu-west-1,ap-southeast-2'], [undefined, 'us-east-1,eu-west-1']]) {
      const { handler, calls } = harness([{ status: 'SUCCEEDED' }]);
      await handler(event('Update', {
        PhysicalResourceId: 'p',
        ResourceProperties: { StateMachineArn: SM, Algorithms: 'RS256', Regions: after },
        OldResourceProperties: { StateMachineArn: SM, Algorithms: 'RS256', ...(before ? { Regions: before } : {}) },
      }), context());
      expect(calls.start).toEqual([{ stateMachineArn: SM, name: 'regions-changed-req-1', input: '{"emergency":false}' }]);
      expect(calls.answers).toEqual([expect.objectContaining({ status: 'SUCCESS', physicalId: 'p' })]);
    }
  });

  test('a failed rotation on Update fails the update (CloudFormation rolls it back)', async () => {
    const { handler, calls } = harness([{ status: 'FAILED', error: 'RotationFailed', cause: 'denied' }]);
    await handler(event('Update', {
      PhysicalResourceId: 'p',
      ResourceProperties: { StateMachineArn: SM, Algorithms: 'ES256' },
      OldResourceProperties: { StateMachineArn: SM, Algorithms: 'RS256' },
    }), context());
    expect(calls.answers).toEqual([expect.objectContaining({ status: 'FAILED', physicalId: 'p' })]);
  });

  test.each(['Update', 'Delete'])('%s changes nothing and keeps the physical id', async (type) => {
    const { handler, calls } = harness([]);
    await handler(event(type, { PhysicalResourceId: 'arn:aws:states:x:execution:y' }), context());
    expect(calls.start).toEqual([]);
    expect(calls.answers).toEqual([{ status: 'SUCCESS', reason: 'nothing to do', physicalId: 'arn:aws:states:x:execution:y' }]);
  });

  test('the answer is a PUT of the CloudFormation response document to the pre-signed URL', async () => {
    const sent: { options?: http.RequestOptions; body?: string } = {};
    const request = (options: http.RequestOptions, cb: (res: EventEmitter) => void) => {
      sent.options = options;
      const req = new EventEmitter() as EventEmitter & { end: (b: string) => void };
      req.end = (b: string) => {
        sent.body = b;
        const res = Object.assign(new EventEmitter(), { statusCode: 200, resume: () => undefined });
        cb(res);
        res.emit('end');
      };
      return req;
    };
    await answerCloudFormation(event('Create'), { status: 'SUCCESS', reason: 'ok', physicalId: 'p' }, request);
    expect(sent.options).toMatchObject({ method: 'PUT', hostname: 'cloudformation-custom-resource-response.example', path: '/answer?sig=1' });
    expect(JSON.parse(sent.body!)).toEqual({
      Status: 'SUCCESS', Reason: 'ok', PhysicalResourceId: 'p', StackId: event('Create').StackId,
      RequestId: 'req-1', LogicalResourceId: 'FirstRotation', NoEcho: false, Data: {},
    });
  });
});
