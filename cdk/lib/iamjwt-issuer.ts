/**
 * `IamJwtIssuer`: everything that turns an AWS IAM identity into a signed JWT, deployed together.
 *
 * - REST API (regional), AWS_IAM auth, only GET /token → the `token` Lambda (lambda_http, v1 proxy event).
 * - Private S3 bucket behind CloudFront (Origin Access Control) holding the discovery document and JWKS;
 *   the issuer URL is the distribution's (or the custom domain's) https URL.
 * - The rotation state machine, built from `infra/rotation.asl.json` (the one definition of the steps),
 *   an EventBridge schedule, and a first run at stack creation that CloudFormation waits for.
 * - Alarms (to an encrypted SNS topic) and a dashboard.
 *
 * KMS keys are not created here: the rotate Lambda creates them at run time, tagged
 * `iamjwt:issuer=<alias prefix>`, and every KMS permission below is scoped to that tag.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Aws, CustomResource, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
// cdk-nag renders CloudFormation references this way in finding ids; reuse it so acknowledgements match exactly.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { checkRotationAsl, ROTATION_ASL_FILE } from './asl';
import {
  CDN_MAX_TTL, IamJwtIssuerProps, ISSUER_TAG, KEY_FACT_TAGS, ResolvedConfig, resolveConfig, SigningAlgorithm, WafUsage,
} from './props';

/** KMS key spec and signing algorithm of each JWS algorithm (DESIGN.md §5). */
const KMS_KEY_SPEC: Record<SigningAlgorithm, string> = { RS256: 'RSA_2048', ES256: 'ECC_NIST_P256' };
const KMS_SIGNING_ALGORITHM: Record<SigningAlgorithm, string> = { RS256: 'RSASSA_PKCS1_V1_5_SHA_256', ES256: 'ECDSA_SHA_256' };

const BOOTSTRAP_CODE_DIR = path.resolve(__dirname, '..', 'assets', 'bootstrap');

export interface IamJwtIssuerAlarms {
  readonly rotationFailed: cloudwatch.Alarm;
  readonly api5xx: cloudwatch.Alarm;
  readonly tokenLambdaErrors: cloudwatch.Alarm;
  readonly rotateLambdaErrors: cloudwatch.Alarm;
}

export class IamJwtIssuer extends Construct {
  /** The props after defaults and validation. */
  public readonly config: ResolvedConfig;
  /** `iss` of every token; discovery is at `<issuerUrl>/.well-known/openid-configuration`. */
  public readonly issuerUrl: string;
  /** Full URL of GET /token. */
  public readonly tokenEndpoint: string;
  /** ARN a workload's IAM policy allows `execute-api:Invoke` on. */
  public readonly tokenInvokeArn: string;
  public readonly api: apigw.RestApi;
  public readonly tokenFunction: lambda.Function;
  public readonly rotateFunction: lambda.Function;
  public readonly rotationStateMachine: sfn.StateMachine;
  public readonly issuerBucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  /** Receives rotation failures (from the state machine) and every alarm. */
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: IamJwtIssuerAlarms;
  public readonly dashboard: cloudwatch.Dashboard;
  /** The first-rotation custom resource (undefined with `disableKeyRotateOnCreate`). */
  public readonly firstRotation?: CustomResource;
  private firstRotationRole?: iam.Role;
  private stateMachineName = '';

