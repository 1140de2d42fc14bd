/** The Lambdas and their least-privilege roles (lib/issuer-functions.ts), as the issuer deploys them. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IssuerFunctions, lambdaEnvironment, tokenEnvironment } from '../lib/issuer-functions';
import { ISSUER_TAG, KEY_FACT_TAGS } from '../lib/closed-sets';
import { resolveConfig } from '../lib/props';
import { actions, allowedActions, allowing, BASE_PROPS, CDK_CONTEXT, flat, logicalId, roleStatements, Statement, synth } from './helpers';

const KEY_ARN = 'arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*';
const ISSUER_CONDITION = { 'aws:ResourceTag/iamjwt:issuer': 'alias/iamjwt' };

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

  test('environment carries the whole configuration (DESIGN.md §9); only rotate gets the bucket, only token the tag cache', () => {
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
      // Tags are used (sessionTags), so their cache lifetime is explicit; no reader role was given.
      Environment: { Variables: Match.exact({ ...expected, IAMJWT_TAG_CACHE_SECONDS: '300' }) },
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

describe('principal tags of other accounts: the reader role', () => {
  const READER_ARN = 'arn:<AWS::Partition>:iam::*:role/iamjwt/tag-reader';
  const reader = synth({ sessionTags: true, orgId: 'o-a1b2c3d4e5', tagReaderRoleName: 'iamjwt/tag-reader', tagCacheSeconds: 600 });
  const variables = (s: ReturnType<typeof synth>, c: { node: { defaultChild?: unknown } }): Record<string, unknown> =>
    s.template.toJSON().Resources[logicalId(s, c)].Properties.Environment.Variables;
  const TAG_VARIABLES = ['IAMJWT_TAG_CACHE_SECONDS', 'IAMJWT_TAG_READER_ROLE'];

  test('the token function gets both settings; the rotate function, which reads no tags, neither', () => {
    expect(variables(reader, reader.issuer.tokenFunction)).toMatchObject({
      IAMJWT_SESSION_TAGS: 'true', IAMJWT_TAG_READER_ROLE: 'iamjwt/tag-reader', IAMJWT_TAG_CACHE_SECONDS: '600',
    });
    expect(Object.keys(variables(reader, reader.issuer.rotateFunction))).not.toEqual(expect.arrayContaining([expect.stringMatching(/^IAMJWT_TAG_/)]));
  });

  test('no tag variable when tags are not used; the cache lifetime alone (default 300) when no reader role is set', () => {
    const plain = synth();
    for (const f of [plain.issuer.tokenFunction, plain.issuer.rotateFunction]) {
      expect(Object.keys(variables(plain, f)).filter((k) => TAG_VARIABLES.includes(k))).toEqual([]);
    }
    const sameAccount = synth({ audiencePolicy: { rules: [{ audiences: ['api://ci'], session_tags: { keys: ['team'] } }] } });
    const env = variables(sameAccount, sameAccount.issuer.tokenFunction);
    expect(env.IAMJWT_TAG_CACHE_SECONDS).toBe('300');
    expect(env).not.toHaveProperty('IAMJWT_TAG_READER_ROLE');
  });

  test('the token role may assume exactly that role name in any account of its partition, and nothing else in STS', () => {
    const token = roleStatements(reader, reader.issuer.tokenFunction.role!);
    const sts = token.filter((st) => actions(st).some((a) => a.startsWith('sts:')));
    expect(sts).toHaveLength(1);
    expect(sts[0]).toMatchObject({ Sid: 'AssumeTagReaderRole', Effect: 'Allow', Action: 'sts:AssumeRole' });
    expect(flat(sts[0].Resource)).toBe(READER_ARN);
    expect(sts[0].Condition).toBeUndefined();
    // iam_tags.rs passes no session tags to AssumeRole: no sts:TagSession.
    expect(allowedActions(token)).toEqual([
      'iam:ListRoleTags', 'iam:ListUserTags', 'kms:GetPublicKey', 'kms:Sign', 'logs:CreateLogStream', 'logs:PutLogEvents', 'sts:AssumeRole',
    ]);
  });

  test('without the prop there is no sts: grant at all, even with tags in use', () => {
    for (const s of [synth({ sessionTags: true, orgId: 'o-a1b2c3d4e5' }), synth()]) {
      const all = [...roleStatements(s, s.issuer.tokenFunction.role!), ...roleStatements(s, s.issuer.rotateFunction.role!)];
      expect(allowedActions(all).filter((a) => a.startsWith('sts:'))).toEqual([]);
    }
  });

  test('the app stack outputs the token role name the reader roles must trust, only when a reader role is set', () => {
    const outputs = reader.template.toJSON().Outputs;
    expect(outputs.TokenRoleName.Value).toEqual({ Ref: logicalId(reader, reader.issuer.tokenFunction.role! as never) });
    expect(synth({ sessionTags: true }).template.toJSON().Outputs).not.toHaveProperty('TokenRoleName');
  });

  test('the grant follows the stack partition', () => {
    // The functions alone: the whole issuer needs CloudFront, which GovCloud lacks.
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Gov', { env: { region: 'us-gov-west-1', account: '111122223333' } });
    const config = resolveConfig({ ...BASE_PROPS, sessionTags: true, allowedAccountIds: ['444455556666'], tagReaderRoleName: 'iamjwt-tag-reader' }, stack.region);
    const fns = new IssuerFunctions(stack, { config, issuerUrl: 'https://id.example.com', bucket: s3.Bucket.fromBucketName(stack, 'Docs', 'docs') });
    const tokenRole = stack.getLogicalId(fns.tokenRole.node.defaultChild as never);
    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: tokenRole }] } });
    const sts = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((st) => actions(st).includes('sts:AssumeRole'));
    expect(sts.map((st) => flat(st.Resource))).toEqual(['arn:aws-us-gov:iam::*:role/iamjwt-tag-reader']);
  });
});

describe('least privilege', () => {
  const s = synth();
  const token = roleStatements(s, s.issuer.tokenFunction.role!);
  const rotate = roleStatements(s, s.issuer.rotateFunction.role!);

  test('token Lambda: only kms:Sign, kms:GetPublicKey on issuer-tagged keys (plus its own logs, and tag reads when tags are used)', () => {
    // No tags in use: no IAM read at all.
    expect(allowedActions(token)).toEqual(['kms:GetPublicKey', 'kms:Sign', 'logs:CreateLogStream', 'logs:PutLogEvents']);
    // Session tags on: the caller's role/user tags in this account, read-only.
    const tagged = synth({ sessionTags: true });
    const taggedToken = roleStatements(tagged, tagged.issuer.tokenFunction.role!);
    expect(allowedActions(taggedToken)).toEqual(
      ['iam:ListRoleTags', 'iam:ListUserTags', 'kms:GetPublicKey', 'kms:Sign', 'logs:CreateLogStream', 'logs:PutLogEvents'],
    );
    expect((allowing(taggedToken, 'iam:ListRoleTags')[0].Resource as unknown[]).map(flat)).toEqual(
      ['arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*', 'arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*'],
    );
    // A policy template that reads a tag turns them on without sessionTags.
    const templated = synth({ audiencePolicy: { rules: [{ accounts: ['111122223333'], audiences: ['api://ci'], sub: '{account}/{principal_type}/{name}/{tag:team|64}' }] } });
    expect(allowedActions(roleStatements(templated, templated.issuer.tokenFunction.role!))).toContain('iam:ListRoleTags');
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
        // The tag keys of infra/closed-sets.json: the issuer tag, then the key facts.
        'aws:TagKeys': [ISSUER_TAG, ...KEY_FACT_TAGS],
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
        'aws:TagKeys': KEY_FACT_TAGS,
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

describe('algorithms come from infra/closed-sets.json', () => {
  const policy = (algorithms: string[]) => {
    const s = synth({ algorithms });
    const token = roleStatements(s, s.issuer.tokenFunction.role!);
    const rotate = roleStatements(s, s.issuer.rotateFunction.role!);
    return {
      keySpecs: allowing(rotate, 'kms:CreateKey')[0].Condition!.StringEquals['kms:KeySpec'],
      signing: allowing(token, 'kms:Sign')[0].Condition!.StringEquals['kms:SigningAlgorithm'],
      env: s.template.toJSON().Resources[logicalId(s, s.issuer.tokenFunction)].Properties.Environment.Variables,
    };
  };

  test('ES384 alone: keys of spec ECC_NIST_P384 signed with ECDSA_SHA_384, and it is the default algorithm', () => {
    const p = policy(['ES384']);
    expect(p.keySpecs).toEqual(['ECC_NIST_P384']);
    expect(p.signing).toEqual(['ECDSA_SHA_384']);
    expect(p.env).toMatchObject({ IAMJWT_ALGORITHMS: 'ES384', IAMJWT_DEFAULT_ALGORITHM: 'ES384' });
  });

  test('all three: one key spec and one signing algorithm each, in the order given', () => {
    const p = policy(['RS256', 'ES256', 'ES384']);
    expect(p.keySpecs).toEqual(['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384']);
    expect(p.signing).toEqual(['RSASSA_PKCS1_V1_5_SHA_256', 'ECDSA_SHA_256', 'ECDSA_SHA_384']);
    expect(p.env).toMatchObject({ IAMJWT_ALGORITHMS: 'RS256,ES256,ES384', IAMJWT_DEFAULT_ALGORITHM: 'RS256' });
  });

  test('an algorithm not in the file is still refused', () => {
    expect(() => synth({ algorithms: ['ES512'] })).toThrow(/algorithms: unknown algorithm 'ES512' \(one of RS256, ES256, ES384, from infra\/closed-sets.json\)/);
  });
});

describe('IssuerFunctions on its own', () => {
  test('the environment is exactly the resolved configuration', () => {
    const config = resolveConfig({ ...BASE_PROPS, algorithms: ['ES256'], sessionTags: true }, 'us-east-1');
    expect(lambdaEnvironment(config, 'https://id.example.com')).toEqual({
      IAMJWT_ISSUER: 'https://id.example.com',
      IAMJWT_DEFAULT_AUDIENCE: 'api://iamjwt-test',
      IAMJWT_AUDIENCE_POLICY: '{"rules":[]}',
      IAMJWT_ALGORITHMS: 'ES256',
      IAMJWT_DEFAULT_ALGORITHM: 'ES256',
      IAMJWT_DEFAULT_DURATION: '900',
      IAMJWT_MAX_DURATION: '3600',
      IAMJWT_KEY_ALIAS_PREFIX: 'alias/iamjwt',
      IAMJWT_JWKS_MAX_AGE: '3600',
      IAMJWT_MIN_PUBLISH_AGE: '86400',
      IAMJWT_KEY_DELETION_DAYS: '30',
      IAMJWT_SESSION_TAGS: 'true',
      IAMJWT_KEY_REFRESH_SECONDS: '300',
      RUST_LOG: 'info',
    });
  });

  test('the token environment adds the tag settings only when tags are used', () => {
    const issuerUrl = 'https://id.example.com';
    const tagged = resolveConfig({ ...BASE_PROPS, sessionTags: true, orgId: 'o-a1b2c3d4e5', tagReaderRoleName: 'reader', tagCacheSeconds: 42 }, 'us-east-1');
    expect(tokenEnvironment(tagged, issuerUrl)).toEqual({
      ...lambdaEnvironment(tagged, issuerUrl), IAMJWT_TAG_CACHE_SECONDS: '42', IAMJWT_TAG_READER_ROLE: 'reader',
    });
    expect(lambdaEnvironment(tagged, issuerUrl)).not.toHaveProperty('IAMJWT_TAG_CACHE_SECONDS');
    const untagged = resolveConfig(BASE_PROPS, 'us-east-1');
    expect(tokenEnvironment(untagged, issuerUrl)).toEqual(lambdaEnvironment(untagged, issuerUrl));
  });

  test('with an existing bucket: rotate gets its name and may write only its .well-known/ objects', () => {
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Fns');
    const bucket = s3.Bucket.fromBucketName(stack, 'Docs', 'existing-issuer-docs');
    const fns = new IssuerFunctions(stack, { config: resolveConfig(BASE_PROPS, stack.region), issuerUrl: 'https://id.example.com', bucket });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IAMJWT_BUCKET: 'existing-issuer-docs', IAMJWT_ISSUER: 'https://id.example.com' }) },
    });
    const rotateRole = stack.getLogicalId(fns.rotateRole.node.defaultChild as never);
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: rotateRole }] } }));
    const s3Statements = (policy.Properties.PolicyDocument.Statement as Statement[]).filter((st) => actions(st).some((a) => a.startsWith('s3:')));
    expect(s3Statements.map((st) => flat(st.Resource))).toEqual(['arn:<AWS::Partition>:s3:::existing-issuer-docs/.well-known/*']);
  });
});
