/**
 * Synth-time check of the audience policy (DESIGN.md §4). The Lambdas refuse a malformed policy at
 * start-up; checking the same rules here turns that runtime outage into a `cdk synth` error:
 * - principal patterns are ARNs matched field by field: `arn:PARTITION:iam::ACCOUNT:role/NAME`, `…:user/PATH/NAME`,
 *   `…:root`, `arn:PARTITION:sts::ACCOUNT:federated-user/NAME`; `*` stays inside a field and a path segment, the type
 *   is written out, a role pattern has no path, a user pattern may have one `**` path segment;
 * - a rule's `sub` template keeps apart every principal the rule admits (crates/iamjwt-core/src/subject.rs).
 */
import { POLICY_RULE_FIELDS } from './closed-sets';

/** One rule: when every selector it has matches the caller, it grants `audiences`. */
export interface AudiencePolicyRule {
  /** Principal ARN patterns, matched field by field (`*` never crosses `:` or `/`; see the README). */
  readonly principals?: string[];
  /** 12-digit account ids of the caller. */
  readonly accounts?: string[];
  /** AWS Organization ids of the caller. */
  readonly org_ids?: string[];
  /** Audiences (globs; `*` stays inside one URL component, a lone `*` grants every audience). */
  readonly audiences: string[];
  /** Caps the token lifetime for requests this rule decides (seconds). */
  readonly max_duration?: number;
  /** `sub` template (DESIGN.md §4), e.g. `{account}/{name}`. */
  readonly sub?: string;
  /** Extra claims: templates or plain JSON values. */
  readonly claims?: Record<string, unknown>;
  /** Which principal tags go to the `https://aws.amazon.com/tags` claim, and which are transitive. */
  readonly session_tags?: { readonly keys: string[]; readonly transitive?: string[] };
  /** Request-tag keys (globs) a caller may send with `tag=KEY=VALUE`. */
  readonly request_tags?: string[];
}

export interface AudiencePolicy {
  readonly rules: AudiencePolicyRule[];
}

// The shaping fields' templates and limits are checked by the Rust policy parser, which cdk/check.sh runs on the
// synthesized environment (`token --check-config`) and the token Lambda runs at start-up; only the `sub` rule that
// depends on the rule's selectors (one rule never gives two principals the same sub) is also checked here.
const RULE_FIELDS = new Set(POLICY_RULE_FIELDS);

/** True when the policy makes the token Lambda read principal tags (a `{tag:KEY}` template or `session_tags`). */
export function policyNeedsTags(policyJson: string | undefined): boolean {
  return policyJson !== undefined && (policyJson.includes('{tag:') || policyJson.includes('"session_tags"'));
}
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export interface AudiencePolicyCheck {
  readonly errors: string[];
  /** Compact JSON for IAMJWT_AUDIENCE_POLICY (undefined when the input is unusable). */
  readonly json?: string;
}

export function validateAudiencePolicy(input: AudiencePolicy | string, maxTokenSeconds: number): AudiencePolicyCheck {
  const errors: string[] = [];
  let policy: unknown = input;
  if (typeof input === 'string') {
    try {
      policy = JSON.parse(input);
    } catch (e) {
      return { errors: [`not valid JSON (${(e as Error).message})`] };
    }
  }
  if (!isObject(policy)) return { errors: ['must be a JSON object {"rules": [...]}'] };
  for (const key of Object.keys(policy)) {
    if (key !== 'rules') errors.push(`unknown field '${key}' (only 'rules')`);
  }
  const rules = policy.rules;
  if (!Array.isArray(rules)) {
    errors.push("'rules' must be an array");
    return { errors };
  }
  rules.forEach((rule: unknown, i: number) => {
    const at = `rules[${i}]`;
    if (!isObject(rule)) {
      errors.push(`${at} must be an object`);
      return;
    }
    for (const key of Object.keys(rule)) {
      if (!RULE_FIELDS.has(key)) errors.push(`${at}: unknown field '${key}' (allowed: ${[...RULE_FIELDS].join(', ')})`);
    }
    const strings = (field: string, required: boolean, check: (s: string) => string | undefined) => {
      const value = rule[field];
      if (value === undefined) {
        if (required) errors.push(`${at}.${field} is required`);
        return;
      }
      if (!Array.isArray(value) || value.length === 0) {
        errors.push(`${at}.${field} must be a non-empty array of strings`);
        return;
      }
      value.forEach((v: unknown, j: number) => {
        const problem = typeof v !== 'string' ? 'must be a string' : check(v);
        if (problem) errors.push(`${at}.${field}[${j}] ${problem}`);
      });
    };
    strings('audiences', true, (s) => (s.length < 1 || s.length > 1000 || CONTROL_CHARS.test(s) ? 'must be 1–1000 printable characters' : undefined));
    const patterns: PrincipalPattern[] = [];
    strings('principals', false, (s) => {
      const p = parsePrincipalPattern(s);
      if (typeof p === 'string') return `'${s}' ${p}`;
      patterns.push(p);
      return undefined;
    });
    strings('accounts', false, (s) => (/^\d{12}$/.test(s) ? undefined : `'${s}' is not a 12-digit account id`));
    strings('org_ids', false, (s) => (/^o-[a-z0-9]{10,32}$/.test(s) ? undefined : `'${s}' is not an organization id (o-...)`));
    const principals = rule.principals;
    if (typeof rule.sub === 'string' && (!Array.isArray(principals) || patterns.length === principals.length)) {
      const accounts = Array.isArray(rule.accounts) ? rule.accounts.filter((a): a is string => typeof a === 'string') : undefined;
      const problem = subProblem(rule.sub, admitted(Array.isArray(principals) ? patterns : undefined, accounts));
      if (problem) errors.push(`${at}.sub '${rule.sub}' ${problem}`);
    }
    const max = rule.max_duration;
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 60 || max > maxTokenSeconds)) {
      errors.push(`${at}.max_duration must be an integer between 60 and maxTokenDuration (${maxTokenSeconds}), got ${JSON.stringify(max)}`);
    }
  });
  return { errors, json: errors.length === 0 ? JSON.stringify(policy) : undefined };
}

