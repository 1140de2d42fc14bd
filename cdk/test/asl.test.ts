import * as fs from 'node:fs';
import { checkRotationAsl, ROTATION_ASL_FILE } from '../lib/asl';
import { NOT_RETRYABLE_STEP_ERRORS, RETRYABLE_STEP_ERRORS } from '../lib/closed-sets';

const asl = () => JSON.parse(fs.readFileSync(ROTATION_ASL_FILE, 'utf8'));

describe('the rotation ASL file keeps the shape the deployment relies on', () => {
  test('the file in infra/ passes', () => {
    expect(JSON.parse(checkRotationAsl(fs.readFileSync(ROTATION_ASL_FILE, 'utf8')))).toEqual(asl());
  });

  test('an unknown placeholder is refused', () => {
    const d = asl();
    d.States.Retire.Parameters.FunctionName = '${OtherFunctionArn}';
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(/unknown placeholder \$\{OtherFunctionArn\}/);
  });

  test('a Lambda task that does not call the rotate Lambda is refused', () => {
    const d = asl();
    d.States.Promote.Parameters.FunctionName = 'arn:aws:lambda:eu-west-1:111122223333:function:other';
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(/state Promote invokes a Lambda other than \$\{RotateFunctionArn\}/);
  });

  test('a missing placeholder is refused', () => {
    const d = asl();
    d.States.NotifyFailure.Parameters.TopicArn = 'arn:aws:sns:eu-west-1:111122223333:x';
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(/placeholder \$\{AlarmTopicArn\} is not used/);
  });

  test('a rotate step must retry the retryable error types of infra/closed-sets.json', () => {
    const d = asl();
    d.States.Create.Retry[0].ErrorEquals = d.States.Create.Retry[0].ErrorEquals.filter((e: string) => !RETRYABLE_STEP_ERRORS.includes(e));
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(new RegExp(`state Create does not retry the retryable error ${RETRYABLE_STEP_ERRORS[0]}`));
  });

  test.each(NOT_RETRYABLE_STEP_ERRORS.map((e) => [e]))('a rotate step that retries %s is refused', (error) => {
    const d = asl();
    d.States.Publish.Retry[0].ErrorEquals.push(error);
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(new RegExp(`state Publish retries ${error}, which is not retryable`));
  });

  test('a wildcard Retry retries every error type, so it is refused', () => {
    const d = asl();
    d.States.Retire.Retry.push({ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 2 });
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(/state Retire retries KeyStoreError, which is not retryable/);
  });

  test('a rotate step must catch every error type', () => {
    const d = asl();
    d.States.Promote.Catch[0].ErrorEquals = ['UnsafePromotion'];
    const expected = [...RETRYABLE_STEP_ERRORS, ...NOT_RETRYABLE_STEP_ERRORS].filter((e) => e !== 'UnsafePromotion');
    expect(() => checkRotationAsl(JSON.stringify(d))).toThrow(new RegExp(expected.map((e) => `state Promote does not catch ${e}`).join('; ')));
  });

  test('invalid JSON is refused with the file name', () => {
    expect(() => checkRotationAsl('{', 'rotation.asl.json')).toThrow(/rotation.asl.json: not valid JSON/);
  });
});
