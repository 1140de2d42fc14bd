/**
 * An issuer in three regions (issue 21, docs/multi-region.md): the primary stack (bucket, CloudFront, rotation, token
 * API) and one stack per other region (token function on the primary's token role, API, alarms). Checked per stack
 * on the synthesized templates, and the grants by deciding requests with the independent evaluator of
 * test/policy-evaluator.ts: what a role may do is what IAM would allow, not what the construct meant.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { IamJwtStack } from '../lib/iamjwt-stack';
import { IamJwtIssuerProps } from '../lib/props';
import { algorithmSpec } from '../lib/closed-sets';
import { allowing, BASE_PROPS, CDK_CONTEXT, flat, Statement } from './helpers';
import { Caller, decide, identityStatements, roleArn, Template as Json } from './policy-evaluator';

const ACCOUNT = '111122223333';
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];
const ISSUER_CONDITION = { 'aws:ResourceTag/iamjwt:issuer': 'alias/iamjwt' };

function synthRegions(props: Partial<IamJwtIssuerProps> = {}, regions = REGIONS) {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new IamJwtStack(app, 'Test', {
    env: { account: ACCOUNT, region: regions[0] },
    issuer: { ...BASE_PROPS, regions, ...props },
  });
  const others = stack.issuer.otherRegions;
  return {
    app,
    stack,
    primary: Template.fromStack(stack),
    others: others.map((o) => ({ ...o, template: Template.fromStack(o.stack) })),
  };
}

const resourcesOf = (t: Template, type: string) => Object.entries(t.findResources(type));
const single = <T>(xs: T[]): T => {
  expect(xs).toHaveLength(1);
  return xs[0];
};
type Construct = { node: { defaultChild?: unknown } };
const idOf = (c: Construct): string => Stack.of(c as never).getLogicalId(c.node.defaultChild as never);
/** The template's resource of construct `c`: [logical id, resource]. */
const fn = (t: Template, c: Construct): [string, any] => [idOf(c), t.toJSON().Resources[idOf(c)]];
/** Statements of the policies attached (by Ref) to the role `role`. */
const statementsOf = (t: Template, role: Construct): Statement[] => {
  const roleLogicalId = idOf(role);
  return resourcesOf(t, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleLogicalId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
};
const resources = (st: Statement): string[] => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]).map(flat);
const keyArn = (region: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/*`;

describe('an issuer in three regions', () => {
  const s = synthRegions();
  const primaryJson = s.primary.toJSON();
  const tokenRoleLogicalId = s.stack.getLogicalId(s.stack.issuer.tokenFunction.role!.node.defaultChild as never);
  const rotateRoleLogicalId = s.stack.getLogicalId(s.stack.issuer.rotateFunction.role!.node.defaultChild as never);
  const bucketLogicalId = s.stack.getLogicalId(s.stack.issuer.issuerBucket.node.defaultChild as never);

  test('one stack per other region, beside the primary, in its region and account', () => {
    expect(s.others.map((o) => [o.region, o.stack.stackName, o.stack.account])).toEqual([
      ['eu-west-1', 'Test-eu-west-1', ACCOUNT],
      ['ap-southeast-2', 'Test-ap-southeast-2', ACCOUNT],
    ]);
    expect(s.app.node.children.filter((c) => c instanceof Stack).map((c) => (c as Stack).stackName)).toEqual(['Test', 'Test-eu-west-1', 'Test-ap-southeast-2']);
    for (const o of s.others) expect(o.stack.dependencies).toContain(s.stack);
  });

  test('the other regions have no bucket, no CloudFront, no rotation, no role of their own for the token function', () => {
    for (const o of s.others) {
      for (const type of ['AWS::S3::Bucket', 'AWS::CloudFront::Distribution', 'AWS::StepFunctions::StateMachine', 'AWS::Events::Rule',
        'Custom::IamJwtFirstRotation']) {
        expect({ region: o.region, type, count: resourcesOf(o.template, type).length }).toEqual({ region: o.region, type, count: 0 });
      }
      const functions = resourcesOf(o.template, 'AWS::Lambda::Function');
      expect(functions.map(([id]) => id)).toEqual([idOf(o.tokenFunction)]);
      // Its only role is API Gateway's account-wide logging role.
      expect(resourcesOf(o.template, 'AWS::IAM::Role').map(([id]) => id)).toEqual([idOf(o.api.node.findChild('CloudWatchRole') as never)]);
    }
    expect(resourcesOf(s.primary, 'AWS::S3::Bucket')).toHaveLength(1);
    expect(resourcesOf(s.primary, 'AWS::StepFunctions::StateMachine')).toHaveLength(1);
  });

  test('every region\'s token function runs as the one token role of the primary stack', () => {
    const output = (name: string) => primaryJson.Outputs[name].Value;
    for (const o of s.others) {
      const [, f] = fn(o.template, o.tokenFunction);
      const role = f.Properties.Role['Fn::Join'][1];
      expect(role[0]).toEqual(`arn:aws:iam::${ACCOUNT}:role/`);
      expect(role).toHaveLength(2);
      const ref = role[1]['Fn::GetStackOutput'];
      expect(ref).toMatchObject({ StackName: 'Test', Region: 'us-east-1' });
      expect(output(ref.OutputName)).toEqual({ Ref: tokenRoleLogicalId });
      // The only policy the other stack adds to the role: writing its own log group.
      const [, policy] = single(resourcesOf(o.template, 'AWS::IAM::Policy'));
      expect(policy.Properties.Roles).toEqual([{ 'Fn::GetStackOutput': ref }]);
      expect(policy.Properties.PolicyDocument.Statement).toEqual([{
        Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [expect.stringMatching(/^IssuerTokenLogs/), 'Arn'] },
      }]);
    }
  });

  test('the token role signs only with this issuer\'s keys, in exactly the three regions', () => {
    const token = statementsOf(s.primary, s.stack.issuer.tokenFunction.role! as never);
    const kms = token.filter((st) => [st.Action].flat().some((a) => a.startsWith('kms:')));
    expect(kms.map((st) => st.Sid).sort()).toEqual(['ResolveIssuerKeys', 'SignWithIssuerKeys']);
    for (const st of kms) {
      expect(resources(st).sort()).toEqual(REGIONS.map(keyArn).sort());
      expect(st.Condition!.StringEquals).toMatchObject(ISSUER_CONDITION);
    }
  });

  test('the token role reads exactly the published JWKS of the bucket, nothing else of S3', () => {
    const s3 = statementsOf(s.primary, s.stack.issuer.tokenFunction.role! as never).filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([{ Sid: 'ReadPublishedJwks', Effect: 'Allow', Action: 's3:GetObject', Resource: expect.anything() }]);
    expect(resources(s3[0])).toEqual([`<${bucketLogicalId}.Arn>/.well-known/jwks.json`]);
  });

  test('the rotate role replicates into the other regions only, and manages replicas and aliases there by region', () => {
    const rotate = statementsOf(s.primary, s.stack.issuer.rotateFunction.role! as never);
    const replicate = single(allowing(rotate, 'kms:ReplicateKey'));
    expect(resources(replicate)).toEqual([keyArn('us-east-1')]);
    expect(replicate.Condition).toEqual({ StringEquals: { ...ISSUER_CONDITION, 'kms:ReplicaRegion': ['eu-west-1', 'ap-southeast-2'] } });
    // ReplicateKey is authorized as a CreateKey (of a multi-Region replica) and a TagResource in the replica's region.
    const creates = allowing(rotate, 'kms:CreateKey');
    expect(creates.map((st) => st.Condition!.StringEquals['kms:MultiRegion'])).toEqual(['true', 'true']);
    expect(single(creates.filter((st) => st.Sid === 'CreateIssuerKeyReplicas')).Condition).toEqual({
      StringEquals: { 'kms:MultiRegion': 'true', 'kms:MultiRegionKeyType': 'REPLICA' },
    });
    const replicaKeys = ['eu-west-1', 'ap-southeast-2'].map(keyArn).sort();
    for (const sid of ['ManageIssuerKeyReplicas', 'TagIssuerKeyReplicaFacts']) {
      const st = single(rotate.filter((x) => x.Sid === sid));
      expect({ sid, resources: resources(st).sort() }).toEqual({ sid, resources: replicaKeys });
    }
    // Tagging a new key (CreateKey's or ReplicateKey's tags): untagged keys of every configured region.
    expect(resources(single(rotate.filter((x) => x.Sid === 'TagNewIssuerKeys'))).sort()).toEqual(REGIONS.map(keyArn).sort());
    expect(allowing(rotate, 'kms:ScheduleKeyDeletion').flatMap(resources).sort()).toEqual([keyArn('us-east-1'), ...replicaKeys].sort());
    expect(resources(single(rotate.filter((x) => x.Sid === 'ManageIssuerReplicaAliases'))).sort())
      .toEqual(['eu-west-1', 'ap-southeast-2'].map((r) => `arn:aws:kms:${r}:${ACCOUNT}:alias/iamjwt/*/current`).sort());
    // Replica regions are managed, never re-keyed: no key policy reads or writes there, no GetPublicKey.
    for (const action of ['kms:PutKeyPolicy', 'kms:GetKeyPolicy', 'kms:GetPublicKey']) {
      expect(allowing(rotate, action).flatMap(resources)).toEqual([keyArn('us-east-1')]);
    }
    expect(single(allowing(rotate, 'kms:ListKeys')).Condition).toEqual({ StringEquals: { 'aws:RequestedRegion': 'us-east-1' } });
  });

  test('environments: IAMJWT_REGIONS everywhere, the bucket for every token function, each its own API', () => {
    const regions = REGIONS.join(',');
    const [, rotate] = fn(s.primary, s.stack.issuer.rotateFunction);
    expect(rotate.Properties.Environment.Variables).toMatchObject({ IAMJWT_REGIONS: regions, IAMJWT_BUCKET: { Ref: bucketLogicalId } });
    const [, primaryToken] = fn(s.primary, s.stack.issuer.tokenFunction);
    const primaryApi = single(Object.keys(s.primary.findResources('AWS::ApiGateway::RestApi')));
    expect(primaryToken.Properties.Environment.Variables).toMatchObject({
      IAMJWT_REGIONS: regions, IAMJWT_BUCKET: { Ref: bucketLogicalId }, IAMJWT_API_ID: { Ref: primaryApi }, IAMJWT_API_STAGE: 'prod',
    });
    const primaryVariables = { ...primaryToken.Properties.Environment.Variables };
    for (const o of s.others) {
      const [, token] = fn(o.template, o.tokenFunction);
      const variables = token.Properties.Environment.Variables;
      const api = single(Object.keys(o.template.findResources('AWS::ApiGateway::RestApi')));
      const fromPrimary = (value: unknown) => primaryJson.Outputs[(value as { 'Fn::GetStackOutput': { OutputName: string } })['Fn::GetStackOutput'].OutputName].Value;
      expect(variables.IAMJWT_API_ID).toEqual({ Ref: api });
      expect(fromPrimary(variables.IAMJWT_BUCKET)).toEqual({ Ref: bucketLogicalId });
      expect(fromPrimary(variables.IAMJWT_ISSUER['Fn::Join'][1][1])).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/IssuerDistribution/), 'DomainName'] });
      // Everything else is the primary's configuration, word for word.
      const rest = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => !['IAMJWT_API_ID', 'IAMJWT_BUCKET', 'IAMJWT_ISSUER'].includes(k)));
      expect(rest(variables)).toEqual(rest(primaryVariables));
    }
  });

  test('each other region: its own REST API (AWS_IAM), alarm topic, token alarms and dashboard', () => {
    for (const o of s.others) {
      o.template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'GET', AuthorizationType: 'AWS_IAM' });
      o.template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
      expect(resourcesOf(o.template, 'AWS::SNS::Topic')).toHaveLength(1);
      expect(resourcesOf(o.template, 'AWS::CloudWatch::Dashboard')).toHaveLength(1);
      const alarms = resourcesOf(o.template, 'AWS::CloudWatch::Alarm').map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort();
      expect(alarms).toEqual(['IssuerApi5xxAlarm', 'IssuerSigningKeyUnconfirmedAlarm', 'IssuerTokenLambdaErrorsAlarm']);
      for (const [, alarm] of resourcesOf(o.template, 'AWS::CloudWatch::Alarm')) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: single(Object.keys(o.template.findResources('AWS::SNS::Topic'))) }]);
      }
      expect(Object.keys(o.template.toJSON().Outputs).sort()).toEqual(['AlarmTopicArn', 'DashboardName', 'TokenEndpoint', 'TokenInvokeArn']);
    }
  });

  test('a change of the regions runs the rotation at deploy (it replicates into a region just added)', () => {
    s.primary.hasResourceProperties('Custom::IamJwtFirstRotation', { Regions: REGIONS.join(','), Algorithms: 'RS256,ES256' });
  });

  describe('attacks on the grants (decided by the independent evaluator)', () => {
    const template = primaryJson as Json;
    const token: Caller = { roleArn: roleArn(tokenRoleLogicalId), identity: identityStatements(template, tokenRoleLogicalId) };
    const rotate: Caller = { roleArn: roleArn(rotateRoleLogicalId), identity: identityStatements(template, rotateRoleLogicalId) };
    const key = (region: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
    const sign = (region: string, issuer: string) => decide({
      caller: token, action: 'kms:Sign', resource: key(region),
      context: { 'aws:ResourceTag/iamjwt:issuer': issuer, 'kms:SigningAlgorithm': algorithmSpec('ES256').kmsSigningAlgorithm },
    }, []);

    test('the token role signs with this issuer\'s replica in every region (the control)', () => {
      for (const region of REGIONS) expect({ region, decision: sign(region, 'alias/iamjwt') }).toEqual({ region, decision: 'Allow' });
    });

    test('the token role cannot sign with another issuer\'s key, in any region', () => {
      for (const region of REGIONS) {
        for (const issuer of ['alias/other', 'alias/iamjwt/x', '']) {
          expect({ region, issuer, decision: sign(region, issuer) }).toEqual({ region, issuer, decision: 'ImplicitDeny' });
        }
      }
    });

    test('a region outside `regions` is in no grant: no signing, replicating or alias there', () => {
      expect(sign('us-west-2', 'alias/iamjwt')).toBe('ImplicitDeny');
      const replicate = (into: string) => decide({
        caller: rotate, action: 'kms:ReplicateKey', resource: key('us-east-1'),
        context: { 'aws:ResourceTag/iamjwt:issuer': 'alias/iamjwt', 'kms:ReplicaRegion': into },
      }, []);
      expect(replicate('eu-west-1')).toBe('Allow');
      expect(replicate('us-west-2')).toBe('ImplicitDeny');
      const alias = (region: string) => decide({ caller: rotate, action: 'kms:UpdateAlias', resource: `arn:aws:kms:${region}:${ACCOUNT}:alias/iamjwt/es256/current` }, []);
      expect(alias('ap-southeast-2')).toBe('Allow');
      expect(alias('us-west-2')).toBe('ImplicitDeny');
      // And no other region's slot aliases beyond current: pending and previous live in the primary only.
      expect(decide({ caller: rotate, action: 'kms:UpdateAlias', resource: `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/iamjwt/es256/pending` }, [])).toBe('ImplicitDeny');
      // Every region any statement of any stack names is one of the three.
      const named = new Set<string>();
      for (const t of [s.primary, ...s.others.map((o) => o.template)]) {
        for (const m of JSON.stringify(t.toJSON().Resources).matchAll(/arn:aws:[a-z0-9-]+:([a-z0-9-]*):/g)) if (m[1]) named.add(m[1]);
      }
      expect([...named].sort()).toEqual([...REGIONS].sort());
    });
  });
});

describe('regions with a custom domain', () => {
  const s = synthRegions({ hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' }, ['us-east-1', 'eu-west-1']);

  test('every region answers at token.<region>.<zone> (a {region} URL), the primary also at token.<zone>', () => {
    const names = (t: Template) => resourcesOf(t, 'AWS::ApiGateway::DomainName').map(([, d]) => d.Properties.DomainName).sort();
    expect(names(s.primary)).toEqual(['token.example.com', 'token.us-east-1.example.com']);
    expect(names(s.others[0].template)).toEqual(['token.eu-west-1.example.com']);
    // The other region's certificate is its own (API Gateway takes a regional certificate from its own region).
    s.others[0].template.hasResourceProperties('AWS::CertificateManager::Certificate', { DomainName: 'token.eu-west-1.example.com' });
    expect(s.stack.issuer.otherRegions[0].tokenEndpoint).toBe('https://token.eu-west-1.example.com/token');
    const [, token] = fn(s.others[0].template, s.others[0].tokenFunction);
    expect(token.Properties.Environment.Variables.IAMJWT_ISSUER).toBe('https://oidc.example.com');
  });
});

describe('adding regions to a running issuer', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { compare, logicalIds } = require('../scripts/logical-ids.cjs');
  const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };

  test.each([['without a custom domain', {}], ['with a custom domain', ZONE]] as [string, Partial<IamJwtIssuerProps>][])(
    'replaces nothing of the primary stack, %s: every resource keeps its logical id and type', (_, props) => {
      const one = new IamJwtStack(new App({ context: CDK_CONTEXT }), 'Test', { env: { account: ACCOUNT, region: 'us-east-1' }, issuer: { ...BASE_PROPS, ...props } });
      const three = synthRegions(props);
      const diff = compare(logicalIds(Template.fromStack(one).toJSON()), logicalIds(three.primary.toJSON()));
      // Only added resources (the primary's regional token name with a custom domain); a new API deployment (its id
      // hashes the API's configuration) is how API Gateway publishes any change.
      expect(diff.removed.filter((e: string) => !/AWS::ApiGateway::Deployment/.test(e))).toEqual([]);
      expect(diff.retyped).toEqual([]);
      // A stateful resource may be added (the regional token name), never removed or retyped.
      expect(diff.stateful.filter((id: string) => !diff.added.some((e: string) => e.startsWith(`${id} `)))).toEqual([]);
    });
});

describe('a single-region issuer is what it always was', () => {
  test('no IAMJWT_REGIONS, no other stacks, no replication grants, no stack outputs for other regions', () => {
    for (const regions of [undefined, ['us-east-1']]) {
      const app = new App({ context: CDK_CONTEXT });
      const stack = new IamJwtStack(app, 'Test', { env: { account: ACCOUNT, region: 'us-east-1' }, issuer: { ...BASE_PROPS, regions } });
      const json = JSON.stringify(Template.fromStack(stack).toJSON());
      expect(stack.issuer.otherRegions).toEqual([]);
      expect(app.node.children.filter((c) => c instanceof Stack)).toHaveLength(1);
      for (const absent of ['IAMJWT_REGIONS', 'kms:ReplicateKey', 'kms:MultiRegion', 'ReadPublishedJwks', 'Fn::GetStackOutput', '"Regions"']) {
        expect({ absent, found: json.includes(absent) }).toEqual({ absent, found: false });
      }
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ IAMJWT_API_ID: Match.anyValue() }) },
      });
    }
  });
});