/** What a principal pattern says about who it can match. */
export interface PrincipalPattern {
  readonly type: 'role' | 'user' | 'federated-user' | 'root';
  /** The account, when the pattern names exactly one. */
  readonly account?: string;
}

const SERVICE: Record<PrincipalPattern['type'], string> = { role: 'iam', user: 'iam', 'federated-user': 'sts', root: 'iam' };
const PATTERN_SHAPES = 'arn:PARTITION:iam::ACCOUNT:role/NAME, …:user/PATH/NAME, …:root or arn:PARTITION:sts::ACCOUNT:federated-user/NAME';

/** Parses a principal pattern the way the token Lambda does; a string is the problem. */
export function parsePrincipalPattern(pattern: string): PrincipalPattern | string {
  const fields = pattern.split(':');
  if (fields.length < 6 || fields[0] !== 'arn') return `is not an ARN pattern: expected ${PATTERN_SHAPES}`;
  const [, partition, service, region, account] = fields;
  const resource = fields.slice(5).join(':');
  const partitionOk = partition.includes('*') ? /^[a-z*-]+$/.test(partition) : /^aws(-[a-z]+)*$/.test(partition) && partition.length <= 32;
  if (!partitionOk) return `has partition '${partition}': expected aws, aws-cn, aws-us-gov, … or a glob of one (*, aws-*)`;
  if (region !== '') return 'has a region: IAM and STS principal ARNs have none';
  const digits = account.replace(/\*/g, '').length;
  if (!/^[0-9*]+$/.test(account) || (account.includes('*') ? digits > 12 : digits !== 12)) {
    return `has account '${account}': expected 12 digits, or a glob of them (*, 1111*)`;
  }
  const slash = resource.indexOf('/');
  const type = slash < 0 ? resource : resource.slice(0, slash);
  const rest = slash < 0 ? undefined : resource.slice(slash + 1);
  if (type === 'assumed-role') return `names an assumed-role session: a session matches its role's pattern, arn:${partition}:iam::${account}:role/NAME`;
  if (!(type in SERVICE)) return `has resource type '${type}': expected role, user, federated-user or root, written out (a type is matched exactly, never by *)`;
  const t = type as PrincipalPattern['type'];
  if (service !== SERVICE[t]) return `has service '${service}': a ${t} ARN is arn:${partition}:${SERVICE[t]}::${account}:${t}…`;
  if (t === 'root') {
    if (rest !== undefined) return `has a name after root: the root user is arn:${partition}:iam::${account}:root`;
  } else {
    if (!rest) return `has no name: write ${t}/NAME (a glob such as ${t}/ci-*)`;
    const segments = rest.split('/');
    const name = segments.pop() ?? '';
    if (t !== 'user' && segments.length > 0) {
      return `has a path: the caller's ARN carries none for a ${t} (STS drops a role's path), so match the name alone, ${t}/NAME`;
    }
    if (segments.filter((s) => s === '**').length > 1) return 'has ** twice: one ** matches any depth';
    if (segments.some((s) => !/^[!-.0-~]+$/.test(s))) return 'has an empty path segment or a character outside printable ASCII';
    if (name.includes('**')) return 'ends in **: ** stands for path segments; end with a name glob such as *';
    if (!/^[A-Za-z0-9_+=,.@*-]+$/.test(name)) return `has a ${t} name outside IAM's characters (letters, digits and _+=,.@-, and *)`;
  }
  return { type: t, account: account.includes('*') ? undefined : account };
}

