import * as fs from 'node:fs';
import { checkRotationAsl, ROTATION_ASL_FILE } from '../lib/asl';

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

  test('invalid JSON is refused with the file name', () => {
    expect(() => checkRotationAsl('{', 'rotation.asl.json')).toThrow(/rotation.asl.json: not valid JSON/);
  });
});
