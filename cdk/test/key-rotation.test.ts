/** The key rotation part (lib/key-rotation.ts), as the issuer deploys it. */
import * as fs from 'node:fs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { KeyRotation } from '../lib/key-rotation';
import { resolveConfig } from '../lib/props';
import * as events from 'aws-cdk-lib/aws-events';
import { ROTATION_ASL_FILE } from '../lib/asl';
import { NOT_RETRYABLE_STEP_ERRORS, RETRYABLE_STEP_ERRORS } from '../lib/closed-sets';
import { allowing, BASE_PROPS, CDK_CONTEXT, logicalId, Statement, synth } from './helpers';

describe('rotation workflow', () => {
  const s = synth();
  const sm = () => s.template.toJSON().Resources[logicalId(s, s.issuer.rotationStateMachine)].Properties;
  const definition = () => JSON.parse(sm().DefinitionString);

  test('the definition is the ASL file verbatim, with only the two ARNs substituted by CloudFormation', () => {
    expect(definition()).toEqual(JSON.parse(fs.readFileSync(ROTATION_ASL_FILE, 'utf8')));
    expect(sm().DefinitionSubstitutions).toEqual({
      RotateFunctionArn: { 'Fn::GetAtt': [logicalId(s, s.issuer.rotateFunction), 'Arn'] },
      AlarmTopicArn: { Ref: logicalId(s, s.issuer.alarmTopic) },
    });
    expect(sm()).toMatchObject({ StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true } });
    expect(sm().LoggingConfiguration.Level).toBe('ALL');
  });

  test('every rotate step retries Retryable with backoff and catches everything into SNS then Fail', () => {
    const states = definition().States as Record<string, any>;
    const steps = Object.entries(states).filter(([, st]) => st.Resource === 'arn:aws:states:::lambda:invoke');
    expect(steps.map(([, st]) => st.Parameters.Payload.step)).toEqual(['retire', 'promote', 'create', 'publish']);
    for (const [, st] of steps) {
      expect(st.Parameters.FunctionName).toBe('${RotateFunctionArn}');
      for (const retryable of RETRYABLE_STEP_ERRORS) {
        const retry = st.Retry.find((r: any) => r.ErrorEquals.includes(retryable));
        expect(retry.BackoffRate).toBeGreaterThan(1);
      }
      for (const nonRetryable of NOT_RETRYABLE_STEP_ERRORS) {
        expect(st.Retry.flatMap((r: any) => r.ErrorEquals)).not.toContain(nonRetryable);
      }
      expect(st.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'NotifyFailure' })]);
    }
    expect(states.NotifyFailure).toMatchObject({
      Resource: 'arn:aws:states:::sns:publish', Parameters: { TopicArn: '${AlarmTopicArn}' }, Next: 'RotationFailed',
    });
    expect(states.RotationFailed.Type).toBe('Fail');
  });

  test('EventBridge runs it every 30 days by default, with {"emergency": false}', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(30 days)',
      Targets: [Match.objectLike({ Arn: { Ref: logicalId(s, s.issuer.rotationStateMachine) }, Input: '{"emergency":false}' })],
    });
  });

  test('the schedule is configurable', () => {
    synth({ rotationSchedule: events.Schedule.rate(Duration.days(90)) }).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(90 days)',
    });
    synth({ rotationSchedule: events.Schedule.expression('cron(0 3 1 * ? *)') }).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 1 * ? *)',
    });
  });
});

describe('first rotation at stack creation', () => {
  test('by default a custom resource runs the state machine once and the API stage waits for it', () => {
    const s = synth();
    const id = logicalId(s, s.issuer.firstRotation!);
    s.template.hasResourceProperties('Custom::IamJwtFirstRotation', {
      StateMachineArn: { Ref: logicalId(s, s.issuer.rotationStateMachine) },
      ServiceTimeout: '900',
    });
    // Issue 19 §4: the algorithm set is a property, so changing it updates the resource, which runs the rotation.
    synth({ algorithms: ['ES256', 'RS256'] }).template.hasResourceProperties('Custom::IamJwtFirstRotation', {
      Algorithms: 'ES256,RS256',
    });
    s.template.hasResource('AWS::ApiGateway::Stage', { DependsOn: Match.arrayWith([id]) });
    const role = s.template.toJSON().Resources[id].Properties.ServiceToken['Fn::GetAtt'][0];
    const fnRole = s.template.toJSON().Resources[role].Properties.Role['Fn::GetAtt'][0];
    const sts = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === fnRole))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    expect(allowing(sts, 'states:StartExecution').map((st) => st.Resource)).toEqual([{ Ref: logicalId(s, s.issuer.rotationStateMachine) }]);
  });

  test('disableKeyRotateOnCreate: no first run, no waiting', () => {
    const s = synth({ disableKeyRotateOnCreate: true });
    expect(s.issuer.firstRotation).toBeUndefined();
    s.template.resourceCountIs('Custom::IamJwtFirstRotation', 0);
    s.template.resourceCountIs('AWS::Lambda::Function', 2);
    const [stage] = Object.values(s.template.findResources('AWS::ApiGateway::Stage'));
    expect(JSON.stringify(stage.DependsOn ?? [])).not.toContain('FirstRotation');
  });
});

describe('KeyRotation on its own', () => {
  const build = (disableKeyRotateOnCreate: boolean) => {
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Rotation');
    const rotateFunction = lambda.Function.fromFunctionArn(stack, 'Rotate', 'arn:aws:lambda:us-east-1:111122223333:function:rotate');
    const alarmTopic = sns.Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:us-east-1:111122223333:alarms');
    const config = resolveConfig({ ...BASE_PROPS, disableKeyRotateOnCreate }, stack.region);
    const rotation = new KeyRotation(stack, { config, rotateFunction, alarmTopic });
    return { rotation, template: Template.fromStack(stack) };
  };

  test('the given rotate Lambda and alarm topic are what the definition is wired to', () => {
    const { template } = build(false);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      DefinitionSubstitutions: {
        RotateFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:rotate',
        AlarmTopicArn: 'arn:aws:sns:us-east-1:111122223333:alarms',
      },
    });
    template.resourceCountIs('Custom::IamJwtFirstRotation', 1);
    template.resourceCountIs('AWS::Events::Rule', 1);
  });

  test('without the first run: no custom resource and no function', () => {
    const { rotation, template } = build(true);
    expect(rotation.firstRotation).toBeUndefined();
    template.resourceCountIs('Custom::IamJwtFirstRotation', 0);
    template.resourceCountIs('AWS::Lambda::Function', 0);
  });
});
