/**
 * The two Rust Lambdas and their least-privilege roles:
 * - `token` signs with issuer-tagged KMS keys (kms:Sign limited to the enabled algorithms);
 * - `rotate` creates issuer-tagged keys (limited to the enabled algorithms' key specs), moves the slot
 *   aliases, tags key facts, schedules retired keys for deletion and writes the issuer documents.
 * KMS keys are not created here: the rotate Lambda creates them at run time, tagged
 * `iamjwt:issuer=<alias prefix>`, and every KMS permission is scoped to that tag.
 *
 * A part of `IamJwtIssuer`: its resources are created in the issuer's scope (see parts.ts).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { algorithmSpec, ISSUER_TAG, KEY_FACT_TAGS } from './closed-sets';
import { JWKS_OBJECT } from './issuer-documents';
import { acknowledge, acknowledgeWildcard, keyArnPattern, logGroup } from './parts';
import { ResolvedConfig } from './props';

export interface IssuerFunctionsProps {
  readonly config: ResolvedConfig;
  /** `iss` of every token. */
  readonly issuerUrl: string;
  /** Where the rotate Lambda publishes discovery and JWKS (under `.well-known/`). */
  readonly bucket: s3.IBucket;
}

/**
 * The configuration both binaries read at start-up (DESIGN.md §9; `Settings::from_lookup` in
 * iamjwt-core). cdk/check.sh runs the binaries with `--check-config` on what this synthesizes.
 * The token function gets `tokenEnvironment` (this plus the principal-tag settings only it uses).
 */
export function lambdaEnvironment(config: ResolvedConfig, issuerUrl: string): Record<string, string> {
  return {
    IAMJWT_ISSUER: issuerUrl,
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
    // Only for an issuer in several regions: a single-region function's environment is what it always was.
    ...(isMultiRegion(config) ? { IAMJWT_REGIONS: config.regions.join(',') } : {}),
  };
}

/** Whether the issuer signs in several regions (docs/multi-region.md). */
export function isMultiRegion(config: ResolvedConfig): boolean {
  return config.regions.length > 1;
}

/**
 * The token function's environment: `lambdaEnvironment` plus, when it reads principal tags, their cache lifetime
 * and (if set) the reader role for callers of other accounts. The rotate function never reads tags. In several
 * regions, also the issuer bucket (`bucketName`, in the primary region): every region's token function signs only
 * with keys listed in the JWKS published there, and refuses to start without it.
 */
export function tokenEnvironment(config: ResolvedConfig, issuerUrl: string, bucketName?: string): Record<string, string> {
  const environment = lambdaEnvironment(config, issuerUrl);
  if (config.tagsUsed) {
    environment.IAMJWT_TAG_CACHE_SECONDS = String(config.tagCacheSeconds);
    if (config.tagReaderRoleName !== undefined) environment.IAMJWT_TAG_READER_ROLE = config.tagReaderRoleName;
  }
  if (isMultiRegion(config)) {
    if (bucketName === undefined) throw new Error('tokenEnvironment: an issuer in several regions needs the issuer bucket\'s name');
    environment.IAMJWT_BUCKET = bucketName;
  }
  return environment;
}

/**
 * The token function of one region, running as `role` (in several regions, every region's function runs as the one
 * token role of the primary stack: the keys' policies name exactly one token role).
 */
export function createTokenFunction(
  scope: Construct, config: ResolvedConfig, role: iam.IRole, environment: Record<string, string>,
): lambda.Function {
  return new lambda.Function(scope, 'TokenFunction', {
    description: 'iamjwt: GET /token, signs a JWT for the calling IAM identity',
    runtime: lambda.Runtime.PROVIDED_AL2023,
    handler: 'bootstrap',
    architecture: config.architecture,
    code: lambda.Code.fromAsset(config.tokenCodePath),
    memorySize: 256,
    timeout: Duration.seconds(10),
    role,
    logGroup: logGroup(scope, 'TokenLogs', config.logRetention, role),
    environment,
  });
}

/**
 * The token function answers only API Gateway REST events of this API and stage (`RestApiStage` in iamjwt-lambda):
 * an event of another API or stage, or a hand-made one, gets 403. Set once the API exists (it is created after the
 * function: the API's integration names the function).
 */
export function answerOnlyApi(tokenFunction: lambda.Function, restApiId: string, stageName: string): void {
  tokenFunction.addEnvironment('IAMJWT_API_ID', restApiId);
  tokenFunction.addEnvironment('IAMJWT_API_STAGE', stageName);
}

export class IssuerFunctions {
  public readonly tokenFunction: lambda.Function;
  public readonly rotateFunction: lambda.Function;
  public readonly tokenRole: iam.Role;
  public readonly rotateRole: iam.Role;