  constructor(scope: Construct, id: string, props: IamJwtIssuerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const config = resolveConfig(props, stack.region);
    this.config = config;
    const asl = checkRotationAsl(fs.readFileSync(ROTATION_ASL_FILE, 'utf8'));

    // ------------------------------------------------------------------ custom domain
    let zone: route53.IHostedZone | undefined;
    let oidcCertificate: acm.ICertificate | undefined;
    let tokenCertificate: acm.ICertificate | undefined;
    if (config.customDomain) {
      const d = config.customDomain;
      zone = route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId: d.hostedZoneId, zoneName: d.hostedZoneName });
      oidcCertificate = props.oidcCertificate ?? this.cloudFrontCertificate(d.oidcDomainName, zone);
      tokenCertificate = props.tokenCertificate ?? new acm.Certificate(this, 'TokenCertificate', {
        domainName: d.tokenDomainName,
        validation: acm.CertificateValidation.fromDns(zone),
      });
    }

    // ------------------------------------------------------------------ issuer documents
    this.issuerBucket = new s3.Bucket(this, 'IssuerBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Verifiers may hold tokens that point at these documents: they outlive the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(90) }],
    });
    // CloudFront caches at most CDN_MAX_TTL whatever the objects' Cache-Control says, so a new JWKS
    // reaches verifiers within jwksMaxAge + CDN_MAX_TTL (the bound minPublishAge is checked against).
    const cachePolicy = new cloudfront.CachePolicy(this, 'IssuerDocumentsCachePolicy', {
      comment: 'iamjwt discovery + JWKS: short edge cache so rotations propagate quickly',
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(60),
      maxTtl: CDN_MAX_TTL,
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
    this.distribution = new cloudfront.Distribution(this, 'IssuerDistribution', {
      comment: 'iamjwt OIDC discovery and JWKS',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.issuerBucket, {
          originAccessLevels: [cloudfront.AccessLevel.READ],
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        cachePolicy,
        compress: true,
        // Browser-based verifiers fetch the JWKS cross-origin; the documents are public anyway.
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS_AND_SECURITY_HEADERS,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      ...(config.customDomain
        ? {
          domainNames: [config.customDomain.oidcDomainName],
          certificate: oidcCertificate,
          minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        }
        : {}),
    });
    this.issuerUrl = config.customDomain
      ? `https://${config.customDomain.oidcDomainName}`
      : `https://${this.distribution.distributionDomainName}`;

    // ------------------------------------------------------------------ alarm topic
    // A customer managed key, because CloudWatch alarms cannot publish to a topic encrypted with the
    // AWS managed SNS key.
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'iamjwt: encrypts the alarm / rotation-failure SNS topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });
    topicKey.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }));
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'iamjwt alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });

    // ------------------------------------------------------------------ Lambdas
    const environment: Record<string, string> = {
      IAMJWT_ISSUER: this.issuerUrl,
      IAMJWT_DEFAULT_AUDIENCE: config.defaultAudience,
      IAMJWT_AUDIENCE_POLICY: config.audiencePolicyJson ?? '{"rules":[]}',
      IAMJWT_ALGORITHMS: config.algorithms.join(','),
      IAMJWT_DEFAULT_ALGORITHM: config.defaultAlgorithm,
      IAMJWT_DEFAULT_DURATION: String(config.defaultTokenSeconds),
      IAMJWT_MAX_DURATION: String(config.maxTokenSeconds),
      IAMJWT_KEY_ALIAS_PREFIX: config.keyAliasPrefix,
      IAMJWT_JWKS_MAX_AGE: String(config.jwksMaxAgeSeconds),
      IAMJWT_MIN_PUBLISH_AGE: String(config.minPublishAgeSeconds),
      IAMJWT_KEY_DELETION_DAYS: String(config.keyDeletionDays),
      IAMJWT_SESSION_TAGS: String(config.sessionTags),
      IAMJWT_KEY_REFRESH_SECONDS: String(config.keyRefreshSeconds),
      RUST_LOG: 'info',
    };

    const tokenRole = new iam.Role(this, 'TokenRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iamjwt token Lambda: sign with issuer-tagged KMS keys, write its own logs',
    });
    this.tokenFunction = new lambda.Function(this, 'TokenFunction', {
      description: 'iamjwt: GET /token, signs a JWT for the calling IAM identity',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      architecture: config.architecture,
      code: lambda.Code.fromAsset(path.join(config.lambdaCodeDir, 'token')),
      memorySize: 256,
      timeout: Duration.seconds(10),
      role: tokenRole,
      logGroup: this.logGroup('TokenLogs', config.logRetention, tokenRole),
      environment,
    });

    const rotateRole = new iam.Role(this, 'RotateRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iamjwt rotate Lambda: manage issuer-tagged KMS keys and aliases, write the issuer documents',
    });
    this.rotateFunction = new lambda.Function(this, 'RotateFunction', {
      description: 'iamjwt: one key-rotation step (retire, promote, create, publish)',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      architecture: config.architecture,
      code: lambda.Code.fromAsset(path.join(config.lambdaCodeDir, 'rotate')),
      memorySize: 256,
      timeout: Duration.seconds(60),
      role: rotateRole,
      logGroup: this.logGroup('RotateLogs', config.logRetention, rotateRole),
      environment: { ...environment, IAMJWT_BUCKET: this.issuerBucket.bucketName },
    });

    this.grantKeyUse(tokenRole, config);
    this.grantKeyManagement(rotateRole, config);
    rotateRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteIssuerDocuments',
      actions: ['s3:PutObject', 's3:GetObject'],
      resources: [this.issuerBucket.arnForObjects('.well-known/*')],
    }));

    // ------------------------------------------------------------------ rotation workflow
    // A fixed name lets the role's policy name the state machine's ARN without referencing the state
    // machine itself (which depends on the role: a cycle).
    const stateMachineName = `${Names.uniqueResourceName(this, { maxLength: 71, separator: '-' })}-rotation`;
    this.stateMachineName = stateMachineName;
    const stateMachineArn = stack.formatArn({
      service: 'states', resource: 'stateMachine', resourceName: stateMachineName, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.rotationStateMachine = new sfn.StateMachine(this, 'RotationStateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: 'iamjwt key rotation (infra/rotation.asl.json)',
      definitionBody: sfn.DefinitionBody.fromString(asl),
      definitionSubstitutions: {
        RotateFunctionArn: this.rotateFunction.functionArn,
        AlarmTopicArn: this.alarmTopic.topicArn,
      },
      logs: {
        destination: this.logGroup('RotationLogs', config.logRetention),
        level: sfn.LogLevel.ALL,
        // Inputs and outputs carry only step names, actions and public key ids.
        includeExecutionData: true,
      },
      tracingEnabled: true,
    });
    const sfnRole = this.rotationStateMachine.role;
    sfnRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'InvokeRotateStep',
      actions: ['lambda:InvokeFunction'],
      resources: [this.rotateFunction.functionArn],
    }));
    sfnRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'SingleExecutionLock',
      actions: ['states:ListExecutions'],
      resources: [stateMachineArn],
    }));
    this.alarmTopic.grantPublish(sfnRole);

    new events.Rule(this, 'RotationSchedule', {
      description: 'iamjwt: scheduled key rotation',
      schedule: config.rotationSchedule,
      targets: [new eventsTargets.SfnStateMachine(this.rotationStateMachine, {
        input: events.RuleTargetInput.fromObject({ emergency: false }),
      })],
    });

    if (config.bootstrapOnCreate) {
      this.firstRotation = this.createFirstRotation(stateMachineName, config);
    }

    // ------------------------------------------------------------------ token API
    const accessLogs = this.logGroup('ApiAccessLogs', config.logRetention);
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: config.apiName,
      description: 'iamjwt: GET /token (AWS_IAM) returns a JWT for the calling IAM identity',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      policy: this.apiResourcePolicy(config),
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
    tokenResource.addMethod('GET', new apigw.LambdaIntegration(this.tokenFunction, { proxy: true, allowTestInvoke: false }), {
      authorizationType: apigw.AuthorizationType.IAM,
      requestParameters: {
        'method.request.querystring.aud': false,
        'method.request.querystring.duration': false,
        'method.request.querystring.alg': false,
      },
      requestValidator: new apigw.RequestValidator(this, 'TokenRequestValidator', {
        restApi: this.api,
        validateRequestParameters: true,
        // GET has no body; enabling it costs nothing and keeps the validator complete.
        validateRequestBody: true,
      }),
    });
    this.addGatewayResponses();
    if (this.firstRotation) {
      // No stage (so no URL) before the first keys are published: no window in which /token fails.
      this.api.deploymentStage.node.addDependency(this.firstRotation);
    }
    this.tokenInvokeArn = this.api.arnForExecuteApi('GET', '/token', config.apiStageName);

    if (config.customDomain && zone) {
      const domain = this.api.addDomainName('TokenDomain', {
        domainName: config.customDomain.tokenDomainName,
        certificate: tokenCertificate!,
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
      const apiTarget = route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(domain));
      const cdnTarget = route53.RecordTarget.fromAlias(new route53Targets.CloudFrontTarget(this.distribution));
      // A regional API Gateway domain is IPv4-only by default, so no AAAA record for it.
      new route53.ARecord(this, 'TokenRecord', { zone, recordName: config.customDomain.tokenDomainName, target: apiTarget });
      new route53.ARecord(this, 'OidcRecord', { zone, recordName: config.customDomain.oidcDomainName, target: cdnTarget });
      new route53.AaaaRecord(this, 'OidcRecordV6', { zone, recordName: config.customDomain.oidcDomainName, target: cdnTarget });
      this.tokenEndpoint = `https://${config.customDomain.tokenDomainName}/token`;
    } else {
      this.tokenEndpoint = this.api.urlForPath('/token');
    }

    if (config.waf) {
      const webAclArn = config.waf.mode === WafUsage.ConstructProvided
        ? this.createWebAcl(config.waf.rateLimit).attrArn
        : config.waf.webAclArn!;
      new wafv2.CfnWebACLAssociation(this, 'ApiWebAclAssociation', {
        webAclArn,
        resourceArn: this.api.deploymentStage.stageArn,
      });
    }

    // ------------------------------------------------------------------ alarms + dashboard
    this.alarms = this.createAlarms(props);
    this.dashboard = this.createDashboard();

    this.acknowledgeNagFindings(config, { token: tokenRole, rotate: rotateRole, firstRotation: this.firstRotationRole });
  }

  /** Short alias with the same name as aws-jwt-sts's property. */
  public get failedRotationTopic(): sns.Topic {
    return this.alarmTopic;
  }

  /** A log group with the configured retention; `writer` (a Lambda's role) may write to it and nowhere else. */
  private logGroup(id: string, retention: logs.RetentionDays, writer?: iam.IRole): logs.LogGroup {
    const group = new logs.LogGroup(this, id, { retention, removalPolicy: RemovalPolicy.RETAIN });
    if (writer) group.grantWrite(writer);
    return group;
  }

  private cloudFrontCertificate(domainName: string, zone: route53.IHostedZone): acm.ICertificate {
    const region = Stack.of(this).region;
    if (region === 'us-east-1') {
      return new acm.Certificate(this, 'OidcCertificate', { domainName, validation: acm.CertificateValidation.fromDns(zone) });
    }
    // CloudFront needs the certificate in us-east-1; CloudFormation cannot create resources in another
    // region, so this (deprecated but still supported) construct requests it through a custom resource.
    // Pass `oidcCertificate` to avoid it.
    const certificate = new acm.DnsValidatedCertificate(this, 'OidcCertificate', {
      domainName,
      hostedZone: zone,
      region: 'us-east-1',
      validation: acm.CertificateValidation.fromDns(zone),
    });
    Validations.of(certificate).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'CDK\'s certificate-requestor Lambda (DnsValidatedCertificate) writes its logs with the AWS managed basic execution '
        + 'policy; it runs only while the certificate is created or deleted. Pass oidcCertificate to avoid it.',
    });
    Validations.of(certificate).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'CDK\'s certificate-requestor Lambda calls acm:RequestCertificate/DescribeCertificate/DeleteCertificate, which have '
        + 'no resource ARN before the certificate exists; its Route 53 permission is limited to the hosted zone.',
    });
    return certificate;
  }

  private keyArn(): string {
    return Stack.of(this).formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
  }

  /** Token Lambda: resolve aliases, read public keys, sign. Only keys tagged for this issuer. */
  private grantKeyUse(role: iam.IRole, config: ResolvedConfig): void {
    const issuerKeys = { 'aws:ResourceTag/iamjwt:issuer': config.keyAliasPrefix };
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ResolveIssuerKeys',
      actions: ['kms:DescribeKey', 'kms:GetPublicKey'],
      resources: [this.keyArn()],
      conditions: { StringEquals: issuerKeys },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'SignWithIssuerKeys',
      actions: ['kms:Sign'],
      resources: [this.keyArn()],
      conditions: {
        StringEquals: {
          ...issuerKeys,
          'kms:SigningAlgorithm': config.algorithms.map((a) => KMS_SIGNING_ALGORITHM[a]),
        },
      },
    }));
  }

  /**
   * Rotate Lambda: create issuer-tagged signing keys, move the slot aliases, tag key facts, schedule
   * retired keys for deletion. It can neither remove nor change a key's issuer tag, so it cannot take
   * a key away from this issuer's scope or pull another issuer's key into it.
   */
  private grantKeyManagement(role: iam.IRole, config: ResolvedConfig): void {
    const prefix = config.keyAliasPrefix;
    const allTagKeys = [ISSUER_TAG, ...KEY_FACT_TAGS];
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'CreateIssuerKeys',
      actions: ['kms:CreateKey'],
      // CreateKey has no resource to scope; the conditions do it.
      resources: ['*'],
      conditions: {
        'StringEquals': {
          'aws:RequestTag/iamjwt:issuer': prefix,
          'kms:KeySpec': config.algorithms.map((a) => KMS_KEY_SPEC[a]),
          'kms:KeyUsage': 'SIGN_VERIFY',
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': allTagKeys },
      },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      // KMS authorizes the Tags of CreateKey as a TagResource call on a key that has no tags yet.
      sid: 'TagNewIssuerKeys',
      actions: ['kms:TagResource'],
      resources: [this.keyArn()],
      conditions: {
        'StringEquals': { 'aws:RequestTag/iamjwt:issuer': prefix },
        'ForAllValues:StringEquals': { 'aws:TagKeys': allTagKeys },
        'Null': { 'aws:ResourceTag/iamjwt:issuer': 'true' },
      },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'TagIssuerKeyFacts',
      actions: ['kms:TagResource', 'kms:UntagResource'],
      resources: [this.keyArn()],
      conditions: {
        'StringEquals': { 'aws:ResourceTag/iamjwt:issuer': prefix },
        'ForAllValues:StringEquals': { 'aws:TagKeys': KEY_FACT_TAGS },
      },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ManageIssuerKeys',
      actions: [
        'kms:DescribeKey', 'kms:GetPublicKey', 'kms:ListResourceTags', 'kms:ScheduleKeyDeletion',
        // KMS checks alias operations on the key as well as on the alias.
        'kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias',
      ],
      resources: [this.keyArn()],
      conditions: { StringEquals: { 'aws:ResourceTag/iamjwt:issuer': prefix } },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ManageIssuerAliases',
      actions: ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'],
      resources: [Stack.of(this).formatArn({ service: 'kms', resource: 'alias', resourceName: `${prefix.slice('alias/'.length)}/*` })],
    }));
  }

  private createFirstRotation(stateMachineName: string, config: ResolvedConfig): CustomResource {
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'FirstRotationRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iamjwt first rotation at stack creation: start and watch the rotation state machine',
    });
    this.firstRotationRole = role;
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'StartRotation',
      actions: ['states:StartExecution'],
      resources: [this.rotationStateMachine.stateMachineArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WatchRotation',
      actions: ['states:DescribeExecution'],
      resources: [stack.formatArn({
        service: 'states', resource: 'execution', resourceName: `${stateMachineName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      })],
    }));
    const fn = new lambda.Function(this, 'FirstRotationFunction', {
      description: 'iamjwt: runs the key rotation once when the stack is created and waits for it',
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(BOOTSTRAP_CODE_DIR),
      memorySize: 128,
      timeout: Duration.minutes(14),
      role,
      logGroup: this.logGroup('FirstRotationLogs', config.logRetention, role),
    });
    const resource = new CustomResource(this, 'FirstRotation', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::IamJwtFirstRotation',
      properties: { StateMachineArn: this.rotationStateMachine.stateMachineArn },
      serviceTimeout: Duration.minutes(15),
    });
    // The run needs the rotate Lambda with its permissions in place, not just its ARN.
    resource.node.addDependency(this.rotateFunction, this.rotationStateMachine);
    return resource;
  }

  /**
   * Without orgId/allowedAccountIds: no resource policy, so only principals of this account whose IAM
   * policy allows execute-api:Invoke can call. With them: those principals may call too, still only
   * if their own IAM policy allows it (principals of this account are excluded from the org grant so
   * that the resource policy never replaces their identity policy).
   */
  private apiResourcePolicy(config: ResolvedConfig): iam.PolicyDocument | undefined {
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

  private createWebAcl(rateLimit: number): wafv2.CfnWebACL {
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
    return new wafv2.CfnWebACL(this, 'ApiWebAcl', {
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

  private createAlarms(props: IamJwtIssuerProps): IamJwtIssuerAlarms {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, alarmName: string | undefined, alarmDescription: string, metric: cloudwatch.IMetric) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmName,
        alarmDescription,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      return a;
    };
    const sm = this.rotationStateMachine;
    const period = Duration.minutes(5);
    return {
      rotationFailed: alarm('RotationFailedAlarm', props.alarmNameKeyRotationStepFunctionFailed,
        'iamjwt key rotation failed, timed out or was aborted; the alarm topic has the failing step and error',
        new cloudwatch.MathExpression({
          expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
          usingMetrics: { failed: sm.metricFailed({ period }), timedOut: sm.metricTimedOut({ period }), aborted: sm.metricAborted({ period }) },
          label: 'failed rotations',
          period,
        })),
      api5xx: alarm('Api5xxAlarm', props.alarmNameApiGateway5xx,
        'iamjwt token API returned 5xx (server_error or temporarily_unavailable)',
        this.api.metricServerError({ period, statistic: 'Sum' })),
      tokenLambdaErrors: alarm('TokenLambdaErrorsAlarm', props.alarmNameSignLambdaFailed,
        'iamjwt token Lambda failed (crash or timeout)',
        this.tokenFunction.metricErrors({ period, statistic: 'Sum' })),
      rotateLambdaErrors: alarm('RotateLambdaErrorsAlarm', props.alarmNameKeyRotationLambdaFailed,
        'iamjwt rotate Lambda returned an error (retryable ones included)',
        this.rotateFunction.metricErrors({ period, statistic: 'Sum' })),
    };
  }

  private createDashboard(): cloudwatch.Dashboard {
    const period = Duration.minutes(5);
    const count = this.api.metricCount({ period, statistic: 'Sum' });
    const c4 = this.api.metricClientError({ period, statistic: 'Sum' });
    const c5 = this.api.metricServerError({ period, statistic: 'Sum' });
    const sm = this.rotationStateMachine;
    const day = Duration.days(1);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    // The token Lambda emits these as CloudWatch Embedded Metric Format lines (namespace `iamjwt`).
    const emf = (metricName: string, dimensionsMap: Record<string, string>, statistic: string, label: string) =>
      new cloudwatch.Metric({ namespace: 'iamjwt', metricName, dimensionsMap, statistic, period, label });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Tokens issued',
        left: [emf('TokensIssued', { Function: 'token' }, 'Sum', 'tokens issued')],
        right: [count.with({ label: 'GET /token requests' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'API errors (4xx = caller mistakes / denied, 5xx = ours)',
        left: [c4.with({ label: '4xx' }), c5.with({ label: '5xx' })],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'KMS signing latency (ms; one kms:Sign per token)',
        left: this.config.algorithms.flatMap((alg) => [
          emf('KmsSignLatency', { Algorithm: alg }, 'p50', `${alg} p50`),
          emf('KmsSignLatency', { Algorithm: alg }, 'p99', `${alg} p99`),
        ]),
        right: [this.tokenFunction.metricDuration({ period, statistic: 'p99', label: 'token Lambda p99' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'kms:Sign calls in this account and region (AWS/Usage; compare with the KMS request quota)',
        left: [new cloudwatch.Metric({
          namespace: 'AWS/Usage',
          metricName: 'CallCount',
          dimensionsMap: { Service: 'KMS', Type: 'API', Resource: 'Sign', Class: 'None' },
          statistic: 'Sum',
          period: Duration.minutes(1),
          label: 'kms:Sign per minute',
        })],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Key rotation runs',
        left: [
          sm.metricStarted({ period: day, label: 'started' }),
          sm.metricSucceeded({ period: day, label: 'succeeded' }),
          sm.metricFailed({ period: day, label: 'failed' }),
        ],
        right: [this.rotateFunction.metricErrors({ period: day, statistic: 'Sum', label: 'rotate Lambda errors' })],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(this.alarms),
        width: 12,
      }),
    );
    return dashboard;
  }

  /**
   * cdk-nag AwsSolutions findings this design accepts, each with its reason. Anything not listed here
   * fails `cdk synth` and the jest nag test.
   */
  private acknowledgeNagFindings(config: ResolvedConfig, roles: { token: iam.Role; rotate: iam.Role; firstRotation?: iam.Role }): void {
    const ack = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
    const wildcard = (scope: Construct, resource: string, reason: string) =>
      ack(scope, `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(this).resolve(resource))}]`, reason);

    const keysAreCreatedAtRuntime = 'KMS keys are created by the rotate Lambda at run time, so their ids cannot be listed here; '
      + `every statement on key/* carries the condition aws:ResourceTag/${ISSUER_TAG} = ${config.keyAliasPrefix} (or, for tagging a new key, `
      + 'aws:RequestTag plus aws:TagKeys and an untagged-key check), which limits it to this issuer\'s keys.';
    wildcard(roles.token, this.keyArn(), keysAreCreatedAtRuntime);
    wildcard(roles.rotate, this.keyArn(), keysAreCreatedAtRuntime);
    ack(roles.rotate, 'AwsSolutions-IAM5[Resource::*]',
      'kms:CreateKey supports no resource ARN (the key does not exist yet); the statement is limited by conditions: '
      + `aws:RequestTag/${ISSUER_TAG}, aws:TagKeys, kms:KeySpec and kms:KeyUsage=SIGN_VERIFY.`);
    wildcard(roles.rotate, Stack.of(this).formatArn({ service: 'kms', resource: 'alias', resourceName: `${config.keyAliasPrefix.slice('alias/'.length)}/*` }),
      'The rotate Lambda moves the six slot aliases <prefix>/<alg>/<slot>; the wildcard is the alias prefix of this issuer only.');
    wildcard(roles.rotate, this.issuerBucket.arnForObjects('.well-known/*'),
      'The rotate Lambda writes and reads back exactly .well-known/openid-configuration and .well-known/jwks.json; the prefix keeps it out of the rest of the bucket.');
    if (roles.firstRotation) {
      wildcard(roles.firstRotation, Stack.of(this).formatArn({
        service: 'states', resource: 'execution', resourceName: `${this.stateMachineName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }), 'Execution ARNs exist only once started; the wildcard covers executions of this one state machine.');
    }
    const sfnRole = this.rotationStateMachine.role;
    ack(sfnRole, 'AwsSolutions-IAM5[Resource::*]',
      'Added by CDK for Step Functions logging (logs:*LogDelivery, logs:PutResourcePolicy, logs:Describe*) and X-Ray tracing '
      + '(xray:PutTraceSegments, ...): these actions support no resource-level permissions.');
    ack(sfnRole, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'Publishing to the KMS-encrypted alarm topic needs kms:GenerateDataKey* on that one key (granted by Topic.grantPublish).');

    ack(this.issuerBucket, 'AwsSolutions-S1',
      'The bucket holds only the two public issuer documents and is read only through CloudFront; its one writer is the rotate '
      + 'Lambda, whose writes are in its logs and CloudTrail. Server access logs would record only CloudFront fetching public files.');
    ack(this.distribution, 'AwsSolutions-CFR3',
      'Serves two public, non-personal documents (discovery and JWKS); request counts and error rates are in the CloudFront metrics. '
      + 'Standard logging would need an ACL-enabled log bucket for no security value.');
    ack(this.distribution, 'AwsSolutions-CFR1',
      'Verifiers anywhere must be able to fetch the public JWKS; geo restriction would break token verification.');
    ack(this.distribution, 'AwsSolutions-CFR2',
      'Static public documents cached at the edge; no request reaches anything but S3 via OAC, so WAF adds cost without protection.');
    if (!config.customDomain) {
      ack(this.distribution, 'AwsSolutions-CFR4',
        'Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose TLS policy cannot be set; '
        + 'with hostedZoneId/hostedZoneName the construct sets TLSv1.2_2021.');
    }
    ack(this.api.node.findChild('Default'), 'AwsSolutions-COG4',
      'Callers authenticate with AWS SigV4 (AuthorizationType AWS_IAM): the IAM identity is the whole point of the service; '
      + 'a Cognito authorizer would replace it.');
    if (config.apiGatewayCloudWatchRole) {
      ack(this.api, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-level API Gateway logging role uses the AWS managed policy AWS documents for it; it only writes API Gateway logs.');
    }
    if (!config.waf) {
      ack(this.api, 'AwsSolutions-APIG3',
        'Every request must carry a valid SigV4 signature, checked by API Gateway before the Lambda runs. WAF is available with '
        + 'apiGwWaf (construct-provided rules or an existing Web ACL); it is off by default to avoid per-request cost.');
    }
  }
}
