/** The deployable app stack: one `IamJwtIssuer` and the outputs an operator needs. */
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import { Construct } from 'constructs';
import { IamJwtIssuer } from './iamjwt-issuer';
import { IamJwtIssuerProps } from './props';

/** The props of `IamJwtStack`. */
export interface IamJwtStackProps extends StackProps {
  /** Issuer props; the certificates may also be given by ARN below. */
  readonly issuer: IamJwtIssuerProps;
  /** ARN of an existing us-east-1 certificate for the issuer domain (instead of `issuer.oidcCertificate`). */
  readonly oidcCertificateArn?: string;
  /** ARN of an existing certificate for the token domain (instead of `issuer.tokenCertificate`). */
  readonly tokenCertificateArn?: string;
}

/** A stack holding one `IamJwtIssuer` (construct id `Issuer`) and the outputs an operator needs. */
export class IamJwtStack extends Stack {
  /** The issuer. */
  public readonly issuer: IamJwtIssuer;

  /**
   * Creates the stack, its issuer and its outputs.
   * @param scope the app
   * @param id the stack's construct id (its name unless `stackName` is given)
   * @param props the stack's props and the issuer's
   */
  constructor(scope: Construct, id: string, props: IamJwtStackProps) {
    super(scope, id, props);
    const issuerProps: IamJwtIssuerProps = {
      ...props.issuer,
      ...(props.oidcCertificateArn
        ? { oidcCertificate: acm.Certificate.fromCertificateArn(this, 'OidcCertificate', props.oidcCertificateArn) }
        : {}),
      ...(props.tokenCertificateArn
        ? { tokenCertificate: acm.Certificate.fromCertificateArn(this, 'TokenCertificate', props.tokenCertificateArn) }
        : {}),
    };
    this.issuer = new IamJwtIssuer(this, 'Issuer', issuerProps);

    new CfnOutput(this, 'TokenEndpoint', {
      description: 'GET this URL, SigV4-signed for execute-api (e.g. `iamjwt token --url <this> --aud ...`)',
      value: this.issuer.tokenEndpoint,
    });
    new CfnOutput(this, 'TokenInvokeArn', {
      description: 'Allow execute-api:Invoke on this ARN in the IAM policy of every workload that needs tokens',
      value: this.issuer.tokenInvokeArn,
    });
    new CfnOutput(this, 'IssuerUrl', {
      description: 'iss of every token; discovery at <this>/.well-known/openid-configuration, keys at <this>/.well-known/jwks.json',
      value: this.issuer.issuerUrl,
    });
    new CfnOutput(this, 'RotationStateMachineArn', {
      description: 'Key rotation workflow; start an execution with {"emergency": false} to rotate now',
      value: this.issuer.rotationStateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Subscribe here for rotation failures and alarms',
      value: this.issuer.alarmTopic.topicArn,
    });
    if (this.issuer.config.tagReaderRoleName !== undefined) {
      new CfnOutput(this, 'TokenRoleName', {
        description: 'The token function\'s role: TokenFunctionRoleName of the tag reader role StackSet (docs/tag-reader-role.md)',
        value: this.issuer.tokenFunction.role!.roleName,
      });
    }
    new CfnOutput(this, 'DashboardName', {
      description: 'CloudWatch dashboard',
      value: this.issuer.dashboard.dashboardName,
    });

    // Each other region's stack: its own endpoint (a SigV4 signature is scoped to one region), topic and dashboard.
    for (const other of this.issuer.otherRegions) {
      new CfnOutput(other.stack, 'TokenEndpoint', {
        description: `GET this URL in ${other.region}, SigV4-signed for execute-api in ${other.region} (iamjwt token --url REGION=URL, docs/multi-region.md)`,
        value: other.tokenEndpoint,
      });
      new CfnOutput(other.stack, 'TokenInvokeArn', {
        description: `Allow execute-api:Invoke on this ARN too in the IAM policy of every workload that may call ${other.region}`,
        value: other.tokenInvokeArn,
      });
      new CfnOutput(other.stack, 'AlarmTopicArn', {
        description: `Subscribe here for the alarms of ${other.region}`,
        value: other.alarmTopic.topicArn,
      });
      new CfnOutput(other.stack, 'DashboardName', {
        description: `CloudWatch dashboard of ${other.region}`,
        value: other.dashboard.dashboardName,
      });
    }
  }
}