  constructor(scope: Construct, props: IssuerFunctionsProps) {
    const { config, bucket } = props;
    const environment = lambdaEnvironment(config, props.issuerUrl);

    this.tokenRole = new iam.Role(scope, 'TokenRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iamjwt token Lambda: sign with issuer-tagged KMS keys, write its own logs',
    });
    this.tokenFunction = createTokenFunction(scope, config, this.tokenRole, tokenEnvironment(config, props.issuerUrl, bucket.bucketName));

    this.rotateRole = new iam.Role(scope, 'RotateRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iamjwt rotate Lambda: manage issuer-tagged KMS keys and aliases, write the issuer documents',
    });
    this.rotateFunction = new lambda.Function(scope, 'RotateFunction', {
      description: 'iamjwt: one key-rotation step (retire, promote, create, publish)',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      architecture: config.architecture,
      code: lambda.Code.fromAsset(config.rotateCodePath),
      memorySize: 256,
      timeout: Duration.seconds(60),
      role: this.rotateRole,
      logGroup: logGroup(scope, 'RotateLogs', config.logRetention, this.rotateRole),
      environment: {
        ...environment,
        IAMJWT_BUCKET: bucket.bucketName,
        // The roles every key's policy names (docs/aws.md, "Keys in KMS"): only the token role may sign, only the
        // rotate role runs the keys' lifecycle. The rotate binary refuses to start without them.
        IAMJWT_TOKEN_ROLE_ARN: this.tokenRole.roleArn,
        IAMJWT_ROTATE_ROLE_ARN: this.rotateRole.roleArn,
      },
    });

    grantKeyUse(this.tokenRole, config);
    if (config.tagsUsed) {
      grantTagReads(this.tokenRole, config.tagReaderRoleName);
    }
    grantKeyManagement(this.rotateRole, config);
    this.rotateRole.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteIssuerDocuments',
      actions: ['s3:PutObject', 's3:GetObject'],
      resources: [bucket.arnForObjects('.well-known/*')],
    }));
    if (isMultiRegion(config)) {
      grantReplication(this.rotateRole, config);
      // Every region's token function reads the published JWKS (and nothing else of the bucket) to sign only with
      // keys verifiers can know (iamjwt_aws::published).
      this.tokenRole.addToPrincipalPolicy(new iam.PolicyStatement({
        sid: 'ReadPublishedJwks',
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(JWKS_OBJECT)],
      }));
    }

    const keysAreCreatedAtRuntime = 'KMS keys are created by the rotate Lambda at run time, so their ids cannot be listed here; '
      + `every statement on key/* carries the condition aws:ResourceTag/${ISSUER_TAG} = ${config.keyAliasPrefix} (or, for tagging a new key, `
      + 'aws:RequestTag plus aws:TagKeys and an untagged-key check), which limits it to this issuer\'s keys.';
    for (const keyArn of issuerKeyArns(scope, config)) {
      acknowledgeWildcard(this.tokenRole, keyArn, keysAreCreatedAtRuntime);
      acknowledgeWildcard(this.rotateRole, keyArn, keysAreCreatedAtRuntime);
    }
    acknowledge(this.rotateRole, 'AwsSolutions-IAM5[Resource::*]',
      'kms:CreateKey supports no resource ARN (the key does not exist yet); the statement is limited by conditions: '
      + `aws:RequestTag/${ISSUER_TAG}, aws:TagKeys, kms:KeySpec and kms:KeyUsage=SIGN_VERIFY.`
      + (isMultiRegion(config)
        ? ' In several regions also: kms:CreateKey of multi-Region replicas (how KMS authorizes a ReplicateKey in the replica\'s region; '
          + 'ReplicateKey itself is limited to this issuer\'s keys and the configured regions), and kms:ListKeys, which lists the '
          + 'account\'s keys and supports no resource ARN, in the primary region only.'
        : ''));
    acknowledgeWildcard(this.rotateRole, aliasArnPattern(scope, config),
      'The rotate Lambda moves the six slot aliases <prefix>/<alg>/<slot>; the wildcard is the alias prefix of this issuer only.');
    for (const region of config.regions.slice(1)) {
      acknowledgeWildcard(this.rotateRole, aliasArnPattern(scope, config, region, 'current'),
        `The rotate Lambda points the current alias of each algorithm in ${region} (<prefix>/<alg>/current) at its replica; `
        + 'the wildcard is the algorithm, under the alias prefix of this issuer only.');
    }
    acknowledgeWildcard(this.rotateRole, bucket.arnForObjects('.well-known/*'),
      'The rotate Lambda writes and reads back exactly .well-known/openid-configuration and .well-known/jwks.json; the prefix keeps it out of the rest of the bucket.');
  }
}

