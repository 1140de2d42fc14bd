/**
 * `IamJwtIssuer`: everything that turns an AWS IAM identity into a signed JWT, deployed together.
 * It validates the props once and composes five parts, each in its own file:
 *
 * - IssuerDocuments (issuer-documents.ts): private S3 bucket behind CloudFront (Origin Access Control)
 *   holding the discovery document and JWKS; the issuer URL is the distribution's (or custom domain's).
 * - IssuerFunctions (issuer-functions.ts): the token and rotate Lambdas, least-privilege KMS grants
 *   scoped to keys tagged `iamjwt:issuer=<alias prefix>` (the rotate Lambda creates them at run time).
 * - KeyRotation (key-rotation.ts): the state machine from `infra/rotation.asl.json`, its schedule,
 *   and a first run at stack creation that CloudFormation waits for.
 * - TokenApi (token-api.ts): REST API (regional), AWS_IAM auth, only GET /token.
 * - IssuerMonitoring (monitoring.ts): alarm topic, alarms and dashboard.
 *
 * With `regions` naming several, this stack is the primary region's and every other region gets a stack of its own
 * beside it (RegionStack, region-stack.ts): a token function, API, alarms and dashboard there.
 *
 * The parts create their resources in this construct's scope, so every logical id is what it was
 * when this was one file (see parts.ts; test/logical-ids.test.ts checks it).
 */
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { CustomResource, Stack, Stage } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { IssuerDocuments, onlyWriterOfDocuments } from './issuer-documents';
import { answerOnlyApi, IssuerFunctions } from './issuer-functions';
import { KeyRotation } from './key-rotation';
import { createAlarmTopic, IamJwtIssuerAlarms, IssuerMonitoring } from './monitoring';
import { IamJwtIssuerProps, regionalTokenDomainName, ResolvedConfig, resolveConfig } from './props';
import { IamJwtRegion, RegionStack } from './region-stack';
import { TokenApi } from './token-api';
import { IAMJWT_VERSION } from './version';

export type { IamJwtIssuerAlarms, IamJwtTokenAlarms } from './monitoring';
export type { IamJwtRegion } from './region-stack';

/**
 * The iamjwt token issuer: a SigV4-authenticated token API that turns the calling AWS IAM identity into a JWT signed
 * with KMS, the OIDC discovery document and JWKS behind CloudFront, scheduled key rotation, alarms and a dashboard.
 * Its Lambda code is the zips carried by this package unless `lambdaZips` or `lambdaCodeDir` says otherwise.
 */
export class IamJwtIssuer extends Construct {
  /**
   * The iamjwt version of this construct and of the Lambda code it deploys by default (`iamjwt --version` of the
   * same release).
   */
  public static readonly VERSION: string = IAMJWT_VERSION;

  /** The props after defaults and validation. */
  public readonly config: ResolvedConfig;
  /** `iss` of every token; discovery is at `<issuerUrl>/.well-known/openid-configuration`. */
  public readonly issuerUrl: string;
  /** Full URL of GET /token. */
  public readonly tokenEndpoint: string;
  /** ARN a workload's IAM policy allows `execute-api:Invoke` on. */
  public readonly tokenInvokeArn: string;
  /** The REST API serving GET /token (AWS_IAM authorization). */
  public readonly api: apigw.RestApi;
  /** The token Lambda: signs a JWT for the calling identity. */
  public readonly tokenFunction: lambda.Function;
  /** The rotate Lambda: runs one key-rotation step for the state machine. */
  public readonly rotateFunction: lambda.Function;
  /** The key-rotation workflow (`infra/rotation.asl.json`); start it with `{"emergency": false}` to rotate now. */
  public readonly rotationStateMachine: sfn.StateMachine;
  /** The private bucket holding the discovery document and JWKS (under `.well-known/`). */
  public readonly issuerBucket: s3.Bucket;
  /** The CloudFront distribution serving the issuer documents. */
  public readonly distribution: cloudfront.Distribution;
  /** Receives rotation failures (from the state machine) and every alarm. */
  public readonly alarmTopic: sns.Topic;
  /** The four alarms (rotation failed, API 5xx, token and rotate Lambda errors). */
  public readonly alarms: IamJwtIssuerAlarms;
  /** The CloudWatch dashboard (tokens issued, KMS signing latency, API errors, rotations). */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The first-rotation custom resource (undefined with `disableKeyRotateOnCreate`). */
  public readonly firstRotation?: CustomResource;
  /**
   * The regions besides the primary (`regions` after the first), each with its own stack and token endpoint.
   *
   * Empty for an issuer in one region.
   */
  public readonly otherRegions: IamJwtRegion[];

