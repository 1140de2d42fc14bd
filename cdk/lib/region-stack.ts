/**
 * Another region of an issuer that signs in several (`regions`, docs/multi-region.md): a stack of its own, made by
 * `IamJwtIssuer` beside the primary's, holding that region's token function, token API (with
 * `<tokenSubdomain>.<region>.<zone>` when the issuer has a custom domain), alarm topic, alarms and dashboard.
 * No bucket, no rotation: the primary region publishes the one JWKS and replicates the keys into this region.
 *
 * The token function runs as the primary stack's token role, imported here: every key's policy names exactly one
 * token role (iamjwt_aws::kms::key_policy), and the primary's first rotation puts that policy on the keys before
 * this stack exists. What this stack takes from the primary (the role's ARN, the issuer URL, the bucket's name)
 * are CDK references, which CDK carries across regions (an SSM parameter written by the primary stack, read here);
 * nothing is copied by hand.
 *
 * The resources are created under a construct `Issuer`, so their logical ids read like the primary's.
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { answerOnlyApi, createTokenFunction, tokenEnvironment } from './issuer-functions';
import { createAlarmTopic, IamJwtTokenAlarms, IssuerMonitoring, IssuerMonitoringProps } from './monitoring';
import { regionalTokenDomainName, ResolvedConfig } from './props';
import { TokenApi } from './token-api';

/** One region of an issuer besides its primary: its stack and its token endpoint. */
export interface IamJwtRegion {
  /** The region's name, e.g. `eu-west-1`. */
  readonly region: string;
  /** The region's stack (named `<primary stack name>-<region>`); deploy it after the primary's. */
  readonly stack: Stack;
  /** Full URL of this region's GET /token. */
  readonly tokenEndpoint: string;
  /** ARN a workload's IAM policy allows `execute-api:Invoke` on, in this region. */
  readonly tokenInvokeArn: string;
  /** The region's REST API serving GET /token (AWS_IAM authorization). */
  readonly api: apigw.RestApi;
  /** The region's token Lambda: signs with this region's replicas of the issuer's keys. */
  readonly tokenFunction: lambda.Function;
  /** Receives this region's alarms (an alarm notifies only a topic of its own region). */
  readonly alarmTopic: sns.Topic;
  /** This region's alarms. */
  readonly alarms: IamJwtTokenAlarms;
  /** This region's CloudWatch dashboard. */
  readonly dashboard: cloudwatch.Dashboard;
}

export interface RegionStackProps extends StackProps {
  readonly config: ResolvedConfig;
  /** `iss` of every token (the primary's CloudFront or custom domain). */
  readonly issuerUrl: string;
  /** The issuer bucket, in the primary region: the token function reads the published JWKS from it. */
  readonly bucketName: string;
  /** The name of the one token role, created by the primary stack (in this account; CDK roles have no path). */
  readonly tokenRoleName: string;
  readonly alarmNames: IssuerMonitoringProps['alarmNames'];
}

/** The stack of one region besides the primary. */
export class RegionStack extends Stack implements IamJwtRegion {
  public readonly stack: Stack = this;
  public readonly tokenEndpoint: string;
  public readonly tokenInvokeArn: string;
  public readonly api: apigw.RestApi;
  public readonly tokenFunction: lambda.Function;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: IamJwtTokenAlarms;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, props);
    const { config } = props;
    const issuer = new Construct(this, 'Issuer');

    // Imported, not created: IAM is global and the keys' policies name the primary's role. Grants made here (the
    // log group's) become a policy of this stack attached to that role. By name: CloudFormation takes a stack output
    // of another region (Fn::GetStackOutput) whole, not inside Fn::Split, so the name is not cut out of the ARN.
    const tokenRole = iam.Role.fromRoleName(issuer, 'TokenRole', props.tokenRoleName, { mutable: true });
    this.tokenFunction = createTokenFunction(issuer, config, tokenRole, tokenEnvironment(config, props.issuerUrl, props.bucketName));
    this.alarmTopic = createAlarmTopic(issuer);

    const domain = config.customDomain;
    const tokenApi = new TokenApi(issuer, {
      config,
      tokenFunction: this.tokenFunction,
      customDomain: domain
        ? {
          zone: route53.HostedZone.fromHostedZoneAttributes(issuer, 'HostedZone', { hostedZoneId: domain.hostedZoneId, zoneName: domain.hostedZoneName }),
          domainName: regionalTokenDomainName(domain, this.region),
        }
        : undefined,
    });
    this.api = tokenApi.api;
    answerOnlyApi(this.tokenFunction, this.api.restApiId, config.apiStageName);
    this.tokenEndpoint = tokenApi.tokenEndpoint;
    this.tokenInvokeArn = tokenApi.tokenInvokeArn;

    const monitoring = new IssuerMonitoring(issuer, {
      alarmTopic: this.alarmTopic,
      api: this.api,
      tokenFunction: this.tokenFunction,
      algorithms: config.algorithms,
      alarmNames: props.alarmNames,
    }, undefined);
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;
  }
}
