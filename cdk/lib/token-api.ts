/**
 * The token API: a regional REST API with only GET /token, AWS_IAM auth, proxied to the token Lambda
 * (lambda_http, v1 proxy event); API Gateway's own errors in the Lambda's OAuth-style JSON; an
 * optional resource policy (organization / accounts), WAF and custom domain.
 *
 * A part of `IamJwtIssuer`: its resources are created in the issuer's scope (see parts.ts).
 */
import { Aws } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct, IDependable } from 'constructs';
import { acknowledge, logGroup } from './parts';
import { ResolvedConfig, WafUsage } from './props';

export interface TokenApiProps {
  readonly config: ResolvedConfig;
  readonly tokenFunction: lambda.IFunction;
  /** The custom token domain and its zone; absent: the execute-api URL. */
  readonly customDomain?: {
    readonly zone: route53.IHostedZone;
    readonly domainName: string;
    /** An existing certificate in the stack's region; absent: one is created, DNS-validated in the zone. */
    readonly certificate?: acm.ICertificate;
    /**
     * A second name of the same API, `<tokenSubdomain>.<region>.<zone>`, for the primary region of an issuer in
     * several: every region then answers at the name a `{region}` URL template makes (a certificate is created).
     */
    readonly regionalDomainName?: string;
  };
  /** The stage (and so the URL) is created only after this (the first rotation: no window in which /token fails). */
  readonly stageAfter?: IDependable;
}

export class TokenApi {
  public readonly api: apigw.RestApi;
  /** Full URL of GET /token. */
  public readonly tokenEndpoint: string;
  /** ARN a workload's IAM policy allows `execute-api:Invoke` on. */
  public readonly tokenInvokeArn: string;

  constructor(scope: Construct, props: TokenApiProps) {
    const { config } = props;
    const accessLogs = logGroup(scope, 'ApiAccessLogs', config.logRetention);
    this.api = new apigw.RestApi(scope, 'Api', {
      restApiName: config.apiName,
      description: 'iamjwt: GET /token (AWS_IAM) returns a JWT for the calling IAM identity',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      policy: apiResourcePolicy(config),
      cloudWatchRole: config.apiGatewayCloudWatchRole,
      deployOptions: {
        stageName: config.apiStageName,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify({
          requestId: apigw.AccessLogField.contextRequestId(),
          requestTime: apigw.AccessLogField.contextRequestTime(),
          httpMethod: apigw.AccessLogField.contextHttpMethod(),
          resourcePath: apigw.AccessLogField.contextResourcePath(),
          status: apigw.AccessLogField.contextStatus(),
          responseLength: apigw.AccessLogField.contextResponseLength(),
          integrationLatency: apigw.AccessLogField.contextIntegrationLatency(),
          sourceIp: apigw.AccessLogField.contextIdentitySourceIp(),
          userArn: apigw.AccessLogField.contextIdentityUserArn(),
          accountId: apigw.AccessLogField.contextIdentityAccountId(),
          error: apigw.AccessLogField.contextErrorMessage(),
        })),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });
    // The stack declares its own, clearer outputs.
    this.api.node.tryRemoveChild('Endpoint');
    const tokenResource = this.api.root.addResource('token');
    tokenResource.addMethod('GET', new apigw.LambdaIntegration(props.tokenFunction, { proxy: true, allowTestInvoke: false }), {
      authorizationType: apigw.AuthorizationType.IAM,
      requestParameters: {
        'method.request.querystring.aud': false,
        'method.request.querystring.duration': false,
        'method.request.querystring.alg': false,
      },
      requestValidator: new apigw.RequestValidator(scope, 'TokenRequestValidator', {
        restApi: this.api,
        validateRequestParameters: true,
        // GET has no body; enabling it costs nothing and keeps the validator complete.
        validateRequestBody: true,
      }),
    });
    this.addGatewayResponses();
    if (props.stageAfter) this.api.deploymentStage.node.addDependency(props.stageAfter);
    this.tokenInvokeArn = this.api.arnForExecuteApi('GET', '/token', config.apiStageName);

    const domain = props.customDomain;
    if (domain) {
      this.addDomain(scope, 'Token', domain.zone, domain.domainName, domain.certificate);
      if (domain.regionalDomainName !== undefined) this.addDomain(scope, 'RegionalToken', domain.zone, domain.regionalDomainName);
      this.tokenEndpoint = `https://${domain.domainName}/token`;
    } else {
      this.tokenEndpoint = this.api.urlForPath('/token');
    }

    if (config.waf) {
      const webAclArn = config.waf.mode === WafUsage.CONSTRUCT_PROVIDED
        ? createWebAcl(scope, config.waf.rateLimit).attrArn
        : config.waf.webAclArn!;
      new wafv2.CfnWebACLAssociation(scope, 'ApiWebAclAssociation', {
        webAclArn,
        resourceArn: this.api.deploymentStage.stageArn,
      });
    }

    acknowledge(this.api.node.findChild('Default'), 'AwsSolutions-COG4',
      'Callers authenticate with AWS SigV4 (AuthorizationType AWS_IAM): the IAM identity is the whole point of the service; '
      + 'a Cognito authorizer would replace it.');
    if (config.apiGatewayCloudWatchRole) {
      acknowledge(this.api, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-level API Gateway logging role uses the AWS managed policy AWS documents for it; it only writes API Gateway logs.');
    }
    if (!config.waf) {
      acknowledge(this.api, 'AwsSolutions-APIG3',
        'Every request must carry a valid SigV4 signature, checked by API Gateway before the Lambda runs. WAF is available with '
        + 'apiGwWaf (construct-provided rules or an existing Web ACL); it is off by default to avoid per-request cost.');
    }
  }

  /**
   * `domainName` for this API (ids `<id>Domain`, `<id>Certificate`, `<id>Record`), with `certificate` or a new one,
   * DNS-validated in the zone.
   */
  private addDomain(scope: Construct, id: string, zone: route53.IHostedZone, domainName: string, certificate?: acm.ICertificate): void {
    const apiDomain = this.api.addDomainName(`${id}Domain`, {
      domainName,
      certificate: certificate ?? new acm.Certificate(scope, `${id}Certificate`, {
        domainName,
        validation: acm.CertificateValidation.fromDns(zone),
      }),
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
    });
    // A regional API Gateway domain is IPv4-only by default, so no AAAA record for it.
    new route53.ARecord(scope, `${id}Record`, {
      zone,
      recordName: domainName,
      target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(apiDomain)),
    });
  }

