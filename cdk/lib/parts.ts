/**
 * What the parts of `IamJwtIssuer` share.
 *
 * The parts (IssuerDocuments, IssuerFunctions, KeyRotation, TokenApi, IssuerMonitoring) are plain
 * classes, not `Construct`s: each creates its resources directly in the issuer's scope, which it is
 * given. CloudFormation logical ids are derived from the construct path, so a part that were a
 * construct of its own would move every resource one level down (`Issuer/Documents/IssuerBucket`
 * instead of `Issuer/IssuerBucket`) and a deployed stack's update would replace the bucket, the
 * distribution, the REST API and the state machine. Keeping the paths is the least trickery: no
 * `overrideLogicalId`, and cdk-nag acknowledgements keep matching the same paths.
 * (test/logical-ids.test.ts holds every id to the fixture generated before the split.)
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
// cdk-nag renders CloudFormation references this way in finding ids; reuse it so acknowledgements match exactly.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';

/**
 * A log group with the given retention, kept when the stack is deleted; `writer` may write to it, by its identity
 * policy only. (`LogGroup.grantWrite` also adds a log resource policy when it cannot tell the role's account, as for
 * the token role another region's stack imports; an account has at most 10 of those per region.)
 */
export function logGroup(scope: Construct, id: string, retention: logs.RetentionDays, writer?: iam.IRole): logs.LogGroup {
  const group = new logs.LogGroup(scope, id, { retention, removalPolicy: RemovalPolicy.RETAIN });
  if (writer) iam.Grant.addToPrincipal({ grantee: writer, actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resourceArns: [group.logGroupArn] });
  return group;
}

/**
 * `arn:<partition>:kms:<region>:<account>:key/*` (the stack's region unless `region` names another): keys are created
 * at run time, scoped by tag.
 */
export function keyArnPattern(scope: Construct, region?: string): string {
  return Stack.of(scope).formatArn({ service: 'kms', region, resource: 'key', resourceName: '*' });
}

/** Accept a cdk-nag AwsSolutions finding on `scope` (and below) with its reason. */
export function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Accept AwsSolutions-IAM5 (wildcard resource) for one resource pattern granted to `scope`. */
export function acknowledgeWildcard(scope: Construct, resource: string, reason: string): void {
  acknowledge(scope, `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`, reason);
}
