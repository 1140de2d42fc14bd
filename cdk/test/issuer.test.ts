import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ROTATION_ASL_FILE } from '../lib/asl';
import { WafUsage } from '../lib/props';
import { actions, allowedActions, allowing, flat, roleStatements, Statement, synth, Synth } from './helpers';

const KEY_ARN = 'arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*';
const ISSUER_CONDITION = { 'aws:ResourceTag/iamjwt:issuer': 'alias/iamjwt' };

const logicalId = (s: Synth, c: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(c.node.defaultChild as never);

describe('token API', () => {
  const s = synth();

  test('only GET /token exists, authorized with AWS_IAM and proxied to the token Lambda', () => {
    s.template.resourceCountIs('AWS::ApiGateway::Resource', 1);
    s.template.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'token' });
    s.template.resourceCountIs('AWS::ApiGateway::Method', 1);
    s.template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'GET',
      AuthorizationType: 'AWS_IAM',
      ResourceId: { Ref: Match.stringLikeRegexp('Apitoken') },
      Integration: {
        Type: 'AWS_PROXY',
        IntegrationHttpMethod: 'POST',
        Uri: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [logicalId(s, s.issuer.tokenFunction), 'Arn'] }])]) }),
      },
    });
    s.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Name: 'iamjwt',
      EndpointConfiguration: { Types: ['REGIONAL'] },
      Policy: Match.absent(),
    });
  });

  test('API Gateway may invoke the token Lambda only for GET /token on the stage', () => {
    s.template.resourceCountIs('AWS::Lambda::Permission', 1);
    const [perm] = Object.values(s.template.findResources('AWS::Lambda::Permission'));
    expect(perm.Properties.Principal).toBe('apigateway.amazonaws.com');
    expect(flat(perm.Properties.SourceArn)).toMatch(/:execute-api:.*\/<.*DeploymentStage.*>\/GET\/token$/);
  });

  test('the stage writes access logs and error-level execution logs, never request data', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('userArn') },
      MethodSettings: [Match.objectLike({ LoggingLevel: 'ERROR', DataTraceEnabled: false })],
    });
  });

  test("API Gateway's own errors are OAuth-style JSON with no-store", () => {
    s.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'MISSING_AUTHENTICATION_TOKEN',
      ResponseParameters: {
        'gatewayresponse.header.Content-Type': "'application/json'",
        'gatewayresponse.header.Cache-Control': "'no-store'",
      },
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"access_denied"') },
    });
    s.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'DEFAULT_5XX',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"server_error"') },
    });
  });

  test('orgId and allowedAccountIds become a resource policy on GET /token only', () => {
    const t = synth({ orgId: 'o-a1b2c3d4e5', allowedAccountIds: ['111122223333'] }).template;
    const [api] = Object.values(t.findResources('AWS::ApiGateway::RestApi'));
    const statements = api.Properties.Policy.Statement as Statement[];
    expect(statements).toHaveLength(2);
    for (const st of statements) {
      expect(st.Effect).toBe('Allow');
      expect(st.Action).toBe('execute-api:Invoke');
      expect(st.Resource).toBe('execute-api:/prod/GET/token');
    }
    const org = statements.find((st) => st.Sid === 'AllowOrganization')!;
    expect(org.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' },
      StringNotEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } },
    });
    const accounts = statements.find((st) => st.Sid === 'AllowAccounts')! as Statement & { Principal: { AWS: unknown } };
    expect(flat(accounts.Principal.AWS)).toBe('arn:<AWS::Partition>:iam::111122223333:root');
  });

  test('apiGwWaf ConstructProvided: a regional Web ACL with managed rules and a rate limit on the stage', () => {
    const w = synth({ apiGwWaf: WafUsage.ConstructProvided, apiGwWafRateLimit: 500 });
    w.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      // In priority order.
      Rules: Match.arrayWith([
        Match.objectLike({ Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' } } }),
        Match.objectLike({
          Statement: {
            ManagedRuleGroupStatement: {
              VendorName: 'AWS',
              Name: 'AWSManagedRulesCommonRuleSet',
              // The Lambda bounds the query (10 × 1000-char audiences > the rule's 2 KB); callers may lack a User-Agent.
              RuleActionOverrides: [
                { Name: 'SizeRestrictions_QUERYSTRING', ActionToUse: { Count: {} } },
                { Name: 'NoUserAgent_HEADER', ActionToUse: { Count: {} } },
              ],
            },
          },
        }),
        Match.objectLike({ Action: { Block: {} }, Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 500 } } }),
      ]),
    });
    w.template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ApiWebAcl'), 'Arn'] },
      ResourceArn: Match.anyValue(),
    });
  });

  test('apiGwWaf ProvideWebAclArn: associates the given Web ACL and creates none', () => {
    const arn = 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shared/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';
    const t = synth({ apiGwWaf: WafUsage.ProvideWebAclArn, apiGwWafWebAclArn: arn }).template;
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
    t.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { WebACLArn: arn });
  });

  test('no WAF by default', () => {
    s.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });
});