  /**
   * Validates the props (every problem in one error) and creates the issuer.
   * @param scope the construct it is created in (usually a Stack)
   * @param id its construct id; the CloudFormation logical ids of its resources derive from it
   * @param props the issuer's settings; only `defaultAudience` is required
   */
  constructor(scope: Construct, id: string, props: IamJwtIssuerProps) {
    super(scope, id);
    const config = resolveConfig(props, Stack.of(this).region);
    this.config = config;

    const domain = config.customDomain;
    const zone = domain
      ? route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId: domain.hostedZoneId, zoneName: domain.hostedZoneName })
      : undefined;

    const documents = new IssuerDocuments(this, {
      customDomain: domain && zone ? { zone, domainName: domain.oidcDomainName, certificate: props.oidcCertificate } : undefined,
    });
    this.issuerBucket = documents.bucket;
    this.distribution = documents.distribution;
    this.issuerUrl = documents.issuerUrl;

    this.alarmTopic = createAlarmTopic(this);

    const functions = new IssuerFunctions(this, { config, issuerUrl: this.issuerUrl, bucket: this.issuerBucket });
    this.tokenFunction = functions.tokenFunction;
    this.rotateFunction = functions.rotateFunction;
    onlyWriterOfDocuments(this.issuerBucket, functions.rotateRole);

    const rotation = new KeyRotation(this, { config, rotateFunction: this.rotateFunction, alarmTopic: this.alarmTopic });
    this.rotationStateMachine = rotation.stateMachine;
    this.firstRotation = rotation.firstRotation;

    const tokenApi = new TokenApi(this, {
      config,
      tokenFunction: this.tokenFunction,
      customDomain: domain && zone
        ? {
          zone,
          domainName: domain.tokenDomainName,
          certificate: props.tokenCertificate,
          regionalDomainName: config.regions.length > 1 ? regionalTokenDomainName(domain, config.regions[0]) : undefined,
        }
        : undefined,
      stageAfter: this.firstRotation,
    });
    this.api = tokenApi.api;
    answerOnlyApi(this.tokenFunction, this.api.restApiId, config.apiStageName);
    this.tokenEndpoint = tokenApi.tokenEndpoint;
    this.tokenInvokeArn = tokenApi.tokenInvokeArn;

    // Alarm names are unique per region, so the other regions' alarms take the same names.
    const alarmNames = {
      keyRotationStepFunctionFailed: props.alarmNameKeyRotationStepFunctionFailed,
      apiGateway5xx: props.alarmNameApiGateway5xx,
      signLambdaFailed: props.alarmNameSignLambdaFailed,
      keyRotationLambdaFailed: props.alarmNameKeyRotationLambdaFailed,
    };
    const monitoring = new IssuerMonitoring(this, {
      alarmTopic: this.alarmTopic,
      api: this.api,
      tokenFunction: this.tokenFunction,
      algorithms: config.algorithms,
      alarmNames,
    }, { rotateFunction: this.rotateFunction, stateMachine: this.rotationStateMachine });
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;

    this.otherRegions = config.regions.slice(1).map((region) => {
      const primary = Stack.of(this);
      // Beside the primary stack, in its app or stage: a stack cannot hold another region's resources.
      const parent = primary.node.scope;
      if (parent === undefined || !(Stage.isStage(parent))) {
        throw new Error('IamJwtIssuer: regions needs the issuer\'s stack directly in an App or Stage (each other region gets a stack beside it); '
          + 'move the issuer out of the nested stack');
      }
      return new RegionStack(parent, `${primary.node.id}-${region}`, {
        stackName: `${primary.stackName}-${region}`,
        description: `iamjwt: token endpoint in ${region} of the issuer ${primary.stackName} (primary region ${primary.region})`,
        env: { account: primary.account, region },
        config,
        // The CloudFormation attributes themselves (not the L2 names, which CDK refuses across regions unless the
        // resource gets a generated physical name: a rename would replace the bucket and the role of an issuer that
        // adds regions later). CDK carries them to the other region's stack (RegionStack).
        issuerUrl: this.issuerUrl,
        bucketName: (this.issuerBucket.node.defaultChild as s3.CfnBucket).ref,
        tokenRoleName: (functions.tokenRole.node.defaultChild as iam.CfnRole).ref,
        alarmNames,
      });
    });
  }

  /** Short alias with the same name as aws-jwt-sts's property. */
  public get failedRotationTopic(): sns.Topic {
    return this.alarmTopic;
  }
}
