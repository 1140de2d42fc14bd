/** The monitoring part (lib/monitoring.ts) and the stack outputs. */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { createAlarmTopic } from '../lib/monitoring';
import { CDK_CONTEXT, flat, logicalId, synth } from './helpers';

describe('alarms, dashboard, outputs', () => {
  test('five alarms notify the encrypted alarm topic; names are configurable', () => {
    const s = synth({
      alarmNameKeyRotationStepFunctionFailed: 'rotation-failed',
      alarmNameApiGateway5xx: 'api-5xx',
      alarmNameSignLambdaFailed: 'token-errors',
      alarmNameKeyRotationLambdaFailed: 'rotate-errors',
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    const topic = { Ref: logicalId(s, s.issuer.alarmTopic) };
    for (const name of ['rotation-failed', 'api-5xx', 'token-errors', 'rotate-errors']) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name, AlarmActions: [topic], TreatMissingData: 'notBreaching' });
    }
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('issue 19 §4: a signer that stops signing for lack of a confirmed key alarms, for every enabled algorithm', () => {
    const s = synth({ algorithms: ['RS256', 'ES256'] });
    const alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => JSON.stringify(a).includes('SigningKeyUnconfirmed'));
    expect(alarms).toHaveLength(1);
    const p = alarms[0].Properties;
    expect(p.AlarmActions).toEqual([{ Ref: logicalId(s, s.issuer.alarmTopic) }]);
    expect(p.Threshold).toBe(1);
    expect(p.TreatMissingData).toBe('notBreaching');
    const dims = p.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
    expect(dims).toEqual(['RS256', 'ES256'].map((alg) => ({
      Namespace: 'iamjwt', MetricName: 'SigningKeyUnconfirmed', Dimensions: [{ Name: 'Algorithm', Value: alg }],
    })));
  });

  test('alarm names default to CloudFormation-generated ones (two stacks never collide)', () => {
    const s = synth();
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.absent() });
  });

  test('the dashboard shows tokens issued, KMS latency, 4xx/5xx and rotation runs', () => {
    const s = synth();
    const [dash] = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'));
    const body = flat(dash.Properties.DashboardBody);
    for (const title of ['Tokens issued', 'KMS signing latency', '4xx', '5xx', 'Key rotation runs']) {
      expect(body).toContain(title);
    }
    // The token Lambda's Embedded Metric Format metrics (namespace iamjwt).
    expect(body).toContain('["iamjwt","TokensIssued","Function","token"');
    expect(body).toContain('["iamjwt","KmsSignLatency","Algorithm","RS256"');
    expect(body).toContain('["iamjwt","KmsSignLatency","Algorithm","ES256"');
  });

  test('outputs: token endpoint, issuer URL, state machine ARN (and the ARN to grant execute-api:Invoke on)', () => {
    const s = synth();
    const outputs = s.template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual(
      ['AlarmTopicArn', 'DashboardName', 'IssuerUrl', 'RotationStateMachineArn', 'TokenEndpoint', 'TokenInvokeArn'],
    );
    expect(flat(outputs.TokenEndpoint.Value)).toMatch(/^https:\/\/<.*Api.*>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>\/<.*Stage.*>\/token$/);
    expect(flat(outputs.IssuerUrl.Value)).toMatch(/^https:\/\/<.*IssuerDistribution.*\.DomainName>$/);
    expect(outputs.RotationStateMachineArn.Value).toEqual({ Ref: logicalId(s, s.issuer.rotationStateMachine) });
    expect(flat(outputs.TokenInvokeArn.Value)).toMatch(/^arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<.*Api.*>\/prod\/GET\/token$/);
  });
});

describe('the alarm topic on its own', () => {
  test('encrypted with a customer managed key that CloudWatch alarms may use, TLS-only publishing', () => {
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Topic');
    createAlarmTopic(stack);
    const template = Template.fromStack(stack);
    const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({
        Sid: 'AllowCloudWatchAlarmsToPublish', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      })]) },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
    });
  });
});