describe('Lambdas', () => {
  const s = synth({
    audiencePolicy: { rules: [{ accounts: ['111122223333'], audiences: ['api://ci'], max_duration: 900 }] },
    sessionTags: true,
  });
  const fn = (c: { node: { defaultChild?: unknown } }) => s.template.toJSON().Resources[logicalId(s, c)].Properties;

  test('both are provided.al2023 custom runtimes with handler bootstrap on arm64', () => {
    for (const f of [s.issuer.tokenFunction, s.issuer.rotateFunction]) {
      expect(fn(f)).toMatchObject({ Runtime: 'provided.al2023', Handler: 'bootstrap', Architectures: ['arm64'] });
    }
    const x86 = synth({ architecture: lambda.Architecture.X86_64 });
    expect(x86.template.toJSON().Resources[logicalId(x86, x86.issuer.tokenFunction)].Properties.Architectures).toEqual(['x86_64']);
  });

  test('without the prop, the architecture `make lambdas` recorded in <lambdaCodeDir>/ARCH is deployed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iamjwt-lambdas-'));
    try {
      for (const f of ['token', 'rotate']) {
        fs.mkdirSync(path.join(dir, f));
        fs.writeFileSync(path.join(dir, f, 'bootstrap'), '#!/bin/sh\n');
      }
      fs.writeFileSync(path.join(dir, 'ARCH'), 'x86_64\n');
      const s86 = synth({ lambdaCodeDir: dir });
      expect(s86.template.toJSON().Resources[logicalId(s86, s86.issuer.rotateFunction)].Properties.Architectures).toEqual(['x86_64']);
      fs.writeFileSync(path.join(dir, 'ARCH'), 'sparc\n');
      expect(() => synth({ lambdaCodeDir: dir })).toThrow(/ARCH says 'sparc'; expected arm64 or x86_64/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('environment carries the whole configuration (DESIGN.md §9); only rotate gets the bucket', () => {
    const expected = {
      IAMJWT_ISSUER: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('IssuerDistribution'), 'DomainName'] }]] },
      IAMJWT_DEFAULT_AUDIENCE: 'api://iamjwt-test',
      IAMJWT_AUDIENCE_POLICY: '{"rules":[{"accounts":["111122223333"],"audiences":["api://ci"],"max_duration":900}]}',
      IAMJWT_ALGORITHMS: 'RS256,ES256',
      IAMJWT_DEFAULT_ALGORITHM: 'RS256',
      IAMJWT_DEFAULT_DURATION: '900',
      IAMJWT_MAX_DURATION: '3600',
      IAMJWT_KEY_ALIAS_PREFIX: 'alias/iamjwt',
      IAMJWT_JWKS_MAX_AGE: '3600',
      IAMJWT_MIN_PUBLISH_AGE: '86400',
      IAMJWT_KEY_DELETION_DAYS: '30',
      IAMJWT_SESSION_TAGS: 'true',
      IAMJWT_KEY_REFRESH_SECONDS: '300',
      RUST_LOG: 'info',
    };
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('GET /token'),
      Environment: { Variables: Match.exact({ ...expected }) },
    });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('key-rotation step'),
      Environment: { Variables: Match.exact({ ...expected, IAMJWT_BUCKET: { Ref: logicalId(s, s.issuer.issuerBucket) } }) },
    });
  });

  test('without an audience policy the Lambdas get the empty policy explicitly', () => {
    synth().template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IAMJWT_AUDIENCE_POLICY: '{"rules":[]}' }) },
    });
  });

  test('log groups have the configured retention', () => {
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });
});