/** Who a rule can apply to: its principal types, and whether its selectors name one account. */
interface Admitted {
  readonly types: Set<PrincipalPattern['type']>;
  readonly oneAccount: boolean;
}

function admitted(patterns: PrincipalPattern[] | undefined, accounts: string[] | undefined): Admitted {
  const types = new Set(patterns ? patterns.map((p) => p.type) : (Object.keys(SERVICE) as PrincipalPattern['type'][]));
  let named: Set<string> | undefined = accounts ? new Set(accounts) : undefined;
  if (patterns && patterns.every((p) => p.account !== undefined)) {
    const literal = new Set(patterns.map((p) => p.account as string));
    named = named ? new Set([...named].filter((a) => literal.has(a))) : literal;
  }
  return { types, oneAccount: named !== undefined && named.size <= 1 };
}

type Piece = { lit: string } | { v: string };

/** A template's literal text and variable names (`tag` for `{tag:KEY}`); undefined when malformed (the Lambda says why). */
function templatePieces(t: string): Piece[] | undefined {
  const pieces: Piece[] = [];
  const lit = (s: string) => {
    const last = pieces[pieces.length - 1];
    if (last && 'lit' in last) pieces[pieces.length - 1] = { lit: last.lit + s };
    else pieces.push({ lit: s });
  };
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if ((c === '{' || c === '}') && t[i + 1] === c) {
      lit(c);
      i++;
    } else if (c === '{') {
      const end = t.indexOf('}', i);
      if (end < 0) return undefined;
      const name = t.slice(i + 1, end).split('|')[0];
      pieces.push({ v: name.startsWith('tag:') ? 'tag' : name });
      i = end;
    } else if (c === '}') {
      return undefined;
    } else {
      lit(c);
    }
  }
  return pieces;
}

/** Whether `c` can occur in a value of variable `v`. */
function mayContain(v: string, c: string): boolean {
  switch (v) {
    case 'account': return /[0-9]/.test(c);
    case 'principal_type': return /[A-Za-z]/.test(c);
    case 'partition': return /[a-z-]/.test(c);
    case 'name': case 'session_name': return /[A-Za-z0-9_+=,.@-]/.test(c);
    case 'principal_arn': case 'caller_arn': return /[!-~]/.test(c);
    default: return true;
  }
}

/** Why `sub` cannot keep apart the principals a rule admits, with the fix; undefined when it can. */
function subProblem(sub: string, rule: Admitted): string | undefined {
  const pieces = templatePieces(sub);
  if (!pieces) return undefined;
  const vars = pieces.flatMap((p) => ('v' in p ? [p.v] : []));
  const has = (v: string) => vars.includes(v);
  if (!vars.some((v) => ['principal_arn', 'caller_arn', 'principal_id'].includes(v))) {
    const types = new Set(rule.types);
    if (has('name')) types.delete('root');
    if (has('session_name')) [...types].filter((t) => t !== 'role').forEach((t) => types.delete(t));
    if (!has('name') && [...types].some((t) => t !== 'root')) {
      return 'does not name the principal, so principals this rule admits can share it: add {name} (with {account} and {principal_type} as the rule needs) or use {principal_arn|N}';
    }
    if (types.size > 1 && !has('principal_type')) {
      return `gives principals of different types but one name the same sub (this rule admits ${[...types].join(', ')}): add {principal_type}, or narrow the rule's principals to one type`;
    }
    if (!rule.oneAccount && !has('account')) {
      return 'gives principals of one name in different accounts the same sub: add {account}, or narrow the rule to one account';
    }
  }
  // Read back from the left and from the right; at most one variable in between may take what is left.
  const at = pieces.map((p, i) => ({ p, i })).filter(({ p }) => 'v' in p).map(({ p, i }) => ({ v: (p as { v: string }).v, i }));
  const litAt = (i: number) => { const p = pieces[i]; return p && 'lit' in p ? p.lit : ''; };
  const endsLeft = ({ v, i }: { v: string; i: number }) => v === 'account' || v === 'principal_type' || (litAt(i + 1) !== '' && !mayContain(v, litAt(i + 1)[0]));
  const startsRight = ({ v, i }: { v: string; i: number }) => v === 'account' || (litAt(i - 1) !== '' && !mayContain(v, litAt(i - 1).slice(-1)));
  let left = 0;
  while (left < at.length && endsLeft(at[left])) left++;
  let right = 0;
  while (right < at.length && startsRight(at[at.length - 1 - right])) right++;
  if (left + right + 1 < at.length) {
    const v = `{${at[left].v === 'tag' ? 'tag:KEY' : at[left].v}}`;
    return `is ambiguous: ${v} can run into what follows it, so two principals can render one sub; put a literal character ${v} cannot contain (such as /) between them, or reorder`;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