/** The alias ARN pattern of the prefix's aliases in the stack's region, or of one slot's (any algorithm) in `region`. */
function aliasArnPattern(scope: Construct, config: ResolvedConfig, region?: string, slot?: string): string {
  const prefix = config.keyAliasPrefix.slice('alias/'.length);
  return Stack.of(scope).formatArn({ service: 'kms', region, resource: 'alias', resourceName: slot ? `${prefix}/*/${slot}` : `${prefix}/*` });
}

/** The key ARN patterns of every region the issuer signs in: its own region's alone for a single-region issuer. */
export function issuerKeyArns(scope: Construct, config: ResolvedConfig): string[] {
  return isMultiRegion(config) ? config.regions.map((region) => keyArnPattern(scope, region)) : [keyArnPattern(scope)];
}

/**
 * Token Lambda, only when tokens carry principal tags: read the tags of the caller's role or user in this account
 * (`iamjwt_aws::iam_tags`), and, with a reader role, assume it in other accounts to read theirs there. The reader
 * role itself (and its trust of this role) is deployed in those accounts (docs/tag-reader-role.md).
 */
function grantTagReads(role: iam.Role, readerRoleName: string | undefined): void {
  const stack = Stack.of(role);
  const resources = ['role/*', 'user/*'].map((r) => stack.formatArn({ service: 'iam', region: '', resource: r }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ReadCallerTags',
    actions: ['iam:ListRoleTags', 'iam:ListUserTags'],
    resources,
  }));
  for (const r of resources) {
    acknowledgeWildcard(role, r, 'Any role or user of this account may call the token API; its tags are read (not changed) to build the claims the audience policy asks for.');
  }
  if (readerRoleName !== undefined) {
    // iam_tags.rs assumes arn:<caller's partition>:iam::<caller's account>:role/<name>, without session tags
    // (so no sts:TagSession); a role can only assume roles of its own partition.
    const readerRoles = `arn:${stack.partition}:iam::*:role/${readerRoleName}`;
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'AssumeTagReaderRole',
      actions: ['sts:AssumeRole'],
      resources: [readerRoles],
    }));
    acknowledgeWildcard(role, readerRoles, 'Callers come from any account the API resource policy admits (orgId, allowedAccountIds), '
      + `and their tags are read by assuming the role of exactly this name (${readerRoleName}) in the caller's account, which is not known `
      + 'before the request; a role is only assumed if its own trust policy names this token role (docs/tag-reader-role.md), '
      + 'and the reader role there may only list role and user tags.');
  }
}

/** Token Lambda: resolve aliases, read public keys, sign. Only keys tagged for this issuer. */
function grantKeyUse(role: iam.Role, config: ResolvedConfig): void {
  const issuerKeys = { [`aws:ResourceTag/${ISSUER_TAG}`]: config.keyAliasPrefix };
  // In several regions the one token role signs in each with that region's replicas (IAM is global, a key ARN is not).
  const keyArns = issuerKeyArns(role, config);
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ResolveIssuerKeys',
    // One GetPublicKey per alias resolves key id and public key (iamjwt_aws::kms); no DescribeKey.
    actions: ['kms:GetPublicKey'],
    resources: keyArns,
    conditions: { StringEquals: issuerKeys },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'SignWithIssuerKeys',
    actions: ['kms:Sign'],
    resources: keyArns,
    conditions: {
      StringEquals: {
        ...issuerKeys,
        'kms:SigningAlgorithm': config.algorithms.map((a) => algorithmSpec(a).kmsSigningAlgorithm),
      },
    },
  }));
}

/**
 * Rotate Lambda: create issuer-tagged signing keys, move the slot aliases, tag key facts, schedule
 * retired keys for deletion, keep each key's policy. It can neither remove nor change a key's issuer tag, so it cannot take
 * a key away from this issuer's scope or pull another issuer's key into it.
 */
