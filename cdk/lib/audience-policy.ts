/**
 * Synth-time check of the audience policy (DESIGN.md §4). The Lambdas refuse a malformed policy at
 * start-up; checking the same rules here turns that runtime outage into a `cdk synth` error.
 */
import { POLICY_RULE_FIELDS } from './closed-sets';

/** One rule: when every selector it has matches the caller, it grants `audiences`. */
export interface AudiencePolicyRule {
  /** Globs over `sub` (`*` matches any run of characters). */
  readonly principals?: string[];
  /** 12-digit account ids of the caller. */
  readonly accounts?: string[];
  /** AWS Organization ids of the caller. */
  readonly org_ids?: string[];
  /** Audiences (globs) this rule grants. */
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

// The shaping fields (sub, claims, session_tags, request_tags) are passed through: their templates and limits are
// checked by the Rust policy parser, which cdk/check.sh runs on the synthesized environment (`token --check-config`)
// and the token Lambda runs at start-up.
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
    strings('principals', false, (s) => (/^arn:(\*|aws[a-z-]*):/.test(s) ? undefined : `'${s}' must be an IAM ARN glob starting with arn:<partition>:`));
    strings('accounts', false, (s) => (/^\d{12}$/.test(s) ? undefined : `'${s}' is not a 12-digit account id`));
    strings('org_ids', false, (s) => (/^o-[a-z0-9]{10,32}$/.test(s) ? undefined : `'${s}' is not an organization id (o-...)`));
    const max = rule.max_duration;
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 60 || max > maxTokenSeconds)) {
      errors.push(`${at}.max_duration must be an integer between 60 and maxTokenDuration (${maxTokenSeconds}), got ${JSON.stringify(max)}`);
    }
  });
  return { errors, json: errors.length === 0 ? JSON.stringify(policy) : undefined };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
