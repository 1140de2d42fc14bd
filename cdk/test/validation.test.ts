import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as events from 'aws-cdk-lib/aws-events';
import { App, Aws, Fn, Stack, Token } from 'aws-cdk-lib';
import { IamJwtIssuerProps, isRegionName, WafUsage } from '../lib/props';
import { build } from './helpers';

const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };
const WEB_ACL = 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shared/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';

function cert(arn: string): acm.ICertificate {
  return acm.Certificate.fromCertificateArn(new Stack(new App(), 'Certs'), `C${arn.length}${arn.slice(-4)}`, arn);
}

/** Principal tags read for callers of other accounts: what tagReaderRoleName needs. */
const TAGS_ACROSS_ACCOUNTS: Partial<IamJwtIssuerProps> = { sessionTags: true, allowedAccountIds: ['444455556666'] };

/** Each case: props, and the error line (regexp) synthesis must stop with. */
const cases: [string, Partial<IamJwtIssuerProps>, RegExp, { region?: string }?][] = [
  ['defaultAudience missing', { defaultAudience: '' }, /defaultAudience is required/],
  ['defaultAudience with control characters', { defaultAudience: 'a\nb' }, /defaultAudience must be 1–1000 printable characters/],
  ['custom domain with only hostedZoneId', { hostedZoneId: 'Z1' }, /custom domain needs both hostedZoneId and hostedZoneName \(only hostedZoneId is set\)/],
  ['custom domain with only hostedZoneName', { hostedZoneName: 'example.com' }, /custom domain needs both hostedZoneId and hostedZoneName \(only hostedZoneName is set\)/],
  ['oidcSubdomain without a custom domain', { oidcSubdomain: 'id' }, /oidcSubdomain only applies with a custom domain/],
  ['tokenSubdomain without a custom domain', { tokenSubdomain: 'sts' }, /tokenSubdomain only applies with a custom domain/],
  ['oidcCertificate without a custom domain', { oidcCertificate: cert('arn:aws:acm:us-east-1:111122223333:certificate/abc') }, /oidcCertificate only applies with a custom domain/],
  ['tokenCertificate without a custom domain', { tokenCertificate: cert('arn:aws:acm:eu-west-1:111122223333:certificate/def') }, /tokenCertificate only applies with a custom domain/],
  ['invalid subdomain', { ...ZONE, oidcSubdomain: 'Bad_Name' }, /oidcSubdomain must be a DNS name/],
  ['same subdomain twice', { ...ZONE, oidcSubdomain: 'auth', tokenSubdomain: 'auth' }, /oidcSubdomain and tokenSubdomain must differ/],
  ['oidcCertificate outside us-east-1', { ...ZONE, oidcCertificate: cert('arn:aws:acm:eu-west-1:111122223333:certificate/abc') }, /oidcCertificate must be in us-east-1/],
  ['custom domain outside us-east-1 without an issuer certificate', { ...ZONE },
    /a custom domain in a stack in eu-west-1 needs oidcCertificate: CloudFront only uses certificates from us-east-1 .* pass it as oidcCertificate \(app: -c oidcCertificateArn=<its ARN>\), or deploy the stack in us-east-1/,
    { region: 'eu-west-1' }],
  ['tokenCertificate in another region', { ...ZONE, tokenCertificate: cert('arn:aws:acm:us-east-1:111122223333:certificate/def') },
    /tokenCertificate must be in the stack's region eu-west-1/, { region: 'eu-west-1' }],
  ['WAF ARN without the ARN mode', { apiGwWafWebAclArn: WEB_ACL }, /apiGwWafWebAclArn needs apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN/],
  ['WAF ARN with the construct-provided mode', { apiGwWaf: WafUsage.CONSTRUCT_PROVIDED, apiGwWafWebAclArn: WEB_ACL }, /apiGwWafWebAclArn needs apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN/],
  ['ARN mode without an ARN', { apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN }, /WafUsage.PROVIDE_WEB_ACL_ARN needs apiGwWafWebAclArn/],
  ['CloudFront-scope Web ACL', { apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN, apiGwWafWebAclArn: 'arn:aws:wafv2:us-east-1:111122223333:global/webacl/x/1' },
    /must be a REGIONAL WAFv2 Web ACL ARN/],
  ['unknown WAF mode', { apiGwWaf: 'Yes' as WafUsage }, /apiGwWaf must be WafUsage.CONSTRUCT_PROVIDED or WafUsage.PROVIDE_WEB_ACL_ARN/],
  ['rate limit without construct WAF', { apiGwWafRateLimit: 500 }, /apiGwWafRateLimit only applies with apiGwWaf: WafUsage.CONSTRUCT_PROVIDED/],
  ['rate limit too low', { apiGwWaf: WafUsage.CONSTRUCT_PROVIDED, apiGwWafRateLimit: 5 }, /apiGwWafRateLimit must be an integer 100–2000000000/],
  ['malformed orgId', { orgId: 'my-org' }, /orgId must look like o-a1b2c3d4e5/],
  ['malformed account id', { allowedAccountIds: ['12345'] }, /allowedAccountIds: '12345' is not a 12-digit AWS account id/],
  ['duplicate account ids', { allowedAccountIds: ['111122223333', '111122223333'] }, /allowedAccountIds has duplicates/],
  ['alias prefix without alias/', { keyAliasPrefix: 'iamjwt' }, /keyAliasPrefix must be 'alias\/' then segments/],
  ['alias prefix with a trailing slash', { keyAliasPrefix: 'alias/iamjwt/' }, /keyAliasPrefix must be 'alias\/' then segments/],
  ['reserved alias prefix', { keyAliasPrefix: 'alias/aws/iamjwt' }, /keyAliasPrefix must not start with alias\/aws/],
  ['alias prefix too long', { keyAliasPrefix: `alias/${'a'.repeat(240)}` }, /keyAliasPrefix is too long/],
  ['no algorithms', { algorithms: [] }, /algorithms must enable at least one of RS256, ES256/],
  ['unknown algorithm', { algorithms: ['HS256' as 'RS256'] }, /algorithms: unknown algorithm 'HS256'/],
  ['duplicate algorithm', { algorithms: ['RS256', 'RS256'] }, /algorithms has duplicates/],
  ['unknown default algorithm', { defaultAlgorithm: 'HS512' }, /defaultAlgorithm: unknown algorithm 'HS512' \(one of RS256, ES256, ES384\)/],
  ['default algorithm not enabled', { algorithms: ['ES256'], defaultAlgorithm: 'RS256' }, /defaultAlgorithm 'RS256' is not in algorithms \[ES256\]/],
  ['token lifetime below a minute', { defaultTokenDuration: Duration.seconds(30) }, /defaultTokenDuration must be a whole number of seconds between 60 and 43200/],
  ['max lifetime above 12 hours', { maxTokenDuration: Duration.hours(13) }, /maxTokenDuration must be a whole number of seconds between 60 and 43200/],
  ['fractional seconds', { defaultTokenDuration: Duration.millis(90_500) }, /defaultTokenDuration must be a whole number of seconds/],
  ['default above max', { defaultTokenDuration: Duration.hours(2) }, /defaultTokenDuration \(7200s\) must not exceed maxTokenDuration \(3600s\)/],
  ['JWKS max-age above a day', { jwksMaxAge: Duration.days(2) }, /jwksMaxAge must be a whole number of seconds between 0 and 86400/],
  ['publish age shorter than caches', { minPublishAge: Duration.minutes(30) }, /minPublishAge \(1800s\) must be at least jwksMaxAge \+ the CDN cache time \(3600s \+ 300s = 3900s\)/],
  ['key refresh too fast', { keyRefreshInterval: Duration.seconds(1) }, /keyRefreshInterval must be a whole number of seconds between 10 and 3600/],
  ['deletion window below 7 days', { keyDeletionWindow: Duration.days(3) }, /keyDeletionWindow must be a whole number of days between 7 and 30/],
  ['deletion window not whole days', { keyDeletionWindow: Duration.hours(200) }, /keyDeletionWindow must be a whole number of days between 7 and 30/],
  ['schedule faster than publication', { rotationSchedule: events.Schedule.rate(Duration.hours(12)) },
    /rotationSchedule \(rate\(12 hours\)\) runs more often than a rotation can safely complete: it must be at least .* = 86400s/],
  ['audience policy not JSON', { audiencePolicy: '{rules:' }, /audiencePolicy: not valid JSON/],
  ['audience policy unknown top-level field', { audiencePolicy: { rules: [], extra: 1 } as never }, /audiencePolicy: unknown field 'extra'/],
  ['audience policy unknown rule field', { audiencePolicy: { rules: [{ audiences: ['a'], principal: ['x'] }] } as never },
    /audiencePolicy: rules\[0\]: unknown field 'principal'/],
  ['audience policy rule without audiences', { audiencePolicy: { rules: [{ accounts: ['111122223333'] }] } as never }, /audiencePolicy: rules\[0\].audiences is required/],
  ['audience policy bad account', { audiencePolicy: { rules: [{ accounts: ['1'], audiences: ['a'] }] } }, /audiencePolicy: rules\[0\].accounts\[0\] '1' is not a 12-digit account id/],
  ['audience policy bad org', { audiencePolicy: { rules: [{ org_ids: ['org'], audiences: ['a'] }] } }, /audiencePolicy: rules\[0\].org_ids\[0\] 'org' is not an organization id/],
  ['audience policy bad principal', { audiencePolicy: { rules: [{ principals: ['role/ci-*'], audiences: ['a'] }] } },
    /audiencePolicy: rules\[0\].principals\[0\] 'role\/ci-\*' is not an ARN pattern/],
  // Principal patterns are matched field by field: what could never match a principal is refused.
  ...([
    ['arn:aws:iam::111122223333:role/team/ci-*', /has a path: the caller's ARN carries none for a role/],
    ['arn:aws:iam::111122223333:*/ci-*', /has resource type '\*': expected role, user, federated-user or root, written out/],
    ['arn:aws:sts::111122223333:assumed-role/ci/s', /names an assumed-role session: a session matches its role's pattern/],
    ['arn:aws:sts::111122223333:role/ci', /has service 'sts': a role ARN is arn:aws:iam::/],
    ['arn:aws:iam:us-east-1:111122223333:role/ci', /has a region/],
    ['arn:aws:iam::1234:role/ci', /has account '1234': expected 12 digits/],
    ['arn:aws:iam::111122223333:user/**/a/**/b', /has \*\* twice/],
    ['arn:aws:iam::111122223333:role/a:b', /outside IAM's characters/],
  ] as [string, RegExp][]).map(([p, message]): [string, Partial<IamJwtIssuerProps>, RegExp] => [`audience policy principal ${p}`,
    { audiencePolicy: { rules: [{ principals: ['arn:aws:iam::111122223333:role/ok', p], audiences: ['a'] }] } }, message]),
  // One rule never gives two principals the same sub.
  ...([
    [{}, '{account}/{name}', /gives principals of different types but one name the same sub \(this rule admits role, user, federated-user\): add \{principal_type\}/],
    [{ principals: ['arn:aws:iam::*:role/ci-*'] }, '{name}', /gives principals of one name in different accounts the same sub: add \{account\}/],
    [{ accounts: ['111122223333', '444455556666'] }, '{principal_type}/{name}', /add \{account\}/],
    [{ principals: ['arn:aws:iam::111122223333:role/ci-*'] }, '{session_name}', /does not name the principal/],
    [{ principals: ['arn:aws:iam::111122223333:role/ci-*'] }, '{tag:team|32}', /does not name the principal/],
    [{}, '{account}/{name}{principal_type}', /is ambiguous: \{name\} can run into what follows it/],
  ] as [object, string, RegExp][]).map(([selectors, sub, message]): [string, Partial<IamJwtIssuerProps>, RegExp] => [`audience policy sub ${sub} for ${JSON.stringify(selectors)}`,
    { audiencePolicy: { rules: [{ ...selectors, audiences: ['a'], sub }] } }, message]),
  ['audience policy max_duration above max', { audiencePolicy: { rules: [{ audiences: ['a'], max_duration: 7200 }] } },
    /audiencePolicy: rules\[0\].max_duration must be an integer between 60 and maxTokenDuration \(3600\)/],
  ['audience policy too big for the Lambda environment', {
    audiencePolicy: { rules: Array.from({ length: 40 }, (_, i) => ({ audiences: [`https://service-${i}.example.com/audience`, `api://service-${i}`] })) },
  }, /at most 3000 fit in the Lambda environment/],
  ...['a b', 'arn:aws:iam::111122223333:role/reader', '/reader', 'reader/', 'a//reader', 'r'.repeat(65), `${'p/'.repeat(254)}reader`, 'rôle', '']
    .map((name): [string, Partial<IamJwtIssuerProps>, RegExp] => [`tag reader role name ${JSON.stringify(name.slice(0, 40))} (${name.length} chars)`,
      { ...TAGS_ACROSS_ACCOUNTS, tagReaderRoleName: name }, /tagReaderRoleName must be an IAM role name \(1–64 letters, digits and _\+=,\.@-\), optionally after its IAM path/]),
  ...[0, 86_401, 1.5, -300].map((value): [string, Partial<IamJwtIssuerProps>, RegExp] => [`tag cache of ${value} seconds`,
    { sessionTags: true, tagCacheSeconds: value }, /tagCacheSeconds must be a whole number of seconds between 1 and 86400/]),
  ['tag reader role without tags in use', { orgId: 'o-a1b2c3d4e5', tagReaderRoleName: 'iamjwt-tag-reader' },
    /tagReaderRoleName has no effect: the token Lambda reads principal tags only with sessionTags: true or an audiencePolicy rule with session_tags or a \{tag:KEY\} template/],
  ['tag reader role with sessionTags: false and a policy without tags', {
    orgId: 'o-a1b2c3d4e5', sessionTags: false, tagReaderRoleName: 'iamjwt-tag-reader', audiencePolicy: { rules: [{ audiences: ['api://ci'], sub: '{principal_type}/{account}/{name}' }] },
  }, /tagReaderRoleName has no effect: the token Lambda reads principal tags only/],
  ['tag cache without tags in use', { tagCacheSeconds: 60 }, /tagCacheSeconds has no effect: the token Lambda reads principal tags only/],
  ['tag reader role when only this account can call', { sessionTags: true, tagReaderRoleName: 'iamjwt-tag-reader' },
    /tagReaderRoleName has no effect without orgId or allowedAccountIds: only principals of this account can call the token API/],
  ['bad stage name', { apiStageName: 'prod stage' }, /apiStageName may contain only letters, digits/],
  ['empty api name', { apiName: '' }, /apiName must be 1–1024 characters/],
  ['duplicate alarm names', { alarmNameApiGateway5xx: 'iamjwt', alarmNameSignLambdaFailed: 'iamjwt' }, /alarmNameSignLambdaFailed and alarmNameApiGateway5xx are both 'iamjwt'/],
  ['missing Lambda binaries', { lambdaCodeDir: path.join(__dirname, 'no-such-dir') },
    /Lambda binaries not found: .*no-such-dir\/token\/bootstrap, .*no-such-dir\/rotate\/bootstrap \(run `make lambdas`/],
  // regions: names the Rust side's Region::parse accepts, each once, the stack's own first (docs/multi-region.md).
  ...['evil.example/x', 'us-east-1.evil.example', 'US-EAST-1', 'us-east-1 ', 'useast1', 'us-east-', '', 'a-b-1', 'us-east-1/../x', `us-${'a'.repeat(30)}-1`]
    .map((region): [string, Partial<IamJwtIssuerProps>, RegExp, { region?: string }] => [`region name ${JSON.stringify(region)}`,
      { regions: ['us-east-1', region] }, /regions: '.*' is not an AWS region name \(like us-east-1/, { region: 'us-east-1' }]),
  ['a region twice', { regions: ['us-east-1', 'eu-west-1', 'eu-west-1'] }, /regions lists eu-west-1 more than once: name each region once, the primary first/,
    { region: 'us-east-1' }],
  ['the primary is not the stack\'s region', { regions: ['eu-west-1', 'us-east-1'] },
    /regions must start with the primary region, the stack's own \(us-east-1\), got 'eu-west-1' first: put us-east-1 first, or deploy the stack in eu-west-1/,
    { region: 'us-east-1' }],
  ['regions in an environment-agnostic stack', { regions: ['us-east-1', 'eu-west-1'] },
    /regions needs a stack with an explicit region, the primary: give the stack env: \{ region: 'us-east-1' \}/],
  ['regions as an unresolved token', { regions: Token.asList(Fn.split(',', Fn.ref('Regions'))) }, /regions is an unresolved token: give the region names as literal strings/,
    { region: 'us-east-1' }],
  ['a region as an unresolved token', { regions: ['us-east-1', Aws.REGION] }, /regions: an entry is an unresolved token: give the region names as literal strings/,
    { region: 'us-east-1' }],
  ['no regions at all', { regions: [] }, /regions must name at least the stack's region/, { region: 'us-east-1' }],
  ['one Web ACL for several regions', { regions: ['eu-west-1', 'us-east-1'], apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN, apiGwWafWebAclArn: WEB_ACL },
    /apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN takes one regional Web ACL, which cannot protect the token APIs of the other regions/, { region: 'eu-west-1' }],
];

describe('props are validated at synth time with clear errors', () => {
  // Only names go through test.each: certificates are constructs, and Jest would walk their whole
  // construct tree formatting the arguments.
  test.each(cases.map(([name]) => name))('%s', (name) => {
    const [, props, message, env] = cases.find(([n]) => n === name)!;
    expect(() => build(props, env)).toThrow(message);
  });

  test('every problem is reported at once', () => {
    expect(() => build({ hostedZoneId: 'Z1', orgId: 'x', algorithms: [] })).toThrow(
      /invalid props:\n {2}- a custom domain needs both[^\n]*\n {2}- orgId must look like[^\n]*\n {2}- algorithms must enable/,
    );
  });

  test('the defaults and a fully specified configuration are valid', () => {
    expect(() => build({})).not.toThrow();
    expect(() => build({
      ...ZONE,
      oidcSubdomain: 'id',
      tokenSubdomain: 'sts',
      oidcCertificate: cert('arn:aws:acm:us-east-1:111122223333:certificate/abc'),
      tokenCertificate: cert('arn:aws:acm:eu-west-1:111122223333:certificate/def'),
      apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN,
      apiGwWafWebAclArn: WEB_ACL,
      orgId: 'o-a1b2c3d4e5',
      allowedAccountIds: ['111122223333'],
      keyAliasPrefix: 'alias/team-a/jwt',
      algorithms: ['ES256'],
      defaultTokenDuration: Duration.minutes(5),
      maxTokenDuration: Duration.hours(12),
      minPublishAge: Duration.days(2),
      jwksMaxAge: Duration.minutes(10),
      keyDeletionWindow: Duration.days(7),
      rotationSchedule: events.Schedule.expression('cron(0 3 1 */2 ? *)'),
      audiencePolicy: '{"rules":[{"principals":["arn:aws:iam::111122223333:role/ci-*"],"audiences":["api://ci"],"max_duration":900}]}',
    }, { region: 'eu-west-1' })).not.toThrow();
  });

  test('regions: every partition\'s region shapes are names; one region is a single-region issuer', () => {
    for (const region of ['us-east-1', 'eu-central-2', 'ap-southeast-4', 'il-central-1', 'cn-northwest-1', 'us-gov-west-1', 'us-isob-east-1', 'eusc-de-east-1']) {
      expect(isRegionName(region)).toBe(true);
    }
    expect(build({ regions: ['us-gov-west-1', 'us-gov-east-1'] }, { region: 'us-gov-west-1' }).config.regions).toEqual(['us-gov-west-1', 'us-gov-east-1']);
    expect(build({ regions: ['eu-west-1'] }, { region: 'eu-west-1' }).config.regions).toEqual([]);
    expect(build({}, { region: 'eu-west-1' }).config.regions).toEqual([]);
  });

  test('principal-tag settings: what the Rust side accepts is accepted, and tags can be turned on by the policy alone', () => {
    for (const name of ['iamjwt-tag-reader', 'r'.repeat(64), 'a+=,.@_-Z9', 'iamjwt/tag-reader', 'team/a/reader', `${'p/'.repeat(100)}reader`]) {
      expect(build({ ...TAGS_ACROSS_ACCOUNTS, tagReaderRoleName: name }).config.tagReaderRoleName).toBe(name);
    }
    for (const seconds of [1, 300, 86_400]) {
      expect(build({ sessionTags: true, tagCacheSeconds: seconds }).config.tagCacheSeconds).toBe(seconds);
    }
    const byPolicy = build({
      orgId: 'o-a1b2c3d4e5',
      audiencePolicy: { rules: [{ audiences: ['api://ci'], sub: '{principal_type}/{account}/{name}/{tag:team|64}' }] },
      tagReaderRoleName: 'iamjwt-tag-reader',
      tagCacheSeconds: 60,
    }).config;
    expect(byPolicy).toMatchObject({ sessionTags: false, tagsUsed: true, tagReaderRoleName: 'iamjwt-tag-reader', tagCacheSeconds: 60 });
    expect(build({ sessionTags: true }).config).toMatchObject({ tagsUsed: true, tagReaderRoleName: undefined, tagCacheSeconds: 300 });
    expect(build({}).config.tagsUsed).toBe(false);
  });

  test('an unusable audience policy is reported alone, not also as "tags unused"', () => {
    let message = '';
    try {
      build({ orgId: 'o-a1b2c3d4e5', audiencePolicy: '{rules:', tagReaderRoleName: 'iamjwt-tag-reader' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/audiencePolicy: not valid JSON/);
    expect(message).not.toMatch(/has no effect/);
  });

  test('principal patterns and sub templates the token Lambda accepts are accepted', () => {
    expect(() => build({
      audiencePolicy: { rules: [
        { principals: ['arn:aws:iam::111122223333:role/ci-*'], audiences: ['api://ci'], sub: '{account}/{name}' },
        { principals: ['arn:*:iam::*:role/ci-*'], audiences: ['api://ci'], sub: '{account}/{name}/{session_name}' },
        { principals: ['arn:aws:iam::111122223333:user/**/*', 'arn:aws:iam::111122223333:user/team/x*'], accounts: ['111122223333', '444455556666'], audiences: ['b'], sub: '{name}@example.com' },
        { principals: ['arn:aws:sts::111122223333:federated-user/*', 'arn:aws:iam::*:root'], audiences: ['c'], sub: '{principal_type}:{account}:{name}' },
        { audiences: ['https://*.example.com', '*'], sub: '{tag:team|32}/{principal_type}/{account}/{name}' },
        { audiences: ['d'], sub: '{principal_arn|200}/{session_name}' },
      ] },
    })).not.toThrow();
  });

  test('with only ES256 enabled the default algorithm follows', () => {
    expect(build({ algorithms: ['ES256'] }).config.defaultAlgorithm).toBe('ES256');
  });
});