  /** API Gateway's own errors in the same OAuth-style JSON as the Lambda's (DESIGN.md §1). */
  private addGatewayResponses(): void {
    const headers = {
      'Content-Type': "'application/json'",
      'Cache-Control': "'no-store'",
    };
    const body = (error: string) => ({
      'application/json': `{"error":"${error}","error_description":$context.error.messageString}`,
    });
    const responses: [string, apigw.ResponseType, string][] = [
      ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, 'access_denied'],
      ['MissingAuthenticationToken', apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, 'access_denied'],
      ['InvalidSignature', apigw.ResponseType.INVALID_SIGNATURE, 'access_denied'],
      ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, 'access_denied'],
      ['Throttled', apigw.ResponseType.THROTTLED, 'temporarily_unavailable'],
      ['Default4xx', apigw.ResponseType.DEFAULT_4XX, 'invalid_request'],
      ['Default5xx', apigw.ResponseType.DEFAULT_5XX, 'server_error'],
    ];
    for (const [id, type, error] of responses) {
      this.api.addGatewayResponse(id, { type, responseHeaders: headers, templates: body(error) });
    }
  }
}

/**
 * Without orgId/allowedAccountIds: no resource policy, so only principals of this account whose IAM
 * policy allows execute-api:Invoke can call. With them: those principals may call too, still only
 * if their own IAM policy allows it (principals of this account are excluded from the org grant so
 * that the resource policy never replaces their identity policy).
 */
function apiResourcePolicy(config: ResolvedConfig): iam.PolicyDocument | undefined {
  if (!config.orgId && config.allowedAccountIds.length === 0) return undefined;
  const resources = [`execute-api:/${config.apiStageName}/GET/token`];
  const statements: iam.PolicyStatement[] = [];
  if (config.orgId) {
    statements.push(new iam.PolicyStatement({
      sid: 'AllowOrganization',
      principals: [new iam.AnyPrincipal()],
      actions: ['execute-api:Invoke'],
      resources,
      conditions: {
        StringEquals: { 'aws:PrincipalOrgID': config.orgId },
        StringNotEquals: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID },
      },
    }));
  }
  if (config.allowedAccountIds.length > 0) {
    statements.push(new iam.PolicyStatement({
      sid: 'AllowAccounts',
      principals: config.allowedAccountIds.map((a) => new iam.AccountPrincipal(a)),
      actions: ['execute-api:Invoke'],
      resources,
    }));
  }
  return new iam.PolicyDocument({ statements });
}

function createWebAcl(scope: Construct, rateLimit: number): wafv2.CfnWebACL {
  const visibility = (metricName: string) => ({ metricName, cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true });
  const managed = (name: string, priority: number, countOnly: string[] = []): wafv2.CfnWebACL.RuleProperty => ({
    name,
    priority,
    statement: {
      managedRuleGroupStatement: {
        vendorName: 'AWS',
        name,
        ...(countOnly.length > 0 ? { ruleActionOverrides: countOnly.map((rule) => ({ name: rule, actionToUse: { count: {} } })) } : {}),
      },
    },
    overrideAction: { none: {} },
    visibilityConfig: visibility(name),
  });
  return new wafv2.CfnWebACL(scope, 'ApiWebAcl', {
    description: 'iamjwt token API: AWS managed rules and a per-IP rate limit',
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    visibilityConfig: visibility('iamjwt-api'),
    rules: [
      managed('AWSManagedRulesAmazonIpReputationList', 0),
      managed('AWSManagedRulesKnownBadInputsRuleSet', 1),
      // Callers are SigV4-signed programs, not browsers: the Lambda bounds the query itself (up to ten
      // 1000-character audiences, more than the rule set's 2 KB query limit), and SDK-less clients may
      // send no User-Agent. Those two rules only count.
      managed('AWSManagedRulesCommonRuleSet', 2, ['SizeRestrictions_QUERYSTRING', 'NoUserAgent_HEADER']),
      {
        name: 'RateLimitPerIp',
        priority: 3,
        action: { block: {} },
        statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: rateLimit } },
        visibilityConfig: visibility('iamjwt-rate-limit'),
      },
    ],
  });
}
