/**
 * Reads the app's configuration from CDK context (`cdk.json` "context", `cdk.context.json`, or
 * `-c key=value` on the command line) and turns it into stack props. Values from `-c` arrive as
 * strings, values from JSON files keep their JSON type; both are accepted. Unknown keys are an error,
 * so a typo never silently falls back to a default.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Node } from 'constructs';
import { IamJwtStackProps } from './iamjwt-stack';
import { DEFAULT_ALGORITHM, SIGNING_ALGORITHMS } from './closed-sets';
import { IamJwtIssuerProps, WafUsage } from './props';

/** Where `make lambdas` puts the binaries, relative to cdk/. */
export const DEFAULT_APP_LAMBDA_CODE_DIR = '../target/lambda';

/** Context key → what it sets. Durations are plain numbers in the unit the key names. */
export const CONTEXT_KEYS: Record<string, string> = {
  stackName: 'CloudFormation stack name (default IamJwt)',
  defaultAudience: 'aud when the caller gives none (required)',
  lambdaCodeDir: 'directory with token/bootstrap and rotate/bootstrap (default <repo>/target/lambda), relative to cdk/',
  architecture: 'arm64 (default) or x86_64',
  hostedZoneId: 'Route 53 zone id for custom domains',
  hostedZoneName: 'Route 53 zone name for custom domains',
  oidcSubdomain: 'issuer subdomain (default oidc)',
  tokenSubdomain: 'token API subdomain (default token)',
  oidcCertificateArn: 'existing us-east-1 certificate for the issuer domain',
  tokenCertificateArn: 'existing certificate for the token domain',
  apiGwWaf: 'ConstructProvided or ProvideWebAclArn',
  apiGwWafWebAclArn: 'regional Web ACL ARN (with apiGwWaf=ProvideWebAclArn)',
  apiGwWafRateLimit: 'requests per 5 minutes per IP (with apiGwWaf=ConstructProvided)',
  orgId: 'AWS Organization whose principals may call',
  allowedAccountIds: 'accounts whose principals may call (comma-separated or JSON array)',
  disableKeyRotateOnCreate: 'true to skip the first rotation at stack creation',
  alarmNameKeyRotationStepFunctionFailed: 'alarm name',
  alarmNameApiGateway5xx: 'alarm name',
  alarmNameSignLambdaFailed: 'alarm name',
  alarmNameKeyRotationLambdaFailed: 'alarm name',
  keyAliasPrefix: 'KMS alias prefix (default alias/iamjwt)',
  apiName: 'REST API name (default iamjwt)',
  apiStageName: 'stage name (default prod)',
  apiGatewayCloudWatchRole: 'false if the account already has the API Gateway logging role',
  audiencePolicy: 'audience policy JSON (string or object)',
  audiencePolicyFile: 'path of a file holding the audience policy JSON, relative to cdk/',
  defaultTokenDurationSeconds: 'default token lifetime (default 900)',
  maxTokenDurationSeconds: 'max token lifetime (default 3600)',
  algorithms: `enabled algorithms, e.g. RS256,ES256 (known: ${SIGNING_ALGORITHMS.join(', ')})`,
  defaultAlgorithm: `one of the enabled algorithms (default ${DEFAULT_ALGORITHM})`,
  rotationSchedule: 'EventBridge expression, e.g. "rate(30 days)" or "cron(0 3 1 * ? *)"',
  minPublishAgeSeconds: 'pending key publish time before it signs (default 86400)',
  jwksMaxAgeSeconds: 'Cache-Control max-age of discovery and JWKS (default 3600)',
  keyDeletionWindowDays: 'KMS deletion window of retired keys, 7-30 (default 30)',
  sessionTags: 'true to emit the https://aws.amazon.com/tags claim',
  tagReaderRoleName: 'role (name, or path/name) assumed in a caller\'s account to read tags of other accounts\' principals (needs tags in use and orgId or allowedAccountIds)',
  tagCacheSeconds: 'how long a principal\'s IAM tags are reused, 1-86400 (default 300; needs tags in use)',
  logRetentionDays: 'log retention in days, one of CloudWatch Logs\' values (default 365)',
  keyRefreshSeconds: 'token Lambda alias re-resolution interval (default 300)',
  regions: 'regions to issue from, the primary first, e.g. us-east-1,eu-west-1 (comma-separated or JSON array; default: the CLI\'s region only); '
    + 'the primary stack is deployed there, each other region gets a stack <stackName>-<region>',
};