function grantKeyManagement(role: iam.Role, config: ResolvedConfig): void {
  const prefix = config.keyAliasPrefix;
  const keyArn = keyArnPattern(role);
  const allTagKeys = [ISSUER_TAG, ...KEY_FACT_TAGS];
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'CreateIssuerKeys',
    actions: ['kms:CreateKey'],
    // CreateKey has no resource to scope; the conditions do it.
    resources: ['*'],
    conditions: {
      'StringEquals': {
        [`aws:RequestTag/${ISSUER_TAG}`]: prefix,
        // One key spec per enabled algorithm; two algorithms may share one.
        'kms:KeySpec': [...new Set(config.algorithms.map((a) => algorithmSpec(a).kmsKeySpec))],
        'kms:KeyUsage': 'SIGN_VERIFY',
        // In several regions every key is a multi-Region primary key (replicated below); in one, as always.
        ...(isMultiRegion(config) ? { 'kms:MultiRegion': 'true' } : {}),
      },
      'ForAllValues:StringEquals': { 'aws:TagKeys': allTagKeys },
    },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    // KMS authorizes the Tags of CreateKey as a TagResource call on a key that has no tags yet.
    sid: 'TagNewIssuerKeys',
    actions: ['kms:TagResource'],
    // In several regions also the new replicas: KMS authorizes a ReplicateKey's tags as a TagResource there.
    resources: issuerKeyArns(role, config),
    conditions: {
      'StringEquals': { [`aws:RequestTag/${ISSUER_TAG}`]: prefix },
      'ForAllValues:StringEquals': { 'aws:TagKeys': allTagKeys },
      'Null': { [`aws:ResourceTag/${ISSUER_TAG}`]: 'true' },
    },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'TagIssuerKeyFacts',
    actions: ['kms:TagResource', 'kms:UntagResource'],
    resources: [keyArn],
    conditions: {
      'StringEquals': { [`aws:ResourceTag/${ISSUER_TAG}`]: prefix },
      'ForAllValues:StringEquals': { 'aws:TagKeys': KEY_FACT_TAGS },
    },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ManageIssuerKeys',
    actions: [
      'kms:DescribeKey', 'kms:GetPublicKey', 'kms:ListResourceTags', 'kms:ScheduleKeyDeletion',
      // Each key's policy is read and, when it differs from this issuer's, put back (iamjwt_aws::kms::key_policy).
      'kms:GetKeyPolicy', 'kms:PutKeyPolicy',
      // KMS checks alias operations on the key as well as on the alias.
      'kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias',
    ],
    resources: [keyArn],
    conditions: { StringEquals: { [`aws:ResourceTag/${ISSUER_TAG}`]: prefix } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ManageIssuerAliases',
    actions: ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'],
    resources: [aliasArnPattern(role, config)],
  }));
}

/**
 * Rotate Lambda, for an issuer in several regions (iamjwt_aws::kms::KmsRegions): find this issuer's multi-Region keys
 * in the primary region, replicate them into the other regions (with their identity tags and key policy), and in
 * each other region point the `current` aliases, tag a replica's demotion and schedule its deletion. Every key
 * statement is limited to this issuer's keys (the issuer tag, which a replica carries from its primary) and names
 * the regions one by one; ReplicateKey only into the configured regions.
 */
function grantReplication(role: iam.Role, config: ResolvedConfig): void {
  const prefix = config.keyAliasPrefix;
  const [primary, ...replicas] = config.regions;
  const issuerKeys = { [`aws:ResourceTag/${ISSUER_TAG}`]: prefix };
  const replicaKeys = replicas.map((region) => keyArnPattern(role, region));
  const allow = (sid: string, actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));

  // ListKeys has no resource to scope (it lists the account's keys in one region); only in the primary.
  allow('ListKeysInPrimaryRegion', ['kms:ListKeys'], ['*'], { StringEquals: { 'aws:RequestedRegion': primary } });
  allow('ReplicateIssuerKeys', ['kms:ReplicateKey'], [keyArnPattern(role, primary)],
    { StringEquals: { ...issuerKeys, 'kms:ReplicaRegion': replicas } });
  // KMS authorizes a ReplicateKey as a CreateKey in the replica's region (which has no resource to scope) and,
  // for its tags, a TagResource on the new replica (TagNewIssuerKeys names every region).
  allow('CreateIssuerKeyReplicas', ['kms:CreateKey'], ['*'],
    { StringEquals: { 'kms:MultiRegion': 'true', 'kms:MultiRegionKeyType': 'REPLICA' } });
  // KMS checks alias operations on the key as well as on the alias.
  allow('ManageIssuerKeyReplicas',
    ['kms:DescribeKey', 'kms:ListResourceTags', 'kms:ScheduleKeyDeletion', 'kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'],
    replicaKeys, { StringEquals: issuerKeys });
  // A replica's facts (KmsRegions writes one: when its region's alias left it); never its issuer tag.
  allow('TagIssuerKeyReplicaFacts', ['kms:TagResource'], replicaKeys,
    { 'StringEquals': issuerKeys, 'ForAllValues:StringEquals': { 'aws:TagKeys': KEY_FACT_TAGS } });
  allow('ManageIssuerReplicaAliases', ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'],
    replicas.map((region) => aliasArnPattern(role, config, region, 'current')));
  // KMS creates its service-linked role for multi-Region keys with the account's first one.
  const serviceRole = Stack.of(role).formatArn({
    service: 'iam', region: '', resource: 'role', resourceName: `aws-service-role/${MRK_SERVICE}/AWSServiceRoleForKeyManagementServiceMultiRegionKeys`,
  });
  allow('CreateMultiRegionKeyServiceRole', ['iam:CreateServiceLinkedRole'], [serviceRole], { StringEquals: { 'iam:AWSServiceName': MRK_SERVICE } });
}

/** The service KMS's multi-Region key service-linked role belongs to. */
const MRK_SERVICE = 'mrk.kms.amazonaws.com';
