/** The token API part (lib/token-api.ts), as the issuer deploys it. */
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { resolveConfig, WafUsage } from '../lib/props';
import { TokenApi } from '../lib/token-api';
import { BASE_PROPS, CDK_CONTEXT, flat, logicalId, Statement, STUB_LAMBDA_DIR, synth } from './helpers';

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
    const w = synth({ apiGwWaf: WafUsage.CONSTRUCT_PROVIDED, apiGwWafRateLimit: 500 });
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
    const t = synth({ apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN, apiGwWafWebAclArn: arn }).template;
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
    t.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { WebACLArn: arn });
  });

  test('no WAF by default', () => {
    s.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });
});

describe('TokenApi on its own', () => {
  const build = (withDomain: boolean) => {
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Api', { env: { region: 'eu-west-1', account: '111122223333' } });
    const tokenFunction = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.PROVIDED_AL2023, handler: 'bootstrap', code: lambda.Code.fromAsset(path.join(STUB_LAMBDA_DIR, 'token')),
    });
    const zone = route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' });
    const api = new TokenApi(stack, {
      config: resolveConfig(BASE_PROPS, stack.region),
      tokenFunction,
      customDomain: withDomain ? { zone, domainName: 'token.example.com' } : undefined,
    });
    return { stack, api, template: Template.fromStack(stack) };
  };

  test('GET /token on the given function; the invoke ARN names exactly that method and stage', () => {
    const { stack, api, template } = build(false);
    template.resourceCountIs('AWS::ApiGateway::Method', 1);
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    expect(flat(stack.resolve(api.tokenInvokeArn))).toMatch(/^arn:aws:execute-api:eu-west-1:111122223333:<Api.*>\/prod\/GET\/token$/);
    expect(flat(stack.resolve(api.tokenEndpoint))).toMatch(/^https:\/\/<Api.*>\.execute-api\.eu-west-1\.<AWS::URLSuffix>\/<.*Stage.*>\/token$/);
  });

  test('custom domain: a regional certificate in the stack\'s own region, a TLS 1.2 domain and one A record', () => {
    const { api, template } = build(true);
    expect(api.tokenEndpoint).toBe('https://token.example.com/token');
    template.hasResourceProperties('AWS::CertificateManager::Certificate', { DomainName: 'token.example.com', ValidationMethod: 'DNS' });
    template.hasResourceProperties('AWS::ApiGateway::DomainName', { DomainName: 'token.example.com', SecurityPolicy: 'TLS_1_2' });
    template.resourceCountIs('AWS::Route53::RecordSet', 1);
  });
});
