import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { appConfigFromContext } from '../lib/app-config';
import { WafUsage } from '../lib/props';
import { CDK_CONTEXT } from './helpers';

const CDK_DIR = path.resolve(__dirname, '..');
const config = (context: Record<string, unknown>) =>
  appConfigFromContext(new App({ context: { ...CDK_CONTEXT, ...context } }).node, CDK_DIR);

describe('app configuration from CDK context', () => {
  test('-c regions: the list (comma-separated or JSON), and the primary region the app deploys the stack in', () => {
    for (const regions of ['us-east-1,eu-west-1, ap-southeast-2', '["us-east-1","eu-west-1","ap-southeast-2"]']) {
      const c = config({ defaultAudience: 'api://aud', regions });
      expect(c.stackProps.issuer.regions).toEqual(['us-east-1', 'eu-west-1', 'ap-southeast-2']);
      expect(c.primaryRegion).toBe('us-east-1');
    }
    const one = config({ defaultAudience: 'api://aud' });
    expect(one.stackProps.issuer.regions).toBeUndefined();
    expect(one.primaryRegion).toBeUndefined();
  });

  test('-c strings are converted to typed props; feature flags are ignored', () => {
    const c = config({
      defaultAudience: 'api://aud',
      stackName: 'Jwt',
      lambdaCodeDir: 'test/fixtures/lambda',
      architecture: 'x86_64',
      apiGwWaf: 'ConstructProvided',
      apiGwWafRateLimit: '2000',
      allowedAccountIds: '111122223333, 444455556666',
      disableKeyRotateOnCreate: 'true',
      algorithms: 'ES256',
      defaultTokenDurationSeconds: '600',
      keyDeletionWindowDays: '7',
      rotationSchedule: 'rate(60 days)',
      logRetentionDays: '90',
      sessionTags: 'false',
    });
    expect(c.stackName).toBe('Jwt');
    const p = c.stackProps.issuer;
    expect(p.lambdaCodeDir).toBe(path.join(CDK_DIR, 'test/fixtures/lambda'));
    expect(p.architecture).toBe(lambda.Architecture.X86_64);
    expect(p.apiGwWaf).toBe(WafUsage.CONSTRUCT_PROVIDED);
    expect(p.apiGwWafRateLimit).toBe(2000);
    expect(p.allowedAccountIds).toEqual(['111122223333', '444455556666']);
    expect(p.disableKeyRotateOnCreate).toBe(true);
    expect(p.algorithms).toEqual(['ES256']);
    expect(p.defaultTokenDuration!.toSeconds()).toBe(600);
    expect(p.keyDeletionWindow!.toDays()).toBe(7);
    expect(p.rotationSchedule!.expressionString).toBe('rate(60 days)');
    expect(p.logRetention).toBe(90);
    expect(p.sessionTags).toBe(false);
  });

  test('without lambdaCodeDir the app deploys this checkout\'s `make lambdas` build, not packaged zips', () => {
    expect(config({ defaultAudience: 'a' }).stackProps.issuer.lambdaCodeDir).toBe(path.resolve(CDK_DIR, '..', 'target', 'lambda'));
  });

  test('JSON values from cdk.json keep their types; the audience policy can come from a file', () => {
    const c = config({ defaultAudience: 'a', allowedAccountIds: ['111122223333'], sessionTags: true, audiencePolicyFile: 'test/fixtures/audience-policy.json' });
    expect(c.stackProps.issuer.allowedAccountIds).toEqual(['111122223333']);
    expect(c.stackProps.issuer.sessionTags).toBe(true);
    expect(JSON.parse(c.stackProps.issuer.audiencePolicy as string).rules[0].audiences).toEqual(['api://ci']);
    const inline = config({ defaultAudience: 'a', audiencePolicy: { rules: [] } });
    expect(inline.stackProps.issuer.audiencePolicy).toBe('{"rules":[]}');
  });

  test('the tag reader role and tag cache: from -c strings or JSON values', () => {
    const fromCli = config({ defaultAudience: 'a', sessionTags: 'true', tagReaderRoleName: 'iamjwt/tag-reader', tagCacheSeconds: '600' }).stackProps.issuer;
    expect(fromCli).toMatchObject({ sessionTags: true, tagReaderRoleName: 'iamjwt/tag-reader', tagCacheSeconds: 600 });
    const fromJson = config({ defaultAudience: 'a', sessionTags: true, tagReaderRoleName: 'reader', tagCacheSeconds: 60 }).stackProps.issuer;
    expect(fromJson).toMatchObject({ tagReaderRoleName: 'reader', tagCacheSeconds: 60 });
    const unset = config({ defaultAudience: 'a' }).stackProps.issuer;
    expect(unset).not.toHaveProperty('tagReaderRoleName');
    expect(unset).not.toHaveProperty('tagCacheSeconds');
  });

  test('certificate ARNs go to the stack, which imports them', () => {
    const c = config({ defaultAudience: 'a', oidcCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/x' });
    expect(c.stackProps.oidcCertificateArn).toBe('arn:aws:acm:us-east-1:111122223333:certificate/x');
  });

  test.each([
    [{}, /defaultAudience is required: pass -c defaultAudience=<audience>/],
    [{ defaultAudience: 'a', defaultAudiense: 'typo' }, /unknown context key 'defaultAudiense'/],
    [{ defaultAudience: 'a', architecture: 'arm' }, /architecture must be arm64 or x86_64/],
    [{ defaultAudience: 'a', sessionTags: 'yes' }, /sessionTags must be true or false/],
    [{ defaultAudience: 'a', maxTokenDurationSeconds: '1h' }, /maxTokenDurationSeconds must be a whole number/],
    [{ defaultAudience: 'a', apiGwWaf: 'On' }, /apiGwWaf must be ConstructProvided or ProvideWebAclArn/],
    [{ defaultAudience: 'a', rotationSchedule: 'monthly' }, /rotationSchedule must be an EventBridge rate\(...\) or cron\(...\) expression/],
    [{ defaultAudience: 'a', logRetentionDays: '10' }, /logRetentionDays must be one of CloudWatch Logs' retention values/],
    [{ defaultAudience: 'a', audiencePolicyFile: 'nope.json' }, /audiencePolicyFile: cannot read nope.json/],
    [{ defaultAudience: 'a', audiencePolicy: '{}', audiencePolicyFile: 'x' }, /give audiencePolicy or audiencePolicyFile, not both/],
    [{ defaultAudience: 'a', allowedAccountIds: '[1,2]' }, /allowedAccountIds must be a JSON array of strings or a comma-separated list/],
    [{ defaultAudience: 'a', tagCacheSeconds: '5m' }, /tagCacheSeconds must be a whole number/],
    [{ defaultAudience: 'a', tagReaderRoleName: 42 }, /tagReaderRoleName must be a string/],
    [{ defaultAudience: 'a', tagReaderRole: 'reader' }, /unknown context key 'tagReaderRole'/],
  ])('%j is refused', (context, message) => {
    expect(() => config(context)).toThrow(message);
  });
});
