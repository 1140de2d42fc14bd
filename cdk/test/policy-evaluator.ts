/**
 * A small IAM policy evaluator for tests, written independently of the CDK: it reads the synthesized template
 * (CloudFormation JSON), resolves the intrinsics with stand-in values, and decides a request the way IAM does for a
 * principal and a resource of one account: an explicit Deny in any policy wins; otherwise an Allow in the
 * principal's identity policies or in the resource policy allows; otherwise the request is denied.
 *
 * It understands only what the issuer's policies use; anything else (an unknown condition operator, an intrinsic
 * with no stand-in) throws, so a policy it cannot read never passes a test by accident.
 */

export const ACCOUNT = '111122223333';
const PSEUDO: Record<string, string> = {
  'AWS::AccountId': ACCOUNT,
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'Test',
};

type Json = unknown;
export interface Template { Resources: Record<string, { Type: string; Properties?: Record<string, Json> }> }
export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Principal?: Json;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** A stand-in for every resource attribute the issuer's policies reference. */
export function resolve(template: Template, value: Json): Json {
  if (Array.isArray(value)) return value.map((v) => resolve(template, v));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, Json>);
  if (entries.length === 1) {
    const [fn, arg] = entries[0];
    const kind = (id: string) => template.Resources[id]?.Type;
    if (fn === 'Ref') {
      const id = arg as string;
      if (id in PSEUDO) return PSEUDO[id];
      if (kind(id) === 'AWS::S3::Bucket') return `bucket-${id.toLowerCase()}`;
      if (kind(id) === 'AWS::IAM::Role') return `role-${id}`;
      if (kind(id) !== undefined) return `ref-${id}`;
      throw new Error(`no stand-in for Ref ${id}`);
    }
    if (fn === 'Fn::GetAtt') {
      const [id, attribute] = arg as [string, string];
      if (kind(id) === 'AWS::S3::Bucket' && attribute === 'Arn') return `arn:aws:s3:::bucket-${id.toLowerCase()}`;
      if (kind(id) === 'AWS::IAM::Role' && attribute === 'Arn') return roleArn(id);
      if (kind(id) !== undefined && attribute === 'Arn') return `arn:aws:stand-in:::${id}`;
      throw new Error(`no stand-in for Fn::GetAtt ${id}.${attribute}`);
    }
    if (fn === 'Fn::Join') {
      const [sep, parts] = arg as [string, Json[]];
      return parts.map((p) => resolve(template, p)).join(sep);
    }
    if (fn.startsWith('Fn::')) throw new Error(`no stand-in for ${fn}`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(template, v)]));
}

/** The ARN a role of this template gets (CDK roles have no path). */
export const roleArn = (logicalId: string): string => `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;

/** A caller: an IAM role (by ARN) with its identity policies, or an AWS service principal. */
export type Caller =
  | { readonly roleArn: string; readonly identity: PolicyStatement[] }
  | { readonly service: string };

export interface Request {
  readonly caller: Caller;
  readonly action: string;
  readonly resource: string;
  /** Other request context keys (aws:SecureTransport is 'true' unless given). */
  readonly context?: Record<string, string>;
}

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM's wildcard match: `*` any run of characters, `?` one character, both within the whole string. */
function glob(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`, caseInsensitive ? 'i' : '').test(value);
}

function principalMatches(principal: Json, caller: Caller): boolean {
  if (principal === '*') return true;
  const p = principal as { AWS?: string | string[]; Service?: string | string[] };
  if ('service' in caller) {
    return list(p.Service).includes(caller.service) || list(p.AWS).includes('*');
  }
  const account = caller.roleArn.split(':')[4];
  return list(p.AWS).some((a) => a === '*' || a === caller.roleArn || a === `arn:aws:iam::${account}:root` || a === account);
}

function conditionHolds(op: string, key: string, expected: string[], context: Record<string, string>): boolean {
  const actualKey = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
  const actual = actualKey === undefined ? undefined : context[actualKey];
  const base = op.replace(/IfExists$/, '');
  if (actual === undefined && op.endsWith('IfExists')) return true;
  const positive: Record<string, (a: string, e: string) => boolean> = {
    StringEquals: (a, e) => a === e,
    StringLike: (a, e) => glob(e, a),
    ArnEquals: (a, e) => glob(e, a),
    ArnLike: (a, e) => glob(e, a),
    Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
  };
  const negated = base.startsWith('StringNot') || base.startsWith('ArnNot');
  const test = positive[negated ? base.replace('Not', '') : base];
  if (test === undefined) throw new Error(`condition operator ${op} is not understood by this evaluator`);
  // A key missing from the request: positive operators fail, negated ones hold (IAM's rule).
  if (actual === undefined) return negated;
  const any = expected.some((e) => test(actual, e));
  return negated ? !any : any;
}

function statementMatches(st: PolicyStatement, req: Request, context: Record<string, string>, resourcePolicy: boolean): boolean {
  if (resourcePolicy && !principalMatches(st.Principal, req.caller)) return false;
  const actionIn = (patterns: string[]) => patterns.some((a) => glob(a, req.action, true));
  if (st.Action !== undefined && !actionIn(list(st.Action))) return false;
  if (st.NotAction !== undefined && actionIn(list(st.NotAction))) return false;
  if (st.Action === undefined && st.NotAction === undefined) throw new Error('a statement without Action or NotAction');
  if (!list(st.Resource).some((r) => glob(r, req.resource))) return false;
  return Object.entries(st.Condition ?? {}).every(([op, keys]) =>
    Object.entries(keys).every(([key, expected]) => conditionHolds(op, key, list(expected), context)));
}

/** Decides `req` against the caller's identity policies and the resource's policy (both of one account). */
export function decide(req: Request, resourcePolicy: PolicyStatement[]): Decision {
  const context: Record<string, string> = { 'aws:SecureTransport': 'true', ...req.context };
  if ('roleArn' in req.caller) context['aws:PrincipalArn'] = req.caller.roleArn;
  const identity = 'identity' in req.caller ? req.caller.identity : [];
  const matching = [
    ...identity.filter((st) => statementMatches(st, req, context, false)),
    ...resourcePolicy.filter((st) => statementMatches(st, req, context, true)),
  ];
  if (matching.some((st) => st.Effect === 'Deny')) return 'ExplicitDeny';
  return matching.some((st) => st.Effect === 'Allow') ? 'Allow' : 'ImplicitDeny';
}

/** The resolved statements of every AWS::IAM::Policy attached to the role `roleLogicalId`. */
export function identityStatements(template: Template, roleLogicalId: string): PolicyStatement[] {
  return Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties!.Roles as { Ref: string }[]).some((x) => x.Ref === roleLogicalId))
    .flatMap((r) => (resolve(template, r.Properties!.PolicyDocument) as { Statement: PolicyStatement[] }).Statement);
}

/** The resolved statements of the bucket policy of bucket `bucketLogicalId`. */
export function bucketPolicy(template: Template, bucketLogicalId: string): PolicyStatement[] {
  const policies = Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::S3::BucketPolicy' && (r.Properties!.Bucket as { Ref: string }).Ref === bucketLogicalId);
  if (policies.length !== 1) throw new Error(`expected one bucket policy for ${bucketLogicalId}, found ${policies.length}`);
  return (resolve(template, policies[0].Properties!.PolicyDocument) as { Statement: PolicyStatement[] }).Statement;
}