describe('least privilege', () => {
  const s = synth();
  const token = roleStatements(s, s.issuer.tokenFunction.role!);
  const rotate = roleStatements(s, s.issuer.rotateFunction.role!);

  test('token Lambda: only kms:Sign, kms:GetPublicKey, kms:DescribeKey on issuer-tagged keys (plus its own logs)', () => {
    expect(allowedActions(token)).toEqual(['kms:DescribeKey', 'kms:GetPublicKey', 'kms:Sign', 'logs:CreateLogStream', 'logs:PutLogEvents']);
    for (const st of token.filter((x) => actions(x).some((a) => a.startsWith('kms:')))) {
      expect(flat(st.Resource)).toBe(KEY_ARN);
      expect(st.Condition?.StringEquals).toMatchObject(ISSUER_CONDITION);
    }
    expect(allowing(token, 'kms:Sign')[0].Condition).toEqual({
      StringEquals: { ...ISSUER_CONDITION, 'kms:SigningAlgorithm': ['RSASSA_PKCS1_V1_5_SHA_256', 'ECDSA_SHA_256'] },
    });
    for (const st of allowing(token, 'logs:PutLogEvents')) {
      expect(flat(st.Resource)).toMatch(/^<.*TokenLogs.*\.Arn>$/);
    }
  });

  test('rotate Lambda: exactly the key-management actions it needs, no kms:ListAliases', () => {
    expect(allowedActions(rotate)).toEqual([
      'kms:CreateAlias', 'kms:CreateKey', 'kms:DeleteAlias', 'kms:DescribeKey', 'kms:GetPublicKey', 'kms:ListResourceTags',
      'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias',
      'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:PutObject',
    ]);
  });

  test('rotate Lambda: kms:CreateKey only with the issuer request tag, known tag keys and signing key specs', () => {
    const [create] = allowing(rotate, 'kms:CreateKey');
    expect(actions(create)).toEqual(['kms:CreateKey']);
    expect(create.Resource).toBe('*');
    expect(create.Condition).toEqual({
      'StringEquals': {
        'aws:RequestTag/iamjwt:issuer': 'alias/iamjwt',
        'kms:KeySpec': ['RSA_2048', 'ECC_NIST_P256'],
        'kms:KeyUsage': 'SIGN_VERIFY',
      },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': [
          'iamjwt:issuer', 'iamjwt:alg', 'iamjwt:kid', 'iamjwt:created-at', 'iamjwt:published-at', 'iamjwt:demoted-at', 'iamjwt:compromised',
        ],
      },
    });
  });

  test('rotate Lambda: tags only new keys for this issuer, and key facts (never the issuer tag) on its keys', () => {
    const tagging = allowing(rotate, 'kms:TagResource');
    expect(tagging).toHaveLength(2);
    const atCreation = tagging.find((st) => st.Condition?.Null)!;
    expect(flat(atCreation.Resource)).toBe(KEY_ARN);
    expect(atCreation.Condition).toEqual({
      'StringEquals': { 'aws:RequestTag/iamjwt:issuer': 'alias/iamjwt' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': expect.arrayContaining(['iamjwt:issuer']) },
      'Null': { 'aws:ResourceTag/iamjwt:issuer': 'true' },
    });
    const facts = tagging.find((st) => !st.Condition?.Null)!;
    expect(actions(facts).sort()).toEqual(['kms:TagResource', 'kms:UntagResource']);
    expect(facts.Condition).toEqual({
      'StringEquals': ISSUER_CONDITION,
      'ForAllValues:StringEquals': {
        'aws:TagKeys': ['iamjwt:alg', 'iamjwt:kid', 'iamjwt:created-at', 'iamjwt:published-at', 'iamjwt:demoted-at', 'iamjwt:compromised'],
      },
    });
  });

  test('rotate Lambda: reads, deletes and re-aliases only issuer-tagged keys', () => {
    for (const action of ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:ListResourceTags', 'kms:ScheduleKeyDeletion']) {
      const sts = allowing(rotate, action);
      expect(sts).toHaveLength(1);
      expect(flat(sts[0].Resource)).toBe(KEY_ARN);
      expect(sts[0].Condition).toEqual({ StringEquals: ISSUER_CONDITION });
    }
  });

  test('rotate Lambda: alias operations on the alias prefix AND on issuer-tagged keys (KMS checks both)', () => {
    for (const action of ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias']) {
      const sts = allowing(rotate, action);
      expect(sts.map((st) => flat(st.Resource)).sort()).toEqual([
        'arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:alias/iamjwt/*',
        KEY_ARN,
      ]);
      expect(sts.find((st) => flat(st.Resource) === KEY_ARN)!.Condition).toEqual({ StringEquals: ISSUER_CONDITION });
    }
  });

  test('rotate Lambda: writes and reads only <bucket>/.well-known/*', () => {
    const sts = token.concat(rotate).filter((st) => actions(st).some((a) => a.startsWith('s3:')));
    expect(sts).toHaveLength(1);
    expect(actions(sts[0]).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(flat(sts[0].Resource)).toBe(`<${logicalId(s, s.issuer.issuerBucket)}.Arn>/.well-known/*`);
  });

  test('a custom alias prefix scopes every condition and alias ARN', () => {
    const c = synth({ keyAliasPrefix: 'alias/team/jwt' });
    const sts = roleStatements(c, c.issuer.tokenFunction.role!).concat(roleStatements(c, c.issuer.rotateFunction.role!));
    const values = JSON.stringify(sts);
    expect(values).not.toContain('"alias/iamjwt"');
    expect(values).toContain('"aws:ResourceTag/iamjwt:issuer":"alias/team/jwt"');
    expect(sts.map((st) => flat(st.Resource))).toContain('arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:alias/team/jwt/*');
  });

  test('no kms:* and no unconditioned Resource "*" anywhere except the CDK-made Step Functions logging/X-Ray grant', () => {
    const all = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    expect(all.flatMap(actions).filter((a) => /^kms:\*|^\*$/.test(a))).toEqual([]);
    const unconditionedStar = all.filter((st) => st.Resource === '*' && !st.Condition);
    // These APIs have no resource-level permissions (Step Functions logging and tracing).
    const noResourceLevel = /^(logs:(CreateLogDelivery|DeleteLogDelivery|DescribeLogGroups|DescribeResourcePolicies|GetLogDelivery|ListLogDeliveries|PutResourcePolicy|UpdateLogDelivery)|xray:(GetSamplingRules|GetSamplingTargets|PutTelemetryRecords|PutTraceSegments))$/;
    expect(unconditionedStar.flatMap(actions).filter((a) => !noResourceLevel.test(a))).toEqual([]);
    // No managed policy anywhere but API Gateway's account logging role.
    const roles = Object.values(s.template.findResources('AWS::IAM::Role'));
    const managed = roles.flatMap((r) => (r.Properties.ManagedPolicyArns ?? []).map(flat));
    expect(managed).toEqual(['arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs']);
  });

  test('state machine role: invoke only the rotate Lambda, list executions only of itself, publish only to the alarm topic', () => {
    const sfn = roleStatements(s, s.issuer.rotationStateMachine.role);
    expect(allowing(sfn, 'lambda:InvokeFunction').map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [logicalId(s, s.issuer.rotateFunction), 'Arn'] }]);
    expect(allowing(sfn, 'sns:Publish').map((st) => st.Resource)).toEqual([{ Ref: logicalId(s, s.issuer.alarmTopic) }]);
    const [list] = allowing(sfn, 'states:ListExecutions');
    const name = s.template.toJSON().Resources[logicalId(s, s.issuer.rotationStateMachine)].Properties.StateMachineName;
    expect(flat(list.Resource)).toBe(`arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:${name}`);
  });
});