export interface AppConfig {
  readonly stackName: string;
  readonly stackProps: IamJwtStackProps;
  /** The primary region when `regions` is given (the stack is deployed there); else the CLI's region decides. */
  readonly primaryRegion?: string;
}

/** `baseDir` resolves relative paths (the cdk/ directory for the app). */
export function appConfigFromContext(node: Node, baseDir: string): AppConfig {
  const errors: string[] = [];
  const ctx = node.getAllContext();
  for (const key of Object.keys(ctx)) {
    // Feature flags and CLI/internal keys are namespaced ('@aws-cdk/...', 'aws:cdk:...').
    if (key.includes(':') || key.startsWith('@') || key.startsWith('cdk-')) continue;
    if (!(key in CONTEXT_KEYS)) errors.push(`unknown context key '${key}' (known: ${Object.keys(CONTEXT_KEYS).join(', ')})`);
  }
  const raw = (key: string): unknown => {
    const v = ctx[key];
    return v === '' ? undefined : v;
  };
  const str = (key: string): string | undefined => {
    const v = raw(key);
    if (v === undefined || typeof v === 'string') return v;
    errors.push(`context ${key} must be a string, got ${JSON.stringify(v)}`);
    return undefined;
  };
  const bool = (key: string): boolean | undefined => {
    const v = raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    errors.push(`context ${key} must be true or false, got ${JSON.stringify(v)}`);
    return undefined;
  };
  const num = (key: string): number | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (Number.isNaN(n)) errors.push(`context ${key} must be a whole number, got ${JSON.stringify(v)}`);
    return Number.isNaN(n) ? undefined : n;
  };
  const list = (key: string): string[] | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    if (typeof v === 'string') {
      const trimmed = v.trim();
      if (trimmed.startsWith('[')) {
        try {
          const parsed = JSON.parse(trimmed);
          if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
        } catch {
          // fall through to the error below
        }
        errors.push(`context ${key} must be a JSON array of strings or a comma-separated list`);
        return undefined;
      }
      return trimmed.split(',').map((s) => s.trim()).filter((s) => s !== '');
    }
    errors.push(`context ${key} must be a list of strings, got ${JSON.stringify(v)}`);
    return undefined;
  };
  const seconds = (key: string) => {
    const n = num(key);
    return n === undefined ? undefined : Duration.seconds(n);
  };

  const architecture = str('architecture');
  let arch: lambda.Architecture | undefined;
  if (architecture === 'arm64') arch = lambda.Architecture.ARM_64;
  else if (architecture === 'x86_64') arch = lambda.Architecture.X86_64;
  else if (architecture !== undefined) errors.push(`context architecture must be arm64 or x86_64, got '${architecture}'`);

  const waf = str('apiGwWaf');
  if (waf !== undefined && !Object.values(WafUsage).includes(waf as WafUsage)) {
    errors.push(`context apiGwWaf must be ${Object.values(WafUsage).join(' or ')}, got '${waf}'`);
  }

  let audiencePolicy: IamJwtIssuerProps['audiencePolicy'];
  const policyValue = raw('audiencePolicy');
  const policyFile = str('audiencePolicyFile');
  if (policyValue !== undefined && policyFile !== undefined) {
    errors.push('give audiencePolicy or audiencePolicyFile, not both');
  } else if (policyFile !== undefined) {
    try {
      audiencePolicy = fs.readFileSync(path.resolve(baseDir, policyFile), 'utf8');
    } catch (e) {
      errors.push(`audiencePolicyFile: cannot read ${policyFile} (${(e as Error).message})`);
    }
  } else if (typeof policyValue === 'string') {
    audiencePolicy = policyValue;
  } else if (policyValue !== undefined) {
    audiencePolicy = JSON.stringify(policyValue);
  }

  const schedule = str('rotationSchedule');
  let rotationSchedule: events.Schedule | undefined;
  if (schedule !== undefined) {
    if (/^(rate|cron)\(.+\)$/.test(schedule)) rotationSchedule = events.Schedule.expression(schedule);
    else errors.push(`context rotationSchedule must be an EventBridge rate(...) or cron(...) expression, got '${schedule}'`);
  }

  const retentionDays = num('logRetentionDays');
  if (retentionDays !== undefined && !Object.values(logs.RetentionDays).includes(retentionDays)) {
    errors.push(`context logRetentionDays must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...), got ${retentionDays}`);
  }
  const deletionDays = num('keyDeletionWindowDays');
  const lambdaCodeDir = str('lambdaCodeDir');

  const issuer: IamJwtIssuerProps = {
    defaultAudience: str('defaultAudience') as string,
    // The app deploys this checkout's build (`make lambdas`), not the zips the published package carries.
    lambdaCodeDir: path.resolve(baseDir, lambdaCodeDir ?? DEFAULT_APP_LAMBDA_CODE_DIR),
    architecture: arch,
    hostedZoneId: str('hostedZoneId'),
    hostedZoneName: str('hostedZoneName'),
    oidcSubdomain: str('oidcSubdomain'),
    tokenSubdomain: str('tokenSubdomain'),
    apiGwWaf: waf as WafUsage | undefined,
    apiGwWafWebAclArn: str('apiGwWafWebAclArn'),
    apiGwWafRateLimit: num('apiGwWafRateLimit'),
    orgId: str('orgId'),
    allowedAccountIds: list('allowedAccountIds'),
    disableKeyRotateOnCreate: bool('disableKeyRotateOnCreate'),
    alarmNameKeyRotationStepFunctionFailed: str('alarmNameKeyRotationStepFunctionFailed'),
    alarmNameApiGateway5xx: str('alarmNameApiGateway5xx'),
    alarmNameSignLambdaFailed: str('alarmNameSignLambdaFailed'),
    alarmNameKeyRotationLambdaFailed: str('alarmNameKeyRotationLambdaFailed'),
    keyAliasPrefix: str('keyAliasPrefix'),
    apiName: str('apiName'),
    apiStageName: str('apiStageName'),
    apiGatewayCloudWatchRole: bool('apiGatewayCloudWatchRole'),
    audiencePolicy,
    defaultTokenDuration: seconds('defaultTokenDurationSeconds'),
    maxTokenDuration: seconds('maxTokenDurationSeconds'),
    algorithms: list('algorithms'),
    defaultAlgorithm: str('defaultAlgorithm'),
    rotationSchedule,
    minPublishAge: seconds('minPublishAgeSeconds'),
    jwksMaxAge: seconds('jwksMaxAgeSeconds'),
    keyDeletionWindow: deletionDays === undefined ? undefined : Duration.days(deletionDays),
    sessionTags: bool('sessionTags'),
    tagReaderRoleName: str('tagReaderRoleName'),
    tagCacheSeconds: num('tagCacheSeconds'),
    logRetention: retentionDays as logs.RetentionDays | undefined,
    keyRefreshInterval: seconds('keyRefreshSeconds'),
    regions: list('regions'),
  };
  if (!issuer.defaultAudience) {
    errors.push('defaultAudience is required: pass -c defaultAudience=<audience> or set it in cdk.json "context"');
  }
  if (errors.length > 0) {
    throw new Error(`iamjwt app configuration:\n  - ${errors.join('\n  - ')}`);
  }
  const stackName = str('stackName') ?? 'IamJwt';
  return {
    stackName,
    primaryRegion: issuer.regions?.[0],
    stackProps: {
      issuer: dropUndefined(issuer) as IamJwtIssuerProps,
      oidcCertificateArn: str('oidcCertificateArn'),
      tokenCertificateArn: str('tokenCertificateArn'),
      description: 'iamjwt: AWS IAM identity -> signed JWT (token API, OIDC discovery + JWKS, key rotation)',
    },
  };
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