describe('issuer documents', () => {
  const s = synth();

  test('bucket: private, encrypted, versioned, TLS-only, retained on stack delete', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        })]),
      },
    });
  });

  test('CloudFront reads it through Origin Access Control (no OAI), HTTPS only', () => {
    s.template.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
    s.template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    s.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: [Match.objectLike({
          OriginAccessControlId: { 'Fn::GetAtt': [Match.stringLikeRegexp('OriginAccessControl'), 'Id'] },
          S3OriginConfig: { OriginAccessIdentity: '' },
        })],
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'https-only', AllowedMethods: ['GET', 'HEAD'] }),
      }),
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow',
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Action: 's3:GetObject',
          Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
        })]),
      },
    });
  });

  test('the edge caches at most 5 minutes so rotations propagate within jwksMaxAge + 5 min', () => {
    s.template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({ MaxTTL: 300 }),
    });
  });
});

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
      const retry = st.Retry.find((r: any) => r.ErrorEquals.includes('Retryable'));
      expect(retry.BackoffRate).toBeGreaterThan(1);
      for (const nonRetryable of ['UnsafePromotion', 'PreviousStillNeeded', 'InvalidInput', 'InconsistentState', 'KeyStoreError', 'ConfigError']) {
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

describe('custom domain', () => {
  const zone = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };

  test('issuer and token endpoint move to <sub>.<zone> with certificates, TLS 1.2 and alias records', () => {
    const s = synth(zone, { env: { region: 'us-east-1', account: '111122223333' } });
    s.template.resourceCountIs('AWS::CertificateManager::Certificate', 2);
    s.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['oidc.example.com'],
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' }),
      }),
    });
    s.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'token.example.com', SecurityPolicy: 'TLS_1_2', EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    s.template.resourceCountIs('AWS::Route53::RecordSet', 3); // A for the API; A + AAAA for CloudFront
    s.template.hasOutput('IssuerUrl', { Value: 'https://oidc.example.com' });
    s.template.hasOutput('TokenEndpoint', { Value: 'https://token.example.com/token' });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IAMJWT_ISSUER: 'https://oidc.example.com' }) },
    });
  });

  test('given certificates are used as they are; subdomains are configurable', () => {
    const s = synth({ ...zone, oidcSubdomain: 'id', tokenSubdomain: 'sts' }, {
      env: { region: 'eu-west-1', account: '111122223333' },
      oidcCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/11111111-2222-3333-4444-555555555555',
      tokenCertificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/66666666-7777-8888-9999-000000000000',
    });
    s.template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    s.template.hasOutput('IssuerUrl', { Value: 'https://id.example.com' });
    s.template.hasOutput('TokenEndpoint', { Value: 'https://sts.example.com/token' });
  });
});

describe('alarms, dashboard, outputs', () => {
  test('four alarms notify the encrypted alarm topic; names are configurable', () => {
    const s = synth({
      alarmNameKeyRotationStepFunctionFailed: 'rotation-failed',
      alarmNameApiGateway5xx: 'api-5xx',
      alarmNameSignLambdaFailed: 'token-errors',
      alarmNameKeyRotationLambdaFailed: 'rotate-errors',
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    const topic = { Ref: logicalId(s, s.issuer.alarmTopic) };
    for (const name of ['rotation-failed', 'api-5xx', 'token-errors', 'rotate-errors']) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name, AlarmActions: [topic], TreatMissingData: 'notBreaching' });
    }
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
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
